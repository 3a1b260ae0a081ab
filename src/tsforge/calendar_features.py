"""Calendar and holiday features of timestamps: network inputs known ahead by construction.

Every value here is computed from a timestamp alone (and, for holidays, a country code), so the
same functions fill these columns in training and inside the served forecaster for future rows;
nobody has to supply them at serving time.

Calendar features are encoded cyclically, as ``sin(2*pi*v/period)`` and ``cos(2*pi*v/period)``,
so the end of a cycle sits next to its start (Sunday next to Monday, December next to January).
Before encoding, each feature's value ``v`` counts from 0:

=================  ==================================================  ==========================
feature            value ``v``                                         period
=================  ==================================================  ==========================
minute_of_hour     minute + second / 60 (0 <= v < 60)                  60
hour_of_day        hour + minute / 60 + second / 3600 (0 <= v < 24)    24
day_of_week        pandas' ``dayofweek``: Monday = 0 ... Sunday = 6    7
day_of_month       day - 1 (the 1st = 0)                               days in that month
day_of_year        day of year - 1 (1 January = 0)                     days in that year (365/366)
week_of_year       ISO 8601 week - 1 (ISO week 1 = 0)                  ISO weeks in that ISO year
month_of_year      month - 1 (January = 0)                             12
quarter_of_year    quarter - 1 (January to March = 0)                  4
=================  ==================================================  ==========================

So a v of 0 (midnight, a Monday, the 1st, January) encodes as sin 0, cos 1. The hour is
fractional so that half-hourly rows differ. Timestamps with a time zone are read as local wall
clock time, which is what opening hours and holidays follow.

``minute_of_hour`` is never chosen by ``auto``: for sub-hourly data the fractional hour already
places a row within the hour and the day, and a cycle that repeats every hour is rare in business
series; list it explicitly where one exists (sensor or traffic data, say).

Holiday features (:mod:`tsforge.holiday_features`) count the public holidays of one country;
:func:`known_ahead_matrix` puts both side by side. The holiday names are re-exported here, so
``from tsforge.calendar_features import ...`` keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tsforge.errors import ConfigError
from tsforge.holiday_features import (
    DISTANCE_CAP,
    HOLIDAY_COLUMNS,
    check_country,
    holiday_columns,
    holiday_matrix,
)
from tsforge.time_steps import typical_step, wall_clock

__all__ = [
    "CALENDAR_FEATURES",
    "CYCLE_LENGTH",
    "DISTANCE_CAP",
    "HOLIDAY_COLUMNS",
    "MIN_CYCLES",
    "calendar_columns",
    "calendar_matrix",
    "check_country",
    "holiday_columns",
    "holiday_matrix",
    "known_ahead_matrix",
    "repeats_within",
    "resolve_calendar",
]

CALENDAR_FEATURES: tuple[str, ...] = (
    "minute_of_hour",
    "hour_of_day",
    "day_of_week",
    "day_of_month",
    "day_of_year",
    "week_of_year",
    "month_of_year",
    "quarter_of_year",
)
"""Every calendar feature ``data.calendar`` may list, finest first."""


_SUB_DAILY = ("hour_of_day", "day_of_week", "day_of_year")
_AUTO_BY_STEP: tuple[tuple[pd.Timedelta, tuple[str, ...]], ...] = (
    (pd.Timedelta(days=1), _SUB_DAILY),
    (pd.Timedelta(days=7), ("day_of_week", "day_of_month", "day_of_year")),
    (pd.Timedelta(days=28), ("week_of_year",)),
    # Steps are measured as a median, so a month is 30-31 days and a quarter 90-92: the bounds sit
    # between the families, and a step of 2 months still gets the month, 6 months the quarter.
    (pd.Timedelta(days=85), ("month_of_year",)),
    (pd.Timedelta(days=360), ("quarter_of_year",)),
)
"""``auto``'s features for steps shorter than each bound; a step of a year or more gets none."""

_YEAR = pd.Timedelta(days=365.25)
CYCLE_LENGTH: dict[str, pd.Timedelta] = {
    "minute_of_hour": pd.Timedelta(hours=1),
    "hour_of_day": pd.Timedelta(days=1),
    "day_of_week": pd.Timedelta(days=7),
    "day_of_month": pd.Timedelta(days=31),
    "day_of_year": _YEAR,
    "week_of_year": _YEAR,
    "month_of_year": _YEAR,
    "quarter_of_year": _YEAR,
}
"""How long each calendar feature takes to repeat (the longest month for ``day_of_month``)."""

