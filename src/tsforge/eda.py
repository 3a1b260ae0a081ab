"""Exploratory statistics that decide preprocessing, each decision with its reason."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from tsforge.panel import Layout, splits
from tsforge.plotting import pyplot
from tsforge.scaling import Split, fill_missing, series_split


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


def summarize(frame: pd.DataFrame, columns: tuple[str, ...], iqr_factor: float) -> dict[str, Any]:
    """``column_stats`` for each column."""
    return {c: column_stats(frame[c], iqr_factor) for c in columns}


MIN_PAIRS = 3
"""Fewest (feature, target) pairs a series needs for its correlation to count: two points
always correlate perfectly."""

CONSTANT_TOLERANCE = 1e-8
"""Standard deviation, relative to the mean, under which a series counts as constant: the
rounding of its mean leaves a tiny spread that would otherwise give an arbitrary correlation
(the summation error stays far below this even for a million rows)."""


def _series_codes(frame: pd.DataFrame, series_id: str | None) -> np.ndarray:
    """The series of every row as an integer code (0 for a single series; -1 for a missing id)."""
    if series_id is None:
        return np.zeros(len(frame), dtype=np.int64)
    return np.asarray(pd.factorize(frame[series_id], sort=False)[0], dtype=np.int64)


def within_series_correlation(x: np.ndarray, y: np.ndarray, codes: np.ndarray) -> tuple[float | None, int]:
    """Pearson correlation of ``x`` and ``y`` within each series, averaged over the series.

    Each series is centred on its own means, so a level that differs between series creates
    no correlation. A series' correlation counts with its number of pairs as weight; a series
    with fewer than :data:`MIN_PAIRS` pairs, or constant in ``x`` or ``y``, has none and is left
    out. The per-series sums come from ``np.bincount`` over the codes: no loop over series.

    Args:
        x: The feature, one value a row (missing values allowed).
        y: The target paired with it, one value a row (missing values allowed).
        codes: The series of every row (:func:`_series_codes`); negative codes are ignored.

    Returns:
        The averaged correlation (None when no series defines one) and the series it used.
    """
    ok = np.isfinite(x) & np.isfinite(y) & (codes >= 0)
    groups, xs, ys = codes[ok], x[ok], y[ok]
    if not len(groups):
        return None, 0
    k = int(groups.max()) + 1
    n = np.bincount(groups, minlength=k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Two passes (means, then centred sums) rather than raw sums of squares: a large
        # level with a small spread (CO2 ppm) would lose the spread to cancellation.
        mean_x = np.bincount(groups, xs, k) / n
        mean_y = np.bincount(groups, ys, k) / n
        dx, dy = xs - mean_x[groups], ys - mean_y[groups]
        sxx = np.bincount(groups, dx * dx, k)
        syy = np.bincount(groups, dy * dy, k)
        sxy = np.bincount(groups, dx * dy, k)
        varies_x = sxx > n * (CONSTANT_TOLERANCE * mean_x) ** 2
        varies_y = syy > n * (CONSTANT_TOLERANCE * mean_y) ** 2
        used = (n >= MIN_PAIRS) & varies_x & varies_y
        if not used.any():
            return None, 0
        r = np.clip(sxy[used] / np.sqrt(sxx[used] * syy[used]), -1.0, 1.0)
    return float(np.sum(r * n[used]) / np.sum(n[used])), int(used.sum())


def feature_correlations(
    frame: pd.DataFrame,
    target: str,
    past: tuple[str, ...],
    future: tuple[str, ...],
    *,
    horizon: int,
    series_id: str | None = None,
) -> dict[str, Any]:
    """How much each numeric feature tells about the target ``horizon`` steps ahead.

    Correlations are taken within each series (:func:`within_series_correlation`), over the
    whole snapshot like the column statistics. A past-only feature is known only up to the
    forecast origin, so what counts is corr(feature[t], target[t + horizon]). A known-future
    feature is given for the forecast step itself, so its ``correlation`` pairs the same time
    step; its ``lagged_correlation`` (the value at the origin) is there for comparison.

    Args:
        frame: The canonical snapshot, sorted by series then time.
        target: The target column.
        past: Past-only features (``data.features``).
        future: Known-future features (``data.future_features``).
        horizon: Forecast horizon in rows (``window.horizon``).
        series_id: The series column of a panel, or None for one series.

    Returns:
        ``{"horizon", "target", "features": {column: {"kind", "correlation", "series"[,
        "lagged_correlation"]}}, "summary"}``; a correlation is None where no series defines
        it (a constant column), and ``summary`` lists "column (kind): +0.41" lines, strongest
        first.
    """
    codes = _series_codes(frame, series_id)
    # na_value: nullable integer columns (Int64 with pd.NA) convert too.
    y = frame[target].to_numpy(dtype=np.float64, na_value=np.nan)
    # Shifting within each series keeps one series' last rows from pairing with the next's first.
    y_ahead = pd.Series(y).groupby(codes, sort=False).shift(-horizon).to_numpy()
    features: dict[str, dict[str, Any]] = {}
    for kind, columns in (("past", past), ("future", future)):
        for column in columns:
            if not pd.api.types.is_numeric_dtype(frame[column]):
                continue  # text has no Pearson correlation; the contract reports its type
            x = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
            lagged, lagged_series = within_series_correlation(x, y_ahead, codes)
            if kind == "past":
                features[column] = {"kind": kind, "correlation": lagged, "series": lagged_series}
                continue
            # corr(x[t + h], y[t + h]) over every origin t is the same-row correlation, here
            # over every row (the first h rows of a series add pairs, not bias).
            same, same_series = within_series_correlation(x, y, codes)
            features[column] = {
                "kind": kind,
                "correlation": same,
                "series": same_series,
                "lagged_correlation": lagged,
            }
    ranked = sorted(
        features.items(),
        key=lambda item: -1.0 if item[1]["correlation"] is None else abs(item[1]["correlation"]),
        reverse=True,
    )
    summary = [
        f"{column} ({info['kind']}): "
        + ("undefined (constant)" if info["correlation"] is None else f"{info['correlation']:+.2f}")
        for column, info in ranked
    ]
    return {"horizon": int(horizon), "target": target, "features": features, "summary": summary}


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


@dataclass(frozen=True)
class TrendTreatment:
    """How the model sees a trend: window-relative levels, differences, or neither."""

    normalize: str
    normalize_reason: str
    difference: bool
    difference_reason: str


def choose_trend_treatment(normalize: str, difference: str, trend: bool, trend_reason: str) -> TrendTreatment:
    """Resolve ``window.normalize`` and ``scale.difference`` (each auto or explicit).

    A trend (the EDA's unit root or range finding) is treated once: by default with
    window-relative levels (``normalize: last``), which forecast every horizon step from where
    the series stands, rather than with one-step differences, whose errors add up over the
    horizon when they are summed back into levels (M3 monthly through the pipeline: sMAPE
    18.03 with differences, 14.22 window-relative). An explicit setting always wins, and
    ``difference: auto`` still differences a trend when windows are not normalised.

    Args:
        normalize: ``window.normalize``: auto, none or last.
        difference: ``scale.difference``: auto, true or false.
        trend: Whether the EDA found a trend that needs treatment.
        trend_reason: The EDA's reason, in words.

    Returns:
        The resolved choices, each with its reason.
    """
    if normalize == "auto":
        chosen = "last" if trend else "none"
        normalize_reason = (
            f"auto: {trend_reason}, so inputs and targets are taken relative to each window's last value"
            if trend
            else f"auto: no trend to remove ({trend_reason})"
        )
    else:
        chosen, normalize_reason = normalize, "set in params.yaml"
    if str(difference).lower() == "auto":
        differenced = trend and chosen == "none"
        difference_reason = (
            f"auto: {trend_reason}"
            if differenced
            else f"auto: {'the trend is handled by window-relative levels' if trend else trend_reason}"
        )
    else:
        differenced = str(difference).lower() == "true"
        difference_reason = f"set in params.yaml (EDA: {trend_reason})"
    return TrendTreatment(chosen, normalize_reason, differenced, difference_reason)


def choose_scaler(
    configured: str, recommended: str, reason: str, *, transform: str, normalize: str, series: int
) -> tuple[str, str]:
    """Resolve ``scale.method``: explicit wins; auto follows the EDA, except that a panel of
    logarithms in window-relative windows shares one scaler (see :data:`tsforge.panel.GLOBAL`).

    Args:
        configured: ``scale.method``.
        recommended: The EDA's scaler (standard or robust).
        reason: The EDA's reason.
        transform: The resolved transform.
        normalize: The resolved window normalisation.
        series: Number of series.

    Returns:
        The scaler method and why.
    """
    if configured != "auto":
        return settle(configured, recommended, reason)
    if series > 1 and transform in {"log", "log1p"} and normalize == "last":
        return "global", (
            f"auto: {transform} levels relative to each window's last value are growth rates that "
            "compare across series as they are; one scaler for all series keeps every series' "
            "relative error equally weighted in the loss, as in the metrics"
        )
    return settle(configured, recommended, reason)


def settle(configured: str, recommended: str, reason: str) -> tuple[str, str]:
    """A params setting that may be ``auto``: the EDA's recommendation then, the setting
    otherwise, each with the reason recorded in reports/scale.json."""
    if configured == "auto":
        return recommended, f"auto: {reason}"
    return configured, f"set in params.yaml (EDA recommended {recommended}: {reason})"


@dataclass(frozen=True)
class Exploration:
    """The validate stage's EDA: the recommendation, the findings behind it, and the report."""

    advice: Recommendation
    period: int
    adf_p_value: float
    report: dict[str, Any]
    layout: Layout


def explore(frame: pd.DataFrame, params: Any) -> Exploration:
    """Run the EDA on the snapshot: statistics, stationarity, season and the recommendation
    (per series and a vote when the data holds many).

    Args:
        frame: The canonical snapshot.
        params: All of params.yaml (:class:`tsforge.config.Params`).

    Returns:
        The exploration; ``report`` is reports/eda.json.
    """
    data, scale, window = params.data, params.scale, params.window
    layout = Layout.of_frame(frame, data.series_id)
    filled, _ = fill_missing(frame, [data.target[0]], "interpolate", data.series_id)
    target = filled[data.target[0]].to_numpy(dtype=np.float64)
    stats = summarize(frame, data.columns, params.validate.outlier_iqr_factor)
    findings: dict[str, Any]
    if data.series_id is None:
        adf = adf_test(target)
        period, strength = seasonal_period(target)
        advice = recommend(
            target,
            series_split(len(frame), scale),
            stats[data.target[0]],
            adf,
            period=period,
            robust_outlier_fraction=params.validate.robust_outlier_fraction,
        )
        findings = {"adf": adf, "season_period": period, "season_acf": strength}
        p_value = float(adf["p_value"])
    else:
        advice, summary = recommend_panel(
            target,
            splits(layout, lambda n: series_split(n, scale)),
            layout.bounds,
            layout.names,
            iqr_factor=params.validate.outlier_iqr_factor,
            robust_outlier_fraction=params.validate.robust_outlier_fraction,
        )
        period = advice.season_period
        findings = {"per_series": summary, "season_period": period}
        p_value = float(summary["median_adf_p_value"])
    note = (
        f"window.input_size={window.input_size} covers the seasonal period {period}"
        if window.input_size >= period
        else f"window.input_size={window.input_size} is shorter than the seasonal period {period}; "
        f"consider at least {advice.min_input_size}"
    )
    correlations = feature_correlations(
        frame,
        data.target[0],
        data.features,
        data.future_features,
        horizon=window.horizon,
        series_id=data.series_id,
    )
    report = {
        "columns": stats,
        **findings,
        "feature_correlations": correlations,
        "recommendation": asdict(advice),
        "input_size_note": note,
    }
    return Exploration(advice, period, p_value, report, layout)


def advice_tags(advice: Recommendation) -> dict[str, str]:
    """The recommendation as MLflow tags (``eda.*``), each choice with its reason."""
    return {f"eda.{k}": str(v).lower() if isinstance(v, bool) else str(v) for k, v in asdict(advice).items()}
