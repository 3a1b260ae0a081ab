"""`tsforge retrain` as a scheduler runs it: cycles with new data, one without, one that
fails, and two jobs at once."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.pipeline.conftest import BIN, make_project, pipeline_env, run, set_params

pytestmark = pytest.mark.pipeline

MODEL = "tsforge-forecaster"


def _retrain(project: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    """Run one cycle as cron would and return its result and decision record."""
    before = set((project / "logs/retrain").glob("*.json")) if (project / "logs/retrain").exists() else set()
    result = run(project, str(BIN / "tsforge"), "retrain", check=False)
    records = sorted(set((project / "logs/retrain").glob("*.json")) - before)
    assert len(records) == 1, f"one decision record per cycle, got {records}\n{result.stderr[-2000:]}"
    return result, json.loads(records[0].read_text())


def _champion(client: mlflow.MlflowClient) -> str:
    return str(client.get_model_version_by_alias(MODEL, "champion").version)


def _assert_forecasts(project: Path, record: dict, champion: str) -> None:
    """Every cycle ends with the champion's forecasts from the data it saw, in the record."""
    assert record["forecast_error"] is None
    last = pd.read_parquet(project / "data/raw/series.parquet")["date"].max()
    assert record["forecasts"] == f"forecasts/{last:%Y-%m-%d}.parquet"
    table = pd.read_parquet(project / record["forecasts"])
    assert len(table) == 2 and set(table["model_version"]) == {champion}  # the tiny horizon
    assert table["timestamp"].min() > last


def _hand_scored(project: Path, file: str, period: int) -> dict[str, float]:
    """MAE and MASE of one forecasts file against the snapshot, computed here by hand."""
    snapshot = pd.read_parquet(project / "data/raw/series.parquet").set_index("date")["co2"].astype(float)
    table = pd.read_parquet(project / "forecasts" / file)
    errors = np.abs(snapshot.loc[table["timestamp"]].to_numpy() - table["forecast"].to_numpy())
    history = snapshot[snapshot.index < table["timestamp"].min()].to_numpy()
    scale = np.nanmean(np.abs(history[period:] - history[:-period]))  # seasonal naive, gaps left out
    return {"mae": float(errors.mean()), "mase": float(errors.mean() / scale)}


def _assert_live(
    project: Path,
    client: mlflow.MlflowClient,
    stdout: str,
    record: dict,
    *,
    number: int,
    period: int,
    first_forecasts: str,
) -> None:
    """Cycle ``number`` scored every earlier cycle's forecasts (horizon 2, all arrived)."""
    assert record["cycle"] == number - 1 and record["trigger"]["retrain"]
    # The earlier cycles' forecasts (horizon 2) have all arrived: scored against the new rows.
    live = record["live_accuracy"]
    assert live["season_period"] == period and live["errors"] == {} and live["pending_rows"] == 0
    assert live["scored_rows"] == 2 * (number - 1)
    assert sum(len(v["files"]) for v in live["versions"].values()) == number - 1
    assert "Live accuracy of version 1" in stdout
    if number == 2:  # the first cycle's forecasts, by version 1, against the rows that arrived
        scored = live["versions"]["1"]
        assert (scored["files"], scored["scored_rows"], scored["series"]) == ([first_forecasts], 2, 1)
        hand = _hand_scored(project, first_forecasts, period)
        assert scored["metrics"]["mae"] == pytest.approx(hand["mae"], rel=1e-6)
        assert scored["metrics"]["mase"] == pytest.approx(hand["mase"], rel=1e-6)
        tags = client.get_model_version(MODEL, "1").tags
        assert float(tags["live.mase"]) == pytest.approx(hand["mase"], rel=1e-5)
        assert tags["live.scored_rows"] == "2" and tags["live.updated"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("retrain"))


