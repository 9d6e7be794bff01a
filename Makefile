# `make reproduce` regenerates results/ on config/config.yaml; `make test` runs the tests.
# Both create the virtual environment (.venv) first if it is missing or out of date.
# `make gpu-wheels` downloads what benchmarks/gpu_check.sh needs on an offline GPU machine;
# `make gpu-preflight` runs the check here, on CPU, as the GPU machine would (offline, only what its
# image holds, the wheels): run it before a GPU window; `make gpu-check OUT=folder` runs the check
# (see benchmarks/README.md).

VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORES ?= all

.PHONY: reproduce test venv clean gpu-wheels gpu-preflight gpu-check

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -e '.[test,slurm]'
	touch $(STAMP)

reproduce: $(STAMP)
	$(PYTHON) -m snakemake --cores $(CORES)

test: $(STAMP) lint
	$(PYTHON) -m pytest

clean:
	rm -rf results/runs results/tables results/paper results/benchmarks logs .snakemake

.PHONY: lint
# ruff's rules and ignores are in pyproject.toml ([tool.ruff])
lint: $(STAMP)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

gpu-wheels:  # needs only a Python >= 3.11 with pip: the project's venv if there is one
	bash benchmarks/gpu_wheels.sh $(if $(wildcard $(PYTHON)),$(PYTHON),python3)

gpu-preflight: $(STAMP)  # the smoke's CSVs and log in results/gpu_preflight
	PYTHON=$(PYTHON) bash benchmarks/gpu_preflight.sh results/gpu_preflight

OUT ?= results/gpu_check
gpu-check:
	bash benchmarks/gpu_check.sh $(OUT)
