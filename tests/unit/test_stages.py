"""The stage functions of tsforge.stages called directly, without DVC: what each stage makes
from typed inputs, and what its MLflow wrappers record."""

from __future__ import annotations

from pathlib import Path

import mlflow

from tsforge import stage
from tsforge.catalog import Project, save_frame

# --- the run every logging stage opens


def test_a_stage_run_carries_lineage_its_tags_and_the_snapshot(seasonal_frame, mlflow_store, tmp_path: Path):
    project = Project(tmp_path / "proj")
    project.params.parent.mkdir(parents=True)
    project.params.write_text("data: {}\n", encoding="utf-8")
    save_frame(project.raw_series, seasonal_frame)
    with stage.tracked_run(project, "validate", {"raw": project.raw_series}, {"eda.scaler": "robust"}) as run:
        pass
    logged = mlflow.get_run(run.run_id)
    tags = logged.data.tags
    assert tags["stage"] == "validate" and tags["mlflow.runName"] == "validate"
    assert tags["eda.scaler"] == "robust" and "data.raw.md5" in tags and "params_md5" in tags
    assert {k: tags[k] for k in run.lineage} == run.lineage and "git_commit" in run.lineage
    (dataset,) = logged.inputs.dataset_inputs
    assert {t.key: t.value for t in dataset.tags}["mlflow.data.context"] == "validate"
