import logging

import numpy as np
import pytest

from tsforge import evaluation as ev


def test_metrics_match_hand_computed_values():
    actual = np.array([2.0, 4.0, 5.0, 10.0])
    forecast = np.array([1.0, 5.0, 5.0, 8.0])
    # errors: -1, 1, 0, -2
    assert ev.mae(actual, forecast) == pytest.approx(1.0)
    assert ev.rmse(actual, forecast) == pytest.approx(np.sqrt((1 + 1 + 0 + 4) / 4))
    assert ev.mape(actual, forecast) == pytest.approx(100 * (1 / 2 + 1 / 4 + 0 + 2 / 10) / 4)
    assert ev.smape(actual, forecast) == pytest.approx(200 * (1 / 3 + 1 / 9 + 0 + 2 / 18) / 4)


def test_mase_scale_is_the_in_sample_seasonal_naive_error():
    train = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    assert ev.mase_scale(train, 1) == pytest.approx(np.mean([1, 2, 3, 4]))
    assert ev.mase_scale(train, 2) == pytest.approx(np.mean([3, 5, 7]))
    scores = ev.score(np.array([3.0]), np.array([1.0]), scale=4.0)
    assert scores["mase"] == pytest.approx(0.5)


def test_mase_scale_of_a_one_row_history_is_undefined_without_a_numpy_warning():
    # A series padded down to window.min_history = 1 may have a single row before its test.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(ev.mase_scale(np.array([5.0]), 12))
        assert np.isnan(ev.mase_scale(np.array([]), 1))


def test_baselines_use_only_rows_before_the_origin():
    levels = np.arange(20, dtype=float)[:, None]
    origins = np.array([10, 15])
    np.testing.assert_array_equal(ev.naive(levels, origins, 3, 1)[:, :, 0], [[9, 9, 9], [14, 14, 14]])
    # period 4: y[t+h] <- y[t+h-4] for h < 4, then y[t+h-8]
    snaive = ev.seasonal_naive(levels, origins, 5, 1, period=4)[:, :, 0]
    np.testing.assert_array_equal(snaive[0], [6, 7, 8, 9, 6])
    assert (snaive < origins[:, None]).all()
    np.testing.assert_array_equal(ev.actuals(levels, origins, 2, 1)[:, :, 0], [[10, 11], [15, 16]])


def test_seasonal_naive_repeats_the_first_value_where_a_season_is_missing_and_refuses_no_history():
    levels = np.arange(30.0)[:, None]
    forecast = ev.seasonal_naive(levels, np.array([5]), 2, 1, period=12)
    assert forecast[0, :, 0].tolist() == [0.0, 0.0]  # rows -7 and -6 do not exist: the first row stands in
    with pytest.raises(ValueError, match="at least one row before each origin"):
        ev.seasonal_naive(levels, np.array([0]), 2, 1, period=12)


def test_per_step_errors_grow_for_a_drifting_naive_forecast():
    levels = np.arange(40, dtype=float)[:, None]
    origins = np.arange(10, 30)
    actual = ev.actuals(levels, origins, 3, 1)
    steps = ev.per_step(actual, ev.naive(levels, origins, 3, 1), ev.mae)
    assert steps == pytest.approx([1.0, 2.0, 3.0])


def test_seasonal_naive_with_drift_follows_a_linear_trend_exactly():
    levels = (3.0 * np.arange(60))[:, None]  # slope 3, no season
    origins = np.array([30, 40])
    drift = ev.seasonal_naive_drift(levels, origins, 3, 1, period=4, input_size=8)
    np.testing.assert_allclose(drift, ev.actuals(levels, origins, 3, 1))
    # plain seasonal naive lags a season of growth behind
    assert (ev.seasonal_naive(levels, origins, 3, 1, period=4) < drift).all()


