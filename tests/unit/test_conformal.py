"""Conformal prediction intervals: coverage on held-out windows of series with known noise,
the finite-sample rank, thinning, the spec round trip, the config, the evaluate report and the
served forecaster's interval columns."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import keras_tuner as kt
import mlflow
import numpy as np
import pytest

from tsforge import assessment, conformal
from tsforge import metrics as mt
from tsforge.config import EvaluateConfig, load_evaluate, parse_params
from tsforge.errors import ConfigError
from tsforge.forecaster import ForecastSpec, log_forecaster
from tsforge.models import ModelSpec, build_model
from tsforge.panel import Layout
from tsforge.scaling import AffineScaler

HORIZON = 3


def _noise_panel(seed: int, rows: int) -> tuple[np.ndarray, Layout, np.ndarray, np.ndarray]:
    """Three white-noise series around known means, with noise 1, 30 and 1000 times apart:
    the true mean is the best forecast, so the errors are the noise itself."""
    rng = np.random.default_rng(seed)
    means, sds = np.array([10.0, 500.0, 20000.0]), np.array([1.0, 30.0, 1000.0])
    levels = np.concatenate([m + s * rng.standard_normal(rows) for m, s in zip(means, sds, strict=True)])
    layout = Layout(("a", "b", "c"), np.arange(4) * rows)
    return levels[:, None], layout, means, sds


def _windows(layout: Layout, begin: int, end: int) -> np.ndarray:
    """Origins whose targets lie in rows [begin, end) of every series."""
    return np.concatenate([start + np.arange(begin, end - HORIZON + 1) for start in layout.bounds[:-1]])


def test_intervals_cover_the_nominal_level_on_held_out_windows_of_series_with_known_noise():
    rows = 1400  # per series: 200 training rows (the scale), 400 calibration rows, 800 test rows
    levels, layout, means, sds = _noise_panel(seed=7, rows=rows)
    test_starts = layout.bounds[:-1] + 600
    scales = conformal.series_scales(levels, layout.bounds, test_starts, period=1, n_targets=1)
    # The scale is each series' in-sample naive error: sd * 2 / sqrt(pi), so it tracks the noise.
    np.testing.assert_allclose(scales[:, 0] / sds, 2 / np.sqrt(np.pi), rtol=0.1)

    def forecast(origins: np.ndarray) -> np.ndarray:
        return np.repeat(means[layout.series_of(origins)][:, None, None], HORIZON, axis=1)

    calibration_origins, test_origins = _windows(layout, 200, 600), _windows(layout, 600, rows)
    calibration = conformal.calibrate(
        mt.actuals(levels, calibration_origins, HORIZON, 1),
        forecast(calibration_origins),
        layout.series_of(calibration_origins),
        scales,
        layout.names,
    )
    assert calibration is not None and calibration.count == len(calibration_origins)
    actual, of_series = mt.actuals(levels, test_origins, HORIZON, 1), layout.series_of(test_origins)
    scale = scales[of_series]
    for level in (0.8, 0.9, 0.95):
        lower, upper = conformal.bounds(forecast(test_origins), scale, calibration, level)
        figures = conformal.coverage(actual, lower, upper, scale, level)
        assert abs(figures["coverage"] - level) < 0.05, (level, figures)
        for step in range(1, HORIZON + 1):
            assert abs(figures[f"coverage_step_{step}"] - level) < 0.05
        # Per series too: the scale makes one calibration fit series 1000x apart.
        for i in range(3):
            mine = of_series == i
            inside = (actual[mine] >= lower[mine]) & (actual[mine] <= upper[mine])
            assert abs(inside.mean() - level) < 0.05, (level, layout.names[i], inside.mean())
    # The 90% half-width is about 1.645 noise standard deviations, in each series' own units.
    half = (upper - lower)[:, 0, 0] / 2
    np.testing.assert_allclose(
        [np.median(half[of_series == i]) / sds[i] for i in range(3)], 1.96, rtol=0.1
    )  # the loop ended at 0.95


def test_the_finite_sample_rank_and_too_few_windows():
    assert conformal.conformal_rank(9, 0.9) == 9 and conformal.conformal_rank(99, 0.9) == 90
    assert conformal.min_windows(0.9) == 9 and conformal.min_windows(0.8) == 4
    scores = np.arange(1.0, 9.0)[:, None, None]  # 8 windows: too few for 90%
    few = conformal.Calibration(scores, np.arange(1, 9), 8, {"": (1.0,)})
    assert np.isinf(few.quantile(0.9)).all() and few.quantile(0.5)[0, 0] == 5.0


def test_thinning_keeps_the_largest_score_and_never_narrows_an_interval():
    values = np.sort(np.random.default_rng(0).exponential(size=5000))
    kept, ranks = conformal.thin(values, limit=100)
    assert len(kept) <= 100 and ranks[-1] == 5000 and kept[-1] == values[-1]
    thinned = conformal.Calibration(kept[:, None, None], ranks, 5000, {"": (1.0,)})
    full = conformal.Calibration(values[:, None, None], np.arange(1, 5001), 5000, {"": (1.0,)})
    for level in (0.5, 0.8, 0.9, 0.95, 0.99):
        exact, kept_q = full.quantile(level)[0, 0], thinned.quantile(level)[0, 0]
        assert exact <= kept_q <= values[min(4999, conformal.conformal_rank(5000, level) + 50)]


def _spec(calibration: conformal.Calibration | None, **extra: object) -> ForecastSpec:
    scaler = AffineScaler("standard", ("y",), (300.0,), (5.0,))
    return ForecastSpec(
        "date", ("y",), (), 8, 2, False, "W-SAT", {"": scaler}, conformal=calibration, **extra
    )


def _calibration() -> conformal.Calibration:
    scores = np.sort(np.random.default_rng(1).exponential(size=(50, 2, 1)), axis=0)
    return conformal.Calibration(scores, np.arange(1, 51), 50, {"": (2.5,)}, "test")


def test_the_calibration_round_trips_through_the_spec_and_older_specs_load_without_one(tmp_path: Path):
    spec = _spec(_calibration())
    spec.save(tmp_path / "spec.json")
    back = ForecastSpec.load(tmp_path / "spec.json")
    assert back.conformal is not None and back.conformal.count == 50 and back.conformal.scales == {"": (2.5,)}
    np.testing.assert_allclose(back.conformal.quantile(0.9), spec.conformal.quantile(0.9))  # type: ignore[union-attr]
    raw = json.loads((tmp_path / "spec.json").read_text())
    del raw["conformal"]
    (tmp_path / "old.json").write_text(json.dumps(raw))
    assert ForecastSpec.load(tmp_path / "old.json").conformal is None


def test_interval_settings_parse_once_with_old_booleans_still_working():
    assert EvaluateConfig().intervals == "conformal" and EvaluateConfig().conformal
    legacy_on, legacy_off = EvaluateConfig(intervals=True), EvaluateConfig(intervals=False)  # type: ignore[arg-type]
    assert (legacy_on.intervals, legacy_on.dropout, legacy_on.conformal) == ("both", True, True)
    assert (legacy_off.intervals, legacy_off.dropout) == ("conformal", False)
    assert not EvaluateConfig(intervals="none").conformal
    with pytest.raises(ConfigError, match="evaluate.intervals is 'bootstrap'; use conformal, dropout"):
        parse_params({"evaluate": {"intervals": "bootstrap"}})
    with pytest.raises(ConfigError, match="evaluate.interval_level is 90; give a coverage strictly"):
        EvaluateConfig(interval_level=90)


def test_load_evaluate_reads_only_that_section(tmp_path: Path):
    path = tmp_path / "params.yaml"
    assert load_evaluate(path).interval_level == 0.9  # no file: the defaults
    path.write_text("data: {}\nevaluate: {intervals: none, interval_level: 0.8}\n")
    assert (load_evaluate(path).intervals, load_evaluate(path).interval_level) == ("none", 0.8)


class Offset:
    """Stands in for the network: the last input value plus one, in model space."""

    layers: tuple[()] = ()

    def predict(self, x: np.ndarray, verbose: int = 0) -> np.ndarray:
        return np.repeat(x[:, -1:, :1], 2, axis=1) + 1.0


def test_evaluate_reports_conformal_coverage_beside_the_metrics(caplog):
    rows = 60
    levels = np.arange(rows, dtype=np.float64)[:, None] + np.random.default_rng(2).standard_normal((rows, 1))
    layout = Layout(("",), np.array([0, rows]))
    split = np.array([[[0, 30], [30, 45], [45, 60]]])
    identity = AffineScaler("standard", ("y",), (0.0,), (1.0,))
    spec = ForecastSpec("date", ("y",), (), 8, 2, False, "D", {"": identity}, conformal=_calibration())
    origins = np.arange(45, 59)
    result = assessment.assess(
        levels, layout, origins, Offset(), spec, split_rows=split, period=1, config=EvaluateConfig()
    )
    report = json.loads(json.dumps(result.report()))
    figures = report["conformal"]
    assert figures["level"] == 0.9 and figures["calibration_windows"] == 50
    assert 0 <= figures["coverage"] <= 1 and figures["mean_width"] > 0
    assert all(isinstance(v, int | float) for v in figures.values())
    # The half-width is the stored quantile times the stored scale, in original units.
    half = _calibration().quantile(0.9)[:, 0] * 2.5
    assert figures["mean_width"] == pytest.approx(2 * half.mean())
    assert "intervals" not in report  # Monte Carlo dropout was not asked for
    tags = result.test_tags()
    assert tags["test.interval_level"] == "0.9" and float(tags["test.interval_coverage"]) == pytest.approx(
        figures["coverage"], rel=1e-5
    )
    without = assessment.assess(
        levels, layout, origins, Offset(), replace(spec, conformal=None), split_rows=split, period=1,
        config=EvaluateConfig(),
    )  # fmt: skip
    assert without.conformal is None
    with caplog.at_level(logging.WARNING):
        few = conformal.Calibration(np.ones((5, 2, 1)), np.arange(1, 6), 5, {"": (1.0,)})
        forecast, actual = result.forecasts["model"], result.actual
        assert (
            assessment.conformal_coverage(forecast, actual, [""] * 14, replace(spec, conformal=few), 0.9)
            is None
        )
    assert "5 calibration windows are too few (need at least 9)" in caplog.text


def test_the_served_forecaster_returns_bounds_around_its_forecast_in_original_units(
    seasonal_frame, mlflow_store, tmp_path: Path
):
    history = seasonal_frame.tail(20).reset_index(drop=True)
    history = history.assign(y=history["y"] + 300.0)  # original units far from the scaled ones
    network = build_model(kt.HyperParameters(), ModelSpec(8, 1, 2, 1), {"num_layers": 1, "units": 4})
    network.save(tmp_path / "model.keras")
    spec = _spec(_calibration())
    spec.save(tmp_path / "spec.json")
    with mlflow.start_run():
        uri = log_forecaster(tmp_path / "model.keras", tmp_path / "spec.json", history, network, spec)
    model = mlflow.pyfunc.load_model(uri)
    plain = model.predict(history)
    assert list(plain.columns) == ["date", "y"]  # callers that do not ask see no change
    out = model.predict(history, params={"intervals": True})
    assert list(out.columns) == ["date", "y", "y_lower", "y_upper"]
    np.testing.assert_allclose(out["y"], plain["y"])
    assert (out["y_lower"] < out["y"]).all() and (out["y"] < out["y_upper"]).all()
    assert (abs(out["y"] - history["y"].iloc[-1]) < 100).all()  # original units
    np.testing.assert_allclose(out["y_upper"] - out["y"], _calibration().quantile(0.9)[:, 0] * 2.5)
    wider = model.predict(history, params={"intervals": True, "level": 0.98})
    assert ((wider["y_upper"] - wider["y_lower"]) >= (out["y_upper"] - out["y_lower"])).all()
    # 50 calibration windows are too few for 99%: no interval rather than an infinite one.
    assert (
        model.predict(history, params={"intervals": True, "level": 0.99})[["y_lower", "y_upper"]]
        .isna()
        .all()
        .all()
    )
    with pytest.raises(Exception, match="level is 1.5; give a coverage strictly between 0 and 1"):
        model.predict(history, params={"intervals": True, "level": 1.5})
    signature = mlflow.models.get_model_info(uri).signature
    assert {p.name for p in signature.params.params} == {"intervals", "level"}
