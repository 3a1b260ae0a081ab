"""Statistics of one series or column: summary statistics, the ADF test, the seasonal period,
and how the spread grows with the level. What the EDA's recommendation is made of."""

from __future__ import annotations

import warnings
from typing import Any, cast

import numpy as np
import pandas as pd


def column_stats(values: pd.Series, iqr_factor: float) -> dict[str, float | int]:
    """Summary statistics of one column, missing values excluded.

    Args:
        values: The column.
        iqr_factor: Outliers lie beyond ``iqr_factor`` interquartile ranges from the quartiles.

    Returns:
        mean, std, min, max, skew, kurtosis, outlier_fraction and missing_count.
    """
    present = values.dropna().astype(np.float64)
    q25, q75 = np.percentile(present.to_numpy(), [25, 75]) if len(present) else (np.nan, np.nan)
    iqr = q75 - q25
    outliers = ((present < q25 - iqr_factor * iqr) | (present > q75 + iqr_factor * iqr)).sum()
    return {
        "mean": float(present.mean()),
        "std": float(present.std()),
        "min": float(present.min()),
        "max": float(present.max()),
        "skew": float(cast(float, present.skew())),
        "kurtosis": float(cast(float, present.kurt())),
        "outlier_fraction": float(outliers / len(present)) if len(present) else 0.0,
        "missing_count": int(values.isna().sum()),
    }


def adf_test(values: np.ndarray) -> dict[str, float | bool]:
    """Augmented Dickey-Fuller test for a unit root (non-stationarity).

    Returns:
        statistic, p_value and ``stationary`` (p < 0.05).
    """
    from statsmodels.tsa.stattools import adfuller

    if np.ptp(values) == 0:  # a constant series (say, a product that never sold) has no unit root
        return {"statistic": float("nan"), "p_value": float("nan"), "stationary": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        statistic, p_value, *_ = adfuller(values, autolag="AIC")
    return {"statistic": float(statistic), "p_value": float(p_value), "stationary": bool(p_value < 0.05)}


def seasonal_period(
    values: np.ndarray, max_lag: int | None = None, min_acf: float = 0.2, harmonic_tolerance: float = 0.8
) -> tuple[int, float]:
    """Dominant seasonal period from the autocorrelation of the detrended series.

    A quadratic trend is removed first; otherwise every lag of a trending series looks
    correlated. (Differencing instead would leave mostly noise on a smooth weekly
    series, and short lags would win.) The period is the shortest local ACF peak (lag >= 2) that reaches
    ``harmonic_tolerance`` of the strongest peak.

    Args:
        values: The series, without missing values.
        max_lag: Longest period considered (default: a third of the series, at most 400).
        min_acf: A peak weaker than this means "no seasonality" (period 1).
        harmonic_tolerance: Share of the strongest peak a shorter peak needs to be chosen.

    Returns:
        The period and its autocorrelation.
    """
    from statsmodels.tsa.stattools import acf

    steps = np.arange(len(values))
    residual = values - np.polyval(np.polyfit(steps, values, 2), steps)
    max_lag = max_lag or min(len(residual) // 3, 400)
    if max_lag < 3:
        return 1, 0.0
    corr = acf(residual, nlags=max_lag, fft=True)
    peaks = [lag for lag in range(2, max_lag) if corr[lag] > corr[lag - 1] and corr[lag] >= corr[lag + 1]]
    if not peaks:
        return 1, 0.0
    strongest = max(corr[lag] for lag in peaks)
    if strongest < min_acf:
        return 1, float(strongest)
    # Multiples of the true period peak almost as high (104 for a 52-week cycle); the
    # shortest peak close to the strongest is the period itself.
    best = next(lag for lag in peaks if corr[lag] >= harmonic_tolerance * strongest)
    return best, float(corr[best])


def level_spread_slope(values: np.ndarray, period: int) -> float:
    """How the spread of a series grows with its level: the slope of log(std) on log(mean)
    over consecutive blocks (one season long, at least 4 rows).

    About 0 means additive (the swings stay the same size as the level moves); about 1 means
    multiplicative (swings grow in proportion to the level), which a logarithm makes
    additive. NaN when fewer than three blocks with a positive mean and some spread exist.
    """
    size = max(int(period), 4)
    blocks = [values[i : i + size] for i in range(0, len(values) - size + 1, size)]
    stats = np.array([(b.mean(), b.std()) for b in blocks if b.mean() > 0 and b.std() > 0])
    if len(stats) < 3 or np.ptp(np.log(stats[:, 0])) < 1e-6:
        return float("nan")
    return float(np.polyfit(np.log(stats[:, 0]), np.log(stats[:, 1]), 1)[0])


def summarize(frame: pd.DataFrame, columns: tuple[str, ...], iqr_factor: float) -> dict[str, Any]:
    """``column_stats`` for each column."""
    return {c: column_stats(frame[c], iqr_factor) for c in columns}
