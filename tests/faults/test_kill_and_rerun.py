"""SIGKILL at a named point of every stage, of `tsforge forecast` and of `tsforge retrain`,
then the rerun: the snapshot, registry, aliases and forecasts are unchanged or correctly
advanced, no MLflow run stays RUNNING, no temporary file is left or read as complete, and
DVC's outputs match dvc.lock.

One tiny project, in pipeline order: each kill runs on the state the previous rerun left,
after new data arrived, so every stage has real work when it is killed. Each test reruns
what it killed, so it stands on its own if an earlier one failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.faults.conftest import (
    LOG,
    MODEL,
    Fault,
    alias,
    assert_clean,
    champion_moves,
    client,
    dvc_status,
    kill_during,
    rerun,
    running_runs,
    temporaries,
    versions,
)
from tests.pipeline.conftest import BIN, make_project, set_params
from tsforge.catalog import ProcessedSeries, Windows
from tsforge.monitoring import read_forecasts

pytestmark = pytest.mark.faults

DVC, TSFORGE = str(BIN / "dvc"), str(BIN / "tsforge")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project reproduced once (version 1, champion), then new data arrives."""
    project = make_project(tmp_path_factory.mktemp("faults") / "project")
    set_params(project, {"data": {"until": "1968-12-31"}})
    return project


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _summary(project: Path) -> dict:
    return json.loads((project / "data/raw/ingest.json").read_text())


def _snapshot(project: Path) -> pd.DataFrame:
    return pd.read_parquet(project / "data/raw/series.parquet")


def _assert_removed_by_dvc(project: Path, stage: str, path: Path) -> None:
    """DVC deletes a stage's outputs (``persist`` ones aside) before it runs the stage: after
    the kill the output is absent, never the new one half-written, and DVC says so."""
    assert not path.exists()
    changes = dvc_status(project, stage)[stage]
    outs = next(c["changed outs"] for c in changes if isinstance(c, dict) and "changed outs" in c)
    assert outs[path.relative_to(project).as_posix()] == "deleted"


def _assert_snapshot_matches_summary(project: Path) -> None:
    snapshot, summary = _snapshot(project), _summary(project)
    assert len(snapshot) == summary["rows"]
    assert str(snapshot["date"].max())[:10] == summary["end"][:10]


def test_ingest_killed_before_the_new_snapshot_is_renamed(project: Path) -> None:
    before, rows = _md5(project / "data/raw/series.parquet"), _summary(project)["rows"]
    kill_during(project, [DVC, "repro", "ingest"], Fault("pipelines/ingest.py", "replace:series.parquet"))
    # The new snapshot was complete but never took the old one's place.
    assert _md5(project / "data/raw/series.parquet") == before and len(_snapshot(project)) == rows
    assert [Path(t).name.split(".tmp-")[0] for t in temporaries(project)] == ["series"]

    rerun(project, DVC, "repro", "ingest")
    assert _summary(project)["rows"] > rows
    _assert_snapshot_matches_summary(project)
    assert_clean(project, "ingest")


def test_ingest_killed_between_the_snapshot_and_its_summary(project: Path) -> None:
    set_params(project, {"data": {"until": "1969-06-30"}})
    rows = _summary(project)["rows"]
    kill_during(project, [DVC, "repro", "ingest"], Fault("pipelines/ingest.py", "replace:ingest.json"))
    # The snapshot moved on and its summary did not: DVC sees the stage as unfinished.
    assert len(_snapshot(project)) > rows == _summary(project)["rows"]
    assert "ingest" in dvc_status(project, "ingest")

    rerun(project, DVC, "repro", "ingest")
    _assert_snapshot_matches_summary(project)
    assert_clean(project, "ingest")


def test_validate_killed_with_its_mlflow_run_open(project: Path) -> None:
    kill_during(
        project,
        [DVC, "repro", "validate"],
        Fault("pipelines/validate.py", "tsforge.tracking:log_snapshot_input:after"),
    )
    (left,) = running_runs(project)
    assert left.startswith("validate:")

    rerun(project, DVC, "repro", "validate")
    assert client(project).get_run(left.split(":")[1]).info.status == "KILLED"
    assert_clean(project, "validate")


