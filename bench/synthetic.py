"""Synthetic monthly panels for the scaling benchmark (`python -m bench.run scaling`).

Every series is level x trend x season x noise on a log scale, so values are positive:
a period-12 seasonal profile, a linear trend, Gaussian noise, and a length drawn between
``rows // 2`` and ``rows``. All series end on the same month (their starts differ), like a
catalogue whose items were listed at different times. Built with whole-array numpy, no
Python loop over series: 50,000 x 200 rows take a few seconds.

:func:`retail_panel` is a different panel, for the accuracy suite's covariate datasets
(`retail`, `retail+features`): daily store sales driven by promotions, planned prices,
public holidays, weather and store attributes, with every effect a documented constant
(:func:`retail_truth` returns them row by row).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PERIOD = 12
END = pd.Timestamp("2025-12-01")


def panel(n_series: int, rows: int, seed: int = 0) -> pd.DataFrame:
    """A long-format panel of ``n_series`` monthly series, reproducible by ``seed``.

    Args:
        n_series: Number of series.
        rows: Longest series' length; each series has between ``rows // 2`` and ``rows`` rows.
        seed: Seed of numpy's default generator: the same seed gives the same frame.

    Returns:
        Columns ``series`` (str, ``s00000``...), ``date`` (month starts, every series ending
        on the same month) and ``value`` (float64, > 0), sorted by series then date.
    """
    if n_series < 1 or rows < 2:
        raise ValueError(f"need n_series >= 1 and rows >= 2, got {n_series} and {rows}")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(rows // 2, rows + 1, size=n_series)
    level = rng.uniform(np.log(10.0), np.log(10_000.0), size=n_series)
    slope = rng.normal(0.0, 0.004, size=n_series)  # log growth per month: about ±5% a year
    amplitude = rng.uniform(0.05, 0.3, size=n_series)
    phase = rng.uniform(0.0, 2 * np.pi, size=n_series)
    noise_sd = rng.uniform(0.01, 0.08, size=n_series)

    series_index = np.repeat(np.arange(n_series), lengths)
    # Position inside each series: 0..length-1, the last row of every series at END.
    starts = np.cumsum(lengths) - lengths
    t = np.arange(series_index.size) - np.repeat(starts, lengths)
    months_before_end = np.repeat(lengths, lengths) - 1 - t
    # The season follows the calendar month, so every series shares the same months' phase.
    month = (END.month - 1 - months_before_end) % PERIOD
    log_value = (
        level[series_index]
        + slope[series_index] * t
        + amplitude[series_index] * np.sin(2 * np.pi * month / PERIOD + phase[series_index])
        + noise_sd[series_index] * rng.standard_normal(series_index.size)
    )
    end_period = END.to_period("M").ordinal
    dates = pd.PeriodIndex.from_ordinals(end_period - months_before_end, freq="M").to_timestamp()
    names = np.char.add("s", np.char.zfill(np.arange(n_series).astype(str), 5))
    return pd.DataFrame(
        {
            "series": pd.Categorical(names[series_index], categories=names).astype(str),
            "date": dates,
            "value": np.exp(log_value),
        }
    )


def write(path: Path, n_series: int, rows: int, seed: int = 0) -> Path:
    """Write :func:`panel` to ``path`` as Parquet (for ``data.source: file``) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    panel(n_series, rows, seed).to_parquet(path, index=False)
    return path


# ---------------------------------------------------------------------------------------------
# A daily retail panel whose covariate effects are known (issue 25: the accuracy suite's
# `retail` and `retail+features`). Every constant below is part of the "truth" that
# :func:`retail_truth` returns factor by factor, so a test can check that the effects are
# there and a benchmark can tell how much a model could gain from the covariates.

