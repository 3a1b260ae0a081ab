"""The evaluate stage's reports: the DVC plot data (CSV) and the PNG plots of the forecasts,
the residuals and the error per horizon step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tsforge.plotting import pyplot


def plot_residuals(path: Path, times: np.ndarray, residuals: np.ndarray, title: str) -> None:
    """Residuals (actual − forecast) of the one-step-ahead path over time."""
    plt = pyplot()
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
    plt = pyplot()
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
    plt = pyplot()
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
