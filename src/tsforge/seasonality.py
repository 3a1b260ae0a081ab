"""Seasonal indices per series: removed before the network sees a series, added back to its
forecasts (``scale.deseasonalize``).

Classical decomposition, as the M3 competition's Theta method uses it: a series whose
autocorrelation at the seasonal lag is significant (90 %) gets one index per phase of the
season, the mean of its detrended values at that phase, fitted on its training rows only.
The indices are additive in the transformed space, so after a logarithm they are seasonal
factors. A network then spends its capacity on the level and trend, and short series, whose
few seasons a network cannot learn a pattern from, still get the seasonal shape.

Phase 0 of a series is its first timestamp (its *anchor*); a served history's phase is the
number of steps at the series' frequency from the anchor to its first row, so forecasts keep
the season wherever the history starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tsforge.panel import Layout

SIGNIFICANCE_Z = 1.645
"""Two-sided 90 % normal quantile of the seasonality test (as Theta in the M3 competition)."""

MIN_SEASONS = 3
"""Fewest seasons of training rows a series is tested (and decomposed) on."""


def calendar_period(freq: str | None) -> int:
    """The seasonal period a pandas frequency implies: the year for months, quarters and weeks,
    the week for days, the day for hours and minutes; 1 when it implies none (years, unknown).

    Args:
        freq: A pandas frequency alias (``MS``, ``QS-OCT``, ``W-SAT``, ``30min``...), or None.

    Returns:
        The period in steps.
    """
    if not freq:
        return 1
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        return 1
    name, n = type(offset).__name__, max(int(offset.n), 1)
    yearly = {"MonthBegin": 12, "MonthEnd": 12, "QuarterBegin": 4, "QuarterEnd": 4, "Week": 52}
    if name in yearly:
        return max(yearly[name] // n, 1)
    daily = {"Day": 7, "BusinessDay": 5}
    if name in daily:
        return daily[name] if n == 1 else 1
    per_day = {"Hour": 24, "Minute": 24 * 60}
    if name in per_day and per_day[name] % n == 0:
        return per_day[name] // n
    return 1


def _centred_trend(x: np.ndarray, period: int) -> tuple[np.ndarray, int]:
    """Centred moving average one season long (2 x period for an even period), and the row
    of its first value."""
    kernel = np.ones(period) if period % 2 else np.r_[0.5, np.ones(period - 1), 0.5]
    return np.convolve(x, kernel / period, mode="valid"), len(kernel) // 2


def is_seasonal(values: np.ndarray, period: int) -> bool:
    """Theta's seasonality test on the detrended series: the autocorrelation at lag ``period``
    exceeds its 90 % limit (Bartlett's standard error given the shorter lags).

    Theta tests the raw series, where a trend lifts every autocorrelation and with it the
    limit, so a growing seasonal series often fails; removing the moving-average trend first
    tests the season alone.

    Args:
        values: One series (finite values only are used).
        period: The seasonal period.

    Returns:
        Whether the series is seasonal at ``period``; False with fewer than three seasons.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if period < 2 or len(x) < MIN_SEASONS * period:
        return False
    trend, first = _centred_trend(x, period)
    x = x[first : first + len(trend)] - trend
    x = x - x.mean()
    power = float(x @ x)
    if power == 0:
        return False
    acf = np.array([float(x[: len(x) - k] @ x[k:]) / power for k in range(period + 1)])
    limit = SIGNIFICANCE_Z * np.sqrt((1 + 2 * float(np.sum(acf[1:period] ** 2))) / len(x))
    return bool(abs(acf[period]) > limit)


def seasonal_indices(values: np.ndarray, period: int) -> np.ndarray:
    """Additive seasonal indices of one series by classical decomposition.

    The trend is a centred moving average one season long (2 x period for an even period);
    each index is the mean detrended value at its phase, and the indices are centred on zero
    so that removing them leaves the level unchanged.

    Args:
        values: One series, phase 0 at its first row (at least two seasons).
        period: The seasonal period.

    Returns:
        ``period`` indices.
    """
    x = np.asarray(values, dtype=np.float64)
    trend, first = _centred_trend(x, period)
    phase = np.arange(first, first + len(trend)) % period
    detrended = x[first : first + len(trend)] - trend
    indices = np.bincount(phase, weights=detrended, minlength=period) / np.maximum(
        np.bincount(phase, minlength=period), 1
    )
    return np.asarray(indices - indices.mean())


@dataclass(frozen=True)
class Seasonality:
    """The seasonal indices of every seasonal series (in transformed, unscaled units).

    Attributes:
        period: Steps per season (1: no seasonal treatment).
        freq: The series' frequency; used to place a served history's first row in the season.
        anchors: Timestamp of phase 0 of each seasonal series.
        indices: Indices of each seasonal series, shape (period, targets). Series absent
            from both mappings are not seasonal and are left as they are.
    """

    period: int = 1
    freq: str | None = None
    anchors: Mapping[str, pd.Timestamp] = field(default_factory=dict)
    indices: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether any series is deseasonalised."""
        return self.period > 1 and bool(self.indices)

    def phases(self, times: np.ndarray | None, layout: Layout) -> np.ndarray:
        """Phase in the season of every row (0 where a series is not seasonal).

        Args:
            times: Timestamp of every row; None when each series starts at its anchor
                (the pipeline's own arrays).
            layout: The series of the rows.

        Returns:
            Integer phases, row-aligned (not reduced modulo the period).
        """
        out = np.zeros(int(layout.bounds[-1]), dtype=np.int64)
        for name, start, stop in layout.spans():
            if name not in self.indices:
                continue
            first = (
                0
                if times is None
                else steps_between(self.anchors[name], pd.Timestamp(times[start]), self.freq)
            )
            out[start:stop] = first + np.arange(stop - start)
        return out

    def component(self, phases: np.ndarray, layout: Layout, n_targets: int) -> np.ndarray:
        """The seasonal component of every row, shape (rows, n_targets)."""
        out = np.zeros((len(phases), n_targets))
        for name, start, stop in layout.spans():
            if name in self.indices:
                out[start:stop] = self.indices[name][phases[start:stop] % self.period]
        return out

    def ahead(
        self, phases: np.ndarray, layout: Layout, origins: np.ndarray, horizon: int, n_targets: int
    ) -> np.ndarray:
        """The seasonal component of the ``horizon`` rows from each origin, shape (n, horizon, targets)."""
        out = np.zeros((len(origins), horizon, n_targets))
        if not self.active:
            return out
        of_origin = layout.series_of(origins)
        steps = phases[origins][:, None] + np.arange(horizon)[None, :]
        for i in np.unique(of_origin):
            name = layout.names[i]
            if name in self.indices:
                rows = of_origin == i
                out[rows] = self.indices[name][steps[rows] % self.period]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "period": self.period,
            "freq": self.freq,
            "series": {
                name: {"anchor": self.anchors[name].isoformat(), "indices": np.asarray(idx).tolist()}
                for name, idx in self.indices.items()
            },
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Seasonality:
        """Read :meth:`to_dict`'s form (None: no seasonal treatment)."""
        if not raw:
            return cls()
        series = raw.get("series", {})
        return cls(
            period=int(raw["period"]),
            freq=raw.get("freq"),
            anchors={str(n): pd.Timestamp(s["anchor"]) for n, s in series.items()},
            indices={str(n): np.asarray(s["indices"], dtype=np.float64) for n, s in series.items()},
        )


def steps_between(anchor: pd.Timestamp, when: pd.Timestamp, freq: str | None) -> int:
    """Steps at ``freq`` from ``anchor`` to ``when`` (negative when ``when`` is earlier)."""
    if when == anchor:
        return 0
    if not freq:
        raise ValueError(
            "the model removes a seasonal pattern and needs the series' frequency to place the "
            "history in the season; retrain with data.freq set"
        )
    offset = pd.tseries.frequencies.to_offset(freq)
    if isinstance(offset, pd.offsets.Tick):
        return int(round((when - anchor) / pd.Timedelta(offset)))
    first, last = sorted((anchor, when))
    count = len(pd.date_range(first, last, freq=offset)) - 1
    return count if when > anchor else -count


def fit(
    unscaled: np.ndarray,
    layout: Layout,
    fit_stops: np.ndarray,
    times: np.ndarray,
    *,
    n_targets: int,
    period: int,
    freq: str | None,
) -> Seasonality:
    """Test every series (each target on its own) and decompose the seasonal ones.

    Args:
        unscaled: The transformed targets (and features), rows x columns, series stacked.
        layout: The series.
        fit_stops: One past the last row each series is fitted on (its training rows).
        times: Timestamp of every row.
        n_targets: The first columns that are forecast.
        period: The seasonal period.
        freq: The series' frequency.

    Returns:
        The seasonality (empty when no series is seasonal).
    """
    anchors: dict[str, pd.Timestamp] = {}
    indices: dict[str, np.ndarray] = {}
    if period < 2:
        return Seasonality()
    for i, (name, start, _) in enumerate(layout.spans()):
        rows = unscaled[start : int(fit_stops[i])]
        columns = [
            seasonal_indices(rows[:, k], period) if is_seasonal(rows[:, k], period) else np.zeros(period)
            for k in range(n_targets)
        ]
        if any(c.any() for c in columns):
            anchors[name] = pd.Timestamp(times[start])
            indices[name] = np.stack(columns, axis=1)
    return Seasonality(period, freq, anchors, indices)
