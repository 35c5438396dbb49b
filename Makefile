# stacgen: `make catalog` and `make test` are all a new machine needs (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= catalog
ARCHIVE ?=
WORKERS ?=
BUILD_ARGS := $(if $(ARCHIVE),--archive "$(ARCHIVE)") $(if $(WORKERS),--workers $(WORKERS))
# The offline mirror of the STAC schemas; a setting, overridable from the environment.
export STACGEN_SCHEMAS ?= $(abspath ../shared/stac-schemas)

HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install catalog test lint format bench bench-publish validate serve browser clean

# The venv is (re)installed whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

catalog: $(STAMP)
	$(BIN)/stacgen build $(BUILD_ARGS) --out $(OUT)

validate: $(STAMP)
	$(BIN)/stacgen validate $(OUT)

serve: $(STAMP)
	$(BIN)/stacgen serve $(OUT) --host $(HOST) --port $(PORT)

# STAC Browser, built once with npm into browser/dist (git-ignored); served at /browser/.
browser: browser/dist/index.html

browser/dist/index.html: tools/build-browser.sh tools/stac-browser/package.json tools/stac-browser/package-lock.json
	tools/build-browser.sh

# Coverage is printed (per module, then TOTAL) before pytest's summary line; no threshold.
test: $(STAMP)
	$(BIN)/python -m pytest --cov --cov-report=term

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m bench.run

# The publish figures alone: builds the full-size catalog, publishes it to a local moto server.
bench-publish: $(STAMP)
	$(BIN)/python -m bench.publish

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info bench/out browser screenshots
	find catalog -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf catalog.*