RETAIL_START = pd.Timestamp("2022-01-03")  # a Monday, so the weekly profile starts on its first day
RETAIL_PERIOD = 7
RETAIL_COUNTRY = "US"  # public holidays of the `holidays` package, observed days included
STORE_TYPES = ("A", "B", "C")
TYPE_SHARE = (0.3, 0.4, 0.3)  # how often each store type is drawn
TYPE_BASE = {"A": 400.0, "B": 200.0, "C": 80.0}  # daily sales of a store of median region size
REGION_SIZE_RANGE = (20.0, 2000.0)  # region population (thousands), drawn log-uniformly
REGION_MEDIAN = 200.0  # region size at which a store sells its type's base
REGION_ELASTICITY = 0.25  # base x (region_size / REGION_MEDIAN) ** 0.25
STORE_SD = 0.15  # log-normal spread of a store's own level around its type and region
# Monday ... Sunday multipliers: quiet early week, busy Friday and Saturday.
WEEKLY_PROFILE = (0.8, 0.75, 0.8, 0.9, 1.2, 1.45, 1.1)
YEARLY_AMPLITUDE = 0.2  # yearly season: exp(0.2 cos(2π (day of year - peak) / 365.25))
YEARLY_PEAK_DAY = 350  # mid December
HOLIDAY_FACTOR = 0.4  # on a public holiday (stores half shut)
HOLIDAY_EVE_FACTOR = 1.3  # the day before a public holiday (shopping ahead)
PROMO_FACTOR = 1.5  # on promotion days
PROMO_RATE = 0.2  # share of promotion blocks; promotions are planned, so known for the horizon
PROMO_BLOCK = 4  # a promotion runs for 4 consecutive days
REFERENCE_PRICE = (8.0, 12.0)  # each store's reference price, drawn uniformly
PRICE_LEVELS = (0.8, 1.2)  # planned price / reference price, drawn uniformly at each change
PRICE_CHANGE_RATE = 1 / 45  # chance a day starts a new planned price: one step every ~6 weeks
PRICE_ELASTICITY = -1.5  # sales x (price / reference) ** -1.5
TEMPERATURE_MEAN = 14.0  # °C, the average store
TEMPERATURE_AMPLITUDE = 10.0  # seasonal swing: warmest near day 200 (mid July)
TEMPERATURE_PEAK_DAY = 200
TEMPERATURE_STORE_SD = 4.0  # climate differences between the stores' regions
TEMPERATURE_AR = 0.8  # weather anomalies persist: AR(1) day to day
TEMPERATURE_SHOCK_SD = 2.0  # °C, each day's new anomaly
TEMPERATURE_EFFECT = 0.01  # small: sales x exp(0.01 x anomaly °C); past-only, observed, not planned
NOISE_SD = 0.08  # multiplicative noise: sales x exp(N(0, 0.08²))

RETAIL_FACTORS = ("base", "weekly", "yearly", "holiday", "promo", "price", "temperature")
"""The multiplicative factors of :func:`retail_truth`, whose product is ``expected``."""


def _seasonal_cosine(day_of_year: np.ndarray, peak: int) -> np.ndarray:
    return np.cos(2 * np.pi * (day_of_year - peak) / 365.25)


