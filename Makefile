# The two Quick-start commands (see README.md): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The demo keeps its database and keys inside the checkout unless told otherwise.
CHARTER_HOME ?= $(CURDIR)/.charter-demo
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test install install-test lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	CHARTER_HOME=$(CHARTER_HOME) $(BIN)/charter demo --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check src tests benchmarks

typecheck: install-test
	$(BIN)/mypy

test: install-test lint typecheck
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .charter-demo .pytest_cache .mypy_cache .ruff_cache
