# chainer_compare: every command a user needs.  `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed
# Chainer 7.8.1's setup.py imports pkg_resources, which setuptools>=82 removed:
# build it (and only it) without isolation against setuptools<82.
CHAINER_BUILD := "setuptools<82" wheel
# Debian packages the tests and demo use: MPI for ChainerMN, the real
# Fashion-MNIST data, Chromium to render the HTML report, Slurm (+ munge,
# its authentication) for the cluster-launch tests, and a C compiler for the
# fast CPU kernels (compiled on first use; without one the NumPy path runs).
APT_PACKAGES := openmpi-bin libopenmpi-dev dataset-fashion-mnist chromium slurm-wlm munge gcc
# PyTorch for the twin-model test and make bench (setuptools kept <82 for Chainer).
TORCH_PIN := torch==2.13.0
TORCH_REQ := "$(TORCH_PIN)" "setuptools>=77.0.3,<82"
# Under CI=true (.ci/run) a missing test component fails loudly instead of
# skipping its tests: `$(or_fail_in_ci) 'what failed'` after a failed command.
or_fail_in_ci = { if [ "$${CI:-}" = true ]; then echo "CI=true: $(1)" >&2; exit 1; else echo "$(1) (tests needing it will skip)"; fi; }
PYTEST_ARGS ?=

.PHONY: help install sysdeps test test-fast dataset plots demo bench bench-data seed004 clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install: $(STAMP)  ## create .venv and install the project with its test extra (idempotent)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(CHAINER_BUILD)
	$(PIP) install -q --no-build-isolation "chainer==7.8.1"
	$(PIP) install -q -e ".[test,bench,study]"
	$(PIP) install -q mpi4py || $(call or_fail_in_ci,mpi4py not installed (needs libopenmpi-dev: make sysdeps))
	touch $(STAMP)

sysdeps:  ## install the Debian packages above when running as root with apt (else explain)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "sysdeps: all present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "sysdeps: installing$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
	  || $(call or_fail_in_ci,sysdeps: apt-get install$$missing failed); \
	else $(call or_fail_in_ci,sysdeps: missing$$missing; install them with: sudo apt-get install$$missing); fi

test: sysdeps install  ## install everything needed, then the whole suite (CI=true: a missing component fails it)
	$(PIP) install -q mpi4py || $(call or_fail_in_ci,pip install mpi4py failed)
	$(PIP) install -q $(TORCH_REQ) || $(call or_fail_in_ci,pip install $(TORCH_PIN) failed)
	$(PY) -m pytest -q -ra $(PYTEST_ARGS) tests

test-fast: install  ## the suite without the slow tests
	$(PY) -m pytest -q -ra -m "not slow" $(PYTEST_ARGS) tests

dataset: install  ## CIFAR-10 → dataset/*.pkl (seed 004's data stage)
	$(PY) src/dataset.py

RUNS ?= results
plots: install  ## compare every run under results/: summary.md/.csv, curves.png, report.html
	$(PY) src/plot.py $(RUNS) $(PLOT_ARGS)

GPUS ?= 0
STUDY_ARGS ?=
seed004: install  ## seed 004's study (7 configurations x 5 seeds, studies/seed004.yaml) on GPUS=0,1,... (GPUS= : CPU), then the comparison
	test -f dataset/image.pkl || $(PY) src/dataset.py
	$(PY) src/study.py run studies/seed004.yaml $(if $(GPUS),--gpus $(GPUS),) $(STUDY_ARGS)
	$(PY) src/plot.py results/seed004 --reference seed004 $(PLOT_ARGS)

demo: install  ## real Fashion-MNIST end to end on the CPU: data stage, the demo study (3 configs x 3 seeds), plots + verdicts
	PYTHON=$(PY) scripts/demo.sh

bench: install  ## training + inference images/s and % of GEMM peak: fast CPU path vs stock Chainer vs PyTorch -> bench/RESULTS.md, bench/results.csv
	$(PIP) install -q $(TORCH_REQ)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) bench/run_bench.py

bench-data: install  ## time the data stage on CIFAR-10-sized random data (peak RSS too)
	$(PY) bench/bench_data.py

clean:  ## remove the venv, caches and build outputs (keeps dataset/ and results/)
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
