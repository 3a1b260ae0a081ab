"""The naive family and every baseline on the same windows (:mod:`tsforge.baselines`)."""

import numpy as np
import pytest

from tsforge import baselines as bl
from tsforge import metrics as mt


def test_baselines_use_only_rows_before_the_origin():
    levels = np.arange(20, dtype=float)[:, None]
    origins = np.array([10, 15])
    np.testing.assert_array_equal(bl.naive(levels, origins, 3, 1)[:, :, 0], [[9, 9, 9], [14, 14, 14]])
    # period 4: y[t+h] <- y[t+h-4] for h < 4, then y[t+h-8]
    snaive = bl.seasonal_naive(levels, origins, 5, 1, period=4)[:, :, 0]
    np.testing.assert_array_equal(snaive[0], [6, 7, 8, 9, 6])
    assert (snaive < origins[:, None]).all()
    np.testing.assert_array_equal(mt.actuals(levels, origins, 2, 1)[:, :, 0], [[10, 11], [15, 16]])


def test_seasonal_naive_repeats_the_first_value_where_a_season_is_missing_and_refuses_no_history():
    levels = np.arange(30.0)[:, None]
    forecast = bl.seasonal_naive(levels, np.array([5]), 2, 1, period=12)
    assert forecast[0, :, 0].tolist() == [0.0, 0.0]  # rows -7 and -6 do not exist: the first row stands in
    with pytest.raises(ValueError, match="at least one row before each origin"):
        bl.seasonal_naive(levels, np.array([0]), 2, 1, period=12)


def test_seasonal_naive_with_drift_follows_a_linear_trend_exactly():
    levels = (3.0 * np.arange(60))[:, None]  # slope 3, no season
    origins = np.array([30, 40])
    drift = bl.seasonal_naive_drift(levels, origins, 3, 1, period=4, input_size=8)
    np.testing.assert_allclose(drift, mt.actuals(levels, origins, 3, 1))
    # plain seasonal naive lags a season of growth behind
    assert (bl.seasonal_naive(levels, origins, 3, 1, period=4) < drift).all()


def test_baselines_include_the_statistical_methods_on_every_target_and_arima_only_when_asked():
    rng = np.random.default_rng(2)
    levels = np.stack([np.arange(80.0) + rng.normal(0, 0.2, 80), 50 + rng.normal(0, 0.2, 80)], axis=1)
    origins = np.array([60, 70])
    result = bl.baselines(levels, origins, 3, 2, period=4, input_size=8)
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
    with_arima = bl.baselines(levels, origins, 3, 2, period=4, input_size=8, arima=True)
    assert list(with_arima) == [*result][:7] + ["arima", "theta_ets", "stat_ensemble"]
    members = [with_arima[m] for m in ("ets", "ces", "dot", "arima")]
    np.testing.assert_array_equal(
        with_arima["stat_ensemble"], (members[0] + members[1] + members[2] + members[3]) / 4
    )
    for name in [*result][:-1]:  # the same fits whether or not ARIMA joins the ensemble
        np.testing.assert_array_equal(with_arima[name], result[name])
    np.testing.assert_allclose(with_arima["arima"], mt.actuals(levels, origins, 3, 2), atol=1.0)
