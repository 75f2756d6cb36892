# Two entry points, both self-installing into a virtual environment (VENV, default .venv):
#   make report   run the main job on the bundled defaults; results land in report/
#   make test     run the whole test suite
#   make lab      open the notebooks in JupyterLab (installs the notebooks extra first)
# and, for development:
#   make lint     ruff (lint) and mypy, as CI runs them before the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: report test lint install fidelity lab

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

report: install
	$(BIN)/combined-models report --out report

test: install
	$(BIN)/python -m pytest

# Not part of `make test`: drives the real OpenCode CLI, LiteLLM Router and LiteLLM proxy (pinned,
# installed into cached environments on first use) against the mock providers; about 30 minutes.
fidelity: install
	$(BIN)/python -m benchmarks.fidelity

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/ruff format --check .

lab: install
	$(BIN)/python -m pip install --quiet -e '.[dev,notebooks]'
	$(BIN)/jupyter lab notebooks
