# `make repro` and `make test` set everything up on a fresh clone; see README.md.
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
PYTHON ?= python3
STAMP  := $(VENV)/.installed
# DVC runs stage commands through the shell: put the venv's python first on PATH.
RUN    := PATH="$(BIN):$$PATH" DVC_NO_ANALYTICS=1

.PHONY: setup repro test lint bench clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

repro: setup
	$(RUN) $(BIN)/dvc repro

test: setup
	$(RUN) $(BIN)/python -m pytest -n auto

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: setup   # about 25 minutes: throughput, whole-pipeline time, baselines, 10^5-10^7-row tables
	$(RUN) $(BIN)/python -m bench.train_throughput
	$(RUN) $(BIN)/python -m bench.repro_time
	$(RUN) $(BIN)/python -m bench.baselines
	$(RUN) $(BIN)/python -m bench.data_scale

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
