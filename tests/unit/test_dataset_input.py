"""Runs name their data as MLflow datasets: the snapshot's source, DVC digest, path and rows."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow

from tsforge import tracking
from tsforge.catalog import IngestSummary, Project, save_frame


def test_a_run_logs_the_snapshot_as_its_dataset_input(seasonal_frame, mlflow_store, tmp_path: Path):
    project = Project(tmp_path / "proj")
    save_frame(project.raw_series, seasonal_frame)
    IngestSummary("sales.csv", 240, 1, None, None, ["date", "y"], "W-SAT", "abc").save(project.raw_meta)
    with mlflow.start_run() as run:
        tracking.log_snapshot_input(project, "train")
    (logged,) = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    dataset = logged.dataset
    assert dataset.name == "sales.csv"
    assert dataset.digest == tracking.file_md5(project.raw_series)  # what DVC records in dvc.lock
    assert json.loads(dataset.source) == {"uri": str(project.raw_series)}
    assert json.loads(dataset.profile) == {"num_rows": 240}
    columns = json.loads(dataset.schema)["mlflow_colspec"]
    assert [(c["name"], c["type"]) for c in columns] == [("date", "datetime"), ("y", "double")]
    assert {t.key: t.value for t in logged.tags}["mlflow.data.context"] == "train"


def test_no_snapshot_yet_logs_nothing(mlflow_store, tmp_path: Path):
    with mlflow.start_run() as run:
        tracking.log_snapshot_input(Project(tmp_path), "validate")
    assert mlflow.get_run(run.info.run_id).inputs.dataset_inputs == []
