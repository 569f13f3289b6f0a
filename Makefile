# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
CONFIG ?= config/config.yaml
# pytest-xdist workers of make test (whole modules to a worker: tests/conftest.py)
TEST_WORKERS ?= 2
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: env run real-laptop report test lint bench docs lock clean

# requirements.lock is resolved on Python 3.11: an older one fails here, by name, rather than
# deep in pip's resolver; a newer one is tried, with a warning.
define CHECK_PYTHON
import sys
version = '.'.join(map(str, sys.version_info[:3]))
if sys.version_info < (3, 11):
    sys.exit(f'$(PYTHON) is Python {version}; brainlatent needs 3.11 (requirements.lock '
             'is pinned for it): make $(or $(MAKECMDGOALS),env) PYTHON=python3.11')
if sys.version_info[:2] != (3, 11):
    print(f'warning: $(PYTHON) is Python {version}; requirements.lock was resolved and '
          'tested on 3.11 (PYTHON=python3.11 picks another interpreter)', file=sys.stderr)
endef
export CHECK_PYTHON

env: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -c "$$CHECK_PYTHON"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

run: env  ## run the whole default workflow, then build results/report.html
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG)
	$(BIN)/snakemake --cores 1 --configfile $(CONFIG) --report results/report.html

real-laptop: env  ## real data that fits a laptop: sizes first, then config/real-laptop.yaml
	$(BIN)/python -m brainlatent.datasets.download_plan config/real-laptop.yaml
	$(BIN)/snakemake --cores $(CORES) --configfile config/real-laptop.yaml
	$(BIN)/snakemake --cores 1 --configfile config/real-laptop.yaml --report results/report.html

report: env
	$(BIN)/snakemake --cores 1 --configfile $(CONFIG) --report results/report.html

test: env lint  ## the whole test suite (CI runs this)
	$(BIN)/python -m pytest -ra --durations=25 -n $(TEST_WORKERS)

lint: env
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/ruff format --check src scripts tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile $(CONFIG)

bench: env  ## speed and memory against the reference libraries
	$(BIN)/python benchmarks/bench_ridge.py
	$(BIN)/python benchmarks/bench_cebra_overhead.py
	$(BIN)/python benchmarks/bench_brain_module.py
	$(BIN)/python benchmarks/bench_dag.py
	$(BIN)/python benchmarks/bench_meg_preprocessing.py --runs 2

.PHONY: bench-full
bench-full: env  ## the long ones: the default config end to end, a full 10-run MEG session
	$(BIN)/python benchmarks/bench_default_run.py --run
	$(BIN)/python benchmarks/bench_meg_preprocessing.py

docs: env  ## rewrite docs/configuration.md from the config schema (a test fails when it is stale)
	$(BIN)/python -m brainlatent.config_reference

lock:  ## re-pin requirements.lock from requirements.in
	rm -rf /tmp/brainlatent-lock && $(PYTHON) -m venv /tmp/brainlatent-lock
	/tmp/brainlatent-lock/bin/pip install --quiet -r requirements.in
	/tmp/brainlatent-lock/bin/pip freeze --exclude-editable | sed 's/+cpu$$//' > requirements.lock

clean:  ## remove what the workflow wrote (results, logs and per-rule timings); keeps make bench's results
	rm -rf results logs .snakemake
