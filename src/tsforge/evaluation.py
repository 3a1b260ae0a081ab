"""Forecast accuracy in original units, baselines on the same windows, and plots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
    levels: np.ndarray, origins: np.ndarray, horizon: int, n_targets: int, period: int
) -> np.ndarray:
    """Repeat the last observed season: ŷ[t+h] = y[t+h − period·ceil((h+1)/period)].

    Reaches back before the input window when needed; never uses rows at or after the origin.
    """
    steps = np.arange(horizon)
    lag = period * np.ceil((steps + 1) / period).astype(int)
    index = origins[:, None] + steps[None, :] - lag[None, :]
    if (index < 0).any():
        raise ValueError(
            f"seasonal naive with period {period} needs {int(lag.max())} rows before the first origin"
        )
    return np.asarray(levels, dtype=np.float64)[index][:, :, :n_targets]


def per_step(actual: np.ndarray, forecast: np.ndarray, metric: Metric) -> list[float]:
    """``metric`` for each horizon step separately."""
    return [metric(actual[:, h], forecast[:, h]) for h in range(actual.shape[1])]


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
