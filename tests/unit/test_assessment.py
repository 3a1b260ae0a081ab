"""The evaluate stage's logic on tiny synthetic panels with a stand-in network: scores per
series and per target, the champion re-scored on the same windows, reports and plots, and
the stage functions of tsforge.stages.evaluate (the catalog's inputs, the gate, registration)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pytest

from tsforge import assessment
from tsforge.catalog import ProcessedSeries, Windows
from tsforge.combination import Combination
from tsforge.config import EvaluateConfig, RegistryConfig
from tsforge.forecaster import ForecastSpec, forecast_origins
from tsforge.panel import Layout
from tsforge.scaling import AffineScaler
from tsforge.stages import evaluate
from tsforge.windowing import WindowSpec

PERIOD, INPUT, HORIZON, ROWS = 4, 4, 2, 30
SLOPES = {"s0": (1.0, 50.0), "s1": (2.0, 3.0)}
"""Per series, the slope of targets a and b: linear series make every error a hand sum."""
OFFSET = np.array([1.0, 10.0])
"""How far the stand-in network's forecasts of targets a and b lie above the truth."""


class LineWithOffset:
    """Stands in for the network: extends the input window's straight line, plus ``OFFSET``.

    With identity scalers and no transform, model space is original units, and every series
    is a straight line, so its forecasts are exactly the truth shifted by ``OFFSET``.
    """

    layers: tuple[()] = ()  # no dropout, so no Monte Carlo intervals

    def predict(self, x: np.ndarray, verbose: int = 0) -> np.ndarray:
        last, slope = x[:, -1, :2], x[:, -1, :2] - x[:, -2, :2]
        steps = np.arange(1, HORIZON + 1)[None, :, None]
        return last[:, None, :] + steps * slope[:, None, :] + OFFSET


def _spec(series: tuple[str, ...] = tuple(SLOPES)) -> ForecastSpec:
    identity = AffineScaler("standard", ("a", "b"), (0.0, 0.0), (1.0, 1.0))
    return ForecastSpec(
        "date", ("a", "b"), (), INPUT, HORIZON, False, "D", {s: identity for s in series}, series_id="id"
    )


def _panel() -> tuple[np.ndarray, Layout, np.ndarray, np.ndarray]:
    """Two series of 30 rows, targets a and b on scales 50x apart; train 0-18, val 18-24, test 24-30."""
    t = np.arange(ROWS, dtype=np.float64)
    levels = np.vstack(
        [np.stack([slope_a * t, slope_b * t + 7], axis=1) for slope_a, slope_b in SLOPES.values()]
    )
    layout = Layout(tuple(SLOPES), np.array([0, ROWS, 2 * ROWS]))
    split = np.array([[[0, 18], [18, 24], [24, 30]], [[30, 48], [48, 54], [54, 60]]])
    origins = np.concatenate([np.arange(24, 29), np.arange(54, 59)])  # every window inside test
    return levels, layout, split, origins


def _assess(config: EvaluateConfig | None = None) -> assessment.Assessment:
    levels, layout, split, origins = _panel()
    return assessment.assess(
        levels,
        layout,
        origins,
        LineWithOffset(),
        _spec(),
        split_rows=split,
        period=PERIOD,
        config=config or EvaluateConfig(),
    )


def test_two_targets_each_scaled_by_its_own_in_sample_error():
    result = _assess()
    # MASE scale of a series' target: mean |y[t] - y[t-4]| over its 24 rows before the test
    # split; for y = slope * t (+ 7) that is 4 * slope.
    scales = {name: (4 * a, 4 * b) for name, (a, b) in SLOPES.items()}
    np.testing.assert_allclose(result.scales, [scales["s0"], scales["s1"]])
    # The model misses each target by its offset at every step: per series, the mean over
    # targets of offset / scale, then the mean over series.
    per_series = [np.mean(OFFSET / np.array(s)) for s in scales.values()]
    model = result.metrics[assessment.MODEL]
    assert model["mase"] == pytest.approx(np.mean(per_series))  # (0.15 + 0.479) / 2
    assert model["mase"] == pytest.approx((np.mean([1 / 4, 10 / 200]) + np.mean([1 / 8, 10 / 12])) / 2)
    # Scaling every target by the first target's error (the bug) gives a different number.
    assert model["mase"] != pytest.approx(np.mean([np.mean(OFFSET / s[0]) for s in scales.values()]))
    assert model["mae"] == pytest.approx(5.5) and model["rmse"] == pytest.approx(np.sqrt(101 / 2))
    # Naive misses slope * (h + 1) at step h: MASE (1.5 * slope) / (4 * slope) for every target.
    assert result.metrics["naive"]["mase"] == pytest.approx(0.375)
    assert result.per_step["naive"]["mase"] == pytest.approx([0.25, 0.5])
    assert result.per_step[assessment.MODEL]["mae"] == pytest.approx([5.5, 5.5])


