"""Data-parallel training on two workers (TensorFlow's MultiWorkerMirroredStrategy on loopback):
the whole pipeline with ``train.workers: 2``, the forecaster registered once and forecasting."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.pipeline.conftest import BIN, make_project, run

# Slow tier (make test-all): two TensorFlow processes training in step on the default run's
# 2 cores, after the rest of the pipeline.
pytestmark = [pytest.mark.pipeline, pytest.mark.slow]


def test_two_workers_train_one_forecaster_registered_once_that_forecasts(tmp_path: Path):
    project = make_project(tmp_path, {"train": {"workers": 2}})

    log = (project / "first_repro.log").read_text()
    assert "training on 2 workers of this host" in log
    assert "chief of 2 workers" in log and "joint fits as separate" in log
    # The other worker trained both networks with the chief, and wrote nothing.
    assert "worker: trained its share of 2 network(s)" in log

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tsforge").experiment_id
    (trained,) = client.search_runs([experiment], "tags.stage = 'train'")
    assert trained.data.tags["workers"] == "2" and trained.info.status == "FINISHED"
    members = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{trained.info.run_id}'")
    assert len(members) == 2, "the members were logged once, by the chief alone"
    assert all(np.isfinite(m.data.metrics["best_val_mae"]) for m in members)
    report = json.loads((project / "reports/training.json").read_text())
    assert report["run_id"] == trained.info.run_id and len(report["ensemble"]["members"]) == 2

    (version,) = client.search_model_versions("name = 'tsforge-forecaster'")
    assert version.run_id == trained.info.run_id

    done = run(project, str(BIN / "tsforge"), "forecast", "--version", "1")
    written = pd.read_parquet(next((project / "forecasts").glob("*.parquet")))
    assert "version 1: 2 forecast rows for 1 series" in done.stdout
    assert np.isfinite(written["forecast"]).all()
