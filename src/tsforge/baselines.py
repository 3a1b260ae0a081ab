"""The baselines a forecaster is judged against, on the same windows: the naive family
(naive, seasonal naive, seasonal naive with drift), the statistical methods of
:mod:`tsforge.statistical` and their combinations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tsforge.statistical import STAT_ENSEMBLE, statistical_forecasts


def naive(levels: np.ndarray, origins: np.ndarray, horizon: int, n_targets: int) -> np.ndarray:
    """Repeat the last observed value over the horizon."""
    last = np.asarray(levels, dtype=np.float64)[origins - 1, :n_targets]
    return np.repeat(last[:, None, :], horizon, axis=1)


def seasonal_naive(
    levels: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    n_targets: int,
    period: int,
    *,
    starts: np.ndarray | None = None,
) -> np.ndarray:
    """Repeat the last observed season: ŷ[t+h] = y[t+h − period·ceil((h+1)/period)].

    Reaches back before the input window when needed; never uses rows at or after the
    origin, nor rows before the first row of the origin's series (``starts``, default 0).
    A series with less than a season before the origin (a short one, forecast from a
    padded window) repeats its first value there, as padding does: as if it had stood still
    before it began.
    """
    steps = np.arange(horizon)
    lag = period * np.ceil((steps + 1) / period).astype(int)
    index = origins[:, None] + steps[None, :] - lag[None, :]
    first = np.zeros(len(origins), dtype=np.int64) if starts is None else np.asarray(starts)
    if (first >= origins).any():
        raise ValueError("seasonal naive needs at least one row before each origin")
    index = np.maximum(index, first[:, None])
    return np.asarray(levels, dtype=np.float64)[index][:, :, :n_targets]


def seasonal_naive_drift(
    levels: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    n_targets: int,
    *,
    period: int,
    input_size: int,
    starts: np.ndarray | None = None,
) -> np.ndarray:
    """Seasonal naive shifted by the trend: the mean step change over the input window,
    times how far back the seasonal value lies.

    On a trending series (CO2) plain seasonal naive lags a whole season of growth behind;
    this is the bar a model has to clear there.
    """
    values = np.asarray(levels, dtype=np.float64)
    steps = np.arange(horizon)
    lag = period * np.ceil((steps + 1) / period).astype(int)
    first = np.zeros(len(origins), dtype=np.int64) if starts is None else np.asarray(starts)
    # The drift of the input window, or of the rows there are (a short series' padded window).
    back = np.maximum(origins - 1 - max(input_size - 1, 1), first)
    span = np.maximum(origins - 1 - back, 1)[:, None]
    drift = (values[origins - 1, :n_targets] - values[back, :n_targets]) / span
    base = seasonal_naive(levels, origins, horizon, n_targets, period, starts=starts)
    # How far back each seasonal value lies: the lag, or less where seasonal naive stood in a
    # short series' first row for a season it does not have (review helper 17).
    targets = origins[:, None] + steps[None, :]
    distance = targets - np.maximum(targets - lag[None, :], first[:, None])
    return base + drift[:, None, :] * distance[:, :, None]


def baselines(
    levels: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    n_targets: int,
    *,
    period: int,
    input_size: int,
    starts: np.ndarray | None = None,
    theta_history: int | None = None,
    n_jobs: int | None = None,
    arima: bool = False,
) -> dict[str, np.ndarray]:
    """Every baseline on the same windows: naive, seasonal naive, with drift, Theta, ETS, CES,
    DOT (dynamic optimised Theta), ARIMA when ``arima`` is true, and two combinations of
    statistical methods (as the M3/M4 competitions' benchmarks include):

    - ``theta_ets``, the mean of Theta's and ETS's forecasts: the bar for a network that may be
      served combined with them (:mod:`tsforge.combination`);
    - ``stat_ensemble``, the equal-weight mean of ETS, CES and DOT, and ARIMA when ``arima``
      is true. statsforecast's ``StatisticalEnsemble`` (the M4 benchmark it publishes) is the
      mean of AutoARIMA, AutoETS, AutoCES and DynamicOptimizedTheta; without ARIMA (the
      default) this is the mean of the other three.

    The statistical methods are fitted on the last ``theta_history`` rows of the origin's series
    (default None: its whole history before the origin, as competitions and a forecaster fit
    them; a series' later origins reuse an earlier fit, :func:`tsforge.statistical_runs.reuse_anchors`),
    in ``n_jobs`` processes (None: :func:`tsforge.statistical_runs.jobs`'
    default, every core or ``TSFORGE_JOBS``), each forecast the same in one process or many.

    ARIMA is opt-in (``evaluate.arima``) for its cost. CPU seconds of fitting in one process
    (``TSFORGE_JOBS=1``) on 100 synthetic monthly series of 120 rows (period 12, trend, season
    and noise), one origin each, horizon 18, each fit on all 120 rows:

    ======  =======  =======
    method  seconds  per fit
    ======  =======  =======
    theta      0.28    0.003
    ets        9.9     0.10
    ces        0.59    0.006
    dot        0.72    0.007
    arima    108       1.1
    ======  =======  =======

    On 50 M3 monthly series (48 to 126 rows, whole history, horizon 18) ARIMA took 42.7 s
    against ETS's 4.9 s; on a 366-series monthly panel at horizon 24 it had not finished in
    19 minutes. CES and DOT add under a tenth of ETS's time.
    """
    members = (*STAT_ENSEMBLE, *(("arima",) if arima else ()))
    fitted = statistical_forecasts(
        ("theta", *members),
        levels,
        origins,
        horizon,
        n_targets,
        period=period,
        history=theta_history,
        starts=starts,
        n_jobs=n_jobs,
    )
    return {
        "naive": naive(levels, origins, horizon, n_targets),
        "seasonal_naive": seasonal_naive(levels, origins, horizon, n_targets, period, starts=starts),
        "seasonal_naive_drift": seasonal_naive_drift(
            levels, origins, horizon, n_targets, period=period, input_size=input_size, starts=starts
        ),
        **fitted,
        "theta_ets": (fitted["theta"] + fitted["ets"]) / 2,
        "stat_ensemble": ensemble([fitted[m] for m in members]),
    }


def ensemble(forecasts: Sequence[np.ndarray]) -> np.ndarray:
    """The equal-weight mean of ``forecasts`` (same shapes), summed in the order given."""
    total = forecasts[0].copy()
    for forecast in forecasts[1:]:
        total += forecast
    return total / len(forecasts)
