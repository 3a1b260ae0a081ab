"""Forecast accuracy in original units, baselines on the same windows, and plots."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from tsforge import cluster
from tsforge.errors import ConfigError
from tsforge.plotting import pyplot

Metric = Callable[[np.ndarray, np.ndarray], float]
Fit = Callable[[np.ndarray, int], np.ndarray]

log = logging.getLogger(__name__)

ETS_MAX_SEASON = 24
"""Longest season statsforecast's ETS models (like R's ``forecast::ets``); beyond it the ETS
baseline fits a non-seasonal ETS to the classically deseasonalised history instead."""

ETS_MIN_ROWS = 7
"""Fewest rows statsforecast's AutoETS fits (it refuses 6 or fewer as "tiny datasets")."""

THETA_MIN_ROWS = 4
"""Fewest rows statsforecast's Theta fits (3 or fewer are "tiny datasets")."""

CES_MIN_ROWS = 5
"""Fewest rows statsforecast's AutoCES fits: it refuses a history no longer than its
parameters (2, or 4 with a season) as "tiny datasets", and its optimiser fails on 4 rows."""

DOT_MIN_ROWS = 4
"""Fewest rows statsforecast's DynamicOptimizedTheta fits (3 or fewer are "tiny datasets")."""

ARIMA_MIN_ROWS = 4
"""Fewest rows the ARIMA baseline fits: on 3 or fewer statsforecast's AutoARIMA forecasts the
history's mean, further off than the naive forecast used instead."""

ARIMA_MAX_SEASON = 24
"""Longest season the ARIMA baseline models; beyond it (weekly data, period 52) AutoARIMA
fits the classically deseasonalised history, as ETS does beyond :data:`ETS_MAX_SEASON`.
A seasonal AutoARIMA with period 52 on 156 rows took 8.5 s a fit here, against 0.9 s with
period 12 on 120 rows (one core); R's ``forecast`` advises the same (``stlf``/``stlm``) for
long seasons."""

JOBS_ENV = "TSFORGE_JOBS"
"""Environment variable: processes the statistical baselines (Theta, ETS, CES, DOT, ARIMA)
fit in (unset: every core).
Not a param: it changes how fast the evaluate stage runs, never what it writes."""

PROBE_ORIGINS = 20
"""Origins fitted in this process first, to time a fit before deciding on processes."""

PARALLEL_MIN_SECONDS = 4.0
"""Fewest seconds the remaining fits must be expected to take in this process (from the
probe's time) for them to be spread over processes: starting the pool's interpreters and
their imports costs about two seconds, more than cheap fits (non-seasonal, short series)
would take in this process."""

CHUNKS_PER_JOB = 4
"""Chunks of origins per process: several, so that a process given the slow fits (long
series, seasonal models) does not keep the others waiting at the end."""


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((actual - forecast) ** 2)))


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(actual - forecast)))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error, in percent; zero actuals are left out."""
    nonzero = np.abs(actual) > 1e-12
    if not nonzero.any():
        return float("nan")
    return float(100 * np.mean(np.abs((actual[nonzero] - forecast[nonzero]) / actual[nonzero])))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE, 200·|y−ŷ|/(|y|+|ŷ|), in percent; 0/0 counts as 0."""
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        np.abs(actual - forecast),
        denominator,
        out=np.zeros_like(denominator, dtype=float),
        where=denominator > 0,
    )
    return float(200 * np.mean(ratio))


def mase_scale(train: np.ndarray, period: int) -> float:
    """In-sample mean absolute error of the seasonal-naive forecast on the training split.

    Args:
        train: Training-split values of one target in original units.
        period: Seasonal period (1 for plain naive).

    Returns:
        The MASE denominator (NaN when the in-sample error is 0, a constant history, or
        undefined: fewer than two rows, as a padded short series may have).
    """
    if len(train) < 2:
        return float("nan")
    period = period if len(train) > period else 1
    scale = float(np.mean(np.abs(train[period:] - train[:-period])))
    return scale if scale > 0 else float("nan")