@pytest.mark.parametrize(
    ("stage", "artifact", "load"),
    [
        ("scale", "data/processed/series.npz", ProcessedSeries.load),
        ("window", "data/processed/windows.npz", Windows.load),
    ],
    ids=["scale", "window"],
)
def test_array_stage_killed_before_its_output_is_renamed(
    project: Path, stage: str, artifact: str, load: Callable[[Path], object]
) -> None:
    rerun(project, DVC, "repro", "validate")  # upstream done, should an earlier test have failed
    path = project / artifact
    before = _md5(path)
    fault = Fault(f"pipelines/{stage}.py", f"replace:{path.name}")
    kill_during(project, [DVC, "repro", stage], fault)
    _assert_removed_by_dvc(project, stage, path)
    assert [Path(t).name.split(".tmp-")[0] for t in temporaries(project)] == [path.stem]

    rerun(project, DVC, "repro", stage)
    load(path)  # whole
    assert _md5(path) != before  # rebuilt from the new snapshot
    assert_clean(project, stage)


def test_tune_killed_before_writing_its_results_resumes_the_same_search(project: Path) -> None:
    best = project / "models/best_hparams.json"
    fault = Fault("pipelines/tune.py", "replace:best_hparams.json")
    kill_during(project, [DVC, "repro", "tune"], fault)
    _assert_removed_by_dvc(project, "tune", best)
    (parent,) = [r for r in running_runs(project) if r.startswith("tune:")]

    rerun(project, DVC, "repro", "tune")
    tuning_run = json.loads(best.read_text())["tuning_run_id"]
    assert tuning_run == parent.split(":")[1]  # the killed search resumed, not started again
    store = client(project)
    trials = store.search_runs(
        [store.get_experiment_by_name("tsforge").experiment_id], f"tags.mlflow.parentRunId = '{tuning_run}'"
    )
    ids = [r.data.tags["kt_trial_id"] for r in trials]
    assert len(ids) == len(set(ids)) == 2  # max_trials of the tiny profile, none trained twice
    assert_clean(project, "tune")


def test_train_killed_after_logging_its_model(project: Path) -> None:
    training = project / "reports/training.json"
    before = json.loads(training.read_text())
    fault = Fault("pipelines/train.py", "tsforge.stages.train:log_model:after")
    kill_during(project, [DVC, "repro", "train"], fault)
    _assert_removed_by_dvc(project, "train", training)  # no record names the model just logged
    (killed,) = running_runs(project)

    rerun(project, DVC, "repro", "train")
    after = json.loads(training.read_text())
    assert after["run_id"] not in (before["run_id"], killed.split(":")[1])
    assert client(project).get_run(after["run_id"]).info.status == "FINISHED"
    assert versions(project) == ["1"]  # train registers nothing; evaluate does
    assert_clean(project, "train")


def test_evaluate_killed_after_registering_and_after_moving_champion(project: Path) -> None:
    # Any model that beats the baselines is promoted: the second kill needs a champion move.
    set_params(project, {"registry": {"min_improvement": -10.0}})
    rerun(project, DVC, "repro", "train")
    champion, registered = alias(project, "champion"), versions(project)

    evaluate = [DVC, "repro", "evaluate"]
    kill_during(project, evaluate, Fault("pipelines/evaluate.py", "tsforge.registry:register:after"))
    new = versions(project)[-1]
    assert versions(project) == [*registered, new]
    assert client(project).get_model_version(MODEL, new).aliases == []
    assert alias(project, "champion") == champion
    _assert_removed_by_dvc(project, "evaluate", project / "reports/promotion.json")

    # The rerun gates the same version again; killed right after it moved champion.
    set_alias = "mlflow.tracking.client:MlflowClient.set_registered_model_alias:after"
    moved = Fault("pipelines/evaluate.py", set_alias, "champion")
    kill_during(project, evaluate, moved)
    assert versions(project) == [*registered, new]
    assert alias(project, "champion") == alias(project, "challenger") == new
    assert champion_moves(project)[-1] != new  # moved, not recorded

    rerun(project, *evaluate)
    assert versions(project) == [*registered, new]  # gated again, not registered again
    assert alias(project, "champion") == alias(project, "challenger") == new
    assert champion_moves(project).count(new) == 1 and champion_moves(project)[-1] == new
    record = json.loads((project / "reports/promotion.json").read_text())
    assert (record["version"], record["champion_after"], record["new_version"]) == (new, new, False)
    assert_clean(project)  # the whole pipeline


def _forecast_file(project: Path) -> Path:
    return project / "forecasts" / f"{_snapshot(project)['date'].max():%Y-%m-%d}.parquet"


def test_forecast_killed_before_its_file_is_renamed(project: Path) -> None:
    path = _forecast_file(project)
    kill_during(project, [TSFORGE, "forecast"], Fault("forecast", f"replace:{path.name}"))
    assert not path.exists() and len(temporaries(project)) == 1
    forecasts, errors = read_forecasts(project / "forecasts", ("co2",))
    assert forecasts.empty and errors == {}  # the complete but unrenamed file is not read

    rerun(project, TSFORGE, "forecast")
    table = pd.read_parquet(path)
    assert len(table) == 2 and set(table["model_version"]) == {alias(project, "champion")}
    assert_clean(project)


