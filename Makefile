# tsforge: `make run` trains on the bundled data, `make test` runs the tests.
# Both create .venv and install the package with its pinned dependency ranges first.

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp
# DVC stage commands call `python`; make it the project's.
export PATH := $(BIN):$(PATH)
export GX_ANALYTICS_ENABLED ?= false

.PHONY: help setup setup-gpu run test test-all test-faults lint bench bench-accuracy ui serve clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

setup: $(STAMP)  ## create .venv and install tsforge with its dependencies

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup-gpu: setup  ## swap tensorflow-cpu for TensorFlow with CUDA in .venv (a machine with an NVIDIA GPU)
	$(BIN)/python -m pip uninstall --quiet --yes tensorflow-cpu
	$(BIN)/python -m pip install --quiet 'tensorflow[and-cuda]>=2.18,<2.22'
	$(BIN)/python -c 'import tensorflow as tf; print("GPUs:", tf.config.list_physical_devices("GPU"))'

run: setup  ## run the whole pipeline (dvc repro) on the bundled data and print the results
	$(BIN)/dvc repro
	$(BIN)/tsforge summary

test: setup lint  ## lint (ruff, mypy), then the test suite (unit, data contract, real dvc repro on a tiny profile)
	$(BIN)/pytest

test-all: setup  ## the test suite plus the slow, postgres and faults tiers (PostgreSQL: installed as root if missing)
	$(BIN)/pytest -m ""

test-faults: setup  ## kill -9 at named points of every stage, forecast and retrain, a full disk, a server restart; then rerun (~18 min)
	$(BIN)/pytest -m faults -n 0

lint: setup  ## ruff and mypy
	$(BIN)/ruff check src pipelines tests bench
	$(BIN)/mypy src pipelines

bench: setup  ## speed/memory benchmarks against bare baselines -> bench/RESULTS.md (~45 min; scaling rows alone: python -m bench.run scaling, ~23 min)
	$(BIN)/python -m bench.run

# Not part of `make test`. ARGS picks datasets or a smoke test, e.g.
#   make bench-accuracy ARGS='--datasets m3-monthly,airpassengers'
#   make bench-accuracy ARGS='--datasets airpassengers --quick'   (about a minute)
#   make bench-accuracy ARGS=--report                             (re-render ACCURACY.md only)
#   make bench-accuracy ARGS='--datasets m3-yearly --set train.seed=7 --out bench/work/seed7'  (an experiment)
bench-accuracy: setup  ## accuracy suite: one dvc repro per dataset -> bench/ACCURACY.md, bench/accuracy.json (hours)
	$(BIN)/python -m bench.accuracy $(ARGS)

ui: setup  ## the MLflow UI on the local store; prints the link to the experiment's runs (Model training view)
	@$(BIN)/python -m tsforge.run_notes --store sqlite:///mlflow.db
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5000

serve: setup  ## serve the champion forecaster on http://127.0.0.1:5001 (POST raw history to /invocations)
	MLFLOW_TRACKING_URI=$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db} \
	  $(BIN)/mlflow models serve -m "models:/$$($(BIN)/python -c 'from tsforge.config import load_params; print(load_params().registry.model_name)')@champion" \
	  --env-manager local --host 127.0.0.1 -p 5001

clean:  ## remove pipeline outputs and the local MLflow store (keeps .venv)
	rm -rf data/raw/series.parquet data/raw/ingest.json data/processed reports models mlflow.db mlartifacts