def _holiday_flags(dates: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """(holiday, day before a holiday) flags of ``dates`` under :data:`RETAIL_COUNTRY`'s calendar."""
    import holidays

    calendar = holidays.country_holidays(RETAIL_COUNTRY, years=range(dates.year.min(), dates.year.max() + 2))
    days = pd.DatetimeIndex(sorted(pd.Timestamp(d) for d in calendar))
    holiday = dates.isin(days)
    # A day before a holiday that is a holiday itself (Christmas Eve observed...) stays a holiday.
    eve = (dates + pd.Timedelta(days=1)).isin(days) & ~holiday
    return np.asarray(holiday), np.asarray(eve)


def _steps(
    rng: np.random.Generator, shape: tuple[int, int], rate: float, low: float, high: float
) -> np.ndarray:
    """Piecewise-constant levels: each row starts a new uniform level on a day with chance ``rate``."""
    segment = np.cumsum(rng.random(shape) < rate, axis=1, dtype=np.int64)  # 0, 0, 1, 1, 2...: level index
    levels = rng.uniform(low, high, size=(shape[0], shape[1] + 1))
    return np.take_along_axis(levels, segment, axis=1)


def _retail(n_series: int, rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The panel and its truth from one stream of draws (see :func:`retail_panel`)."""
    if n_series < 1 or rows < 2:
        raise ValueError(f"need n_series >= 1 and rows >= 2, got {n_series} and {rows}")
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    shape = (n_series, rows)
    dates = pd.date_range(RETAIL_START, periods=rows, freq="D")
    day_of_year = dates.dayofyear.to_numpy()

    # Static: type, region size and the store's own level.
    store_type = rng.choice(np.array(STORE_TYPES), size=n_series, p=TYPE_SHARE)
    smallest, largest = (float(np.log(size)) for size in REGION_SIZE_RANGE)
    region_size = np.round(np.exp(rng.uniform(smallest, largest, size=n_series)), 1)
    base = (
        np.array([TYPE_BASE[t] for t in store_type])
        * (region_size / REGION_MEDIAN) ** REGION_ELASTICITY
        * np.exp(rng.normal(0.0, STORE_SD, size=n_series))
    )

    # Calendar: shared by every store.
    weekly = np.asarray(WEEKLY_PROFILE)[dates.dayofweek.to_numpy()]
    yearly = np.exp(YEARLY_AMPLITUDE * _seasonal_cosine(day_of_year, YEARLY_PEAK_DAY))
    holiday, eve = _holiday_flags(dates)
    holiday_factor = np.where(holiday, HOLIDAY_FACTOR, np.where(eve, HOLIDAY_EVE_FACTOR, 1.0))

    # Planned covariates: promotion blocks (offset per store, so stores do not all promote on
    # the same days) and stepwise prices.
    offset = rng.integers(0, PROMO_BLOCK, size=(n_series, 1))
    block = (np.arange(rows)[None, :] + offset) // PROMO_BLOCK
    promoted_blocks = rng.random((n_series, rows // PROMO_BLOCK + 2)) < PROMO_RATE
    promo = np.take_along_axis(promoted_blocks, block, axis=1).astype(np.int64)
    reference = rng.uniform(*REFERENCE_PRICE, size=(n_series, 1))
    price = np.round(reference * _steps(rng, shape, PRICE_CHANGE_RATE, *PRICE_LEVELS), 2)

    # Temperature: season + the region's climate + persistent weather anomalies (AR(1),
    # filtered along time for all stores at once).
    normal = TEMPERATURE_MEAN + TEMPERATURE_AMPLITUDE * _seasonal_cosine(day_of_year, TEMPERATURE_PEAK_DAY)
    climate = rng.normal(0.0, TEMPERATURE_STORE_SD, size=(n_series, 1))
    anomaly = lfilter(
        [1.0], [1.0, -TEMPERATURE_AR], rng.normal(0.0, TEMPERATURE_SHOCK_SD, size=shape), axis=1
    )
    temperature = np.round(normal[None, :] + climate + anomaly, 1)

    factors = {
        "base": np.broadcast_to(base[:, None], shape),
        "weekly": np.broadcast_to(weekly, shape),
        "yearly": np.broadcast_to(yearly, shape),
        "holiday": np.broadcast_to(holiday_factor, shape),
        "promo": np.where(promo == 1, PROMO_FACTOR, 1.0),
        "price": (price / reference) ** PRICE_ELASTICITY,
        "temperature": np.exp(TEMPERATURE_EFFECT * anomaly),
    }
    expected = np.prod(np.stack([factors[name] for name in RETAIL_FACTORS]), axis=0)
    sales = expected * np.exp(rng.normal(0.0, NOISE_SD, size=shape))

    names = np.char.add("store", np.char.zfill(np.arange(n_series).astype(str), 3))
    ids = {"store": np.repeat(names, rows), "date": np.tile(dates, n_series)}
    panel = pd.DataFrame(
        {
            **ids,
            "sales": np.round(sales.ravel(), 2),
            "promo": promo.ravel(),
            "price": price.ravel(),
            "temperature": temperature.ravel(),
            "store_type": np.repeat(store_type, rows),
            "region_size": np.repeat(region_size, rows),
        }
    )
    truth = pd.DataFrame(
        {
            **ids,
            **{name: np.asarray(value).ravel() for name, value in factors.items()},
            "is_holiday": np.tile(holiday, n_series),
            "is_holiday_eve": np.tile(eve, n_series),
            "expected": expected.ravel(),
        }
    )
    return panel, truth


def retail_panel(n_series: int = 60, rows: int = 3 * 365, seed: int = 0) -> pd.DataFrame:
    """A daily retail panel of known covariate effects, reproducible by ``seed``.

    Sales = base(store type, region size, store) x weekly profile x yearly season x holiday
    effect x promotion effect x price elasticity x temperature effect x log-normal noise,
    each with the module constants above (see :func:`retail_truth` for the factors).

    Args:
        n_series: Number of stores.
        rows: Days per store (every store covers the same days from :data:`RETAIL_START`).
        seed: Seed of numpy's default generator: the same seed gives the same frame.

    Returns:
        Columns ``store`` (series id, ``store000``...), ``date`` (daily), ``sales`` (target,
        > 0), ``promo`` (0/1, planned: known-future), ``price`` (planned price with
        occasional steps: known-future), ``temperature`` (°C, observed: past-only),
        ``store_type`` (static text A/B/C) and ``region_size`` (static number), sorted by
        store then date.
    """
    return _retail(n_series, rows, seed)[0]


def retail_truth(n_series: int = 60, rows: int = 3 * 365, seed: int = 0) -> pd.DataFrame:
    """The noise-free factors behind :func:`retail_panel` with the same arguments.

    Returns:
        Columns ``store``, ``date``, one column per :data:`RETAIL_FACTORS` entry (the
        multiplier of each effect on that row), ``is_holiday``, ``is_holiday_eve`` and
        ``expected`` (the product of the factors: sales before noise), row for row aligned
        with the panel.
    """
    return _retail(n_series, rows, seed)[1]


def write_retail(path: Path, n_series: int = 60, rows: int = 3 * 365, seed: int = 0) -> Path:
    """Write :func:`retail_panel` to ``path`` as Parquet (for ``data.source: file``) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    retail_panel(n_series, rows, seed).to_parquet(path, index=False)
    return path