MIN_CYCLES = 2
"""``auto`` keeps a feature only where the data span at least this many of its cycles. With less,
a feature never repeats in training: day of year over 12 weeks of half-hourly demand (taylor) is
a ramp the network reads as a trend, and it extrapolates the ramp past the history. Measured on
taylor (bench/EXPERIMENTS.md E18): with day of year, test MASE 0.597 against 0.316 without any
calendar; with hour of day and day of week alone, 0.265."""


def resolve_calendar(
    setting: str | Sequence[str] | None, freq: str | None, span: pd.Timedelta | None = None
) -> tuple[str, ...]:
    """The calendar features a ``data.calendar`` setting asks for.

    ``auto`` picks the features that vary within the data's frequency and repeat across it:
    hour of day, day of week and day of year for hourly or finer steps; day of week, of month and
    of year for daily (and business daily) steps; week of year for weekly, month of year for
    monthly, quarter of year for quarterly steps; none for yearly or coarser steps, or when the
    frequency is unknown. Given the data's ``span``, it also leaves out every feature that does not
    repeat :data:`MIN_CYCLES` times within it (a yearly feature on less than two years). An
    explicit list is taken as given.

    Args:
        setting: ``"auto"``, ``"none"``, None, a feature name or a list of names from
            :data:`CALENDAR_FEATURES`.
        freq: The series' pandas frequency alias (``"h"``, ``"D"``, ``"W-SAT"``, ``"MS"``...), or None.
        span: The time the data cover (the longest series' last timestamp minus its first), or
            None where unknown (no feature is left out for its length).

    Returns:
        The feature names, duplicates dropped, in the order given (``auto``: finest first).

    Raises:
        ConfigError: A name is not a calendar feature, or ``auto`` meets an unreadable frequency.
    """
    if setting is None:
        return ()
    if isinstance(setting, str):
        key = setting.strip().lower()
        if key == "auto":
            return tuple(name for name in _auto_calendar(freq) if repeats_within(name, span))
        if key in ("none", ""):
            return ()
        return _validated([setting])
    return _validated(setting)


def repeats_within(name: str, span: pd.Timedelta | None) -> bool:
    """Whether calendar feature ``name`` completes :data:`MIN_CYCLES` cycles within ``span``
    (True when ``span`` is None: unknown)."""
    return span is None or span >= MIN_CYCLES * CYCLE_LENGTH[name]


def calendar_columns(names: Sequence[str]) -> tuple[str, ...]:
    """Column names of the encoded calendar features.

    Args:
        names: Calendar feature names.

    Returns:
        ``<name>_sin`` and ``<name>_cos`` for each feature, in order.
    """
    return tuple(f"{name}_{part}" for name in _validated(names) for part in ("sin", "cos"))


def calendar_matrix(times: Any, names: Sequence[str]) -> np.ndarray:
    """The cyclic encoding of calendar features (conventions in the module docstring).

    Args:
        times: Timestamps, anything ``pd.DatetimeIndex`` accepts (a datetime64 array, a Series).
        names: Calendar feature names.

    Returns:
        A float64 array of shape (rows, 2 * features): ``sin(2*pi*v/period)`` then
        ``cos(2*pi*v/period)`` for each feature, in the order of :func:`calendar_columns`.

    Raises:
        ConfigError: A name is not a calendar feature.
        ValidationError: A timestamp is missing (NaT).
    """
    names = _validated(names)
    index = wall_clock(times)
    matrix = np.empty((len(index), 2 * len(names)))
    for column, name in enumerate(names):
        value, period = _CALENDAR[name](index)
        angle = 2.0 * np.pi * value / period
        matrix[:, 2 * column] = np.sin(angle)
        matrix[:, 2 * column + 1] = np.cos(angle)
    return matrix


def known_ahead_matrix(
    times: Any, freq: str | None, calendar: Sequence[str], country: str | None
) -> tuple[tuple[str, ...], np.ndarray]:
    """Calendar and holiday features side by side.

    Args:
        times: Timestamps, anything ``pd.DatetimeIndex`` accepts.
        freq: The series' pandas frequency alias, or None.
        calendar: Calendar feature names (as :func:`resolve_calendar` returns them).
        country: A country code of the ``holidays`` package, or None for no holiday features.

    Returns:
        The column names and a float64 matrix of shape (rows, columns): the calendar columns,
        then the holiday columns.
    """
    names = calendar_columns(calendar) + holiday_columns(country, freq)
    blocks = [calendar_matrix(times, calendar)]
    if country is not None:
        blocks.append(holiday_matrix(times, country, freq))
    return names, np.hstack(blocks)


