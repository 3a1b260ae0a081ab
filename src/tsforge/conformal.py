"""Split-conformal prediction intervals for any forecaster (one network or an ensemble).

How they are made. The trained forecaster forecasts every validation window; each absolute
error, divided by its series' scale, is a *score*. For a level ``a`` and ``n`` scores, the
interval at horizon step ``h`` is ``forecast ± q_h · scale`` where ``q_h`` is the
``ceil((n + 1)·a)``-th smallest score of step ``h`` (split conformal prediction: if the new
window's score is exchangeable with the calibration scores, it falls inside with probability
at least ``a``). Each horizon step (and target) gets its own quantile, because errors grow
with the lead time.

Why each series' MASE scale. One calibration must serve a panel whose series range from tens
to millions: raw errors of the big series would set every quantile. Dividing by the series'
in-sample seasonal-naive error (the denominator of the gate's MASE, on the same rows: those
before the test split) makes the scores unit-free, measures them the way the metrics already
do, stays defined for series with zeros (unlike a relative error) and needs one number per
series, stored with the model beside its scalers. With one series it changes nothing: the
scale multiplies back out.

Which forecaster is calibrated. With ``train.refit`` (the default) the served networks are
retrained on the training and validation windows, so their validation errors are in-sample and
far too small. The calibration uses the *early-stopped* networks instead, combined exactly as
the served ensemble is, on validation windows they did not train on. Limits, stated in
docs/serving.md: (1) the early-stopped networks are not the served ones; the refitted ones have seen
more recent data and are usually no worse, so intervals lean conservative; (2) the tuner chose
the trials and early stopping chose the epoch by the same validation error, which makes the
scores a little optimistic; (3) windows of one series overlap and the series may drift, so
exchangeability holds only approximately; coverage is per horizon step, not for the whole
path. The evaluate stage therefore measures the coverage on the test split, which neither
the training nor the calibration saw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tsforge import metrics as mt

MAX_SCORES = 1000
"""Most scores kept per horizon step and target: larger calibration sets are thinned to their
order statistics at evenly spaced ranks, so a panel of thousands of series keeps a small spec."""


@dataclass(frozen=True)
class Calibration:
    """The conformal calibration stored with a forecaster.

    Attributes:
        scores: Sorted scale-free absolute errors, shape (kept, horizon, targets).
        ranks: Rank (from 1, among ``count``) of each kept score, ascending.
        count: Calibration windows (scores per step before thinning).
        scales: Series name -> one scale per target, in original units.
        source: Which forecaster made the scores (for the reports).
        period: The seasonal period of the scales (a new series' scale is measured alike).
    """

    scores: np.ndarray
    ranks: np.ndarray
    count: int
    scales: Mapping[str, tuple[float, ...]]
    source: str = ""
    period: int = 1

    def with_scales_of(self, histories: Mapping[str, np.ndarray]) -> Calibration:
        """This calibration with the scale of each series in ``histories`` (name -> its targets'
        rows in original units) that it has none for: a series new to the model gets the MASE
        scale of the history it is served with, as the others got theirs from their training."""
        unseen = {name: rows for name, rows in histories.items() if name not in self.scales}
        if not unseen:
            return self
        scales = dict(self.scales)
        for name, rows in unseen.items():
            values = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
            scales[name] = tuple(mt.mase_scale(values[:, j], self.period) for j in range(values.shape[1]))
        return replace(self, scales=scales)

    def quantile(self, level: float) -> np.ndarray:
        """The scale-free half-width at ``level`` for each horizon step and target.

        Args:
            level: Nominal coverage in (0, 1).

        Returns:
            Shape (horizon, targets); infinite when ``count`` is too small for ``level``
            (fewer than ``1 / (1 - level) - 1`` windows): no finite interval is valid then.
        """
        rank = conformal_rank(self.count, level)
        if rank > self.count:
            return np.full(self.scores.shape[1:], np.inf)
        # The first kept rank at or above the one needed: exact unthinned, conservative thinned.
        index = int(np.searchsorted(self.ranks, rank, side="left"))
        return np.asarray(self.scores[index], dtype=np.float64)

    def scale_of(self, names: Sequence[str]) -> np.ndarray:
        """Scales of the named series, shape (len(names), targets).

        Raises:
            ValueError: A series has no stored scale (the model never saw it).
        """
        missing = sorted(set(names) - set(self.scales))
        if missing:
            raise ValueError(
                f"no interval scale for series {missing[:5]}: the model was not calibrated on them"
            )
        return np.array([self.scales[name] for name in names], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :meth:`from_dict`)."""
        return {
            "method": "split conformal, absolute errors / series MASE scale, per horizon step",
            "source": self.source,
            "count": self.count,
            "ranks": [int(r) for r in self.ranks],
            "scores": np.asarray(self.scores, dtype=np.float64).tolist(),
            "scales": {name: [float(v) for v in values] for name, values in self.scales.items()},
            "period": self.period,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Calibration | None:
        """Read :meth:`to_dict`'s form; None (no intervals) for specs written before them."""
        if not raw:
            return None
        return cls(
            scores=np.asarray(raw["scores"], dtype=np.float64),
            ranks=np.asarray(raw["ranks"], dtype=np.int64),
            count=int(raw["count"]),
            scales={str(k): tuple(float(v) for v in values) for k, values in raw["scales"].items()},
            source=str(raw.get("source", "")),
            period=int(raw.get("period", 1)),
        )


def conformal_rank(count: int, level: float) -> int:
    """``ceil((count + 1) · level)``: the order statistic that gives split-conformal coverage.

    The ``+ 1`` counts the new window among the calibration ones; without it coverage falls
    short of ``level`` on small calibration sets. A tiny tolerance keeps 0.9 · 10 from
    rounding up to 10.000000000000002.
    """
    return max(1, math.ceil((count + 1) * level - 1e-9))


def min_windows(level: float) -> int:
    """Fewest calibration windows that give a finite interval at ``level`` (9 for 0.9)."""
    return max(1, math.ceil(level / (1 - level) - 1e-9))


def series_scales(
    levels: np.ndarray, bounds: np.ndarray, test_starts: np.ndarray, period: int, n_targets: int
) -> np.ndarray:
    """Each series' and target's MASE scale on its rows before the test split, shape (series, targets).

    A constant history has no seasonal-naive error (NaN): its mean absolute level stands in,
    and 1.0 when that is 0 too, so every series gets a positive, finite scale.
    """
    starts = np.asarray(bounds)[:-1]
    scales = mt.mase_scales(levels, starts, test_starts, period, n_targets)
    values = np.asarray(levels, dtype=np.float64)
    for i, j in zip(*np.nonzero(~np.isfinite(scales) | (scales <= 0)), strict=True):
        level = float(np.nanmean(np.abs(values[int(starts[i]) : int(test_starts[i]), j])))
        scales[i, j] = level if math.isfinite(level) and level > 0 else 1.0
    return scales


def thin(sorted_scores: np.ndarray, limit: int = MAX_SCORES) -> tuple[np.ndarray, np.ndarray]:
    """Keep at most ``limit`` order statistics (always the largest); return them and their ranks."""
    count = len(sorted_scores)
    if count <= limit:
        return sorted_scores, np.arange(1, count + 1)
    ranks = np.unique(np.ceil(np.linspace(1, count, limit)).astype(np.int64))
    return sorted_scores[ranks - 1], ranks


def calibrate(
    actual: np.ndarray,
    forecast: np.ndarray,
    of_series: np.ndarray,
    scales: np.ndarray,
    names: Sequence[str],
    *,
    source: str = "",
    period: int = 1,
) -> Calibration | None:
    """Calibrate from a forecaster's errors on held-out windows.

    Args:
        actual: True values, shape (windows, horizon, targets), original units.
        forecast: The forecaster's forecasts of the same windows.
        of_series: Series index of each window.
        scales: Scale of every series and target, shape (series, targets).
        names: Series names, in the order of ``scales``.
        source: Which forecaster made ``forecast`` (recorded).
        period: The seasonal period of ``scales`` (recorded for series new to the model).

    Returns:
        The calibration, or None when there is no window with a finite error.
    """
    errors = np.abs(np.asarray(actual, np.float64) - np.asarray(forecast, np.float64))
    scores = errors / scales[np.asarray(of_series)][:, None, :]
    usable = np.isfinite(scores).all(axis=(1, 2))
    if not usable.any():
        return None
    kept, ranks = thin(np.sort(scores[usable], axis=0))
    named = {str(name): tuple(float(v) for v in row) for name, row in zip(names, scales, strict=True)}
    return Calibration(kept, ranks, int(usable.sum()), named, source, period)


def bounds(
    forecast: np.ndarray,
    scale: np.ndarray,
    calibration: Calibration,
    level: float,
    *,
    floor: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the ``level`` interval around each forecast.

    Args:
        forecast: Forecasts, shape (n, horizon, targets), original units.
        scale: Each forecast's series scale, shape (n, targets).
        calibration: The stored calibration.
        level: Nominal coverage.
        floor: Lowest possible value (0 for a model that takes logarithms: the targets
            cannot be negative), or None.

    Returns:
        ``(lower, upper)``, each shaped like ``forecast``.
    """
    half = calibration.quantile(level)[None, :, :] * np.asarray(scale, np.float64)[:, None, :]
    lower, upper = forecast - half, forecast + half
    if floor is not None:
        lower = np.maximum(lower, floor)
    return lower, upper


def coverage(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, scale: np.ndarray, level: float
) -> dict[str, float]:
    """Empirical coverage and width of intervals on windows the calibration never saw.

    Args:
        actual: True values, shape (n, horizon, targets).
        lower: Lower bounds, same shape.
        upper: Upper bounds, same shape.
        scale: Each window's series scale, shape (n, targets), for the unit-free width.
        level: Nominal coverage.

    Returns:
        ``level``, ``coverage`` (share of actuals inside), ``mean_width`` (original units),
        ``mean_scaled_width`` (in series scales, comparable across series) and the coverage
        at each horizon step (``coverage_step_1``, ...). Numbers only.
    """
    inside = (actual >= lower) & (actual <= upper)
    width = upper - lower
    result = {
        "level": float(level),
        "coverage": float(inside.mean()) if inside.size else math.nan,
        "mean_width": float(width.mean()) if width.size else math.nan,
        "mean_scaled_width": float((width / scale[:, None, :]).mean()) if width.size else math.nan,
    }
    for step in range(inside.shape[1]):
        result[f"coverage_step_{step + 1}"] = float(inside[:, step].mean()) if len(inside) else math.nan
    return result
