"""Theta, ETS, CES, DOT and ARIMA refitted at every origin (:mod:`tsforge.statistical`)."""

import logging

import numpy as np
import pytest

from tsforge import metrics as mt
from tsforge import statistical as st
from tsforge import statistical_runs as runs


def test_theta_forecasts_a_trending_series_from_its_past_only():
    rng = np.random.default_rng(0)
    levels = (np.arange(200) * 0.5 + rng.normal(0, 0.1, 200))[:, None]
    origins = np.array([150, 180])
    forecast = st.theta(levels, origins, 3, 1, period=1, history=100)
    actual = mt.actuals(levels, origins, 3, 1)
    assert mt.mae(actual, forecast) < 1.0
    changed = levels.copy()
    changed[150:] += 100  # the future must not leak into the forecast from origin 150
    np.testing.assert_allclose(st.theta(changed, origins[:1], 3, 1, period=1, history=100), forecast[:1])


def test_theta_deseasonalises_a_seasonal_series_multiplicatively_or_additively():
    rng = np.random.default_rng(0)
    t = np.arange(48)
    season = np.tile([0.8, 1.1, 1.3, 0.8], 12)
    positive = (100 + t) * season * (1 + rng.normal(0, 0.005, 48))
    forecast = st.theta(positive[:, None], np.array([40]), 8, 1, period=4, history=100)[0, :, 0]
    np.testing.assert_allclose(forecast, positive[40:], rtol=0.03)
    # With values at or below zero the decomposition is additive: the pattern still repeats.
    crossing = np.tile([-10.0, 5, 15, -10], 12) + rng.normal(0, 0.1, 48)
    forecast = st.theta(crossing[:, None], np.array([40]), 8, 1, period=4, history=100)[0, :, 0]
    np.testing.assert_allclose(forecast, crossing[40:], atol=1.0)


def test_ets_forecasts_a_constant_series_as_that_constant():
    levels = np.full((40, 1), 7.5)
    forecast = st.ets(levels, np.array([20, 30]), 3, 1, period=4, history=100)
    np.testing.assert_allclose(forecast, 7.5)


def test_ets_with_a_trend_continues_a_linear_series():
    levels = (10 + 2.0 * np.arange(60))[:, None]
    origins = np.array([40, 50])
    forecast = st.ets(levels, origins, 5, 1, period=1, history=100)
    np.testing.assert_allclose(forecast, mt.actuals(levels, origins, 5, 1), rtol=1e-3)


def test_ets_repeats_the_pattern_of_a_positive_seasonal_series():
    rng = np.random.default_rng(0)
    t = np.arange(48)
    values = (100 + t) * np.tile([0.8, 1.1, 1.3, 0.8], 12) * (1 + rng.normal(0, 0.005, 48))
    forecast = st.ets(values[:, None], np.array([40]), 8, 1, period=4, history=100)[0, :, 0]
    np.testing.assert_allclose(forecast, values[40:], rtol=0.02)
    exact = np.tile([10.0, 20, 30, 40], 12)[:, None]
    forecast = st.ets(exact, np.array([40]), 8, 1, period=4, history=100)[0, :, 0]
    np.testing.assert_allclose(forecast, [10, 20, 30, 40] * 2, rtol=1e-3)


@pytest.mark.parametrize(
    ("method", "longest"),
    [(st.ets, st.ETS_MAX_SEASON), (st.arima, st.ARIMA_MAX_SEASON)],
    ids=["ets", "arima"],
)
def test_a_season_longer_than_the_method_models_is_deseasonalised_first(method, longest):
    # Weekly data, period 52 > the longest season modelled: classical decomposition, then a
    # non-seasonal fit, the last season's indices put back.
    assert longest < 52
    t = np.arange(3 * 52 + 8)
    values = 300 + 0.05 * t + 3 * np.sin(2 * np.pi * t / 52)
    forecast = method(values[:, None], np.array([156]), 8, 1, period=52, history=156)[0, :, 0]
    np.testing.assert_allclose(forecast, values[156:], atol=0.05)


