"""Forecast accuracy in original units: the error metrics (RMSE, MAE, MAPE, sMAPE, MASE),
the MASE scales, the true values of each window, and scores per series, per horizon step and
of prediction intervals."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], float]


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((actual - forecast) ** 2)))


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(actual - forecast)))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error, in percent; zero actuals are left out."""
    nonzero = np.abs(actual) > 1e-12
    if not nonzero.any():
        return float("nan")
    return float(100 * np.mean(np.abs((actual[nonzero] - forecast[nonzero]) / actual[nonzero])))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE, 200·|y−ŷ|/(|y|+|ŷ|), in percent; 0/0 counts as 0."""
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        np.abs(actual - forecast),
        denominator,
        out=np.zeros_like(denominator, dtype=float),
        where=denominator > 0,
    )
    return float(200 * np.mean(ratio))


def mase_scale(train: np.ndarray, period: int) -> float:
    """In-sample mean absolute error of the seasonal-naive forecast on the training split.

    Args:
        train: Training-split values of one target in original units.
        period: Seasonal period (1 for plain naive).

    Returns:
        The MASE denominator (NaN when the in-sample error is 0, a constant history, or
        undefined: fewer than two rows, as a padded short series may have).
    """
    if len(train) < 2:
        return float("nan")
    period = period if len(train) > period else 1
    scale = float(np.mean(np.abs(train[period:] - train[:-period])))
    return scale if scale > 0 else float("nan")


def mase_scales(
    levels: np.ndarray, starts: np.ndarray, test_starts: np.ndarray, period: int, n_targets: int
) -> np.ndarray:
    """MASE scale of every series and every target: :func:`mase_scale` on the series' rows
    before its test split, one target column at a time.

    Each target gets its own scale so that, with several targets, a target in large units
    does not dominate the score: :func:`mase` divides each target's errors by its own scale.

    Args:
        levels: Stacked series in original units, targets first.
        starts: First row of each series.
        test_starts: First test row of each series (same order).
        period: Seasonal period.
        n_targets: Target columns.

    Returns:
        Scales of shape (series, n_targets).
    """
    values = np.asarray(levels, dtype=np.float64)
    return np.array(
        [
            [mase_scale(values[int(a) : int(b), target], period) for target in range(n_targets)]
            for a, b in zip(starts, test_starts, strict=True)
        ],
        dtype=np.float64,
    ).reshape(len(starts), n_targets)


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float | np.ndarray) -> float:
    """Mean absolute scaled error: each target's errors divided by that target's scale.

    Args:
        actual: Actual values; the last axis is the target axis when ``scale`` is an array.
        forecast: Forecasts, same shape.
        scale: One scale for every value, or one per target (shape ``(targets,)``).

    Returns:
        The mean over targets of MAE / scale; targets whose scale is undefined (NaN: a
        constant history) are left out, NaN when none is defined.
    """
    errors = np.abs(np.asarray(actual, dtype=np.float64) - np.asarray(forecast, dtype=np.float64))
    scales = np.asarray(scale, dtype=np.float64)
    if scales.ndim == 0:
        return float(np.mean(errors) / scales)
    if scales.ndim != 1 or errors.shape[-1] != len(scales):
        raise ValueError(
            f"mase: {scales.shape} scales for values of shape {errors.shape}; give one scale or one "
            "per target (the last axis)"
        )
    per_target = errors.reshape(-1, len(scales)).mean(axis=0) / scales
    defined = np.isfinite(per_target)
    return float(per_target[defined].mean()) if defined.any() else float("nan")


def score(actual: np.ndarray, forecast: np.ndarray, scale: float | np.ndarray) -> dict[str, float]:
    """RMSE, MAE, MAPE, sMAPE and MASE of ``forecast`` against ``actual``.

    ``scale`` is one MASE scale or one per target (the last axis of ``actual``), see :func:`mase`.
    """
    return {
        "rmse": rmse(actual, forecast),
        "mae": mae(actual, forecast),
        "mape": mape(actual, forecast),
        "smape": smape(actual, forecast),
        "mase": mase(actual, forecast, scale),
    }


def actuals(levels: np.ndarray, origins: np.ndarray, horizon: int, n_targets: int) -> np.ndarray:
    """True target values for each window: shape (n, horizon, targets)."""
    index = origins[:, None] + np.arange(horizon)[None, :]
    return np.asarray(levels, dtype=np.float64)[index][:, :, :n_targets]


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def score_series(
    actual: np.ndarray, forecast: np.ndarray, series: np.ndarray, scales: np.ndarray
) -> dict[str, float]:
    """Every metric of :func:`score` per series, then averaged over series.

    This is how forecasting competitions (M3, M4) report: each series counts once,
    whatever its number of test windows. With one series it is :func:`score`.

    Every series is scored at once: the windows are sorted by series once (a stable sort,
    so each series keeps its windows in their order) and each metric's sums are taken per
    series with ``np.add.reduceat``; the values are :func:`score`'s on each series' windows
    (up to the order of floating-point additions).

    Args:
        actual: Actual values, first axis one row per window.
        forecast: Forecasts, same shape.
        series: Series index of each window.
        scales: MASE scale of each series (indexed by ``series``): one per series, or one
            per series and target, shape (series, targets), as :func:`mase_scales` gives.

    Returns:
        Metric name -> mean over series (series where a metric is undefined are left out;
        NaN when there are no windows).
    """
    scales = np.asarray(scales, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    forecast = np.asarray(forecast, dtype=np.float64)
    if scales.ndim > 1 and (actual.ndim < 2 or actual.shape[-1] != scales.shape[1]):
        raise ValueError(
            f"mase: {scales.shape[1:]} scales per series for values of shape {actual.shape}; give one "
            "scale per series or one per series and target (the last axis)"
        )
    ids, inverse = np.unique(np.asarray(series), return_inverse=True)
    if len(ids) == 0:
        return dict.fromkeys(("rmse", "mae", "mape", "smape", "mase"), float("nan"))
    order = np.argsort(inverse.ravel(), kind="stable")
    windows = np.bincount(inverse.ravel(), minlength=len(ids))
    firsts = np.concatenate([[0], np.cumsum(windows)[:-1]])
    targets = scales.shape[1] if scales.ndim > 1 else 1
    # One row per window, its values flattened (steps × targets), windows grouped by series.
    a = actual[order].reshape(len(order), -1)
    f = forecast[order].reshape(len(order), -1)
    values = windows * a.shape[1]

    def total(x: np.ndarray) -> np.ndarray:
        """Sum over each series' windows of each window's sum."""
        return np.add.reduceat(x.sum(axis=1), firsts)

    errors = np.abs(a - f)
    nonzero = np.abs(a) > 1e-12
    relative = np.divide(errors, np.abs(a), out=np.zeros_like(errors), where=nonzero)
    denominator = np.abs(a) + np.abs(f)
    ratio = np.divide(errors, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    counted = total(nonzero.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        per_series = {
            "rmse": np.sqrt(total((a - f) ** 2) / values),
            "mae": total(errors) / values,
            "mape": np.where(counted > 0, 100 * (total(relative) / np.maximum(counted, 1)), np.nan),
            "smape": 200 * (total(ratio) / values),
            "mase": _mase_per_series(errors, firsts, windows, scales[ids], targets),
        }
    return {name: _mean(list(values_)) for name, values_ in per_series.items()}


def _mase_per_series(
    errors: np.ndarray, firsts: np.ndarray, windows: np.ndarray, scales: np.ndarray, targets: int
) -> np.ndarray:
    """:func:`mase` of every series from its windows' absolute errors (grouped, flattened).

    Args:
        errors: Absolute errors, one row per window, grouped by series.
        firsts: First row of each series' group.
        windows: Windows of each series.
        scales: Each series' scale, or scales (series, targets).
        targets: Targets (the last axis of each window's values).
    """
    if scales.ndim == 1:
        return np.add.reduceat(errors.sum(axis=1), firsts) / (windows * errors.shape[1]) / scales
    by_target = errors.reshape(len(errors), -1, targets).sum(axis=1)
    per_target = np.add.reduceat(by_target, firsts, axis=0) / (windows * errors.shape[1] // targets)[:, None]
    per_target = per_target / scales
    defined = np.isfinite(per_target)
    sums = np.where(defined, per_target, 0.0).sum(axis=1)
    count = defined.sum(axis=1)
    return np.where(count > 0, sums / np.maximum(count, 1), np.nan)


def per_step(actual: np.ndarray, forecast: np.ndarray, metric: Metric) -> list[float]:
    """``metric`` for each horizon step separately."""
    return [metric(actual[:, h], forecast[:, h]) for h in range(actual.shape[1])]


def score_per_step(
    actual: np.ndarray, forecast: np.ndarray, series: np.ndarray, scales: np.ndarray
) -> dict[str, list[float]]:
    """Every metric of :func:`score_series`, for each horizon step."""
    steps = [score_series(actual[:, h], forecast[:, h], series, scales) for h in range(actual.shape[1])]
    return {name: [step[name] for step in steps] for name in steps[0]}


def interval_coverage(actual: np.ndarray, samples: np.ndarray, level: float) -> dict[str, float]:
    """Empirical coverage and mean width of central ``level`` intervals from forecast samples.

    Args:
        actual: Actual values (n, horizon, targets).
        samples: Forecast samples (samples, n, horizon, targets).
        level: Nominal coverage, e.g. 0.9.

    Returns:
        ``level``, ``coverage`` (share of actuals inside) and ``mean_width``.
    """
    low, high = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    inside = (actual >= low) & (actual <= high)
    return {"level": level, "coverage": float(inside.mean()), "mean_width": float((high - low).mean())}
