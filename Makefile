# The README's two commands: `make repro` (set up + the main job) and `make test`.
VENV   ?= .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Raw data kept beside the project (shared/data) is used when present; see deepsc/data/sources.py.
ifneq ($(wildcard ../shared/data),)
export LRSC_DATA_MIRROR ?= $(abspath ../shared/data)
endif

.PHONY: venv repro test bench bench-sscn bench-baselines clean-venv

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -r requirements.txt
	touch $@

repro: venv
	$(VENV)/bin/dvc repro

# Two workers: the two end-to-end files (tests/test_pipeline*.py, collected first: conftest.py)
# start one on each worker; the unit tests fill in behind them.
test: venv
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

bench: venv
	$(VENV)/bin/python benchmarks/k2_step.py

bench-sscn: venv
	$(VENV)/bin/python benchmarks/sscn_bench.py

bench-baselines: venv
	$(VENV)/bin/python benchmarks/baselines_speedup.py

clean-venv:
	rm -rf $(VENV)