def test_forecast_killed_while_logging_its_run(project: Path) -> None:
    path = _forecast_file(project)
    fault = Fault("forecast", "tsforge.tracking:log_snapshot_input:after")
    kill_during(project, [TSFORGE, "forecast"], fault)
    (left,) = running_runs(project)
    assert left.startswith("forecast:")

    rerun(project, TSFORGE, "forecast")
    assert client(project).get_run(left.split(":")[1]).info.status == "KILLED"
    assert set(pd.read_parquet(path)["model_version"]) == {alias(project, "champion")}
    assert_clean(project)


def _records(project: Path) -> list[dict]:
    folder = project / "logs/retrain"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def test_retrain_killed_between_registering_and_the_gate_is_gated_again(project: Path) -> None:
    set_params(project, {"data": {"until": "1969-12-31"}})
    registered, champion, records = versions(project), alias(project, "champion"), len(_records(project))
    fault = Fault("pipelines/evaluate.py", "tsforge.registry:register:after")
    kill_during(project, [TSFORGE, "retrain"], fault)
    new = versions(project)[-1]
    assert versions(project) == [*registered, new] and alias(project, "champion") == champion
    assert len(_records(project)) == records  # a killed cycle writes no decision record

    rerun(project, TSFORGE, "retrain")  # not locked out: the kill released the lock
    (record,) = _records(project)[records:]
    assert (record["status"], record["model_version"]) == ("retrained", new)
    assert versions(project) == [*registered, new]  # the same version, gated on the rerun
    assert alias(project, "challenger") == new
    assert alias(project, "champion") == (new if record["promoted"] else champion)
    assert record["forecast_error"] is None
    table = pd.read_parquet(project / record["forecasts"])
    assert set(table["model_version"]) == {alias(project, "champion")}
    assert_clean(project)


def test_retrain_killed_while_forecasting(project: Path) -> None:
    set_params(project, {"data": {"until": "1970-06-30"}})
    registered, records = versions(project), len(_records(project))
    kill_during(project, [TSFORGE, "retrain"], Fault("retrain", "tsforge.delivery:save_frame:before"))
    champion = alias(project, "champion")
    assert len(versions(project)) == len(registered) + 1 and len(_records(project)) == records
    assert not _forecast_file(project).exists()

    rerun(project, TSFORGE, "retrain")
    (record,) = _records(project)[records:]
    # Data and pipeline are up to date: nothing to retrain; the champion's forecasts written.
    assert record["status"] == "unchanged" and record["forecast_error"] is None
    assert len(versions(project)) == len(registered) + 1 and alias(project, "champion") == champion
    assert set(pd.read_parquet(_forecast_file(project))["model_version"]) == {champion}
    assert_clean(project)


CYCLES = int(os.environ.get("TSFORGE_FAULT_CYCLES", "3"))
"""Retrain cycles in a row (the issue asks for 30; each costs about a minute and a half here)."""


def test_cycles_in_a_row_after_the_kills_leave_consistent_decision_records(project: Path) -> None:
    set_params(project, {"registry": {"min_improvement": 0.0}})  # the real gate again
    start = len(_records(project))
    for number in range(CYCLES):
        until = pd.Timestamp("1970-12-31") + pd.Timedelta(weeks=26 * number)
        set_params(project, {"data": {"until": f"{until:%Y-%m-%d}"}})
        began = time.monotonic()
        rerun(project, TSFORGE, "retrain")
        took = time.monotonic() - began
        LOG.warning("retrain cycle %d (data until %s): %.0f s", number + 1, f"{until:%Y-%m-%d}", took)
    records = _records(project)
    # Dense cycle numbers: the killed cycles left no record, and no record was written twice.
    assert [r["cycle"] for r in records] == list(range(len(records)))
    new = records[start:]
    assert [r["status"] for r in new] == ["retrained"] * CYCLES
    numbers = [int(r["model_version"]) for r in new]
    assert numbers == list(range(numbers[0], numbers[0] + CYCLES))
    assert versions(project)[-1] == str(numbers[-1])
    moves = champion_moves(project)
    for record in new:
        assert (record["model_version"] in moves) == record["promoted"], record
        assert record["forecast_error"] is None and record["live_error"] is None
    # Every cycle re-scores all earlier forecasts: the scored rows only grow.
    scored = [r["live_accuracy"]["scored_rows"] for r in new]
    assert scored == sorted(scored) and scored[0] > 0
    served = pd.read_parquet(project / new[-1]["forecasts"])["model_version"]
    assert set(served) == {alias(project, "champion")}
    assert_clean(project)