def test_scheduled_cycles_register_versions_and_move_champion_only_when_the_gate_says(project: Path):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    # Start from a known champion so every cycle's gate re-scores one.
    run(project, str(BIN / "tsforge"), "promote", "1", "--reason", "test setup")

    unchanged, record = _retrain(project)
    assert unchanged.returncode == 0, unchanged.stderr[-2000:]
    assert record["status"] == "unchanged" and "nothing retrained" in unchanged.stdout
    _assert_forecasts(project, record, "1")
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 1
    assert record["cycle"] == 0 and record["live_accuracy"]["versions"] == {}  # nothing forecast before
    assert record["trigger"]["rule"] == "data_changed" and not record["trigger"]["retrain"]
    first_forecasts = record["forecasts"].removeprefix("forecasts/")

    # One cycle with new data (each is a whole `dvc repro`, ~100 s here): a 99% improvement is
    # out of reach, so it registers a version that must not be promoted. Promotion itself is
    # tested in test_repro; scoring several cycles' files in test_monitoring.
    cycles = [("1968-12-31", 0.99)]
    previous_rows = json.loads((project / "data/raw/ingest.json").read_text())["rows"]
    for number, (until, bar) in enumerate(cycles, start=2):
        champion_before = _champion(client)
        period = json.loads((project / "reports/eda.json").read_text())["season_period"]
        set_params(project, {"data": {"until": until}, "registry": {"min_improvement": bar}})
        result, record = _retrain(project)
        assert result.returncode == 0, result.stderr[-3000:]
        assert record["status"] == "retrained" and record["model_version"] == str(number)
        assert record["rows"] > previous_rows and record["data_end"].startswith(until[:4])
        previous_rows = record["rows"]
        _assert_live(
            project,
            client,
            result.stdout,
            record,
            number=number,
            period=period,
            first_forecasts=first_forecasts,
        )
        promotion = json.loads((project / "reports/promotion.json").read_text())
        assert promotion["version"] == str(number) and promotion["promote"] == record["promoted"]
        assert promotion["champion"] is not None  # the champion was re-scored on the new windows
        assert _champion(client) == (str(number) if record["promoted"] else champion_before)
        assert record["promoted"] is False  # the bar is out of reach
        _assert_forecasts(project, record, _champion(client))
        # MLflow tells the same story as the record.
        version = client.get_model_version(MODEL, str(number))
        assert version.tags["data.raw.md5"]
        evaluate = client.search_runs(
            [client.get_experiment_by_name("tsforge").experiment_id],
            f"tags.stage = 'evaluate' and tags.model_version = '{number}'",
        )
        assert len(evaluate) == 1 and evaluate[0].data.tags["promoted"] == str(record["promoted"]).lower()
        history = json.loads(client.get_registered_model(MODEL).tags["alias_history"])
        moved = any(m["alias"] == "champion" and m["version"] == str(number) for m in history)
        assert moved == record["promoted"]

    # Version 1's live accuracy, one point per cycle: a line in the MLflow chart.
    experiment = client.get_experiment_by_name("tsforge").experiment_id
    (live_run,) = client.search_runs([experiment], "tags.stage = 'live' and tags.model_version = '1'")
    assert [m.step for m in client.get_metric_history(live_run.info.run_id, "live_mase")] == [1]

    retrain_runs = client.search_runs([experiment], "tags.stage = 'retrain'")
    assert sorted(r.data.tags["status"] for r in retrain_runs) == ["retrained", "unchanged"]
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 2


def test_degraded_keeps_a_champion_whose_live_error_stays_near_its_test_error(project: Path):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    versions = len(client.search_model_versions(f"name = '{MODEL}'"))
    champion = _champion(client)
    set_params(
        project, {"data": {"until": "1971-12-31"}, "retrain": {"when": "degraded", "degraded_fraction": 1000}}
    )
    result, record = _retrain(project)
    assert result.returncode == 0, result.stderr[-3000:]
    trigger = record["trigger"]
    assert record["status"] == "skipped" and (trigger["rule"], trigger["retrain"]) == ("degraded", False)
    assert trigger["champion"] == champion and "not degraded" in record["reason"]
    assert trigger["live"] == record["live_accuracy"]["versions"][champion]["metrics"]["mase"]
    assert trigger["test"] == float(client.get_model_version(MODEL, champion).tags["test.mase"])
    _assert_forecasts(project, record, champion)  # the kept champion forecasts the new data

    assert len(client.search_model_versions(f"name = '{MODEL}'")) == versions


def test_a_failed_cycle_exits_non_zero_and_leaves_the_champion(project: Path):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    champion, versions = _champion(client), len(client.search_model_versions(f"name = '{MODEL}'"))
    (project / "export.csv").write_text("date,co2\n2001-01-06,370.1\n2001-01-06,370.4\n")
    set_params(project, {"data": {"source": "file", "path": "export.csv", "until": None}})
    result, record = _retrain(project)
    assert result.returncode == 1
    assert record["status"] == "failed" and "expect_column_values_to_be_unique" in record["error"]
    assert "FAILED" in result.stderr and "champion alias was not touched" in result.stderr
    assert _champion(client) == champion
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == versions


def test_a_second_job_exits_with_a_clear_message_while_one_runs(project: Path):
    from tsforge.retrain import EXIT_LOCKED, project_lock

    with project_lock(project):  # this process plays the job that is still running
        second = subprocess.run(
            [str(BIN / "tsforge"), "retrain"],
            cwd=project,
            env=pipeline_env(),
            capture_output=True,
            text=True,
            check=False,
        )
    assert second.returncode == EXIT_LOCKED
    assert "another tsforge retrain is running" in second.stderr
