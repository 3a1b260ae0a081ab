"""The statistical forecasting methods (Theta, ETS, CES, DOT, ARIMA), each refitted at every
forecast origin on the history before it: the fits, their fallbacks and seasonal adjustment,
and where the fits run (this process, a process pool, or a Dask cluster)."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np

from tsforge import cluster
from tsforge.errors import ConfigError

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
    :func:`tsforge.baselines.baselines` (``evaluate.arima`` switches it on).

    The season length is ``period`` up to :data:`ARIMA_MAX_SEASON`; for a longer period the
    history is deseasonalised classically and a non-seasonal AutoARIMA fitted to it, as
    :func:`ets` does (a non-seasonal one when fewer than two periods fit). When the seasonal
    fit fails a non-seasonal one is tried; with fewer than :data:`ARIMA_MIN_ROWS` rows, or
    when no fit succeeds, the naive forecast is used.""",
)


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