def test_theta_forecasts_a_trending_series_from_its_past_only():
    rng = np.random.default_rng(0)
    levels = (np.arange(200) * 0.5 + rng.normal(0, 0.1, 200))[:, None]
    origins = np.array([150, 180])
    forecast = ev.theta(levels, origins, 3, 1, period=1, history=100)
    actual = ev.actuals(levels, origins, 3, 1)
    assert ev.mae(actual, forecast) < 1.0
    changed = levels.copy()
    changed[150:] += 100  # the future must not leak into the forecast from origin 150
    np.testing.assert_allclose(ev.theta(changed, origins[:1], 3, 1, period=1, history=100), forecast[:1])


def test_theta_deseasonalises_a_seasonal_series_multiplicatively_or_additively():
    rng = np.random.default_rng(0)
    t = np.arange(48)
    season = np.tile([0.8, 1.1, 1.3, 0.8], 12)
    positive = (100 + t) * season * (1 + rng.normal(0, 0.005, 48))
    forecast = ev.theta(positive[:, None], np.array([40]), 8, 1, period=4, history=100)[0, :, 0]
    np.testing.assert_allclose(forecast, positive[40:], rtol=0.03)
    # With values at or below zero the decomposition is additive: the pattern still repeats.
    crossing = np.tile([-10.0, 5, 15, -10], 12) + rng.normal(0, 0.1, 48)
    forecast = ev.theta(crossing[:, None], np.array([40]), 8, 1, period=4, history=100)[0, :, 0]
    np.testing.assert_allclose(forecast, crossing[40:], atol=1.0)


def test_ets_forecasts_a_constant_series_as_that_constant():
    levels = np.full((40, 1), 7.5)
    forecast = ev.ets(levels, np.array([20, 30]), 3, 1, period=4, history=100)
    np.testing.assert_allclose(forecast, 7.5)


def test_ets_with_a_trend_continues_a_linear_series():
    levels = (10 + 2.0 * np.arange(60))[:, None]
    origins = np.array([40, 50])
    forecast = ev.ets(levels, origins, 5, 1, period=1, history=100)
    np.testing.assert_allclose(forecast, ev.actuals(levels, origins, 5, 1), rtol=1e-3)


def test_ets_repeats_the_pattern_of_a_positive_seasonal_series():
    rng = np.random.default_rng(0)
    t = np.arange(48)
    values = (100 + t) * np.tile([0.8, 1.1, 1.3, 0.8], 12) * (1 + rng.normal(0, 0.005, 48))
    forecast = ev.ets(values[:, None], np.array([40]), 8, 1, period=4, history=100)[0, :, 0]
    np.testing.assert_allclose(forecast, values[40:], rtol=0.02)
    exact = np.tile([10.0, 20, 30, 40], 12)[:, None]
    forecast = ev.ets(exact, np.array([40]), 8, 1, period=4, history=100)[0, :, 0]
    np.testing.assert_allclose(forecast, [10, 20, 30, 40] * 2, rtol=1e-3)


