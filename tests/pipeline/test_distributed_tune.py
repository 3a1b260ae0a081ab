"""keras-tuner's distributed mode on loopback: a chief and two workers share one search."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tests.pipeline.conftest import BIN, WORKER_SEARCH, make_project, run

# Slow tier (make test-all): three processes training at once take two minutes of the default
# run's 2 cores; test_postgres.py runs a chief and two workers against the team server too.
pytestmark = [pytest.mark.pipeline, pytest.mark.slow]

SEARCH = WORKER_SEARCH


def test_a_chief_and_two_workers_share_one_search_logged_under_one_run(tmp_path: Path):
    project = make_project(tmp_path, SEARCH, until_stage="window")

    result = run(project, str(BIN / "tsforge"), "tune", "--workers", "2")
    assert "search finished with 2 worker(s)" in result.stdout

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tsforge").experiment_id
    (parent,) = client.search_runs([experiment], "tags.stage = 'tune'")
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    trials = pd.read_csv(project / "reports/tuning_trials.csv")
    assert len(children) == len(trials) == 4 and set(trials["status"]) == {"COMPLETED"}
    trial_ids = [c.data.tags["kt_trial_id"] for c in children]
    assert len(set(trial_ids)) == 4, f"a trial ran twice: {trial_ids}"
    workers = Counter(c.data.tags["kt_tuner_id"] for c in children)
    assert set(workers) == {"tuner0", "tuner1"}, f"the trials were not shared: {workers}"
    for child in children:
        assert client.get_metric_history(child.info.run_id, "val_loss")
    assert sum(c.data.tags.get("best_trial") == "true" for c in children) == 1
    best = json.loads((project / "models/best_hparams.json").read_text())
    assert best["tuning_run_id"] == parent.info.run_id

    # `tsforge tune` recorded the search in dvc.lock: the pipeline goes on from train.
    rest = run(project, str(BIN / "dvc"), "repro")
    assert "Running stage 'tune'" not in rest.stdout and "Running stage 'train'" in rest.stdout
