"""Forecast accuracy in original units, baselines on the same windows, and plots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
        train: Training-split target values in original units.
        period: Seasonal period (1 for plain naive).

    Returns:
        The MASE denominator.
    """
    period = period if len(train) > period else 1
    scale = float(np.mean(np.abs(train[period:] - train[:-period])))
    return scale if scale > 0 else float("nan")


def score(actual: np.ndarray, forecast: np.ndarray, scale: float) -> dict[str, float]:
    """RMSE, MAE, MAPE, sMAPE and MASE of ``forecast`` against ``actual``."""
    return {
        "rmse": rmse(actual, forecast),
        "mae": mae(actual, forecast),
        "mape": mape(actual, forecast),
        "smape": smape(actual, forecast),
        "mase": mae(actual, forecast) / scale,
    }


def actuals(levels: np.ndarray, origins: np.ndarray, horizon: int, n_targets: int) -> np.ndarray:
    """True target values for each window: shape (n, horizon, targets)."""
    index = origins[:, None] + np.arange(horizon)[None, :]
    return np.asarray(levels, dtype=np.float64)[index][:, :, :n_targets]


def naive(levels: np.ndarray, origins: np.ndarray, horizon: int, n_targets: int) -> np.ndarray:
    """Repeat the last observed value over the horizon."""
    last = np.asarray(levels, dtype=np.float64)[origins - 1, :n_targets]
    return np.repeat(last[:, None, :], horizon, axis=1)


def seasonal_naive(
    levels: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    n_targets: int,
    period: int,
    *,
    starts: np.ndarray | None = None,
) -> np.ndarray:
    """Repeat the last observed season: ŷ[t+h] = y[t+h − period·ceil((h+1)/period)].

    Reaches back before the input window when needed; never uses rows at or after the
    origin, nor rows before the first row of the origin's series (``starts``, default 0).
    """
    steps = np.arange(horizon)
    lag = period * np.ceil((steps + 1) / period).astype(int)
    index = origins[:, None] + steps[None, :] - lag[None, :]
    first = np.zeros(len(origins), dtype=np.int64) if starts is None else np.asarray(starts)
    if (index < first[:, None]).any():
        raise ValueError(
            f"seasonal naive with period {period} needs {int(lag.max())} rows before the first origin"
        )
    return np.asarray(levels, dtype=np.float64)[index][:, :, :n_targets]


def seasonal_naive_drift(
    levels: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    n_targets: int,
    *,
    period: int,
    input_size: int,
    starts: np.ndarray | None = None,
) -> np.ndarray:
    """Seasonal naive shifted by the trend: the mean step change over the input window,
    times how far back the seasonal value lies.

    On a trending series (CO2) plain seasonal naive lags a whole season of growth behind;
    this is the bar a model has to clear there.
    """
    values = np.asarray(levels, dtype=np.float64)
    steps = np.arange(horizon)
    lag = period * np.ceil((steps + 1) / period).astype(int)
    span = max(input_size - 1, 1)
    drift = (values[origins - 1, :n_targets] - values[origins - 1 - span, :n_targets]) / span
    base = seasonal_naive(levels, origins, horizon, n_targets, period, starts=starts)
    return base + drift[:, None, :] * lag[None, :, None]


def theta(
    levels: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    n_targets: int,
    *,
    period: int,
    history: int,
    starts: np.ndarray | None = None,
) -> np.ndarray:
    """statsmodels' Theta method, refitted at every origin on the ``history`` rows before it.

    Seasonal adjustment is the classical one (multiplicative when every value is positive,
    statsmodels' ``auto``), as in the M3 competition's Theta.

    Args:
        levels: Series in original units.
        origins: Forecast origins.
        horizon: Steps ahead.
        n_targets: Target columns (the first columns of ``levels``).
        period: Seasonal period (deseasonalised when at least two periods fit in ``history``).
        history: Rows of history each fit uses.
        starts: First row of each origin's series; a fit never reaches before it.

    Returns:
        Forecasts of shape (len(origins), horizon, n_targets).
    """
    import warnings

    from statsmodels.tsa.forecasting.theta import ThetaModel

    values = np.asarray(levels, dtype=np.float64)
    out = np.empty((len(origins), horizon, n_targets))
    first = np.zeros(len(origins), dtype=np.int64) if starts is None else np.asarray(starts)
    for i, origin in enumerate(origins):
        start = max(int(first[i]), int(origin) - history)
        for target in range(n_targets):
            past = values[start:origin, target]
            seasonal = period > 1 and len(past) >= 2 * period
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fitted = ThetaModel(
                    past, period=period if seasonal else None, deseasonalize=seasonal, method="auto"
                ).fit()
                out[i, :, target] = np.asarray(fitted.forecast(horizon))
    return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def score_series(
    actual: np.ndarray, forecast: np.ndarray, series: np.ndarray, scales: np.ndarray
) -> dict[str, float]:
    """Every metric of :func:`score` per series, then averaged over series.

    This is how forecasting competitions (M3, M4) report: each series counts once,
    whatever its number of test windows. With one series it is :func:`score`.

    Args:
        actual: Actual values, first axis one row per window.
        forecast: Forecasts, same shape.
        series: Series index of each window.
        scales: MASE scale of each series (indexed by ``series``).

    Returns:
        Metric name -> mean over series (series where a metric is undefined are left out).
    """
    per = [score(actual[series == i], forecast[series == i], float(scales[i])) for i in np.unique(series)]
    return {name: _mean([p[name] for p in per]) for name in per[0]}


