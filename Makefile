# The README's two commands: `make repro` (set up + the main job) and `make test`.
VENV   ?= .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Raw data kept beside the project (shared/data) is used when present; see deepsc/data/sources.py.
ifneq ($(wildcard ../shared/data),)
export LRSC_DATA_MIRROR ?= $(abspath ../shared/data)
endif

PART ?= news20

.PHONY: venv venv-install repro repro-paper test test-paper-scale bench bench-sscn bench-baselines bench-collapse bench-spectral bench-conv clean-venv

# The venv is (re)installed exactly when requirements.txt or pyproject.toml change in content:
# the stamp $(VENV)/.installed holds their hash, so new mtimes (a fresh clone, a checkout back
# and forth, a venv restored from elsewhere) cost nothing. An empty stamp newer than both files
# (written before the stamp held the hash) still counts.
REQ_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
STAMP    := $(VENV)/.installed

venv:
	@if [ "$$(cat $(STAMP) 2>/dev/null)" = "$(REQ_HASH)" ]; then :; \
	elif [ -f $(STAMP) ] && [ ! -s $(STAMP) ] && [ $(STAMP) -nt requirements.txt ] \
	     && [ $(STAMP) -nt pyproject.toml ]; then echo $(REQ_HASH) > $(STAMP); \
	else $(MAKE) --no-print-directory venv-install; fi

# One resolver pass over the pinned requirements.txt (the same versions everywhere).
# --no-compile skips byte-compiling the ~12,000 .py files of the stack at install time (about
# half of the install's CPU time); Python compiles the modules it imports on first use, once.
venv-install:
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --no-compile -r requirements.txt
	echo $(REQ_HASH) > $(STAMP)

repro: venv
	$(VENV)/bin/dvc repro

# One part of the paper-scale suite (params.yaml `paper_scale:`; PART=news20 | fmnist10k | fmnist5k):
# a `dvc exp run --temp` with the part's overrides, its metrics kept in reports/paper_scale/,
# then the tables alone (-s: nothing upstream re-runs).
repro-paper: venv
	$(VENV)/bin/python tools/paper_scale.py $(PART)
	$(VENV)/bin/dvc repro -s tables

# Two workers: the two end-to-end files (tests/test_pipeline*.py, collected first: conftest.py)
# start one on each worker; the unit tests fill in behind them.
test: venv
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

# The paper-scale command in tiny form (a real `dvc exp run --temp` in the e2e repo; ~2 min
# beyond the pipeline test, so not in `make test`, which CI runs under a 20-minute cap).
test-paper-scale: venv
	DEEPSC_TEST_PAPER_SCALE=1 $(VENV)/bin/python -m pytest -q tests/test_pipeline.py

bench: venv
	$(VENV)/bin/python benchmarks/k2_step.py
	$(VENV)/bin/python benchmarks/k2_step.py --c-update prox_backtrack --kind image --n 1000 10000

bench-sscn: venv
	$(VENV)/bin/python benchmarks/sscn_bench.py

bench-baselines: venv
	$(VENV)/bin/python benchmarks/baselines_speedup.py

# Issue 17: collapsed pre-training seeds of the narrow AE (3-3-5, kernels 5-3-3), before/after.
bench-collapse: venv
	$(VENV)/bin/python benchmarks/collapse_bench.py --jobs 2

# The conv networks' channels-last layout (LRSC AE, SSCN AE, ResNet teacher) against NCHW, interleaved in one run.
bench-conv: venv
	$(VENV)/bin/python benchmarks/conv_layout.py

bench-spectral: venv
	$(VENV)/bin/python benchmarks/spectral_bench.py

clean-venv:
	rm -rf $(VENV)