def test_every_method_is_scored_on_the_same_windows():
    result = _assess()
    levels, _, _, origins = _panel()
    assert set(result.forecasts) == {
        "model",
        "naive",
        "seasonal_naive",
        "seasonal_naive_drift",
        "theta",
        "ets",
        "ces",
        "dot",
        "theta_ets",
        "stat_ensemble",
    }
    assert set(result.metrics) == set(result.per_step) == set(result.forecasts)
    for forecast in result.forecasts.values():
        assert forecast.shape == result.actual.shape == (len(origins), HORIZON, 2)
    np.testing.assert_allclose(result.actual[:, 0], levels[origins])
    np.testing.assert_allclose(result.forecasts["model"], result.actual + OFFSET)


def test_evaluate_arima_adds_arima_to_the_baselines_and_the_ensemble():
    result = _assess(EvaluateConfig(arima=True))
    forecasts = result.forecasts
    assert {"arima", "stat_ensemble"} <= set(result.metrics)
    members = (forecasts["ets"] + forecasts["ces"] + forecasts["dot"] + forecasts["arima"]) / 4
    np.testing.assert_array_equal(forecasts["stat_ensemble"], members)


def test_report_holds_numbers_only_and_intervals_only_when_computed(caplog):
    with caplog.at_level(logging.WARNING):
        result = _assess(EvaluateConfig(intervals=True))
    # The stand-in has no dropout: asked-for intervals are skipped with the reason.
    assert result.intervals is None and "no dropout" in caplog.text
    report = json.loads(json.dumps(result.report()))
    assert "intervals" not in report
    assert (report["series"], report["test_windows"], report["horizon"]) == (2, 10, HORIZON)

    def numbers(value: object) -> bool:
        if isinstance(value, dict):
            return all(numbers(v) for v in value.values())
        if isinstance(value, list):
            return all(numbers(v) for v in value)
        return isinstance(value, int | float)

    assert numbers(report)
    assert result.test_tags()["test.mae"] == "5.5"


def test_champion_is_rescored_on_the_same_windows_new_series_included():
    levels, layout, _, _ = _panel()
    result = _assess()
    same = assessment.rescore(result, LineWithOffset(), _spec(), levels=levels, layout=layout, metric="mase")
    assert same == pytest.approx(result.metrics[assessment.MODEL]["mase"])
    # A champion trained before series s1 existed forecasts it from its own history (its scale
    # measured on the rows before the test windows), so it is still compared on every series.
    unseen = assessment.rescore(
        result, LineWithOffset(), _spec(("s0",)), levels=levels, layout=layout, metric="mase"
    )
    assert unseen is not None and np.isfinite(unseen)


def test_a_combined_champion_is_rescored_with_the_baselines_own_fits():
    levels, layout, _, _ = _panel()
    result = _assess()
    combined = replace(_spec(), combination=Combination(("theta", "ets"), PERIOD, result.history))
    rescored = assessment.rescore(
        result, LineWithOffset(), combined, levels=levels, layout=layout, metric="mase"
    )
    # The same number as fitting Theta and ETS again inside the forecaster.
    refitted = forecast_origins(LineWithOffset(), levels, result.origins, combined, layout=layout)
    assert rescored == pytest.approx(result.score(refitted)["mase"], rel=1e-12)
    assert result.history is None  # evaluate.theta_history's default: whole histories


def test_gate_refuses_a_model_that_a_baseline_beats_on_the_same_windows():
    metrics = _assess().metrics
    # Seasonal naive with drift is exact on a straight line: no model beats it here.
    assert metrics["seasonal_naive_drift"]["mase"] == pytest.approx(0.0, abs=1e-9)
    decision = assessment.gate(metrics, None, RegistryConfig(metric="mase"))
    assert not decision.promote and decision.best_baseline_score == pytest.approx(0.0, abs=1e-9)
    assert decision.challenger == metrics["model"]["mase"] and decision.metric == "mase"


def test_plots_follow_the_first_series(tmp_path: Path):
    result = _assess()
    levels, layout, _, _ = _panel()
    times = np.arange(len(levels)).astype("datetime64[D]")
    pngs = assessment.write_plots(tmp_path, result, times, layout, _spec())
    assert [p.name for p in pngs] == ["forecast.png", "residuals.png", "per_step.png"]
    assert all(p.stat().st_size > 0 for p in pngs)
    rows = (tmp_path / "forecast.csv").read_text().splitlines()
    assert len(rows) == 1 + 5  # header + the five test windows of series s0
    assert rows[0].startswith("time,actual,model,naive")