def per_step(actual: np.ndarray, forecast: np.ndarray, metric: Metric) -> list[float]:
    """``metric`` for each horizon step separately."""
    return [metric(actual[:, h], forecast[:, h]) for h in range(actual.shape[1])]


def score_per_step(
    actual: np.ndarray, forecast: np.ndarray, series: np.ndarray, scales: np.ndarray
) -> dict[str, list[float]]:
    """Every metric of :func:`score_series`, for each horizon step."""
    steps = [score_series(actual[:, h], forecast[:, h], series, scales) for h in range(actual.shape[1])]
    return {name: [step[name] for step in steps] for name in steps[0]}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_residuals(path: Path, times: np.ndarray, residuals: np.ndarray, title: str) -> None:
    """Residuals (actual − forecast) of the one-step-ahead path over time."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 3.5))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.plot(times, residuals, linewidth=0.9)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_per_step(path: Path, errors: dict[str, list[float]], metric: str) -> None:
    """Error of each forecaster at each horizon step."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in errors.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
    ax.set_xlabel("horizon step")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per horizon step (test split)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_forecasts(
    path: Path,
    times: np.ndarray,
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    title: str,
) -> None:
    """Line plot of the one-step-ahead path of each forecast against the actual series.

    Args:
        path: PNG to write.
        times: Timestamp of each point.
        actual: Actual values, one per point.
        forecasts: Name -> forecast values, one per point.
        title: Plot title.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(times, actual, color="black", linewidth=1.6, label="actual")
    for name, values in forecasts.items():
        ax.plot(times, values, linewidth=1.0, label=name, alpha=0.85)
    ax.set_title(title)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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


def baselines(
    levels: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    n_targets: int,
    *,
    period: int,
    input_size: int,
    starts: np.ndarray | None = None,
    theta_history: int | None = None,
) -> dict[str, np.ndarray]:
    """Every baseline on the same windows: naive, seasonal naive, with drift, and Theta.

    Theta is refitted per origin on the last ``theta_history`` rows of the origin's series
    (default ``max(3·period, input_size, 30)``; competitions fit on the whole history).
    """
    history = theta_history or max(3 * period, input_size, 30)
    return {
        "naive": naive(levels, origins, horizon, n_targets),
        "seasonal_naive": seasonal_naive(levels, origins, horizon, n_targets, period, starts=starts),
        "seasonal_naive_drift": seasonal_naive_drift(
            levels, origins, horizon, n_targets, period=period, input_size=input_size, starts=starts
        ),
        "theta": theta(levels, origins, horizon, n_targets, period=period, history=history, starts=starts),
    }


def write_reports(
    directory: Path,
    times: np.ndarray,
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    *,
    per_step_errors: dict[str, dict[str, list[float]]],
    title: str,
) -> list[Path]:
    """Write the DVC plot data (CSV) and the PNG plots for the first target.

    Args:
        directory: reports/ folder.
        times: Timestamp of each window's first forecast step.
        actual: Actual values (n, horizon, targets).
        forecasts: Name -> forecasts (n, horizon, targets); must include ``model``.
        per_step_errors: Name -> metric -> value per horizon step.
        title: Title of the forecast plot.

    Returns:
        The PNG files written.
    """
    path = pd.DataFrame(
        {
            "time": pd.to_datetime(times),
            "actual": actual[:, 0, 0],
            **{k: f[:, 0, 0] for k, f in forecasts.items()},
        }
    )
    path["residual"] = path["actual"] - path["model"]
    path.to_csv(directory / "forecast.csv", index=False)
    steps = pd.DataFrame({"step": range(1, actual.shape[1] + 1)})
    for name, errors in per_step_errors.items():
        steps[name] = errors["mae"]
    steps.to_csv(directory / "per_step.csv", index=False)
    pngs = [directory / "forecast.png", directory / "residuals.png", directory / "per_step.png"]
    times_np = path["time"].to_numpy()
    plot_forecasts(
        pngs[0], times_np, path["actual"].to_numpy(), {k: path[k].to_numpy() for k in forecasts}, title
    )
    plot_residuals(
        pngs[1], times_np, path["residual"].to_numpy(), "model residuals, one step ahead (actual − forecast)"
    )
    plot_per_step(pngs[2], {k: v["mae"] for k, v in per_step_errors.items()}, "mae")
    return pngs