def test_ets_and_theta_use_only_the_origins_series_and_past():
    rng = np.random.default_rng(1)
    levels = np.concatenate([rng.normal(0, 1, 50), 1000 + np.arange(50) + rng.normal(0, 0.1, 50)])[:, None]
    origins, starts = np.array([90]), np.array([50])
    for baseline in (st.ets, st.theta):
        forecast = baseline(levels, origins, 3, 1, period=1, history=100, starts=starts)
        np.testing.assert_allclose(forecast[0, :, 0], [1040, 1041, 1042], atol=1.5)
        changed = levels.copy()
        changed[:50] += 500  # the previous series
        changed[90:] -= 500  # the future
        np.testing.assert_array_equal(
            baseline(changed, origins, 3, 1, period=1, history=100, starts=starts), forecast
        )


def test_ets_and_theta_fall_back_to_naive_on_tiny_histories(caplog: pytest.LogCaptureFixture):
    levels = np.arange(1.0, 11)[:, None]
    with caplog.at_level(logging.WARNING, logger="tsforge.statistical"):
        short_ets = st.ets(levels, np.array([9]), 2, 1, period=4, history=st.ETS_MIN_ROWS - 1)
        short_theta = st.theta(levels, np.array([9]), 2, 1, period=4, history=st.THETA_MIN_ROWS - 1)
    np.testing.assert_array_equal(short_ets[0, :, 0], [9, 9])
    np.testing.assert_array_equal(short_theta[0, :, 0], [9, 9])
    assert "ets: 1 of 1 fits fell back" in caplog.text and "theta: 1 of 1 fits fell back" in caplog.text
    # Just enough rows for ETS: a real fit (the trend), no fallback.
    enough = st.ets(levels, np.array([9]), 2, 1, period=4, history=st.ETS_MIN_ROWS)
    np.testing.assert_allclose(enough[0, :, 0], [10, 11], atol=0.1)


STATISTICAL = pytest.mark.parametrize("method", [st.ces, st.dot, st.arima], ids=["ces", "dot", "arima"])


@STATISTICAL
@pytest.mark.parametrize("period", [1, 4, 52])  # 52: a season longer than the history
def test_ces_dot_and_arima_forecast_a_constant_series_as_that_constant(method, period):
    levels = np.full((40, 1), 7.5)
    forecast = method(levels, np.array([20, 30]), 3, 1, period=period, history=100)
    np.testing.assert_allclose(forecast, 7.5)


@STATISTICAL
@pytest.mark.parametrize("period", [1, 4, 52])
def test_ces_dot_and_arima_continue_a_linear_trend(method, period):
    levels = (10 + 2.0 * np.arange(70))[:, None]
    origins = np.array([50, 60])  # 10 rows apart: each fitted (runs.REUSE_GROWTH)
    forecast = method(levels, origins, 5, 1, period=period, history=100)
    expected = mt.actuals(levels, origins, 5, 1)
    if method is st.ces:
        # CES has no trend term: its complex level's growth carries a line on, overshooting it
        # a little more every step (here about 1% at step 1, 5% at step 5).
        np.testing.assert_allclose(forecast[:, 0], expected[:, 0], rtol=0.015)
        np.testing.assert_allclose(forecast, expected, rtol=0.06)
        assert (np.diff(forecast[:, :, 0]) > 0).all()
    else:
        np.testing.assert_allclose(forecast, expected, atol=0.05)


@STATISTICAL
def test_ces_dot_and_arima_repeat_a_season_of_period_4(method, caplog: pytest.LogCaptureFixture):
    rng = np.random.default_rng(0)
    t = np.arange(48)
    noisy = (100 + t) * np.tile([0.8, 1.1, 1.3, 0.8], 12) * (1 + rng.normal(0, 0.005, 48))
    forecast = method(noisy[:, None], np.array([40]), 8, 1, period=4, history=100)[0, :, 0]
    np.testing.assert_allclose(forecast, noisy[40:], rtol=0.03)
    # An exact repeat: every seasonal CES fails (no errors, no likelihood); CES falls back to
    # the deseasonalised history, which still gives the repeat.
    exact = np.tile([10.0, 20, 30, 40], 12)[:, None]
    with caplog.at_level(logging.WARNING, logger="tsforge.statistical"):
        forecast = method(exact, np.array([40]), 8, 1, period=4, history=100)[0, :, 0]
    np.testing.assert_allclose(forecast, [10, 20, 30, 40] * 2, rtol=1e-3)
    assert ("ces: 1 of 1 fits fell back" in caplog.text) == (method is st.ces)