def _catalog_inputs() -> tuple[ProcessedSeries, Windows]:
    """The panel as the scale and window stages hand it over (levels stored as float32)."""
    levels, layout, split, origins = _panel()
    series = ProcessedSeries(
        times=np.arange(len(levels)).astype("datetime64[D]").astype("datetime64[ns]"),
        levels=levels.astype(np.float32),
        values=levels.astype(np.float32),
        n_targets=2,
        split=split,
        bounds=layout.bounds,
        series_names=layout.names,
        lost_rows=0,
        difference=False,
        transform="none",
        normalize=False,
    )
    empty = np.array([], dtype=np.int64)
    return series, Windows(WindowSpec(INPUT, HORIZON), False, empty, empty, origins)


def test_the_stage_scores_the_test_windows_of_the_catalogs_series():
    series, windows = _catalog_inputs()
    result = evaluate.assess(
        series, windows, LineWithOffset(), _spec(), period=PERIOD, config=EvaluateConfig()
    )
    np.testing.assert_array_equal(result.origins, windows.test)
    expected = _assess().metrics
    assert set(result.metrics) == set(expected)
    for method, values in expected.items():
        assert result.metrics[method] == pytest.approx(values), method


@pytest.mark.usefixtures("mlflow_store")
def test_without_a_champion_the_stage_gates_on_the_baselines_alone():
    series, windows = _catalog_inputs()
    result = evaluate.assess(
        series, windows, LineWithOffset(), _spec(), period=PERIOD, config=EvaluateConfig()
    )
    config = RegistryConfig(model_name="tiny", metric="mase")
    assert evaluate.champion_score(result, series, config) is None
    assert evaluate.gate_with_champion(result, series, config) == assessment.gate(
        result.metrics, None, config
    )


@pytest.mark.usefixtures("mlflow_store")
def test_publish_registers_the_test_scores_and_lineage_and_the_run_records_the_decision(tmp_path: Path):
    series, windows = _catalog_inputs()
    result = evaluate.assess(
        series, windows, LineWithOffset(), _spec(), period=PERIOD, config=EvaluateConfig()
    )
    config = RegistryConfig(model_name="tiny", metric="mase")
    decision = evaluate.gate_with_champion(result, series, config)
    report = tmp_path / "metrics.json"
    report.write_text(json.dumps(result.report()), encoding="utf-8")
    with mlflow.start_run() as run:
        model = mlflow.create_external_model(name="forecaster")
        evaluate.log(result, [report])
        record = evaluate.publish(
            result,
            f"models:/{model.model_id}",
            {"git_commit": "abc123", "train_run_id": "r1"},
            decision,
            config,
            served="network*0.75+theta*0.25",
        )
        evaluate.log_promotion(record, decision)
    version = mlflow.MlflowClient().get_model_version("tiny", record["version"])
    assert version.tags["git_commit"] == "abc123" and version.tags["train_run_id"] == "r1"
    assert version.tags["test.mase"] == result.test_tags()["test.mase"]
    mase = result.metrics[assessment.MODEL]["mase"]
    assert (
        version.description
        == f"Reproduce: git checkout abc123 && dvc checkout && dvc repro. Test mase={mase:.4g}. "
        "Serves network*0.75+theta*0.25."
    )
    logged = mlflow.get_run(run.info.run_id)
    assert logged.data.tags["promoted"] == "false" and logged.data.tags["model_version"] == record["version"]
    assert logged.data.metrics["model.mase"] == pytest.approx(mase)
    assert "naive.mae" in logged.data.metrics and record["new_version"] is True
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert artifacts == {"metrics.json", "promotion.json"}


@pytest.mark.parametrize("history", [30, 20])
def test_a_combined_model_is_scored_as_served_each_series_fitting_only_its_own_rows(history: int):
    """The gate's Theta/ETS are reused when fitted as the served forecaster fits them (history
    30: the gate's default here); otherwise the forecaster fits its own. Either way the model's
    score is that of the served forecast, on a panel whose second series starts at row 30."""
    levels, layout, split, origins = _panel()
    combined = replace(_spec(), combination=Combination(("theta", "ets"), PERIOD, history))
    result = assessment.assess(
        levels,
        layout,
        origins,
        LineWithOffset(),
        combined,
        split_rows=split,
        period=PERIOD,
        config=EvaluateConfig(),
    )
    served = forecast_origins(LineWithOffset(), levels, origins, combined, layout=layout)
    np.testing.assert_allclose(result.forecasts[assessment.MODEL], served)
    network = forecast_origins(LineWithOffset(), levels, origins, _spec(), layout=layout)
    np.testing.assert_allclose(network, result.actual + OFFSET)
    if history == 30:
        gate = (network + result.forecasts["theta"] + result.forecasts["ets"]) / 3
        np.testing.assert_allclose(result.forecasts[assessment.MODEL], gate)
    assert result.metrics[assessment.MODEL]["mae"] < _assess().metrics[assessment.MODEL]["mae"]