def mase_scales(
    levels: np.ndarray, starts: np.ndarray, test_starts: np.ndarray, period: int, n_targets: int
) -> np.ndarray:
    """MASE scale of every series and every target: :func:`mase_scale` on the series' rows
    before its test split, one target column at a time.

    Each target gets its own scale so that, with several targets, a target in large units
    does not dominate the score: :func:`mase` divides each target's errors by its own scale.

    Args:
        levels: Stacked series in original units, targets first.
        starts: First row of each series.
        test_starts: First test row of each series (same order).
        period: Seasonal period.
        n_targets: Target columns.

    Returns:
        Scales of shape (series, n_targets).
    """
    values = np.asarray(levels, dtype=np.float64)
    return np.array(
        [
            [mase_scale(values[int(a) : int(b), target], period) for target in range(n_targets)]
            for a, b in zip(starts, test_starts, strict=True)
        ],
        dtype=np.float64,
    ).reshape(len(starts), n_targets)


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float | np.ndarray) -> float:
    """Mean absolute scaled error: each target's errors divided by that target's scale.

    Args:
        actual: Actual values; the last axis is the target axis when ``scale`` is an array.
        forecast: Forecasts, same shape.
        scale: One scale for every value, or one per target (shape ``(targets,)``).

    Returns:
        The mean over targets of MAE / scale; targets whose scale is undefined (NaN: a
        constant history) are left out, NaN when none is defined.
    """
    errors = np.abs(np.asarray(actual, dtype=np.float64) - np.asarray(forecast, dtype=np.float64))
    scales = np.asarray(scale, dtype=np.float64)
    if scales.ndim == 0:
        return float(np.mean(errors) / scales)
    if scales.ndim != 1 or errors.shape[-1] != len(scales):
        raise ValueError(
            f"mase: {scales.shape} scales for values of shape {errors.shape}; give one scale or one "
            "per target (the last axis)"
        )
    per_target = errors.reshape(-1, len(scales)).mean(axis=0) / scales
    defined = np.isfinite(per_target)
    return float(per_target[defined].mean()) if defined.any() else float("nan")


def score(actual: np.ndarray, forecast: np.ndarray, scale: float | np.ndarray) -> dict[str, float]:
    """RMSE, MAE, MAPE, sMAPE and MASE of ``forecast`` against ``actual``.

    ``scale`` is one MASE scale or one per target (the last axis of ``actual``), see :func:`mase`.
    """
    return {
        "rmse": rmse(actual, forecast),
        "mae": mae(actual, forecast),
        "mape": mape(actual, forecast),
        "smape": smape(actual, forecast),
        "mase": mase(actual, forecast, scale),
    }


def actuals(levels: np.ndarray, origins: np.ndarray, horizon: int, n_targets: int) -> np.ndarray:
    """True target values for each window: shape (n, horizon, targets)."""
    index = origins[:, None] + np.arange(horizon)[None, :]
    return np.asarray(levels, dtype=np.float64)[index][:, :, :n_targets]


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


def _naive_path(past: np.ndarray, horizon: int) -> np.ndarray:
    return np.repeat(past[-1:], horizon)


