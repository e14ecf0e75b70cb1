# Aqd — the quick-start commands are `make run`, `make test` (the fast tier) and `make test-all`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 2

.PHONY: install assets run test test-all lint types fast unit bench compose-check clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# Front-end packages come from npm at install time and are served locally (no CDN). One build,
# `npm run build` (api/static/build.mjs), writes everything under api/static/vendor/: htmx, the
# bpmn-js viewer and modeller, the dmn-js editor, their styles and fonts. The Dockerfile runs the
# same build. It reruns when the lock file, the build script or a source under api/static/src/
# changes; the stamp is a dot file, which the wheel's package data leaves out.
VENDOR := api/static/vendor
ASSET_SOURCES := api/static/build.mjs $(shell find api/static/src -type f 2>/dev/null)
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

$(VENDOR)/.built: node_modules/.package-lock.json $(ASSET_SOURCES)
	npm run --silent build
	touch $@

assets: $(VENDOR)/.built

install: $(BIN)/.installed assets

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
