# Aqd — the two quick-start commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n 2

.PHONY: install assets run test lint types unit bench compose-check clean

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
run: install
	$(BIN)/aqd db upgrade
	@for dir in processes/*/; do $(BIN)/aqd deploy "$$dir" --note "make run" || exit 1; done
	$(BIN)/aqd demo
	$(BIN)/aqd serve --host $(HOST) --port $(PORT)

## Install, then lint, type-check and run the whole suite (PostgreSQL and SQLite).
test: install lint types unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy

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
