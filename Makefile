# Aqd — the quick-start commands are `make run`, `make test` (the fast tier) and `make test-all`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 2

.PHONY: install run test test-all lint types fast unit bench compose-check clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# Front-end packages come from npm at install time and are served locally (no CDN).
VENDOR := api/static/vendor
$(VENDOR)/htmx.min.js: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $@

# The diagram viewer (bpmn-js + bpmn-auto-layout) bundled by esbuild, with bpmn-js's styles.
$(VENDOR)/viewer.js: api/static/src/viewer.js $(VENDOR)/htmx.min.js
	node_modules/.bin/esbuild api/static/src/viewer.js --bundle --format=iife --minify \
	  --log-level=warning --outfile=$@
	mkdir -p $(VENDOR)/bpmn
	cp -r node_modules/bpmn-js/dist/assets/diagram-js.css node_modules/bpmn-js/dist/assets/bpmn-js.css \
	  node_modules/bpmn-js/dist/assets/bpmn-font $(VENDOR)/bpmn/

# The modeller, with its properties panel (api/static/src/properties/; its CSS is bundled into
# $(VENDOR)/modeller.css next to the script).
$(VENDOR)/modeller.js: api/static/src/modeller.js api/static/src/drafts.js \
  $(wildcard api/static/src/properties/*) $(VENDOR)/viewer.js
	node_modules/.bin/esbuild api/static/src/modeller.js --bundle --format=iife --minify \
	  --log-level=warning --outfile=$@

# The decision-table editor (dmn-js Modeler) and dmn-js's styles and font.
$(VENDOR)/dmn.js: api/static/src/dmn.js api/static/src/drafts.js $(VENDOR)/htmx.min.js
	node_modules/.bin/esbuild api/static/src/dmn.js --bundle --format=iife --minify \
	  --log-level=warning --outfile=$@
	mkdir -p $(VENDOR)/dmn
	cp -r node_modules/dmn-js/dist/assets/*.css node_modules/dmn-js/dist/assets/dmn-font $(VENDOR)/dmn/

install: $(BIN)/.installed $(VENDOR)/htmx.min.js $(VENDOR)/viewer.js $(VENDOR)/modeller.js \
  $(VENDOR)/dmn.js

## Install, migrate the embedded SQLite database, deploy processes/, seed demo data, start Aqd.
## scripts/system-deps.sh installs the Debian packages it needs first (or names them).
run:
	scripts/system-deps.sh run
	$(MAKE) --no-print-directory install
	$(BIN)/aqd db upgrade
	@for dir in processes/*/; do $(BIN)/aqd deploy "$$dir" --note "make run" || exit 1; done
	$(BIN)/aqd demo
	$(BIN)/aqd serve --host $(HOST) --port $(PORT)

## Install, then lint, type-check and run the fast tier: every test not marked `slow`
## (pyproject.toml says which are and why).
test:
	scripts/system-deps.sh test
	$(MAKE) --no-print-directory install lint types fast

## The same with the whole suite (what CI runs, .ci/run).
test-all:
	scripts/system-deps.sh test
	$(MAKE) --no-print-directory install lint types unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy

fast: install
	$(BIN)/pytest $(PYTEST_ARGS) -m "not slow"

unit: install
	$(BIN)/pytest $(PYTEST_ARGS)

## Engine benchmark on the database in AQD_DATABASE_URL (PostgreSQL for the recorded numbers).
bench: install
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/programmes.py
	$(BIN)/python bench/signing.py
	$(BIN)/python bench/month_end.py
	$(BIN)/python bench/inbox.py
	$(BIN)/python bench/analytics.py
	$(BIN)/python bench/anchors.py

compose-check:
	docker-compose -f docker-compose.yml config --quiet

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