@STATISTICAL
def test_ces_dot_and_arima_fall_back_to_naive_on_tiny_histories(method, caplog: pytest.LogCaptureFixture):
    levels = np.arange(1.0, 13.0)[:, None]
    least = {st.ces: st.CES_MIN_ROWS, st.dot: st.DOT_MIN_ROWS, st.arima: st.ARIMA_MIN_ROWS}[method]
    with caplog.at_level(logging.WARNING, logger="tsforge.statistical"):
        short = method(levels, np.array([9]), 2, 1, period=4, history=least - 1)
    np.testing.assert_array_equal(short[0, :, 0], [9, 9])
    assert "1 of 1 fits fell back" in caplog.text
    enough = method(levels, np.array([9]), 2, 1, period=4, history=least + 1)
    assert np.isfinite(enough).all() and (enough > 9).all()  # a fit that follows the trend


def test_statistical_forecasts_fit_the_methods_named():
    levels = (10 + 2.0 * np.arange(60))[:, None]
    origins = np.array([40, 50])
    fitted = st.statistical_forecasts(("dot", "ces"), levels, origins, 3, 1, period=1, history=100)
    assert list(fitted) == ["dot", "ces"]
    np.testing.assert_array_equal(fitted["dot"], st.dot(levels, origins, 3, 1, period=1, history=100))


def test_an_origin_reuses_its_series_anchor_until_the_history_grows_by_the_set_fraction(monkeypatch):
    monkeypatch.setattr(runs, "REUSE_GROWTH", 0.25)
    # Two series of 100 and 60 rows, rolling origins on each.
    starts = np.array([0, 0, 0, 0, 100, 100])
    origins = np.array([80, 99, 100, 90, 150, 140])
    rows = [o - s for o, s in zip(origins, starts, strict=True)]
    anchors = runs.reuse_anchors(origins, starts, rows)
    # 80 anchors the first series (fitted on 80 rows, it serves origins up to 20 rows on: 90, 99
    # and 100); the second series has its own anchor, its earliest origin (140).
    assert anchors.tolist() == [0, 0, 0, 0, 5, 5]
    assert runs.reuse_anchors(np.array([80, 101]), None, [80, 101]).tolist() == [0, 1]
    # Capped histories: the anchor read 30 rows, so it serves 7 rows on.
    assert runs.reuse_anchors(np.array([80, 87, 88]), None, [30, 30, 30]).tolist() == [0, 0, 2]
    # The default: a fit every 5 % of growth; 0 refits every origin.
    monkeypatch.setattr(runs, "REUSE_GROWTH", 0.05)
    assert runs.reuse_anchors(np.array([100, 105, 106, 111]), None, [100, 105, 106, 111]).tolist() == [
        0,
        0,
        2,
        2,
    ]
    monkeypatch.setattr(runs, "REUSE_GROWTH", 0.0)
    assert runs.reuse_anchors(np.array([100, 101]), None, [100, 101]).tolist() == [0, 1]


@pytest.mark.parametrize("method", [st.ets, st.theta, st.ces], ids=["ets", "theta", "ces"])
def test_a_reusing_origin_forecasts_with_the_anchors_fitted_model(method):
    from statsforecast.models import AutoETS

    rng = np.random.default_rng(4)
    levels = (50 + np.cumsum(rng.normal(0.2, 1.0, 130)))[:, None]
    both = method(levels, np.array([100, 104]), 4, 1, period=1, history=None)
    alone = method(levels, np.array([104]), 4, 1, period=1, history=None)
    np.testing.assert_array_equal(both[:1], method(levels, np.array([100]), 4, 1, period=1, history=None))
    assert not np.array_equal(both[1], alone[0]), "origin 104 must reuse origin 100's fit, not refit"
    if method is st.ets:
        fitted = AutoETS(season_length=1, model="ZZZ", damped=None).fit(y=levels[:100, 0])
        np.testing.assert_allclose(both[1, :, 0], fitted.forward(y=levels[:104, 0], h=4)["mean"])
