# `make reproduce` regenerates results/ on config/config.yaml; `make test` runs the tests
# (`make test-fast`: the unit tests only, those not marked slow, for development).
# Both create the virtual environment (.venv) from requirements.lock first if it is missing; an
# existing one is never reinstalled behind your back: when requirements.lock has changed since it
# was installed they say so, and `make venv` brings it up to date. `make venv TORCH=cpu` (on a
# fresh clone) installs PyTorch's CPU-only build, without the CUDA libraries. After a change to
# pyproject.toml's dependencies: install them into .venv, run the tests, then `make lock`.
# `make gpu-wheels` downloads what benchmarks/gpu_check.sh needs on an offline GPU machine;
# `make gpu-preflight` runs the check here, on CPU, as the GPU machine would (offline, only what its
# image holds, the wheels): run it before a GPU window; `make gpu-check OUT=folder` runs the check
# (see benchmarks/README.md).

VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORES ?= all
TORCH ?= default
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
PIP_INDEX = $(if $(filter cpu,$(TORCH)),--extra-index-url $(TORCH_CPU_INDEX))

.PHONY: reproduce test test-fast venv venv-note lock clean gpu-wheels gpu-preflight gpu-check

# created only when missing; its content is the requirements.lock it was installed from
$(STAMP):
	$(MAKE) --no-print-directory venv

# (re)install .venv from requirements.lock (TORCH=cpu: without the lines marked `# cuda`, and
# torch and torchvision from PyTorch's CPU-only index), then this package, editable
venv:
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(if $(filter cpu,$(TORCH)),grep -v '# cuda$$',cat) requirements.lock > $(VENV)/requirements.txt
	$(PYTHON) -m pip install --quiet -r $(VENV)/requirements.txt $(PIP_INDEX)
	$(PYTHON) -m pip install --quiet --no-deps --no-build-isolation -e .
	cp requirements.lock $(STAMP)

venv-note: $(STAMP)
	@cmp -s requirements.lock $(STAMP) || echo "note: .venv was installed from another" \
		"requirements.lock than this checkout's; \`make venv\` updates it" >&2

# requirements.lock from .venv, as it is (envs/lock.py says what it pins)
lock: $(STAMP)
	$(PYTHON) envs/lock.py > requirements.lock
	cp requirements.lock $(STAMP)

reproduce: venv-note
	$(PYTHON) -m snakemake --cores $(CORES)

test: venv-note lint
	$(PYTHON) -m pytest

test-fast: venv-note
	$(PYTHON) -m pytest -m "not slow"

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
