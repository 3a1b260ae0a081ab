"""A search killed part-way resumes: finished trials are not retrained, runs not duplicated."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import mlflow
import pytest

from tests.pipeline.conftest import make_project, pipeline_env

pytestmark = pytest.mark.pipeline

SEARCH = {
    "tune": {
        "strategy": "random",
        "max_trials": 4,
        "max_epochs": 2,
        "space": {"units": {"type": "choice", "values": [4, 8, 12, 16]}, "num_layers": 1, "batch_size": 32},
    }
}


def _completed_trials(project: Path) -> list[str]:
    done = []
    for path in (project / "models/tuner").glob("search-*/trial_*/trial.json"):
        try:
            trial = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError):
            continue  # being written
        if trial.get("status") == "COMPLETED":
            done.append(trial["trial_id"])
    return sorted(done)


def _trial_runs(project: Path) -> dict[str, tuple[str, int]]:
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tsforge")
    runs = client.search_runs([experiment.experiment_id], "tags.stage = 'tune-trial'")
    ids = [r.data.tags["kt_trial_id"] for r in runs]
    assert len(ids) == len(set(ids)), f"duplicated trial runs: {ids}"
    return {
        r.data.tags["kt_trial_id"]: (r.info.run_id, len(client.get_metric_history(r.info.run_id, "val_loss")))
        for r in runs
    }


def test_killed_search_resumes_without_retraining_or_duplicating(tmp_path: Path):
    project = make_project(tmp_path, SEARCH, until_stage="window")
    search = subprocess.Popen(
        ["python", "pipelines/tune.py"],
        cwd=project,
        env=pipeline_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while len(_completed_trials(project)) < 2 and search.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    search.send_signal(signal.SIGKILL)  # no clean-up: as a crash or an OOM kill
    search.wait()
    finished_before = _completed_trials(project)
    assert 2 <= len(finished_before) < 4, "the search should have been cut off part-way"
    before = _trial_runs(project)

    resumed = subprocess.run(
        ["python", "pipelines/tune.py"],
        cwd=project,
        env=pipeline_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert resumed.returncode == 0, f"the resumed search failed:\n{resumed.stderr[-3000:]}"

    after = _trial_runs(project)
    assert sorted(after) == _completed_trials(project) and len(after) == 4
    for trial_id in finished_before:
        assert after[trial_id] == before[trial_id], f"trial {trial_id} was retrained or its run replaced"
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tsforge")
    parents = client.search_runs([experiment.experiment_id], "tags.stage = 'tune'")
    assert len(parents) == 1
    assert (
        json.loads((project / "models/best_hparams.json").read_text())["tuning_run_id"]
        == parents[0].info.run_id
    )