def _validated(names: Sequence[str]) -> tuple[str, ...]:
    """Calendar feature names checked against the vocabulary, duplicates dropped, order kept."""
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, Sequence) or not all(isinstance(name, str) for name in names):
        raise ConfigError(
            f"data.calendar: {names!r} is not a calendar setting; use 'auto', 'none' or a list of "
            f"{', '.join(CALENDAR_FEATURES)}"
        )
    unknown = [name for name in names if name not in CALENDAR_FEATURES]
    if unknown:
        raise ConfigError(
            f"data.calendar: unknown calendar feature(s) {', '.join(map(repr, unknown))}; "
            f"use 'auto', 'none' or a list of {', '.join(CALENDAR_FEATURES)}"
        )
    return tuple(dict.fromkeys(names))


def _auto_calendar(freq: str | None) -> tuple[str, ...]:
    """``auto``'s calendar features for a frequency (see :func:`resolve_calendar`)."""
    if not freq:
        return ()
    step = typical_step(freq)
    for bound, names in _AUTO_BY_STEP:
        if step < bound:
            return names
    return ()


def _iso_weeks_in_year(years: np.ndarray) -> np.ndarray:
    """52 or 53: an ISO year has 53 weeks when 1 January or 31 December falls on a Thursday."""

    def weekday_of_dec31(y: np.ndarray) -> np.ndarray:
        # Sunday = 0, so Thursday = 4, and a 31 December on a Wednesday means 1 January on a Thursday.
        return (y + y // 4 - y // 100 + y // 400) % 7

    long_year = (weekday_of_dec31(years) == 4) | (weekday_of_dec31(years - 1) == 3)
    return np.where(long_year, 53.0, 52.0)


def _as_float(values: Any) -> np.ndarray:
    """A pandas index or array of numbers as float64."""
    return np.asarray(values, dtype=np.float64)


def _minute_of_hour(index: pd.DatetimeIndex) -> tuple[np.ndarray, Any]:
    """Minute of the hour with seconds as a fraction, over 60."""
    return _as_float(index.minute) + _as_float(index.second) / 60.0, 60.0


def _hour_of_day(index: pd.DatetimeIndex) -> tuple[np.ndarray, Any]:
    """Hour of the day with minutes and seconds as a fraction, over 24."""
    minutes = _as_float(index.minute) + _as_float(index.second) / 60.0
    return _as_float(index.hour) + minutes / 60.0, 24.0


def _day_of_week(index: pd.DatetimeIndex) -> tuple[np.ndarray, Any]:
    """Monday = 0 ... Sunday = 6, over 7."""
    return _as_float(index.dayofweek), 7.0


def _day_of_month(index: pd.DatetimeIndex) -> tuple[np.ndarray, Any]:
    """Day of the month from 0, over the days in that month."""
    return _as_float(index.day) - 1.0, _as_float(index.days_in_month)


def _day_of_year(index: pd.DatetimeIndex) -> tuple[np.ndarray, Any]:
    """Day of the year from 0, over the days in that year."""
    return _as_float(index.dayofyear) - 1.0, 365.0 + _as_float(index.is_leap_year)


def _week_of_year(index: pd.DatetimeIndex) -> tuple[np.ndarray, Any]:
    """ISO week from 0, over the ISO weeks in that ISO year."""
    iso = index.isocalendar()
    years = np.asarray(iso["year"], dtype=np.int64)
    return _as_float(iso["week"]) - 1.0, _iso_weeks_in_year(years)


def _month_of_year(index: pd.DatetimeIndex) -> tuple[np.ndarray, Any]:
    """January = 0 ... December = 11, over 12."""
    return _as_float(index.month) - 1.0, 12.0


def _quarter_of_year(index: pd.DatetimeIndex) -> tuple[np.ndarray, Any]:
    """First quarter = 0 ... fourth = 3, over 4."""
    return _as_float(index.quarter) - 1.0, 4.0


_CALENDAR: dict[str, Callable[[pd.DatetimeIndex], tuple[np.ndarray, Any]]] = {
    "minute_of_hour": _minute_of_hour,
    "hour_of_day": _hour_of_day,
    "day_of_week": _day_of_week,
    "day_of_month": _day_of_month,
    "day_of_year": _day_of_year,
    "week_of_year": _week_of_year,
    "month_of_year": _month_of_year,
    "quarter_of_year": _quarter_of_year,
}
"""Each calendar feature's value from 0 and its period (a number, or one per row)."""
