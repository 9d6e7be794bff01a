# `make reproduce` regenerates results/ on config/config.yaml; `make test` runs the tests.
# Both create the virtual environment (.venv) first if it is missing or out of date.

VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORES ?= all

.PHONY: reproduce test venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -e '.[test,slurm]'
	touch $(STAMP)

reproduce: $(STAMP)
	$(PYTHON) -m snakemake --cores $(CORES)

test: $(STAMP)
	$(PYTHON) -m pytest

clean:
	rm -rf results/runs results/tables results/paper results/benchmarks logs .snakemake

.PHONY: lint
# ruff's rules and ignores are in pyproject.toml ([tool.ruff])
lint: $(STAMP)
	$(PYTHON) -m ruff check .
