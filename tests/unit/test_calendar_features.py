"""Calendar and holiday features from timestamps alone: the documented encoding conventions,
``auto`` per frequency, US holidays per day and per period, and errors a person can act on."""

from __future__ import annotations

import datetime as dt

import holidays
import numpy as np
import pandas as pd
import pytest

from tsforge.calendar_features import (
    CALENDAR_FEATURES,
    DISTANCE_CAP,
    HOLIDAY_COLUMNS,
    calendar_columns,
    calendar_matrix,
    check_country,
    holiday_columns,
    holiday_matrix,
    known_ahead_matrix,
    resolve_calendar,
)
from tsforge.covariates import longest_span
from tsforge.errors import ConfigError


def encoded(times: list[str], name: str) -> np.ndarray:
    """The (sin, cos) rows of one calendar feature."""
    return calendar_matrix(pd.DatetimeIndex(times), [name])


def angle(value: float, period: float) -> list[float]:
    """The expected (sin, cos) of a value before encoding."""
    return [np.sin(2 * np.pi * value / period), np.cos(2 * np.pi * value / period)]


def test_a_monday_midnight_in_january_encodes_as_sin_0_cos_1() -> None:
    monday = ["2024-01-01"]  # a Monday, the 1st, in January, in the first ISO week, at 00:00
    for name in CALENDAR_FEATURES:
        np.testing.assert_allclose(encoded(monday, name), [[0.0, 1.0]], atol=1e-12, err_msg=name)


def test_values_follow_the_documented_conventions() -> None:
    np.testing.assert_allclose(encoded(["2024-01-07"], "day_of_week"), [angle(6, 7)])  # Sunday = 6
    np.testing.assert_allclose(encoded(["2024-12-01"], "month_of_year"), [angle(11, 12)])  # December = 11
    np.testing.assert_allclose(encoded(["2024-02-29"], "day_of_month"), [angle(28, 29)])
    np.testing.assert_allclose(encoded(["2024-12-31"], "day_of_year"), [angle(365, 366)])  # leap year
    np.testing.assert_allclose(encoded(["2020-12-31"], "week_of_year"), [angle(52, 53)])  # ISO week 53
    np.testing.assert_allclose(encoded(["2024-08-15"], "quarter_of_year"), [angle(2, 4)])
    # The hour is fractional, so half-hourly rows differ: 12:30 is 12.5 hours into the day.
    np.testing.assert_allclose(encoded(["2024-01-01 12:30"], "hour_of_day"), [angle(12.5, 24)])


def test_the_encoding_repeats_with_its_cycle() -> None:
    week_apart = encoded(["2024-03-05 10:00", "2024-03-12 10:00"], "day_of_week")
    day_apart = encoded(["2024-03-05 10:00", "2024-03-06 10:00"], "hour_of_day")
    np.testing.assert_allclose(week_apart[0], week_apart[1], atol=1e-12)
    np.testing.assert_allclose(day_apart[0], day_apart[1], atol=1e-12)


def test_calendar_columns_match_the_matrix() -> None:
    names = ("hour_of_day", "month_of_year")
    matrix = calendar_matrix(pd.date_range("2024-01-01", periods=5, freq="h").to_series(), names)
    assert calendar_columns(names) == (
        "hour_of_day_sin",
        "hour_of_day_cos",
        "month_of_year_sin",
        "month_of_year_cos",
    )
    assert matrix.shape == (5, 4)
    assert matrix.dtype == np.float64


@pytest.mark.parametrize(
    ("freq", "expected"),
    [
        ("30min", ("hour_of_day", "day_of_week", "day_of_year")),
        ("h", ("hour_of_day", "day_of_week", "day_of_year")),
        ("D", ("day_of_week", "day_of_month", "day_of_year")),
        ("B", ("day_of_week", "day_of_month", "day_of_year")),
        ("W-SAT", ("week_of_year",)),
        ("MS", ("month_of_year",)),
        ("ME", ("month_of_year",)),
        ("QS-OCT", ("quarter_of_year",)),
        ("YS", ()),
        (None, ()),
    ],
)
def test_auto_picks_the_features_that_vary_within_the_frequency(
    freq: str | None, expected: tuple[str, ...]
) -> None:
    assert resolve_calendar("auto", freq) == expected


def test_explicit_settings() -> None:
    assert resolve_calendar("none", "D") == ()
    assert resolve_calendar(None, "D") == ()
    assert resolve_calendar([], "D") == ()
    assert resolve_calendar(["month_of_year", "minute_of_hour"], "D") == ("month_of_year", "minute_of_hour")


