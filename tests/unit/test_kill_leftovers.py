"""What a process killed with SIGKILL leaves behind is never read as complete: its temporary
files are skipped by readers and removed by the next writer, and an alias it moved without
recording the move is recorded on the rerun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tsforge import catalog, registry
from tsforge.catalog import Project, is_temporary, save_frame, write_json
from tsforge.config import parse_params
from tsforge.retrain import cycle_number, score_forecasts


def _dead_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def test_temporary_names_are_recognised_and_artifacts_are_not() -> None:
    assert is_temporary(Path("1968-12-28.tmp-4242.parquet"))
    assert is_temporary(Path("model.tmp-17.keras"))
    assert not is_temporary(Path("1968-12-28.parquet"))
    assert not is_temporary(Path("notes.tmp-draft.json"))
    assert not is_temporary(Path("series.parquet"))


def test_the_next_write_removes_a_dead_writers_temporary_file_only(tmp_path: Path) -> None:
    target = tmp_path / "windows.npz"
    dead = tmp_path / f"windows.tmp-{_dead_pid()}.npz"
    live = tmp_path / f"windows.tmp-{os.getpid()}.npz"  # this process: alive
    other = tmp_path / f"series.tmp-{_dead_pid()}.npz"  # another artifact's
    for path in (dead, live, other):
        path.write_bytes(b"half")
    write_json(tmp_path / "unrelated.json", {})  # writes elsewhere touch nothing here
    assert dead.exists()

    with catalog.atomic_path(target) as tmp:
        assert tmp == live  # this process's own name: the stale sweep spared it
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert not dead.exists() and other.exists()


def test_a_forecast_killed_before_its_rename_is_not_scored(tmp_path: Path) -> None:
    project = Project(tmp_path)
    params = parse_params({"data": {"target": "y", "series_id": "id"}, "evaluate": {"season_period": 1}})
    weeks = pd.date_range("2020-01-04", periods=8, freq="W-SAT")
    save_frame(project.raw_series, pd.DataFrame({"id": "a", "date": weeks, "y": np.arange(8.0)}))
    table = pd.DataFrame(
        {"series": "a", "timestamp": weeks[6:], "forecast": [6.0, 8.0], "lower": np.nan, "upper": np.nan}
    ).assign(model_version="1")
    save_frame(project.forecasts / "2020-02-08.parquet", table)
    # Complete but never renamed: the process was killed between writing and os.replace.
    table.assign(model_version="2").to_parquet(project.forecasts / f"2020-02-08.tmp-{_dead_pid()}.parquet")
    live = score_forecasts(project, params)
    assert live is not None and set(live.versions) == {"1"} and live.errors == {}
    assert live.versions["1"].scored_rows == 2


def test_a_half_written_decision_record_is_not_a_cycle(tmp_path: Path) -> None:
    records = Project(tmp_path).retrain_records
    write_json(records / "2026-01-01T000000Z.json", {"status": "retrained"})
    (records / f"2026-01-02T000000Z.tmp-{_dead_pid()}.json").write_text('{"stat')
    assert cycle_number(tmp_path) == 1


@pytest.mark.usefixtures("mlflow_store")
def test_an_alias_moved_by_a_killed_evaluate_is_recorded_on_the_rerun() -> None:
    with mlflow.start_run():
        uri = f"models:/{mlflow.create_external_model(name='forecaster').model_id}"
    decision = registry.promotion_rule("mase", 0.5, None, {"naive": 1.0}, 0.0)
    registry.publish(uri, "m", {}, "first", decision)
    client = mlflow.MlflowClient()
    with mlflow.start_run():
        other = f"models:/{mlflow.create_external_model(name='forecaster').model_id}"
    version, _ = registry.register(other, "m", {}, "second")
    # The process moved champion, then was killed before it appended the move to the history.
    client.set_registered_model_alias("m", registry.CHAMPION, version.version)

    # The rerun re-gates version 2 against the champion, itself now: not promoted, and yet
    # the move the killed process made is recorded.
    itself = registry.promotion_rule("mase", 0.5, 0.5, {"naive": 1.0}, 0.0)
    rerun = registry.publish(other, "m", {}, "rerun", itself)
    assert not rerun["promote"] and rerun["champion_after"] == "2" and not rerun["new_version"]

    moves = json.loads(client.get_registered_model("m").tags[registry.HISTORY_TAG])
    champion = [(m["version"], m["previous"]) for m in moves if m["alias"] == registry.CHAMPION]
    assert champion == [("1", None), ("2", "1")]
    registry.publish(other, "m", {}, "again", decision)  # recorded once, not per rerun
    assert json.loads(client.get_registered_model("m").tags[registry.HISTORY_TAG]) == moves
