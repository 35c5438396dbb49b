# stacgen: `make catalog` and `make test` are all a new machine needs (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two install levels, each with its stamp: the package with its runtime dependencies (what
# catalog, validate and serve need), and the dev extras on top (tests, linters, benchmarks).
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev
OUT ?= catalog
ARCHIVE ?=
WORKERS ?=
RECORD_JSON ?=
BUILD_ARGS := $(if $(ARCHIVE),--archive "$(ARCHIVE)") $(if $(RECORD_JSON),--record-json "$(RECORD_JSON)") \
	$(if $(WORKERS),--workers $(WORKERS))
# Validation fetches the STAC schemas pinned in stacgen once into the user cache; an offline
# machine sets STACGEN_SCHEMAS (environment) to a schema mirror folder instead.

HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install catalog test lint format bench bench-publish bench-scale validate serve serve-pgstac postgres browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Each level is (re)installed whenever pyproject.toml changes; the dev level holds the runtime.
$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(RUNTIME)

# Everything: the package and its dev tools.
install: $(DEV)

catalog: $(RUNTIME)
	$(BIN)/stacgen build $(BUILD_ARGS) --out $(OUT)

validate: $(RUNTIME)
	$(BIN)/stacgen validate $(OUT)

serve: $(RUNTIME)
	$(BIN)/stacgen serve $(OUT) --host $(HOST) --port $(PORT)

# The same, the STAC API from stac-fastapi-pgstac over PostgreSQL + PostGIS + pgstac. With
# DSN=postgresql://USER:PASSWORD@HOST:PORT/DB it loads the catalog into that database (a team's
# server) and serves it; without, it starts a throw-away cluster in a temporary folder. Asset
# hrefs in the API point at ROOT_HREF, by default this server's own static catalog. Ctrl-C stops
# everything it started (and removes the throw-away cluster).
DSN ?=
ROOT_HREF ?= http://$(HOST):$(PORT)/
PGSTAC_SERVE = "$$0" pgstac load "$$STACGEN_DSN" "$$1" --root-href "$$2" && \
	exec "$$0" serve "$$1" --pgstac "$$STACGEN_DSN" --host "$$3" --port "$$4"

serve-pgstac: $(RUNTIME)
ifdef DSN
	@STACGEN_DSN='$(DSN)' $(BIN)/python -m stacgen.testing.foreground -- \
		sh -c '$(PGSTAC_SERVE)' $(BIN)/stacgen $(OUT) $(ROOT_HREF) $(HOST) $(PORT)
else
	@$(MAKE) --no-print-directory postgres
	$(BIN)/python -m stacgen.testing.pgcluster -- \
		sh -c '$(PGSTAC_SERVE)' $(BIN)/stacgen $(OUT) $(ROOT_HREF) $(HOST) $(PORT)
endif

# Debian's PostgreSQL 15 and PostGIS, installed where missing (as root, with apt).
PG_BIN := /usr/lib/postgresql/15/bin
POSTGIS_CONTROL := /usr/share/postgresql/15/extension/postgis.control
postgres:
	@if [ ! -x $(PG_BIN)/initdb ] || [ ! -f $(POSTGIS_CONTROL) ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq postgresql-15 postgresql-15-postgis-3 >/dev/null; \
	fi

# STAC Browser, built once with npm into browser/dist (git-ignored); served at /browser/.
browser: browser/dist/index.html

browser/dist/index.html: tools/build-browser.sh tools/stac-browser/package.json \
		tools/stac-browser/package-lock.json tools/stac-browser/fields.config.js \
		tools/stac-browser/stacgen.css
	tools/build-browser.sh

# Coverage is printed (per module, then TOTAL) before pytest's summary line; no threshold.
test: $(DEV)
	$(BIN)/python -m pytest --cov --cov-report=term --durations=25

# lint-imports checks the layer contract in pyproject.toml ([tool.importlinter]).
lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(DEV)
	$(BIN)/python -m bench.run

# The publish figures alone: builds the full-size catalog, publishes it to a local moto server.
bench-publish: $(DEV)
	$(BIN)/python -m bench.publish

# pgstac with 100,000 synthetic items (load time, search latency; the load takes minutes), then
# the embedded API at 10,000 and 100,000 items (start time, memory or its refusal, searches).
bench-scale: $(DEV) postgres
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.serve --scale 10000 100000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info bench/out browser screenshots out
	find catalog -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf catalog.*
