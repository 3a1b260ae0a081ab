"""The preprocessing the data calls for, each choice with its reason: scaler, differencing and
transform from one series' statistics, or a majority vote over the series of a panel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tsforge.scaling import Split
from tsforge.series_statistics import adf_test, column_stats, level_spread_slope, seasonal_period

LEVEL_MOVES = 1.3
"""Ratio of the highest to the lowest season-long mean from which the level counts as
moving by a real factor (and a logarithm changes what the network sees)."""


def recommend_transform(train: np.ndarray, period: int, lowest: float | None = None) -> tuple[str, str]:
    """Choose none, log or log1p for the targets, with the reason in words.

    A logarithm measures change as a ratio. That suits a level that moves by a real factor
    over the history: a move of 10 units means something else at 20 than at 2,000, swings
    often grow with the level, and window-relative inputs become growth rates that compare
    across series and across time. When the level stays within 30% a logarithm is nearly
    linear and changes nothing, so none is kept. log needs every value above 0, log1p
    every value at or above 0 (counts, sales with zero days); negative values leave none.

    Args:
        train: The target's training rows (missing values filled).
        period: The seasonal period (block length for the level's range and the spread test).
        lowest: The lowest value of the whole series (default: of ``train``); later rows
            must be in the transform's domain too.

    Returns:
        The transform and its reason.
    """
    values = np.asarray(train, dtype=np.float64)
    low = float(values.min()) if lowest is None else min(float(lowest), float(values.min()))
    if low < 0:
        return "none", f"negative values (minimum {low:.4g}): logarithms are undefined"
    slope = level_spread_slope(values, period)
    size = max(int(period), 4)
    means = [values[i : i + size].mean() for i in range(0, len(values) - size + 1, size)] or [values.mean()]
    positive_means = [m for m in means if m > 0]
    ratio = max(positive_means) / min(positive_means) if len(positive_means) >= 2 else 1.0
    evidence = f"the level moves by a factor {ratio:.2f} (level-spread slope {slope:.2f})"
    if ratio < LEVEL_MOVES:
        return "none", f"{evidence}: within {LEVEL_MOVES - 1:.0%} a logarithm is nearly linear"
    if low == 0:
        return "log1p", f"{evidence}: change is relative; zeros present, so log1p (defined at 0)"
    return "log", f"{evidence}: change is relative, and every value > 0"


@dataclass(frozen=True)
class Recommendation:
    """The preprocessing the data calls for, with the reasons in words."""

    scaler: str
    scaler_reason: str
    difference: bool
    difference_reason: str
    season_period: int
    min_input_size: int
    transform: str = "none"
    transform_reason: str = ""


def recommend(
    target: np.ndarray,
    split: Split,
    stats: dict[str, float | int],
    adf: dict[str, float | bool],
    *,
    period: int,
    robust_outlier_fraction: float,
) -> Recommendation:
    """Choose scaler and differencing from the statistics.

    Differencing is recommended when the ADF test finds a unit root, or when the later
    splits leave the training split's range: a recurrent network fed scaled levels cannot
    forecast values above anything it was trained on.

    Args:
        target: The (filled) target series.
        split: Where the chronological splits fall.
        stats: ``column_stats`` of the target.
        adf: ``adf_test`` of the target.
        period: Dominant seasonal period.
        robust_outlier_fraction: Outlier share above which the robust scaler is chosen.

    Returns:
        The recommendation.
    """
    outliers = float(stats["outlier_fraction"])
    if outliers > robust_outlier_fraction:
        scaler = "robust"
        scaler_reason = (
            f"{outliers:.1%} of values are IQR outliers (> {robust_outlier_fraction:.1%}): "
            "median/IQR scaling keeps them from squashing the rest"
        )
    else:
        scaler = "standard"
        scaler_reason = (
            f"{outliers:.1%} of values are IQR outliers (<= {robust_outlier_fraction:.1%}): "
            "mean/std scaling is safe"
        )
    train_stop = split.train[1] if split.train[1] - split.train[0] >= 2 else split.test[0]
    # A short series of a panel may lack training rows: judge it on every row before its test.
    train = target[split.train[0] : train_stop]
    later = target[train_stop:]
    lo, hi = float(np.nanmin(train)), float(np.nanmax(train))
    outside = float(np.mean((later < lo) | (later > hi))) if len(later) else 0.0
    reasons = []
    if not adf["stationary"]:
        reasons.append(f"ADF p-value {float(adf['p_value']):.3f} >= 0.05 (unit root, trend)")
    if outside > 0.05:
        reasons.append(
            f"{outside:.0%} of validation/test values lie outside the training range [{lo:.4g}, {hi:.4g}]"
        )
    difference = bool(reasons)
    difference_reason = (
        "; ".join(reasons)
        if reasons
        else f"ADF p-value {float(adf['p_value']):.3f} < 0.05 and later values stay within the training range"
    )
    transform, transform_reason = recommend_transform(
        train[np.isfinite(train)], period, float(np.nanmin(target))
    )
    return Recommendation(
        scaler,
        scaler_reason,
        difference,
        difference_reason,
        period,
        max(period, 2),
        transform,
        transform_reason,
    )


def recommend_panel(
    target: np.ndarray,
    splits: np.ndarray,
    bounds: np.ndarray,
    names: tuple[str, ...],
    *,
    iqr_factor: float,
    robust_outlier_fraction: float,
) -> tuple[Recommendation, dict[str, Any]]:
    """Per-series EDA and a majority vote, for a global model over many series.

    Each series gets its own ADF test, seasonal period and range check (pooled statistics
    would mix series of different levels); the scaler and differencing the majority of
    series call for become the recommendation, and the period is the most common one among
    the seasonal series when at least half of them are seasonal.

    Args:
        target: The (filled) first target of every series, stacked.
        splits: Absolute split rows, shape (series, 3, 2).
        bounds: Row boundaries of the series.
        names: Series names.
        iqr_factor: IQR multiple that defines an outlier.
        robust_outlier_fraction: Outlier share above which a series calls for the robust scaler.

    Returns:
        The recommendation and a JSON-ready summary of the per-series results.
    """
    votes: list[Recommendation] = []
    p_values: list[float] = []
    for i in range(len(names)):
        start, stop = int(bounds[i]), int(bounds[i + 1])
        series = target[start:stop]
        split = Split(*(tuple(int(v) - start for v in rows) for rows in splits[i]))  # type: ignore[arg-type]
        adf = adf_test(series)
        period, _ = seasonal_period(series)
        stats = column_stats(pd.Series(series), iqr_factor)
        votes.append(
            recommend(
                series, split, stats, adf, period=period, robust_outlier_fraction=robust_outlier_fraction
            )
        )
        p_values.append(float(adf["p_value"]))
    n = len(votes)
    robust = sum(v.scaler == "robust" for v in votes)
    differenced = sum(v.difference for v in votes)
    periods = pd.Series([v.season_period for v in votes]).value_counts()
    # Seasonal or not is one vote; which period, a second vote among the seasonal series
    # (short noisy series often show no clear peak, which must not outvote a shared 12).
    seasonal = periods.drop(index=1, errors="ignore")
    period = int(seasonal.index[0]) if seasonal.sum() * 2 >= n and len(seasonal) else 1
    scaler = "robust" if robust * 2 > n else "standard"
    difference = differenced * 2 > n
    transform, transform_reason = _transform_vote(votes, target)
    advice = Recommendation(
        scaler=scaler,
        scaler_reason=f"{robust} of {n} series call for the robust scaler (IQR outliers above "
        f"{robust_outlier_fraction:.1%}); the majority decides: {scaler}",
        difference=difference,
        difference_reason=f"{differenced} of {n} series call for differencing (ADF unit root or later "
        f"values outside the training range); the majority decides: {str(difference).lower()}",
        season_period=period,
        min_input_size=max(period, 2),
        transform=transform,
        transform_reason=transform_reason,
    )
    summary = {
        "series": n,
        "median_adf_p_value": float(np.median(p_values)),
        "non_stationary_series": int(sum(p >= 0.05 for p in p_values)),
        "season_period_votes": {str(k): int(v) for k, v in periods.head(5).items()},
    }
    return advice, summary


def _transform_vote(votes: list[Recommendation], target: np.ndarray) -> tuple[str, str]:
    """The transform for a panel: what the data's sign allows, then the majority of series.

    One global model takes one transform, so a single series with negative values rules
    out logarithms, and a single zero rules out plain log.
    """
    n = len(votes)
    low = float(np.nanmin(target)) if len(target) else 0.0
    if low < 0:
        return "none", f"some series have negative values (minimum {low:.4g}): logarithms are undefined"
    wanting = sum(v.transform != "none" for v in votes)
    if wanting * 2 <= n:
        return (
            "none",
            f"{wanting} of {n} series have a level that moves by {LEVEL_MOVES - 1:.0%} or more; "
            "the majority decides: none",
        )
    chosen = "log1p" if low == 0 else "log"
    why = "zeros present, so log1p" if low == 0 else "every value > 0"
    return chosen, f"{wanting} of {n} series have a level that moves by a real factor (the majority); {why}"
