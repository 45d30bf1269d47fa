# `make repro` and `make test` set everything up on a fresh clone; see README.md.
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
PYTHON ?= python3
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
# DVC runs stage commands through the shell: put the venv's python first on PATH.
RUN    := PATH="$(BIN):$$PATH" DVC_NO_ANALYTICS=1

.PHONY: setup repro test lint bench clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

# bench.quality's gradient boosting and real tables: for `make bench` and the tests (which run
# every benchmark at its smoke size); the pipeline itself never imports them
$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $(BENCH_STAMP)

setup: $(STAMP)

repro: setup
	$(RUN) $(BIN)/dvc repro

test: setup $(BENCH_STAMP)
	$(RUN) $(BIN)/python -m pytest -n auto --durations=15

lint: setup $(BENCH_STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: setup $(BENCH_STAMP)   # about 4 hours: throughput, whole-pipeline time, baselines, real tables, tuning, 10^5-10^7-row tables
	$(RUN) $(BIN)/python -m bench.train_throughput
	$(RUN) $(BIN)/python -m bench.repro_time
	$(RUN) $(BIN)/python -m bench.baselines
	$(RUN) $(BIN)/python -m bench.quality
	$(RUN) $(BIN)/python -m bench.tune
	$(RUN) $(BIN)/python -m bench.data_scale

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