@pytest.mark.parametrize(
    ("method", "longest"),
    [(ev.ets, ev.ETS_MAX_SEASON), (ev.arima, ev.ARIMA_MAX_SEASON)],
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
    for baseline in (ev.ets, ev.theta):
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
    with caplog.at_level(logging.WARNING, logger="tsforge.evaluation"):
        short_ets = ev.ets(levels, np.array([9]), 2, 1, period=4, history=ev.ETS_MIN_ROWS - 1)
        short_theta = ev.theta(levels, np.array([9]), 2, 1, period=4, history=ev.THETA_MIN_ROWS - 1)
    np.testing.assert_array_equal(short_ets[0, :, 0], [9, 9])
    np.testing.assert_array_equal(short_theta[0, :, 0], [9, 9])
    assert "ets: 1 of 1 fits fell back" in caplog.text and "theta: 1 of 1 fits fell back" in caplog.text
    # Just enough rows for ETS: a real fit (the trend), no fallback.
    enough = ev.ets(levels, np.array([9]), 2, 1, period=4, history=ev.ETS_MIN_ROWS)
    np.testing.assert_allclose(enough[0, :, 0], [10, 11], atol=0.1)


def test_baselines_include_the_statistical_methods_on_every_target_and_arima_only_when_asked():
    rng = np.random.default_rng(2)
    levels = np.stack([np.arange(80.0) + rng.normal(0, 0.2, 80), 50 + rng.normal(0, 0.2, 80)], axis=1)
    origins = np.array([60, 70])
    result = ev.baselines(levels, origins, 3, 2, period=4, input_size=8)
    assert list(result) == [
        "naive",
        "seasonal_naive",
        "seasonal_naive_drift",
        "theta",
        "ets",
        "ces",
        "dot",
        "theta_ets",
        "stat_ensemble",
    ]
    np.testing.assert_allclose(result["theta_ets"], (result["theta"] + result["ets"]) / 2)
    # statsforecast's StatisticalEnsemble without AutoARIMA: the mean of the other three, exactly.
    np.testing.assert_array_equal(
        result["stat_ensemble"], (result["ets"] + result["ces"] + result["dot"]) / 3
    )
    for forecast in result.values():
        assert forecast.shape == (2, 3, 2) and np.isfinite(forecast).all()
    with_arima = ev.baselines(levels, origins, 3, 2, period=4, input_size=8, arima=True)
    assert list(with_arima) == [*result][:7] + ["arima", "theta_ets", "stat_ensemble"]
    members = [with_arima[m] for m in ("ets", "ces", "dot", "arima")]
    np.testing.assert_array_equal(
        with_arima["stat_ensemble"], (members[0] + members[1] + members[2] + members[3]) / 4
    )
    for name in [*result][:-1]:  # the same fits whether or not ARIMA joins the ensemble
        np.testing.assert_array_equal(with_arima[name], result[name])
    np.testing.assert_allclose(with_arima["arima"], ev.actuals(levels, origins, 3, 2), atol=1.0)


STATISTICAL = pytest.mark.parametrize("method", [ev.ces, ev.dot, ev.arima], ids=["ces", "dot", "arima"])


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
    origins = np.array([50, 60])
    forecast = method(levels, origins, 5, 1, period=period, history=100)
    expected = ev.actuals(levels, origins, 5, 1)
    if method is ev.ces:
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
    with caplog.at_level(logging.WARNING, logger="tsforge.evaluation"):
        forecast = method(exact, np.array([40]), 8, 1, period=4, history=100)[0, :, 0]
    np.testing.assert_allclose(forecast, [10, 20, 30, 40] * 2, rtol=1e-3)
    assert ("ces: 1 of 1 fits fell back" in caplog.text) == (method is ev.ces)


@STATISTICAL
def test_ces_dot_and_arima_fall_back_to_naive_on_tiny_histories(method, caplog: pytest.LogCaptureFixture):
    levels = np.arange(1.0, 13.0)[:, None]
    least = {ev.ces: ev.CES_MIN_ROWS, ev.dot: ev.DOT_MIN_ROWS, ev.arima: ev.ARIMA_MIN_ROWS}[method]
    with caplog.at_level(logging.WARNING, logger="tsforge.evaluation"):
        short = method(levels, np.array([9]), 2, 1, period=4, history=least - 1)
    np.testing.assert_array_equal(short[0, :, 0], [9, 9])
    assert "1 of 1 fits fell back" in caplog.text
    enough = method(levels, np.array([9]), 2, 1, period=4, history=least + 1)
    assert np.isfinite(enough).all() and (enough > 9).all()  # a fit that follows the trend


def test_statistical_forecasts_fit_the_methods_named():
    levels = (10 + 2.0 * np.arange(60))[:, None]
    origins = np.array([40, 50])
    fitted = ev.statistical_forecasts(("dot", "ces"), levels, origins, 3, 1, period=1, history=100)
    assert list(fitted) == ["dot", "ces"]
    np.testing.assert_array_equal(fitted["dot"], ev.dot(levels, origins, 3, 1, period=1, history=100))


def test_mase_scales_each_target_by_its_own_in_sample_error():
    # Two series (rows 0-5, 6-11), two targets and a feature; test rows 4-5 and 10-11; period 2.
    t0 = [1.0, 2, 4, 7, 10, 12] + [5.0, 6, 7, 8, 9, 10]
    t1 = [100.0, 200, 400, 700, 1000, 1100] + [50.0, 10, 60, 20, 30, 70]
    levels = np.column_stack([t0, t1, np.zeros(12)])
    scales = ev.mase_scales(levels, np.array([0, 6]), np.array([4, 10]), period=2, n_targets=2)
    # A: (4-1, 7-2) -> 4 and (400-100, 700-200) -> 400; B: (7-5, 8-6) -> 2 and (60-50, 20-10) -> 10
    np.testing.assert_allclose(scales, [[4, 400], [2, 10]])
    actual = ev.actuals(levels, np.array([4, 10]), 2, 2)
    forecast = actual.copy()
    forecast[0, :, 0] += [-1, 2]  # A: MAE 1.5 / 4 = 0.375
    forecast[0, :, 1] += [40, -40]  # A: MAE 40 / 400 = 0.1
    forecast[1, :, 0] += [0, 2]  # B: MAE 1 / 2 = 0.5
    forecast[1, :, 1] += [10, 0]  # B: MAE 5 / 10 = 0.5
    scores = ev.score_series(actual, forecast, np.array([0, 1]), scales)
    assert scores["mase"] == pytest.approx(((0.375 + 0.1) / 2 + (0.5 + 0.5) / 2) / 2)  # 0.36875
    assert scores["mae"] == pytest.approx((83 / 4 + 12 / 4) / 2)
    # Units do not matter: target 1 in thousandths scores the same.
    rescaled = np.array([1.0, 1000.0])
    again = ev.score_series(
        actual * rescaled,
        forecast * rescaled,
        np.array([0, 1]),
        ev.mase_scales(levels[:, :2] * rescaled, np.array([0, 6]), np.array([4, 10]), 2, 2),
    )
    assert again["mase"] == pytest.approx(scores["mase"])
    steps = ev.score_per_step(actual, forecast, np.array([0, 1]), scales)
    assert steps["mase"] == pytest.approx([(1 / 4 + 40 / 400) / 2 / 2 + 0.25, (2 / 4 + 0.1) / 2 / 2 + 0.25])


def test_mase_leaves_out_targets_whose_scale_is_undefined():
    actual, forecast = np.ones((3, 2)), np.ones((3, 2)) + [1.0, 4.0]
    assert ev.mase(actual, forecast, np.array([2.0, np.nan])) == pytest.approx(0.5)
    assert np.isnan(ev.mase(actual, forecast, np.array([np.nan, np.nan])))
    assert ev.mase(actual, forecast, 5.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="one per target"):
        ev.mase(actual, forecast, np.array([1.0, 2.0, 3.0]))


def test_score_per_step_has_every_metric_for_every_step():
    actual = np.arange(12, dtype=float).reshape(4, 3, 1) + 1
    steps = ev.score_per_step(actual, actual + 1, np.zeros(4, dtype=int), np.array([2.0]))
    assert set(steps) == {"rmse", "mae", "mape", "smape", "mase"}
    assert steps["mae"] == [1.0, 1.0, 1.0] and steps["mase"] == [0.5, 0.5, 0.5]


def test_interval_coverage_counts_actuals_inside_the_central_band():
    rng = np.random.default_rng(0)
    actual = np.zeros((200, 2, 1))
    wide = rng.normal(0, 1, size=(400, 200, 2, 1))
    result = ev.interval_coverage(actual, wide, 0.9)
    assert result["coverage"] == 1.0 and result["mean_width"] == pytest.approx(3.29, abs=0.2)
    shifted = ev.interval_coverage(actual + 10, wide, 0.9)
    assert shifted["coverage"] == 0.0
