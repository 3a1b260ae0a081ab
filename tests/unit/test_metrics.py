"""The error metrics, the MASE scales and scoring per series, per step and of intervals
(:mod:`tsforge.metrics`); grouped per-series scoring gives the same scores as one mask per series."""

import numpy as np
import pytest

from tsforge import baselines as bl
from tsforge import metrics as mt


def test_metrics_match_hand_computed_values():
    actual = np.array([2.0, 4.0, 5.0, 10.0])
    forecast = np.array([1.0, 5.0, 5.0, 8.0])
    # errors: -1, 1, 0, -2
    assert mt.mae(actual, forecast) == pytest.approx(1.0)
    assert mt.rmse(actual, forecast) == pytest.approx(np.sqrt((1 + 1 + 0 + 4) / 4))
    assert mt.mape(actual, forecast) == pytest.approx(100 * (1 / 2 + 1 / 4 + 0 + 2 / 10) / 4)
    assert mt.smape(actual, forecast) == pytest.approx(200 * (1 / 3 + 1 / 9 + 0 + 2 / 18) / 4)


def test_mase_scale_is_the_in_sample_seasonal_naive_error():
    train = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    assert mt.mase_scale(train, 1) == pytest.approx(np.mean([1, 2, 3, 4]))
    assert mt.mase_scale(train, 2) == pytest.approx(np.mean([3, 5, 7]))
    scores = mt.score(np.array([3.0]), np.array([1.0]), scale=4.0)
    assert scores["mase"] == pytest.approx(0.5)


def test_mase_scale_of_a_one_row_history_is_undefined_without_a_numpy_warning():
    # A series padded down to window.min_history = 1 may have a single row before its test.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(mt.mase_scale(np.array([5.0]), 12))
        assert np.isnan(mt.mase_scale(np.array([]), 1))


def test_per_step_errors_grow_for_a_drifting_naive_forecast():
    levels = np.arange(40, dtype=float)[:, None]
    origins = np.arange(10, 30)
    actual = mt.actuals(levels, origins, 3, 1)
    steps = mt.per_step(actual, bl.naive(levels, origins, 3, 1), mt.mae)
    assert steps == pytest.approx([1.0, 2.0, 3.0])


def test_mase_scales_each_target_by_its_own_in_sample_error():
    # Two series (rows 0-5, 6-11), two targets and a feature; test rows 4-5 and 10-11; period 2.
    t0 = [1.0, 2, 4, 7, 10, 12] + [5.0, 6, 7, 8, 9, 10]
    t1 = [100.0, 200, 400, 700, 1000, 1100] + [50.0, 10, 60, 20, 30, 70]
    levels = np.column_stack([t0, t1, np.zeros(12)])
    scales = mt.mase_scales(levels, np.array([0, 6]), np.array([4, 10]), period=2, n_targets=2)
    # A: (4-1, 7-2) -> 4 and (400-100, 700-200) -> 400; B: (7-5, 8-6) -> 2 and (60-50, 20-10) -> 10
    np.testing.assert_allclose(scales, [[4, 400], [2, 10]])
    actual = mt.actuals(levels, np.array([4, 10]), 2, 2)
    forecast = actual.copy()
    forecast[0, :, 0] += [-1, 2]  # A: MAE 1.5 / 4 = 0.375
    forecast[0, :, 1] += [40, -40]  # A: MAE 40 / 400 = 0.1
    forecast[1, :, 0] += [0, 2]  # B: MAE 1 / 2 = 0.5
    forecast[1, :, 1] += [10, 0]  # B: MAE 5 / 10 = 0.5
    scores = mt.score_series(actual, forecast, np.array([0, 1]), scales)
    assert scores["mase"] == pytest.approx(((0.375 + 0.1) / 2 + (0.5 + 0.5) / 2) / 2)  # 0.36875
    assert scores["mae"] == pytest.approx((83 / 4 + 12 / 4) / 2)
    # Units do not matter: target 1 in thousandths scores the same.
    rescaled = np.array([1.0, 1000.0])
    again = mt.score_series(
        actual * rescaled,
        forecast * rescaled,
        np.array([0, 1]),
        mt.mase_scales(levels[:, :2] * rescaled, np.array([0, 6]), np.array([4, 10]), 2, 2),
    )
    assert again["mase"] == pytest.approx(scores["mase"])
    steps = mt.score_per_step(actual, forecast, np.array([0, 1]), scales)
    assert steps["mase"] == pytest.approx([(1 / 4 + 40 / 400) / 2 / 2 + 0.25, (2 / 4 + 0.1) / 2 / 2 + 0.25])


