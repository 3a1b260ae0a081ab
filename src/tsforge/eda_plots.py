"""The validate stage's EDA figures: series, distributions, autocorrelation, decomposition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tsforge.plotting import pyplot


def plot_eda(
    directory: Path, frame: pd.DataFrame, time_column: str, columns: tuple[str, ...], period: int
) -> list[Path]:
    """The EDA figures: series, distribution per column, autocorrelation, decomposition.

    Args:
        directory: Folder to write PNGs into (created).
        frame: Canonical frame (missing values allowed; they are interpolated for ACF and
            decomposition only).
        time_column: Time column name.
        columns: Targets then features.
        period: Seasonal period used for the decomposition.

    Returns:
        The PNG files written.
    """
    plt = pyplot()
    from statsmodels.graphics.tsaplots import plot_acf
    from statsmodels.tsa.seasonal import seasonal_decompose

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    target = frame[columns[0]].interpolate(limit_direction="both").to_numpy(dtype=np.float64)

    fig, axes = plt.subplots(len(columns), 1, figsize=(11, 2.6 * len(columns)), squeeze=False)
    for ax, column in zip(axes[:, 0], columns, strict=True):
        ax.plot(frame[time_column], frame[column], linewidth=0.8)
        ax.set_title(column)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    written.append(directory / "series.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)

    fig, axes = plt.subplots(len(columns), 2, figsize=(10, 2.8 * len(columns)), squeeze=False)
    for row, column in enumerate(columns):
        values = frame[column].dropna().to_numpy(dtype=np.float64)
        axes[row, 0].hist(values, bins=40)
        axes[row, 0].set_title(f"{column}: distribution")
        axes[row, 1].boxplot(values, vert=False, whis=1.5)
        axes[row, 1].set_title(f"{column}: box plot (whiskers 1.5 IQR)")
    fig.tight_layout()
    written.append(directory / "distribution.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 3.5))
    plot_acf(target, lags=min(len(target) // 3, max(3 * period, 40)), ax=ax)
    ax.axvline(period, color="C1", linestyle="--", label=f"period {period}")
    ax.legend()
    ax.set_title(f"{columns[0]}: autocorrelation")
    fig.tight_layout()
    written.append(directory / "acf.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)

    if period > 1 and len(target) >= 2 * period:
        # An int (points to extrapolate at each end) works across statsmodels versions; the
        # equivalent 'freq' is deprecated in 0.15 and renamed in 0.16.
        decomposition = seasonal_decompose(target, period=period, model="additive", extrapolate_trend=period)
        fig = decomposition.plot()
        fig.set_size_inches(10, 7)
        fig.tight_layout()
        written.append(directory / "decomposition.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)
    return written
