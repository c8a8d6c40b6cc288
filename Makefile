# Kabinet — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint bench chromium clean

$(VENV)/.run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.test: $(VENV)/.run
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

## The embedded demo council: Synapse, appservice and web site on this machine.
run: $(VENV)/.run
	$(BIN)/kabinet up --demo

## Browser tests drive Debian's chromium through Playwright (Playwright's own download is not used).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests…"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## Lint, layers and types, then the whole suite: real Synapse, SQLite and PostgreSQL, headless Chromium.
test: lint chromium
	$(BIN)/pytest

## ruff; import-linter keeps the layers (kabinet > appservice | web | bridges > council); mypy.
lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

## Benchmarks (not tests): figures against raw Synapse calls in the same run.
bench: $(VENV)/.test
	$(BIN)/python -m bench.provision

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
