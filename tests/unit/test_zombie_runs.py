"""A run left RUNNING by a process killed with SIGKILL is ended as KILLED when a stage starts;
runs of live processes, of other hosts and without process tags are left alone."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from tsforge import stage, tracking
from tsforge.catalog import Project

# Starts a run tagged as the stages tag theirs, prints its id, then waits to be killed.
CHILD = """
import sys, time, mlflow
from tsforge.tracking import process_tags
mlflow.set_tracking_uri(sys.argv[1])
run = mlflow.start_run(experiment_id=sys.argv[2], tags={**process_tags(), "stage": "train"})
print(run.info.run_id, flush=True)
time.sleep(120)
"""


def _killed_run(uri: str, experiment_id: str) -> tuple[str, int]:
    """A run whose process was killed with SIGKILL: its id and the dead pid."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, uri, experiment_id], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)  # reaped, so the pid is gone rather than a zombie process
    assert run_id, "the child process did not start its run"
    return run_id, child.pid


def _status(run_id: str) -> str:
    return mlflow.MlflowClient().get_run(run_id).info.status


def test_stage_start_ends_runs_of_killed_processes_only(
    mlflow_store: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    experiment_id = mlflow.get_experiment_by_name("test").experiment_id
    client = mlflow.MlflowClient()
    zombie, dead_pid = _killed_run(mlflow_store, experiment_id)
    assert _status(zombie) == "RUNNING"
    alive = client.create_run(experiment_id, tags=tracking.process_tags()).info.run_id
    elsewhere = client.create_run(
        experiment_id, tags={tracking.PID_TAG: str(dead_pid), tracking.HOST_TAG: "another-host"}
    ).info.run_id
    untagged = client.create_run(experiment_id).info.run_id

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    with caplog.at_level(logging.WARNING, logger="tsforge.tracking"):
        assert stage.start_tracking(Project(tmp_path), "test") == experiment_id

    assert _status(zombie) == "KILLED"
    assert client.get_run(zombie).info.end_time is not None
    assert {_status(r) for r in (alive, elsewhere, untagged)} == {"RUNNING"}
    lines = [r.getMessage() for r in caplog.records if zombie in r.getMessage()]
    assert len(lines) == 1 and f"process {dead_pid}" in lines[0] and "(train)" in lines[0]
    # Nothing left to end the second time.
    assert tracking.end_dead_runs(experiment_id) == []


def test_lineage_tags_name_the_process(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("{}\n", encoding="utf-8")
    tags = tracking.lineage_tags(tmp_path, {}, params)
    assert tags[tracking.PID_TAG] == str(os.getpid())
    assert tags[tracking.HOST_TAG]


def test_process_gone_is_true_only_for_a_missing_process() -> None:
    assert not tracking.process_gone(os.getpid())
    assert not tracking.process_gone(0)  # would address the process group, never "gone"
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    assert tracking.process_gone(finished.pid)