def test_mase_leaves_out_targets_whose_scale_is_undefined():
    actual, forecast = np.ones((3, 2)), np.ones((3, 2)) + [1.0, 4.0]
    assert mt.mase(actual, forecast, np.array([2.0, np.nan])) == pytest.approx(0.5)
    assert np.isnan(mt.mase(actual, forecast, np.array([np.nan, np.nan])))
    assert mt.mase(actual, forecast, 5.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="one per target"):
        mt.mase(actual, forecast, np.array([1.0, 2.0, 3.0]))


def test_score_per_step_has_every_metric_for_every_step():
    actual = np.arange(12, dtype=float).reshape(4, 3, 1) + 1
    steps = mt.score_per_step(actual, actual + 1, np.zeros(4, dtype=int), np.array([2.0]))
    assert set(steps) == {"rmse", "mae", "mape", "smape", "mase"}
    assert steps["mae"] == [1.0, 1.0, 1.0] and steps["mase"] == [0.5, 0.5, 0.5]


def test_interval_coverage_counts_actuals_inside_the_central_band():
    rng = np.random.default_rng(0)
    actual = np.zeros((200, 2, 1))
    wide = rng.normal(0, 1, size=(400, 200, 2, 1))
    result = mt.interval_coverage(actual, wide, 0.9)
    assert result["coverage"] == 1.0 and result["mean_width"] == pytest.approx(3.29, abs=0.2)
    shifted = mt.interval_coverage(actual + 10, wide, 0.9)
    assert shifted["coverage"] == 0.0


def _score_series_by_masks(actual, forecast, series, scales):
    """score_series as it was: score() on one boolean mask per series."""
    scales = np.asarray(scales, dtype=np.float64)
    per = [mt.score(actual[series == i], forecast[series == i], scales[i]) for i in np.unique(series)]
    return {name: mt._mean([p[name] for p in per]) for name in per[0]}


def _same(grouped: dict[str, float], masked: dict[str, float]) -> None:
    assert list(grouped) == list(masked)
    for name, value in masked.items():
        assert grouped[name] == pytest.approx(value, rel=1e-12, nan_ok=True), name


def test_grouped_scoring_equals_one_mask_per_series_on_unsorted_ids():
    rng = np.random.default_rng(4)
    series = np.array([3, 0, 3, 1, 0, 3, 1, 1, 0, 3, 5])  # unsorted; series 2 and 4 have no window
    actual = rng.normal(10, 3, (11, 4, 2))
    actual[series == 1, :, 1] = 0.0  # MAPE has no value for one target of one series
    actual[series == 5] = 0.0  # nor for any target of another (and sMAPE 0/0)
    forecast = actual + rng.normal(0, 1, actual.shape)
    forecast[series == 5] = 0.0
    forecast[1, 2, 0] = np.nan  # a series whose forecast has a hole: its metrics are left out
    scales = np.array([[1.0, 2.0], [0.5, np.nan], [9.0, 9.0], [3.0, 0.1], [1.0, 1.0], [np.nan, np.nan]])
    _same(
        mt.score_series(actual, forecast, series, scales),
        _score_series_by_masks(actual, forecast, series, scales),
    )
    per_step = mt.score_per_step(actual, forecast, series, scales)
    for h in range(actual.shape[1]):
        step = _score_series_by_masks(actual[:, h], forecast[:, h], series, scales)
        _same({name: values[h] for name, values in per_step.items()}, step)
    # One scale per series (not per target), and one value per window.
    flat = scales[:, 0]
    _same(
        mt.score_series(actual, forecast, series, flat),
        _score_series_by_masks(actual, forecast, series, flat),
    )
    _same(
        mt.score_series(actual[:, 0, 0], forecast[:, 0, 0], series, flat),
        _score_series_by_masks(actual[:, 0, 0], forecast[:, 0, 0], series, flat),
    )


def test_grouped_scoring_of_many_series_and_of_one():
    rng = np.random.default_rng(5)
    series = rng.permutation(np.repeat(np.arange(300), rng.integers(1, 4, 300)))
    actual = rng.lognormal(2, 1, (len(series), 6, 1))
    forecast = actual * rng.lognormal(0, 0.2, actual.shape)
    scales = rng.uniform(0.5, 2, (300, 1))
    _same(
        mt.score_series(actual, forecast, series, scales),
        _score_series_by_masks(actual, forecast, series, scales),
    )
    one = np.zeros(5, dtype=np.int64)
    _same(
        mt.score_series(actual[:5], forecast[:5], one, scales[:1]),
        mt.score(actual[:5], forecast[:5], scales[0]),
    )


def test_scoring_refuses_scales_for_another_number_of_targets():
    with pytest.raises(ValueError, match="mase"):
        mt.score_series(np.ones((2, 3, 2)), np.ones((2, 3, 2)), np.array([0, 1]), np.ones((2, 3)))
