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


def test_baselines_use_only_rows_before_the_origin():
    levels = np.arange(20, dtype=float)[:, None]
    origins = np.array([10, 15])
    np.testing.assert_array_equal(ev.naive(levels, origins, 3, 1)[:, :, 0], [[9, 9, 9], [14, 14, 14]])
    # period 4: y[t+h] <- y[t+h-4] for h < 4, then y[t+h-8]
    snaive = ev.seasonal_naive(levels, origins, 5, 1, period=4)[:, :, 0]
    np.testing.assert_array_equal(snaive[0], [6, 7, 8, 9, 6])
    assert (snaive < origins[:, None]).all()
    np.testing.assert_array_equal(ev.actuals(levels, origins, 2, 1)[:, :, 0], [[10, 11], [15, 16]])


def test_seasonal_naive_refuses_origins_without_a_full_season_before_them():
    with pytest.raises(ValueError, match="period 12"):
        ev.seasonal_naive(np.zeros((30, 1)), np.array([5]), 2, 1, period=12)


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
