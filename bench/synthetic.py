"""Synthetic monthly panels for the scaling benchmark (`python -m bench.run scaling`).

Every series is level x trend x season x noise on a log scale, so values are positive:
a period-12 seasonal profile, a linear trend, Gaussian noise, and a length drawn between
``rows // 2`` and ``rows``. All series end on the same month (their starts differ), like a
catalogue whose items were listed at different times. Built with whole-array numpy, no
Python loop over series: 50,000 x 200 rows take a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PERIOD = 12
END = pd.Timestamp("2025-12-01")


def panel(n_series: int, rows: int, seed: int = 0) -> pd.DataFrame:
    """A long-format panel of ``n_series`` monthly series, reproducible by ``seed``.

    Args:
        n_series: Number of series.
        rows: Longest series' length; each series has between ``rows // 2`` and ``rows`` rows.
        seed: Seed of numpy's default generator: the same seed gives the same frame.

    Returns:
        Columns ``series`` (str, ``s00000``...), ``date`` (month starts, every series ending
        on the same month) and ``value`` (float64, > 0), sorted by series then date.
    """
    if n_series < 1 or rows < 2:
        raise ValueError(f"need n_series >= 1 and rows >= 2, got {n_series} and {rows}")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(rows // 2, rows + 1, size=n_series)
    level = rng.uniform(np.log(10.0), np.log(10_000.0), size=n_series)
    slope = rng.normal(0.0, 0.004, size=n_series)  # log growth per month: about ±5% a year
    amplitude = rng.uniform(0.05, 0.3, size=n_series)
    phase = rng.uniform(0.0, 2 * np.pi, size=n_series)
    noise_sd = rng.uniform(0.01, 0.08, size=n_series)

    series_index = np.repeat(np.arange(n_series), lengths)
    # Position inside each series: 0..length-1, the last row of every series at END.
    starts = np.cumsum(lengths) - lengths
    t = np.arange(series_index.size) - np.repeat(starts, lengths)
    months_before_end = np.repeat(lengths, lengths) - 1 - t
    # The season follows the calendar month, so every series shares the same months' phase.
    month = (END.month - 1 - months_before_end) % PERIOD
    log_value = (
        level[series_index]
        + slope[series_index] * t
        + amplitude[series_index] * np.sin(2 * np.pi * month / PERIOD + phase[series_index])
        + noise_sd[series_index] * rng.standard_normal(series_index.size)
    )
    end_period = END.to_period("M").ordinal
    dates = pd.PeriodIndex.from_ordinals(end_period - months_before_end, freq="M").to_timestamp()
    names = np.char.add("s", np.char.zfill(np.arange(n_series).astype(str), 5))
    return pd.DataFrame(
        {
            "series": pd.Categorical(names[series_index], categories=names).astype(str),
            "date": dates,
            "value": np.exp(log_value),
        }
    )


def write(path: Path, n_series: int, rows: int, seed: int = 0) -> Path:
    """Write :func:`panel` to ``path`` as Parquet (for ``data.source: file``) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    panel(n_series, rows, seed).to_parquet(path, index=False)
    return path
