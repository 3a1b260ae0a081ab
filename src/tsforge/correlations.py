"""How much each feature tells about the target: Pearson correlations within each series,
past-only features against the target ``horizon`` steps ahead, known-future ones at the same step."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

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
