"""Holiday features of timestamps: network inputs known ahead by construction.

Holiday features count the public holidays of one country, as ``holidays.country_holidays``
returns them (observed days included, such as a Friday off for a Saturday holiday): per calendar
day for daily or finer data, with the distances to the nearest holidays; per period (week, month,
quarter, year) for coarser data. The same functions fill these columns in training and inside the
served forecaster, so nobody supplies them at serving time.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from tsforge.errors import ConfigError
from tsforge.time_steps import daily_or_finer, frequency_offset, wall_clock

HOLIDAY_COLUMNS: tuple[str, ...] = ("holiday", "days_to_holiday", "days_from_holiday")
"""The holiday columns of daily or finer data; coarser data gets only the first."""


DISTANCE_CAP = 30
"""Days beyond which the distance to a holiday no longer matters; distances are divided by it."""


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


_PERIOD_FAMILIES: tuple[tuple[tuple[type, ...], str, bool], ...] = (
    ((pd.offsets.MonthEnd, pd.offsets.BusinessMonthEnd, pd.offsets.CustomBusinessMonthEnd), "M", True),
    ((pd.offsets.MonthBegin, pd.offsets.BusinessMonthBegin, pd.offsets.CustomBusinessMonthBegin), "M", False),
    ((pd.offsets.QuarterEnd, pd.offsets.BQuarterEnd), "Q", True),
    ((pd.offsets.QuarterBegin, pd.offsets.BQuarterBegin), "Q", False),
    ((pd.offsets.YearEnd, pd.offsets.BYearEnd), "Y", True),
    ((pd.offsets.YearBegin, pd.offsets.BYearBegin), "Y", False),
)
"""Offsets whose steps are pandas periods: (offset classes, period kind, labelled by the period's end)."""


def holiday_columns(country: str | None, freq: str | None) -> tuple[str, ...]:
    """Column names of the holiday features.

    Args:
        country: A country code of the ``holidays`` package (``"US"``, ``"GB"``...), or None.
        freq: The series' pandas frequency alias, or None (read as daily or finer).

    Returns:
        ``()`` without a country; :data:`HOLIDAY_COLUMNS` for daily or finer data; ``("holiday",)``
        for coarser data, where a distance in days from a row's timestamp would mean little.
    """
    if country is None:
        return ()
    return HOLIDAY_COLUMNS if daily_or_finer(freq) else HOLIDAY_COLUMNS[:1]


def check_country(country: str) -> None:
    """Fail unless the ``holidays`` package knows a country code.

    Args:
        country: The country code from ``data.holidays``.

    Raises:
        ConfigError: The code is unknown, naming it and where to find the known ones.
    """
    import holidays

    try:
        holidays.country_holidays(country)
    except (NotImplementedError, AttributeError, TypeError) as error:
        raise ConfigError(
            f"data.holidays: {country!r} is not a country the holidays package knows; use an ISO 3166 "
            "code such as 'US', 'GB' or 'DE' (holidays.list_supported_countries() lists them all), "
            "or null for no holiday features"
        ) from error


def holiday_matrix(times: Any, country: str, freq: str | None) -> np.ndarray:
    """The holiday features of timestamps, columns as :func:`holiday_columns` names them.

    ``holiday`` counts the public holidays in the period a row stands for: its calendar day for
    daily or finer data (so a 0/1 flag, and an hourly row at 13:00 on Christmas Day gets 1); the
    whole week, month, quarter or year for coarser data, as pandas periods delimit it (a ``W-SAT``
    row is the week ending on its Saturday, an ``MS`` or ``ME`` row its calendar month).
    ``days_to_holiday`` and ``days_from_holiday`` are the days from the row's day to the next
    holiday on or after it and since the last one on or before it, clipped to
    :data:`DISTANCE_CAP` and divided by it, so they lie in [0, 1] (0 on a holiday).

    Args:
        times: Timestamps, anything ``pd.DatetimeIndex`` accepts.
        country: A country code of the ``holidays`` package.
        freq: The series' pandas frequency alias, or None (read as daily or finer).

    Returns:
        A float64 array of shape (rows, ``len(holiday_columns(country, freq))``).

    Raises:
        ConfigError: The country or the frequency is unknown.
        ValidationError: A timestamp is missing (NaT).
    """
    check_country(country)
    daily = daily_or_finer(freq)
    index = wall_clock(times)
    width = len(holiday_columns(country, freq))
    if len(index) == 0:
        return np.zeros((0, width))
    # Work on distinct days (or periods) and map back: 100,000 hourly rows are ~4,200 days.
    if daily or freq is None:
        days, inverse = np.unique(_day_numbers(index), return_inverse=True)
        first, last = days, days
    else:
        stamps, inverse = np.unique(index.values, return_inverse=True)
        first, last = _period_days(pd.DatetimeIndex(stamps), frequency_offset(freq))
    # A year either side, so distances across New Year reach the neighbouring year's holidays.
    known = _holiday_days(country, _year(int(first.min())) - 1, _year(int(last.max())) + 1)
    counts = np.searchsorted(known, last, side="right") - np.searchsorted(known, first, side="left")
    columns = [counts.astype(np.float64)]
    if daily:
        columns.extend(_distances(known, first))
    return np.column_stack(columns)[inverse.reshape(-1)]


def _day_numbers(index: pd.DatetimeIndex) -> np.ndarray:
    """Days since 1970-01-01 of each timestamp's calendar day (numpy floors to the day)."""
    return np.asarray(index.values.astype("datetime64[D]").astype(np.int64))


def _year(day_number: int) -> int:
    """The calendar year of a day number."""
    return int(np.datetime64(day_number, "D").astype("datetime64[Y]").astype(np.int64)) + 1970


def _period_alias(offset: pd.offsets.BaseOffset) -> tuple[str, bool] | None:
    """The pandas period of one step of ``offset``, and whether a timestamp labels its period's end.

    Returns:
        (period alias, end-labelled), or None when no pandas period matches the offset.
    """
    if isinstance(offset, pd.offsets.Week):
        # pandas labels a W-SAT week by its last day, as resample does.
        weekday = getattr(offset, "weekday", None)
        return None if weekday is None else (f"W-{_WEEKDAYS[weekday]}", True)
    for classes, kind, end_labelled in _PERIOD_FAMILIES:
        if isinstance(offset, classes):
            if kind == "M":
                return kind, end_labelled
            # A period alias names the month a quarter or year ends in; a begin offset names the
            # month it starts in, so the month before (index -1 wraps January round to December).
            month = int(getattr(offset, "startingMonth" if kind == "Q" else "month"))
            return f"{kind}-{_MONTHS[month - 1 if end_labelled else month - 2]}", end_labelled
    return None


def _period_days(index: pd.DatetimeIndex, offset: pd.offsets.BaseOffset) -> tuple[np.ndarray, np.ndarray]:
    """The first and last day numbers of the period each timestamp stands for at ``offset``."""
    period = _period_alias(offset)
    if period is None:
        # No pandas period ("2D", "SMS"): a row stands for the days up to the next step.
        first = _day_numbers(index)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the PerformanceWarning of offsets without vector arithmetic
            after = _day_numbers(index + offset)
        return first, np.maximum(after - 1, first)
    alias, end_labelled = period
    periods = index.to_period(alias)
    # A multiple ("2MS", "2W-SAT") reaches back from an end label and forward from a start label.
    extra = int(offset.n) - 1
    head, tail = (periods - extra, periods) if end_labelled else (periods, periods + extra)
    return _day_numbers(head.start_time), _day_numbers(tail.end_time)


@lru_cache(maxsize=32)
def _holiday_days(country: str, first_year: int, last_year: int) -> np.ndarray:
    """The sorted day numbers of a country's public holidays in a span of years (cached: serving
    calls this for every request with the same few years)."""
    import holidays

    calendar = holidays.country_holidays(country, years=range(first_year, last_year + 1))
    days = np.array(sorted(calendar), dtype="datetime64[D]").astype(np.int64)
    days.setflags(write=False)
    return days


def _distances(known: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Days to the next holiday on or after each day and since the last on or before it, scaled."""
    # Sentinels far beyond the cap stand for "no holiday that side" without special cases.
    far = np.array([np.iinfo(np.int64).max // 4])
    padded = np.concatenate((-far, known, far))
    following = padded[np.searchsorted(padded, days, side="left")] - days
    preceding = days - padded[np.searchsorted(padded, days, side="right") - 1]
    return (
        np.minimum(following, DISTANCE_CAP) / DISTANCE_CAP,
        np.minimum(preceding, DISTANCE_CAP) / DISTANCE_CAP,
    )