def test_a_misspelt_feature_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="day_of_weak") as error:
        resolve_calendar(["day_of_weak"], "D")
    assert all(name in str(error.value) for name in CALENDAR_FEATURES)


def test_an_unknown_country_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="list_supported_countries"):
        check_country("XX")
    with pytest.raises(ConfigError, match="'XX'"):
        holiday_matrix(pd.DatetimeIndex(["2024-12-25"]), "XX", "D")


def test_christmas_is_flagged_in_daily_and_hourly_data() -> None:
    daily = holiday_matrix(pd.date_range("2024-12-23", "2024-12-26", freq="D"), "US", "D")
    hourly = holiday_matrix(pd.DatetimeIndex(["2024-12-24 13:00", "2024-12-25 13:00"]), "US", "h")
    assert daily[:, 0].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert hourly[:, 0].tolist() == [0.0, 1.0]


def test_distances_to_and_from_a_holiday_are_scaled_by_the_cap() -> None:
    days = holiday_matrix(pd.DatetimeIndex(["2024-12-23", "2024-12-25", "2024-12-26"]), "US", "D")
    assert days[0, 1] == pytest.approx(2 / DISTANCE_CAP)  # Christmas is two days after the 23rd
    assert days[1, 1:].tolist() == [0.0, 0.0]
    assert days[2, 2] == pytest.approx(1 / DISTANCE_CAP)
    assert ((days >= 0) & (days <= 1)).all()


def test_coarser_rows_count_the_holidays_of_their_whole_period() -> None:
    # W-SAT labels a week by its Saturday: the week of 2024-12-28 holds Christmas, that of
    # 2025-01-04 New Year's Day, that of 2024-12-21 none.
    weekly = holiday_matrix(pd.DatetimeIndex(["2024-12-21", "2024-12-28", "2025-01-04"]), "US", "W-SAT")
    december = sum(day.month == 12 for day in holidays.country_holidays("US", years=2024))
    month_start = holiday_matrix(pd.DatetimeIndex(["2024-12-01"]), "US", "MS")
    month_end = holiday_matrix(pd.DatetimeIndex(["2024-12-31"]), "US", "ME")
    assert weekly[:, 0].tolist() == [0.0, 1.0, 1.0]
    assert month_start.tolist() == month_end.tolist() == [[float(december)]]
    assert holiday_columns("US", "W-SAT") == holiday_columns("US", "MS") == ("holiday",)


def test_known_ahead_matrix_puts_calendar_then_holiday_columns() -> None:
    times = pd.date_range("2024-12-24", periods=48, freq="h").to_numpy()
    calendar = resolve_calendar("auto", "h")
    names, matrix = known_ahead_matrix(times, "h", calendar, "US")
    assert names == calendar_columns(calendar) + HOLIDAY_COLUMNS
    assert matrix.shape == (48, len(names))
    assert holiday_columns(None, "h") == ()
    assert known_ahead_matrix(times, "h", (), None)[1].shape == (48, 0)


def test_the_holidays_lookup_reaches_into_the_next_year() -> None:
    # From a lone row in 2024, the next holiday is New Year's Day 2025, three days on.
    row = holiday_matrix(pd.DatetimeIndex([dt.date(2024, 12, 29)]), "US", "D")
    assert row[0, 1] == pytest.approx(3 / DISTANCE_CAP)


def test_auto_leaves_out_features_that_do_not_repeat_twice_in_the_data() -> None:
    # 12 weeks of half-hourly data (taylor's length): the day of year would be a ramp, not a cycle.
    assert resolve_calendar("auto", "30min", pd.Timedelta(weeks=12)) == ("hour_of_day", "day_of_week")
    assert resolve_calendar("auto", "30min", pd.Timedelta(days=731)) == (
        "hour_of_day",
        "day_of_week",
        "day_of_year",
    )
    assert resolve_calendar("auto", "D", pd.Timedelta(days=10)) == ()
    assert resolve_calendar("auto", "MS", pd.Timedelta(days=600)) == ()
    # An explicit list is the user's choice, whatever the span.
    assert resolve_calendar(["day_of_year"], "D", pd.Timedelta(days=10)) == ("day_of_year",)


def test_the_longest_series_sets_the_span() -> None:
    frame = pd.DataFrame(
        {
            "store": ["a"] * 3 + ["b"] * 2,
            "date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-03-01", "2024-01-01", "2024-01-05"]),
        }
    )
    assert longest_span(frame, "store", "date") == pd.Timedelta(days=60)
    assert longest_span(frame.iloc[3:], None, "date") == pd.Timedelta(days=4)
