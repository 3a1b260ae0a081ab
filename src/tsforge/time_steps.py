"""Frequency aliases and timestamps as the known-ahead features read them: the pandas offset of an
alias, the typical length of its step, whether a row stands for at most one day, and timestamps as
local wall-clock time (what opening hours and holidays follow)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from tsforge.errors import ConfigError, ValidationError

_DAY = pd.Timedelta(days=1)


def frequency_offset(freq: str) -> pd.offsets.BaseOffset:
    """The pandas offset of a frequency alias, as a ConfigError when pandas cannot read it."""
    try:
        # Deprecated aliases ("H", "M", "A") still mean what they say; the warning is pandas' to give.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            offset = pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError) as error:
        raise ConfigError(
            f"data.freq: {freq!r} is not a pandas frequency alias (such as 'h', 'D', 'W-SAT', 'MS')"
        ) from error
    if offset.n <= 0:
        raise ConfigError(f"data.freq: {freq!r} must step forward in time")
    return offset


def typical_step(freq: str) -> pd.Timedelta:
    """The typical length of one step of ``freq``: the median of a few consecutive steps.

    Measured rather than looked up by offset type, so every alias pandas knows (business days,
    anchored weeks, quarters starting in any month, multiples) is classified alike.
    """
    stamps = pd.date_range("2001-01-01", periods=9, freq=frequency_offset(freq))
    return pd.Timedelta(int(np.median(np.diff(stamps.asi8))), unit=stamps.unit)


def daily_or_finer(freq: str | None) -> bool:
    """Whether a row stands for at most one calendar day; unknown frequencies count as daily."""
    return not freq or typical_step(freq) <= _DAY


def wall_clock(times: Any) -> pd.DatetimeIndex:
    """Timestamps as a time-zone-naive index of local wall clock times."""
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_localize(None)
    if index.hasnans:
        raise ValidationError("calendar features: the timestamps include missing values (NaT)")
    return index
