"""Live accuracy: earlier forecasts scored against the actuals that arrived, and the
``retrain.when`` rule that reads it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsforge import monitoring
from tsforge.catalog import Project, save_frame, write_json
from tsforge.config import parse_params
from tsforge.errors import ConfigError
from tsforge.retrain import score_forecasts

WEEKS = pd.date_range("2020-01-04", periods=12, freq="W-SAT")


def _snapshot(values: dict[str, list[float]]) -> pd.DataFrame:
    """Long snapshot, one series per key, all starting on the same week."""
    return pd.concat(
        [pd.DataFrame({"id": name, "date": WEEKS[: len(v)], "y": v}) for name, v in values.items()],
        ignore_index=True,
    )


def _forecast(series: str, first: int, values: list[float], version: str) -> pd.DataFrame:
    """A forecasts table as tsforge.delivery writes it, starting at week ``first``."""
    n = len(values)
    return pd.DataFrame(
        {
            "series": series,
            "timestamp": WEEKS[first : first + n],
            "forecast": values,
            "lower": np.nan,
            "upper": np.nan,
            "model_version": version,
        }
    )


def _score(
    snapshot: pd.DataFrame, tables: dict[str, pd.DataFrame], period: int = 1
) -> monitoring.LiveAccuracy:
    actuals = monitoring.actuals_table(snapshot, "date", ("y",), "id")
    forecasts = pd.concat(
        [monitoring.forecast_rows(table, file, ("y",)) for file, table in tables.items()], ignore_index=True
    )
    return monitoring.live_accuracy(forecasts, actuals, period)


def test_known_errors_give_known_mae_and_mase_and_rows_not_arrived_are_ignored():
    # History 0, 2, ..., 10 (naive error 2); forecasts of weeks 6-8, only weeks 6 and 7 arrived.
    snapshot = _snapshot({"a": [0, 2, 4, 6, 8, 10, 13, 13]})
    live = _score(snapshot, {"f.parquet": _forecast("a", 6, [12, 15, 20], "1")})
    scored = live.versions["1"]
    assert (scored.scored_rows, scored.pending_rows, scored.series) == (2, 1, 1)
    assert (live.scored_rows, live.pending_rows) == (2, 1)
    assert scored.metrics["mae"] == pytest.approx(1.5)  # |13-12|, |13-15|
    assert scored.metrics["rmse"] == pytest.approx(math.sqrt(2.5))
    assert scored.metrics["mase"] == pytest.approx(0.75)  # 1.5 / 2
    assert scored.metrics["smape"] == pytest.approx(100 * (1 / 25 + 2 / 28))
    assert scored.files == ["f.parquet"]


def test_mase_scale_is_the_seasonal_naive_error_before_each_forecasts_origin():
    # Period 2: the history before week 6 has seasonal differences 1, 1, 1, 1 -> scale 1;
    # before week 8 it adds |3-5| and |4-6| -> (4 + 4) / 6.
    snapshot = _snapshot({"a": [1, 2, 2, 3, 3, 4, 5, 6, 7, 7]})
    live = _score(
        snapshot,
        {"early.parquet": _forecast("a", 6, [4, 5], "1"), "late.parquet": _forecast("a", 8, [8, 8], "2")},
        period=2,
    )
    assert live.versions["1"].metrics["mase"] == pytest.approx(1.0)  # errors 1, 1 over scale 1
    assert live.versions["2"].metrics["mase"] == pytest.approx(1.0 / (8 / 6))  # errors 1, 1
    assert live.versions["1"].files == ["early.parquet"] and live.versions["2"].files == ["late.parquet"]


def test_versions_are_scored_apart_per_series_then_averaged_and_missing_actuals_wait():
    history = [0, 1, 2, 3, 4, 5]  # naive error 1 on both series
    snapshot = _snapshot({"a": [*history, 6, 7], "b": [*history, 6, np.nan]})
    live = _score(
        snapshot,
        {
            "v1.parquet": pd.concat([_forecast("a", 6, [8, 7], "1"), _forecast("b", 6, [6, 0], "1")]),
            "v2.parquet": _forecast("a", 6, [6, 6], "2"),
        },
    )
    one, two = live.versions["1"], live.versions["2"]
    # Version 1: series a errors 2, 0 (MAE 1); series b only week 6 arrived, error 0 -> mean 0.5.
    assert (one.series, one.scored_rows, one.pending_rows) == (2, 3, 1)
    assert one.metrics["mae"] == pytest.approx(0.5) and one.metrics["mase"] == pytest.approx(0.5)
    # Version 2 alone: errors 0, 1.
    assert (two.series, two.scored_rows) == (1, 2) and two.metrics["mae"] == pytest.approx(0.5)


def test_nothing_arrived_scores_no_version():
    live = _score(_snapshot({"a": [0, 1, 2]}), {"f.parquet": _forecast("a", 3, [3, 4], "1")})
    assert live.versions == {} and (live.scored_rows, live.pending_rows) == (0, 2)


def test_an_unreadable_file_is_reported_and_the_others_still_scored(tmp_path: Path):
    project = Project(tmp_path)
    params = parse_params({"data": {"target": "y", "series_id": "id"}, "evaluate": {"season_period": 1}})
    save_frame(project.raw_series, _snapshot({"a": [0, 2, 4, 6, 8, 10, 13, 13]}))
    save_frame(project.forecasts / "2020-02-08.parquet", _forecast("a", 6, [12, 15, 20], "1"))
    (project.forecasts / "broken.parquet").write_bytes(b"not parquet")
    save_frame(project.forecasts / "other.parquet", pd.DataFrame({"x": [1]}))
    live = score_forecasts(project, params)
    assert live is not None and live.versions["1"].metrics["mase"] == pytest.approx(0.75)
    assert set(live.errors) == {"broken.parquet", "other.parquet"}
    assert "no column(s)" in live.errors["other.parquet"]
    assert (project.forecasts / "broken.parquet").exists()  # nothing is deleted
    # The record's form is strict JSON: no NaN.
    record = monitoring.as_record(live)
    json.dumps(record, allow_nan=False)
    assert record["versions"]["1"]["scored_rows"] == 2  # type: ignore[index]


def test_the_season_period_is_evaluates(tmp_path: Path):
    project = Project(tmp_path)
    save_frame(project.raw_series, _snapshot({"a": [1, 2, 2, 3, 3, 4, 5, 6]}))
    save_frame(project.forecasts / "f.parquet", _forecast("a", 6, [4, 5], "1"))
    write_json(project.eda, {"season_period": 2})
    params = parse_params({"data": {"target": "y", "series_id": "id"}})
    live = score_forecasts(project, params)
    assert (
        live is not None
        and live.season_period == 2
        and live.versions["1"].metrics["mase"] == pytest.approx(1)
    )
    fixed = parse_params({"data": {"target": "y", "series_id": "id"}, "evaluate": {"season_period": 1}})
    assert score_forecasts(project, fixed).season_period == 1  # type: ignore[union-attr]


def test_tags_and_metrics_leave_out_undefined_values():
    accuracy = monitoring.VersionAccuracy(
        metrics={"mae": 1.0, "rmse": 1.0, "smape": 2.0, "mape": float("nan"), "mase": 0.5},
        series=1,
        scored_rows=2,
        pending_rows=0,
        files=["f.parquet"],
    )
    tags = monitoring.version_tags(accuracy, "2026-01-01T00:00:00Z")
    assert tags["live.mase"] == "0.5" and "live.mape" not in tags
    assert tags["live.scored_rows"] == "2" and tags["live.updated"] == "2026-01-01T00:00:00Z"
    assert monitoring.run_metrics(accuracy)["live_mase"] == 0.5


def _decide(when: str = "degraded", changed: bool = True, **numbers: object) -> monitoring.Trigger:
    given = {"champion": "3", "live": 1.1, "test": 1.0, **numbers}
    return monitoring.retrain_trigger(when, changed, metric="mase", fraction=0.2, **given)  # type: ignore[arg-type]


def test_degraded_retrains_only_when_the_live_error_exceeds_the_test_error_by_the_fraction():
    kept = _decide(live=1.19)
    assert not kept.retrain and "not degraded" in kept.reason and kept.limit == pytest.approx(1.2)
    worse = _decide(live=1.25)
    assert worse.retrain and "degraded" in worse.reason and (worse.live, worse.test) == (1.25, 1.0)
    assert not _decide(live=5.0, changed=False).retrain  # unchanged data never retrains


def test_degraded_retrains_when_it_cannot_compare():
    assert "no forecast of champion v3 has been scored yet" in _decide(live=None).reason
    assert _decide(live=None).retrain and _decide(live=float("nan")).retrain
    assert _decide(test=None).retrain and "test.mase" in _decide(test=None).reason
    assert _decide(champion=None).retrain


def test_data_changed_retrains_whenever_the_data_changed():
    assert _decide("data_changed", live=0.1).retrain
    assert not _decide("data_changed", changed=False).retrain


def test_the_retrain_section_is_checked():
    assert parse_params({}).retrain.when == "data_changed"
    assert (
        parse_params({"retrain": {"when": "degraded", "degraded_fraction": 0.5}}).retrain.degraded_fraction
        == 0.5
    )
    with pytest.raises(ConfigError, match="retrain.when"):
        parse_params({"retrain": {"when": "sometimes"}})
    with pytest.raises(ConfigError, match="degraded_fraction"):
        parse_params({"retrain": {"degraded_fraction": -0.1}})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_params({"retrain": {"every": 2}})


def test_several_targets_are_matched_by_the_target_column():
    snapshot = pd.DataFrame({"date": WEEKS[:4], "y": [0.0, 1, 2, 4], "z": [0.0, 10, 20, 30]})
    table = pd.DataFrame(
        {
            "series": "",
            "timestamp": [WEEKS[3], WEEKS[3]],
            "target": ["y", "z"],
            "forecast": [3.0, 30.0],
            "lower": np.nan,
            "upper": np.nan,
            "model_version": "1",
        }
    )
    actuals = monitoring.actuals_table(snapshot, "date", ("y", "z"), None)
    live = monitoring.live_accuracy(monitoring.forecast_rows(table, "f.parquet", ("y", "z")), actuals, 1)
    # y: error 1 over scale 1; z: error 0 -> MASE 0.5, MAE 0.5 over both rows of the one series.
    scored = live.versions["1"]
    assert scored.scored_rows == 2 and scored.metrics["mase"] == pytest.approx(0.5)
    assert scored.metrics["mae"] == pytest.approx(0.5)


def test_the_job_log_says_why_a_cycle_was_skipped_and_each_versions_live_accuracy():
    from tsforge.retrain import RetrainRecord, summary_line

    record = RetrainRecord(started="t", status="skipped", reason="champion v3 is not degraded", rows=10)
    record.live_accuracy = {
        "versions": {"3": {"metrics": {"mase": 0.5, "mae": None}, "scored_rows": 4, "series": 2}},
        "errors": {"bad.parquet": "ArrowInvalid: not parquet"},
    }
    record.forecasts = "forecasts/2020-01-04.parquet"
    line = summary_line(record)
    assert "champion v3 is not degraded" in line
    assert "Live accuracy of version 3: mase 0.5, mae n/a over 4 arrived rows of 2 series" in line
    assert "forecasts/bad.parquet could not be scored" in line