def _decompose(past: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Classical decomposition (moving averages), multiplicative when every value is positive
    and every seasonal index is at least 0.01, additive otherwise (statsforecast's rule for Theta).

    Returns:
        The seasonally adjusted history, the next season's indices (one per step after the
        history, repeating) and whether they multiply.
    """
    from statsmodels.tsa.seasonal import seasonal_decompose

    multiplicative = bool(past.min() > 0)
    seasonal = seasonal_decompose(
        past, model="multiplicative" if multiplicative else "additive", period=period
    )
    indices = np.asarray(seasonal.seasonal)
    if multiplicative and indices.min() < 0.01:
        multiplicative = False
        indices = np.asarray(seasonal_decompose(past, model="additive", period=period).seasonal)
    adjusted = past / indices if multiplicative else past - indices
    return adjusted, indices[len(past) - period :], multiplicative


def _theta_fit(past: np.ndarray, horizon: int, period: int) -> np.ndarray:
    from statsforecast.models import Theta

    model = Theta(season_length=max(period, 1), decomposition_type="multiplicative")
    return np.asarray(model.forecast(y=past, h=horizon)["mean"])


def _deseasonalised(fit: Fit, past: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """``fit`` (a non-seasonal one) on the classically deseasonalised history (:func:`_decompose`),
    with the last season's indices put back: how ETS and ARIMA handle a season longer than
    they model (as R's ``stlf`` does), and CES one its seasonal models fail to fit."""
    adjusted, season, multiplicative = _decompose(past, period)
    level = fit(adjusted, horizon)
    steps = season[np.arange(horizon) % period]
    return level * steps if multiplicative else level + steps


def _ets_fit(past: np.ndarray, horizon: int, period: int) -> np.ndarray:
    from statsforecast.models import AutoETS

    seasonal = period > 1 and len(past) >= 2 * period
    if seasonal and period > ETS_MAX_SEASON:
        return _deseasonalised(partial(_ets_fit, period=1), past, horizon, period)
    model = AutoETS(season_length=period if seasonal else 1, model="ZZZ", damped=None)
    return np.asarray(model.forecast(y=past, h=horizon)["mean"])


def _ces_fit(past: np.ndarray, horizon: int, period: int) -> np.ndarray:
    from statsforecast.models import AutoCES

    # AutoCES picks among no, simple, partial and full seasonality by AICc, and itself drops
    # the season when fewer than two periods fit; a constant history gets the naive forecast.
    model = AutoCES(season_length=max(period, 1), model="Z")
    return np.asarray(model.forecast(y=past, h=horizon)["mean"])


def _dot_fit(past: np.ndarray, horizon: int, period: int) -> np.ndarray:
    from statsforecast.models import DynamicOptimizedTheta

    # Seasonal adjustment as Theta's: classical decomposition when two periods fit and the
    # 90% autocorrelation test at lag ``period`` (period of at least 4) finds a season.
    model = DynamicOptimizedTheta(season_length=max(period, 1), decomposition_type="multiplicative")
    return np.asarray(model.forecast(y=past, h=horizon)["mean"])


def _arima_fit(past: np.ndarray, horizon: int, period: int) -> np.ndarray:
    from statsforecast.models import AutoARIMA

    if period > ARIMA_MAX_SEASON:
        if len(past) >= 2 * period:
            return _deseasonalised(partial(_arima_fit, period=1), past, horizon, period)
        period = 1
    # Up to ARIMA_MAX_SEASON, AutoARIMA itself tests for (and skips) seasonal differencing on
    # histories of two periods or fewer.
    model = AutoARIMA(season_length=max(period, 1))
    return np.asarray(model.forecast(y=past, h=horizon)["mean"])


def jobs(requested: int | None = None) -> int:
    """Processes the statistical baselines' fits (Theta, ETS, CES, DOT, ARIMA) run in.

    Args:
        requested: A number of processes; None reads :data:`JOBS_ENV`, and when that is unset
            or empty, every core this process may run on.

    Returns:
        At least 1.

    Raises:
        ConfigError: :data:`JOBS_ENV` (or ``requested``) is not a whole number of at least 1.
    """
    raw: int | str | None = requested if requested is not None else os.environ.get(JOBS_ENV, "").strip()
    if raw is None or raw == "":
        cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        return max(len(cores), 1)
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigError(
            f"{JOBS_ENV}={raw!r}: give the number of processes for the statistical baselines "
            "(a whole number, at least 1), or leave it unset for every core"
        )
    return count


@dataclass(frozen=True)
class _Outcome:
    """What the fits of one chunk of origins gave."""

    forecasts: np.ndarray  # (origins, horizon, targets)
    fallbacks: int
    first_error: str


def _fit_one(fits: Sequence[tuple[int, Fit]], past: np.ndarray, horizon: int) -> tuple[np.ndarray, int, str]:
    """The forecast of the first fit of ``fits`` whose minimum rows ``past`` meets and that
    returns finite values, else the naive one; with 1 when a fallback was used and the first
    error raised (or "")."""
    first_error = ""
    for rank, (min_rows, fit) in enumerate(fits):
        if len(past) < min_rows:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                candidate = fit(past, horizon)
        except Exception as exc:  # statsforecast raises bare Exception when no model fits
            first_error = first_error or f"{type(exc).__name__}: {exc}"
            continue
        if np.isfinite(candidate).all():
            return candidate, int(rank > 0), first_error
    return _naive_path(past, horizon), 1, first_error


def _fit_chunk(
    fits: Sequence[tuple[int, Fit]], pasts: Sequence[np.ndarray], horizon: int, n_targets: int
) -> _Outcome:
    """:func:`_fit_one` on every target of every history of ``pasts`` (rows × targets each)."""
    out = np.empty((len(pasts), horizon, n_targets))
    fallbacks, first_error = 0, ""
    for i, past in enumerate(pasts):
        for target in range(n_targets):
            forecast, fell_back, error = _fit_one(fits, past[:, target], horizon)
            out[i, :, target] = forecast
            fallbacks, first_error = fallbacks + fell_back, first_error or error
    return _Outcome(out, fallbacks, first_error)


def _histories(
    name: str, values: np.ndarray, origins: np.ndarray, history: int | None, starts: np.ndarray | None
) -> list[np.ndarray]:
    """The rows each origin's fit sees: the ``history`` rows before it (None: all of them),
    never before the first row of its series."""
    first = np.zeros(len(origins), dtype=np.int64) if starts is None else np.asarray(starts)
    pasts = []
    for i, origin in enumerate(origins):
        start = int(first[i]) if history is None else max(int(first[i]), int(origin) - history)
        if start >= origin:
            raise ValueError(f"{name}: no history before origin {int(origin)}")
        pasts.append(values[start:origin])
    return pasts


def _per_origin(
    name: str,
    fits: Sequence[tuple[int, Fit]],
    levels: np.ndarray,
    origins: np.ndarray,
    *,
    horizon: int,
    n_targets: int,
    history: int | None,
    starts: np.ndarray | None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Refit a model at every origin and target on the ``history`` rows before the origin
    (never before the first row of the origin's series).

    ``fits`` are tried in order: the first whose minimum number of rows the history meets and
    that returns finite forecasts is used; when none does, the naive forecast (last value).
    Fallbacks are counted and logged once.

    The fits are independent. The first :data:`PROBE_ORIGINS` origins are fitted here;
    when :func:`jobs` is above 1 and the rest would take at least
    :data:`PARALLEL_MIN_SECONDS` at the probe's pace, the rest run in that many processes
    (joblib's reusable ``loky`` pool: fresh interpreters, not forks of this one, kept for the
    next call) on contiguous chunks of origins. When :data:`tsforge.cluster.CLUSTER_ENV`
    names a Dask scheduler, every origin is fitted on that cluster instead, however few
    (:func:`_on_cluster`). Either way each forecast is the same, value for value: only where
    it is computed changes.
    """
    values = np.asarray(levels, dtype=np.float64)[:, :n_targets]
    pasts = _histories(name, values, np.asarray(origins), history, starts)
    scheduler = cluster.address()
    if scheduler is not None:
        outcomes = _on_cluster(name, scheduler, fits, pasts, horizon=horizon, n_targets=n_targets)
        return _gathered(name, outcomes, horizon, n_targets)
    processes = jobs(n_jobs)
    import statsforecast.models  # noqa: F401  (imported once here, so the probe times fits only)

    started = time.perf_counter()
    outcomes = [_fit_chunk(fits, pasts[:PROBE_ORIGINS], horizon, n_targets)]
    rest = pasts[PROBE_ORIGINS:]
    expected = (time.perf_counter() - started) / max(min(len(pasts), PROBE_ORIGINS), 1) * len(rest)
    processes = min(processes, len(rest))
    if processes > 1 and expected >= PARALLEL_MIN_SECONDS:
        from joblib import Parallel, delayed

        log.info(
            "%s: %d of %d fits in %d processes (about %.0f s in this one)",
            name,
            len(rest) * n_targets,
            len(pasts) * n_targets,
            processes,
            expected,
        )
        chunks = [c for c in np.array_split(np.arange(len(rest)), processes * CHUNKS_PER_JOB) if len(c)]
        outcomes += Parallel(n_jobs=processes, backend="loky")(
            delayed(_fit_chunk)(fits, [rest[i] for i in chunk], horizon, n_targets) for chunk in chunks
        )
    elif rest:
        outcomes.append(_fit_chunk(fits, rest, horizon, n_targets))
    return _gathered(name, outcomes, horizon, n_targets)


def _on_cluster(
    name: str,
    scheduler: str,
    fits: Sequence[tuple[int, Fit]],
    pasts: Sequence[np.ndarray],
    *,
    horizon: int,
    n_targets: int,
) -> list[_Outcome]:
    """Every origin's fits on the Dask cluster at ``scheduler``, in contiguous chunks of origins
    (:data:`CHUNKS_PER_JOB` per worker thread), in order: the same :func:`_fit_chunk` calls as
    the local pool's, each origin fitted on its own history alone."""
    with cluster.connect(scheduler) as client:
        threads = cluster.threads(client)
        log.info(
            "%s: %d fits on the Dask cluster at %s (%d worker threads)",
            name,
            len(pasts) * n_targets,
            scheduler,
            threads,
        )
        chunks = [c for c in np.array_split(np.arange(len(pasts)), threads * CHUNKS_PER_JOB) if len(c)]
        return cluster.run(
            client, _fit_chunk, [(fits, [pasts[i] for i in chunk], horizon, n_targets) for chunk in chunks]
        )


def _gathered(name: str, outcomes: Sequence[_Outcome], horizon: int, n_targets: int) -> np.ndarray:
    """The chunks' forecasts in order, (origins, horizon, targets); fallbacks logged once."""
    if not outcomes:
        return np.empty((0, horizon, n_targets))
    out = np.concatenate([o.forecasts for o in outcomes])
    fallbacks = sum(o.fallbacks for o in outcomes)
    first_error = next((o.first_error for o in outcomes if o.first_error), "")
    if fallbacks:
        log.warning(
            "%s: %d of %d fits fell back to a simpler model (history under the rows it needs, "
            "non-finite forecasts or a failed fit%s)",
            name,
            fallbacks,
            len(out) * n_targets,
            f"; first failure: {first_error}" if first_error else "",
        )
    return out


class StatisticalMethod(Protocol):
    """A statistical baseline refitted at every origin (made by :func:`_method`)."""

    __name__: str

    def __call__(
        self,
        levels: np.ndarray,
        origins: np.ndarray,
        horizon: int,
        n_targets: int,
        *,
        period: int,
        history: int | None,
        starts: np.ndarray | None = None,
        n_jobs: int | None = None,
    ) -> np.ndarray: ...


FitChain = Callable[[int], list[tuple[int, Fit]]]
"""A method's fits for a seasonal period: ``(fewest rows, fit)`` pairs, tried in turn."""

_METHOD_ARGS = """

    Args:
        levels: Series in original units.
        origins: Forecast origins.
        horizon: Steps ahead.
        n_targets: Target columns (the first columns of ``levels``).
        period: Seasonal period.
        history: Rows of history each fit uses.
        starts: First row of each origin's series; a fit never reaches before it.
        n_jobs: Processes for the fits (None: :func:`jobs`' default).

    Returns:
        Forecasts of shape (len(origins), horizon, n_targets).
    """


def _method(name: str, chain: FitChain, summary: str) -> StatisticalMethod:
    """The baseline ``name``: at every origin, ``chain(period)``'s fits tried in turn on the
    ``history`` rows before it, in the pool or on the cluster (:func:`_per_origin`);
    ``summary`` heads its docstring."""

    def fitted(
        levels: np.ndarray,
        origins: np.ndarray,
        horizon: int,
        n_targets: int,
        *,
        period: int,
        history: int | None,
        starts: np.ndarray | None = None,
        n_jobs: int | None = None,
    ) -> np.ndarray:
        return _per_origin(
            name,
            chain(period),
            levels,
            origins,
            horizon=horizon,
            n_targets=n_targets,
            history=history,
            starts=starts,
            n_jobs=n_jobs,
        )

    fitted.__name__ = fitted.__qualname__ = name
    fitted.__doc__ = summary + _METHOD_ARGS
    return fitted


def _theta_fits(period: int) -> list[tuple[int, Fit]]:
    return [(THETA_MIN_ROWS, partial(_theta_fit, period=period))]


theta = _method(
    "theta",
    _theta_fits,
    """The standard Theta method of the M3 competition (statsforecast's ``Theta``: SES with
    drift, theta = 2), refitted at every origin on the ``history`` rows before it.

    Seasonal adjustment is the classical one: when at least two periods fit in the history
    and the 90% autocorrelation test at lag ``period`` finds seasonality (as in the M3 Theta;
    the test needs ``period`` of at least 4), the history is decomposed, multiplicatively
    when every value is positive and additively otherwise. Histories of fewer than
    :data:`THETA_MIN_ROWS` rows, or where no fit succeeds, get the naive forecast.""",
)


def _ets_fits(period: int) -> list[tuple[int, Fit]]:
    fits: list[tuple[int, Fit]] = [(ETS_MIN_ROWS, partial(_ets_fit, period=period))]
    if period > 1:
        fits.append((ETS_MIN_ROWS, partial(_ets_fit, period=1)))
    return fits


ets = _method(
    "ets",
    _ets_fits,
    """Automatic ETS (statsforecast's ``AutoETS``: error, trend and season chosen by AICc,
    damped trend allowed), refitted at every origin on the ``history`` rows before it.

    The season length is ``period`` when at least two periods fit in the history, else the
    fit is non-seasonal. ETS models seasons of at most :data:`ETS_MAX_SEASON` steps; for a
    longer period (weekly data, period 52) the history is deseasonalised classically
    (multiplicative when positive, as for Theta), a non-seasonal AutoETS is fitted to it, and
    the last season's indices are put back, as R's ``stlf`` does for such data.

    Short histories: when the seasonal fit fails, a non-seasonal AutoETS is tried; with fewer
    than :data:`ETS_MIN_ROWS` rows, or when no fit succeeds, the naive forecast is used.""",
)


def _ces_fits(period: int) -> list[tuple[int, Fit]]:
    fits: list[tuple[int, Fit]] = [(CES_MIN_ROWS, partial(_ces_fit, period=period))]
    if period > 1:
        level: Fit = partial(_ces_fit, period=1)
        fits.append((max(CES_MIN_ROWS, 2 * period), partial(_deseasonalised, level, period=period)))
        fits.append((CES_MIN_ROWS, level))
    return fits


ces = _method(
    "ces",
    _ces_fits,
    """Complex exponential smoothing (statsforecast's ``AutoCES``: no, simple, partial or full
    seasonality chosen by AICc), refitted at every origin on the ``history`` rows before it.

    The season length is ``period``; AutoCES drops the season itself when fewer than two
    periods fit in the history (CES models long seasons, 52, directly and cheaply). When the
    seasonal fit fails (every seasonal CES fails on a history that repeats its season
    exactly: its likelihood is undefined without errors), a non-seasonal AutoCES is fitted
    to the classically deseasonalised history as :func:`ets` does beyond
    :data:`ETS_MAX_SEASON`, then a non-seasonal one to the history itself; with fewer than
    :data:`CES_MIN_ROWS` rows, or when no fit succeeds, the naive forecast is used (a
    constant history gets it anyway).""",
)


def _dot_fits(period: int) -> list[tuple[int, Fit]]:
    return [(DOT_MIN_ROWS, partial(_dot_fit, period=period))]


dot = _method(
    "dot",
    _dot_fits,
    """The dynamic optimised Theta method (statsforecast's ``DynamicOptimizedTheta``: theta,
    the smoothing and the initial level optimised, the trend line updated at every step),
    refitted at every origin on the ``history`` rows before it.

    Seasonal adjustment is Theta's (:func:`theta`), for any period. Histories of fewer than
    :data:`DOT_MIN_ROWS` rows, or where no fit succeeds, get the naive forecast.""",
)


def _arima_fits(period: int) -> list[tuple[int, Fit]]:
    fits: list[tuple[int, Fit]] = [(ARIMA_MIN_ROWS, partial(_arima_fit, period=period))]
    if period > 1:
        fits.append((ARIMA_MIN_ROWS, partial(_arima_fit, period=1)))
    return fits


arima = _method(
    "arima",
    _arima_fits,
    """Automatic ARIMA (statsforecast's ``AutoARIMA``: Hyndman-Khandakar stepwise search by
    AICc), refitted at every origin on the ``history`` rows before it. Slow: see
    :func:`baselines` (``evaluate.arima`` switches it on).

    The season length is ``period`` up to :data:`ARIMA_MAX_SEASON`; for a longer period the
    history is deseasonalised classically and a non-seasonal AutoARIMA fitted to it, as
    :func:`ets` does (a non-seasonal one when fewer than two periods fit). When the seasonal
    fit fails a non-seasonal one is tried; with fewer than :data:`ARIMA_MIN_ROWS` rows, or
    when no fit succeeds, the naive forecast is used.""",
)


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def score_series(
    actual: np.ndarray, forecast: np.ndarray, series: np.ndarray, scales: np.ndarray
) -> dict[str, float]:
    """Every metric of :func:`score` per series, then averaged over series.

    This is how forecasting competitions (M3, M4) report: each series counts once,
    whatever its number of test windows. With one series it is :func:`score`.

    Every series is scored at once: the windows are sorted by series once (a stable sort,
    so each series keeps its windows in their order) and each metric's sums are taken per
    series with ``np.add.reduceat``; the values are :func:`score`'s on each series' windows
    (up to the order of floating-point additions).

    Args:
        actual: Actual values, first axis one row per window.
        forecast: Forecasts, same shape.
        series: Series index of each window.
        scales: MASE scale of each series (indexed by ``series``): one per series, or one
            per series and target, shape (series, targets), as :func:`mase_scales` gives.

    Returns:
        Metric name -> mean over series (series where a metric is undefined are left out;
        NaN when there are no windows).
    """
    scales = np.asarray(scales, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    forecast = np.asarray(forecast, dtype=np.float64)
    if scales.ndim > 1 and (actual.ndim < 2 or actual.shape[-1] != scales.shape[1]):
        raise ValueError(
            f"mase: {scales.shape[1:]} scales per series for values of shape {actual.shape}; give one "
            "scale per series or one per series and target (the last axis)"
        )
    ids, inverse = np.unique(np.asarray(series), return_inverse=True)
    if len(ids) == 0:
        return dict.fromkeys(("rmse", "mae", "mape", "smape", "mase"), float("nan"))
    order = np.argsort(inverse.ravel(), kind="stable")
    windows = np.bincount(inverse.ravel(), minlength=len(ids))
    firsts = np.concatenate([[0], np.cumsum(windows)[:-1]])
    targets = scales.shape[1] if scales.ndim > 1 else 1
    # One row per window, its values flattened (steps × targets), windows grouped by series.
    a = actual[order].reshape(len(order), -1)
    f = forecast[order].reshape(len(order), -1)
    values = windows * a.shape[1]

    def total(x: np.ndarray) -> np.ndarray:
        """Sum over each series' windows of each window's sum."""
        return np.add.reduceat(x.sum(axis=1), firsts)

    errors = np.abs(a - f)
    nonzero = np.abs(a) > 1e-12
    relative = np.divide(errors, np.abs(a), out=np.zeros_like(errors), where=nonzero)
    denominator = np.abs(a) + np.abs(f)
    ratio = np.divide(errors, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    counted = total(nonzero.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        per_series = {
            "rmse": np.sqrt(total((a - f) ** 2) / values),
            "mae": total(errors) / values,
            "mape": np.where(counted > 0, 100 * (total(relative) / np.maximum(counted, 1)), np.nan),
            "smape": 200 * (total(ratio) / values),
            "mase": _mase_per_series(errors, firsts, windows, scales[ids], targets),
        }
    return {name: _mean(list(values_)) for name, values_ in per_series.items()}


def _mase_per_series(
    errors: np.ndarray, firsts: np.ndarray, windows: np.ndarray, scales: np.ndarray, targets: int
) -> np.ndarray:
    """:func:`mase` of every series from its windows' absolute errors (grouped, flattened).

    Args:
        errors: Absolute errors, one row per window, grouped by series.
        firsts: First row of each series' group.
        windows: Windows of each series.
        scales: Each series' scale, or scales (series, targets).
        targets: Targets (the last axis of each window's values).
    """
    if scales.ndim == 1:
        return np.add.reduceat(errors.sum(axis=1), firsts) / (windows * errors.shape[1]) / scales
    by_target = errors.reshape(len(errors), -1, targets).sum(axis=1)
    per_target = np.add.reduceat(by_target, firsts, axis=0) / (windows * errors.shape[1] // targets)[:, None]
    per_target = per_target / scales
    defined = np.isfinite(per_target)
    sums = np.where(defined, per_target, 0.0).sum(axis=1)
    count = defined.sum(axis=1)
    return np.where(count > 0, sums / np.maximum(count, 1), np.nan)


def per_step(actual: np.ndarray, forecast: np.ndarray, metric: Metric) -> list[float]:
    """``metric`` for each horizon step separately."""
    return [metric(actual[:, h], forecast[:, h]) for h in range(actual.shape[1])]


def score_per_step(
    actual: np.ndarray, forecast: np.ndarray, series: np.ndarray, scales: np.ndarray
) -> dict[str, list[float]]:
    """Every metric of :func:`score_series`, for each horizon step."""
    steps = [score_series(actual[:, h], forecast[:, h], series, scales) for h in range(actual.shape[1])]
    return {name: [step[name] for step in steps] for name in steps[0]}


def plot_residuals(path: Path, times: np.ndarray, residuals: np.ndarray, title: str) -> None:
    """Residuals (actual − forecast) of the one-step-ahead path over time."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 3.5))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.plot(times, residuals, linewidth=0.9)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_per_step(path: Path, errors: dict[str, list[float]], metric: str) -> None:
    """Error of each forecaster at each horizon step."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in errors.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
    ax.set_xlabel("horizon step")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per horizon step (test split)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_forecasts(
    path: Path,
    times: np.ndarray,
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    title: str,
) -> None:
    """Line plot of the one-step-ahead path of each forecast against the actual series.

    Args:
        path: PNG to write.
        times: Timestamp of each point.
        actual: Actual values, one per point.
        forecasts: Name -> forecast values, one per point.
        title: Plot title.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(times, actual, color="black", linewidth=1.6, label="actual")
    for name, values in forecasts.items():
        ax.plot(times, values, linewidth=1.0, label=name, alpha=0.85)
    ax.set_title(title)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def interval_coverage(actual: np.ndarray, samples: np.ndarray, level: float) -> dict[str, float]:
    """Empirical coverage and mean width of central ``level`` intervals from forecast samples.

    Args:
        actual: Actual values (n, horizon, targets).
        samples: Forecast samples (samples, n, horizon, targets).
        level: Nominal coverage, e.g. 0.9.

    Returns:
        ``level``, ``coverage`` (share of actuals inside) and ``mean_width``.
    """
    low, high = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    inside = (actual >= low) & (actual <= high)
    return {"level": level, "coverage": float(inside.mean()), "mean_width": float((high - low).mean())}


STATISTICAL_METHODS = ("theta", "ets", "ces", "dot", "arima")
"""Methods :func:`statistical_forecasts` fits per origin."""

STAT_ENSEMBLE = ("ets", "ces", "dot")
"""Members of the ``stat_ensemble`` baseline, with ``arima`` when ``evaluate.arima`` is true."""


def statistical_forecasts(
    methods: Sequence[str],
    levels: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    n_targets: int,
    *,
    period: int,
    history: int | None,
    starts: np.ndarray | None = None,
    n_jobs: int | None = None,
) -> dict[str, np.ndarray]:
    """Statistical methods' forecasts from every origin, each refitted on the ``history`` rows
    before it: the gate's baselines of those names, and (Theta, ETS) what a network is
    combined with.

    Args:
        methods: Names among :data:`STATISTICAL_METHODS` (``theta``, ``ets``, ``ces``, ``dot``,
            ``arima``).
        levels: Series in original units, targets first.
        origins: Forecast origins.
        horizon: Steps ahead.
        n_targets: Target columns (the first of ``levels``).
        period: Seasonal period.
        history: Rows each fit reads.
        starts: First row of each origin's series (a fit never reaches before it).
        n_jobs: Processes (None: :func:`jobs`' default).

    Returns:
        Method -> forecasts of shape (len(origins), horizon, n_targets).
    """
    fits = {"theta": theta, "ets": ets, "ces": ces, "dot": dot, "arima": arima}
    return {
        name: fits[name](
            levels, origins, horizon, n_targets, period=period, history=history, starts=starts, n_jobs=n_jobs
        )
        for name in methods
    }


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

    The statistical methods are refitted per origin on the last ``theta_history`` rows of the
    origin's series (default None: its whole history before the origin, as competitions and a
    forecaster fit them), in ``n_jobs`` processes (None: :func:`jobs`' default, every core or
    ``TSFORGE_JOBS``), each forecast the same in one process or many.

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


def write_reports(
    directory: Path,
    times: np.ndarray,
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    *,
    per_step_errors: dict[str, dict[str, list[float]]],
    title: str,
) -> list[Path]:
    """Write the DVC plot data (CSV) and the PNG plots for the first target.

    Args:
        directory: reports/ folder.
        times: Timestamp of each window's first forecast step.
        actual: Actual values (n, horizon, targets).
        forecasts: Name -> forecasts (n, horizon, targets); must include ``model``.
        per_step_errors: Name -> metric -> value per horizon step.
        title: Title of the forecast plot.

    Returns:
        The PNG files written.
    """
    path = pd.DataFrame(
        {
            "time": pd.to_datetime(times),
            "actual": actual[:, 0, 0],
            **{k: f[:, 0, 0] for k, f in forecasts.items()},
        }
    )
    path["residual"] = path["actual"] - path["model"]
    path.to_csv(directory / "forecast.csv", index=False)
    steps = pd.DataFrame({"step": range(1, actual.shape[1] + 1)})
    for name, errors in per_step_errors.items():
        steps[name] = errors["mae"]
    steps.to_csv(directory / "per_step.csv", index=False)
    pngs = [directory / "forecast.png", directory / "residuals.png", directory / "per_step.png"]
    times_np = path["time"].to_numpy()
    plot_forecasts(
        pngs[0], times_np, path["actual"].to_numpy(), {k: path[k].to_numpy() for k in forecasts}, title
    )
    plot_residuals(
        pngs[1], times_np, path["residual"].to_numpy(), "model residuals, one step ahead (actual − forecast)"
    )
    plot_per_step(pngs[2], {k: v["mae"] for k, v in per_step_errors.items()}, "mae")
    return pngs
