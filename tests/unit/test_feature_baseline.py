"""The LightGBM feature baseline: uses known-ahead features, never sees the test, always forecasts."""

from __future__ import annotations

import numpy as np
import pytest

from tsforge.feature_baseline import FeatureColumns, gbm_forecasts, target_lags

SERIES, ROWS, STOP, HORIZON = 20, 120, 100, 4
PROMO_EFFECT = 3.0


def _promo_panel(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y = level_i + 3 * promo_t + small noise; column 1 is the promo flag, column 2 noise."""
    rng = np.random.default_rng(seed)
    promo = rng.integers(0, 2, (SERIES, ROWS)).astype(float)
    y = rng.uniform(10, 50, (SERIES, 1)) + PROMO_EFFECT * promo + rng.normal(0, 0.1, (SERIES, ROWS))
    levels = np.stack([y.ravel(), promo.ravel(), rng.normal(size=SERIES * ROWS)], axis=1)
    bounds = np.arange(SERIES + 1) * ROWS
    times = np.tile(np.arange(ROWS), SERIES).astype("datetime64[D]").astype("datetime64[ns]")
    return levels, bounds, times


def _run(
    levels: np.ndarray, bounds: np.ndarray, times: np.ndarray, origins: np.ndarray, **kw: object
) -> np.ndarray:
    args: dict = {"columns": FeatureColumns(known=(1,)), "n_targets": 1, "lags": 7}
    args.update(kw)
    stops = args.pop("fit_stops", bounds[:-1] + STOP)
    columns = args.pop("columns")
    return gbm_forecasts(
        levels,
        bounds,
        times,
        origins,
        HORIZON,
        args.pop("n_targets"),
        columns,
        fit_stops=stops,
        freq="D",
        **args,
    )


@pytest.fixture(scope="module")
def panel() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _promo_panel()


def _test_origins(bounds: np.ndarray) -> np.ndarray:
    return np.concatenate([b + np.arange(STOP, ROWS - HORIZON + 1) for b in bounds[:-1]])


def test_known_ahead_promo_effect_is_used(panel):
    levels, bounds, times = panel
    origins = _test_origins(bounds)
    actual = levels[origins[:, None] + np.arange(HORIZON), 0]
    with_promo = np.abs(_run(levels, bounds, times, origins)[:, :, 0] - actual).mean()
    without = np.abs(_run(levels, bounds, times, origins, columns=FeatureColumns())[:, :, 0] - actual).mean()
    assert with_promo < 0.3 * without


def test_forecast_moves_by_the_promo_effect(panel):
    levels, bounds, times = panel
    origins = bounds[:-1] + STOP
    on, off = levels.copy(), levels.copy()
    for b in bounds[:-1]:
        # Only the known-ahead horizon rows change: the history and the training rows are the same.
        on[b + STOP : b + STOP + HORIZON, 1] = 1.0
        off[b + STOP : b + STOP + HORIZON, 1] = 0.0
    lift = _run(on, bounds, times, origins) - _run(off, bounds, times, origins)
    assert lift.mean() == pytest.approx(PROMO_EFFECT, abs=0.5)


def test_shape_targets_series_and_short_series_fallback():
    levels, bounds, times = _promo_panel(1)
    # Append a 6-row series: too short for the lags, it gets the last value repeated.
    short = np.array(
        [[7.0, 0.0, 0.0], [8.0, 1.0, 0.0], [9.0, 0.0, 0.0], [4.0, 0.0, 0.0], [5.0, 1.0, 0.0], [6.0, 0.0, 0.0]]
    )
    levels = np.vstack([levels, short])
    bounds = np.append(bounds, len(levels))
    times = np.append(times, times[:6])
    # Two targets: the second is twice the first.
    levels = np.column_stack([levels[:, 0], 2 * levels[:, 0], levels[:, 1:]])
    stops = np.append(bounds[:-2] + STOP, bounds[-2] + 2)
    origins = np.array([STOP, STOP + 5, 3 * ROWS + STOP, 7 * ROWS + 110, bounds[-2] + 2])
    out = _run(
        levels, bounds, times, origins, n_targets=2, fit_stops=stops, columns=FeatureColumns((3,), (2,))
    )
    assert out.shape == (len(origins), HORIZON, 2)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[-1], np.full((HORIZON, 2), [8.0, 16.0]))
    actual = levels[origins[:-1, None] + np.arange(HORIZON), 0]
    assert np.abs(out[:-1, :, 0] - actual).mean() < 1.0
    np.testing.assert_allclose(out[:-1, :, 1], 2 * out[:-1, :, 0], rtol=0.05)


def test_no_test_row_leaks_into_the_forecast_at_the_fit_stop(panel):
    levels, bounds, times = panel
    origins = bounds[:-1] + STOP
    base = _run(levels, bounds, times, origins, columns=FeatureColumns(past=(2,), known=(1,)))
    changed = levels.copy()
    rng = np.random.default_rng(5)
    for b in bounds[:-1]:
        # Test targets and past-only values at and after the fit stop: never to be seen.
        changed[b + STOP : b + ROWS, [0, 2]] += rng.normal(0, 100, (ROWS - STOP, 2))
    again = _run(changed, bounds, times, origins, columns=FeatureColumns(past=(2,), known=(1,)))
    np.testing.assert_array_equal(again, base)


def test_deterministic(panel):
    levels, bounds, times = panel
    origins = _test_origins(bounds)[::3]
    first = _run(levels, bounds, times, origins, columns=FeatureColumns(past=(2,), known=(1,)))
    np.testing.assert_array_equal(
        _run(levels, bounds, times, origins, columns=FeatureColumns((2,), (1,))), first
    )


def test_origin_before_the_fit_stop_is_refused(panel):
    levels, bounds, times = panel
    with pytest.raises(ValueError, match="fit stop"):
        _run(levels, bounds, times, np.array([STOP - 1]))


def test_target_lags_are_capped_and_keep_the_season():
    assert target_lags(7, 1) == [1, 2, 3, 4, 5, 6, 7]
    assert target_lags(3, 12) == [1, 2, 3, 12]
    assert target_lags(100, 12) == list(range(1, 25))
    assert target_lags(0, 1) == [1]
