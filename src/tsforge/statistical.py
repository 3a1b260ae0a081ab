"""The statistical forecasting methods (Theta, ETS, CES, DOT, ARIMA), forecasting from every
origin with the history before it: the fits, their fallbacks and seasonal adjustment, the
reuse of a fit at a series' later origins (:func:`reuse_anchors`), and where the fits run (this
process, a process pool, or a Dask cluster)."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np

from tsforge import cluster
from tsforge.errors import ConfigError

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


@dataclass(frozen=True)
class Fitted:
    """A fitted statsforecast model, to forecast again from a longer history with the same
    parameters (statsforecast's ``forward``: the states re-run over the new rows, nothing
    re-estimated); ``period`` > 0 when it was fitted to the history classically deseasonalised
    with that period (:func:`_deseasonalised`), which its forward does again."""

    model: Any
    period: int = 0

    def forward(self, past: np.ndarray, horizon: int) -> np.ndarray:
        """The forecast from ``past`` (a later history of the same series)."""
        if not self.period:
            return np.asarray(self.model.forward(y=past, h=horizon)["mean"])
        adjusted, season, multiplicative = _decompose(past, self.period)
        level = np.asarray(self.model.forward(y=adjusted, h=horizon)["mean"])
        return _reseasonalised(level, season, multiplicative, self.period)


Fit = Callable[[np.ndarray, int], tuple[np.ndarray, Fitted]]
"""A method fitted to a history: its forecast for a horizon and the fitted model."""


def _predicted(model: Any, past: np.ndarray, horizon: int) -> tuple[np.ndarray, Fitted]:
    """``model`` (an unfitted statsforecast model) fitted to ``past``, and its forecast."""
    fitted = model.fit(y=past)
    return np.asarray(fitted.predict(h=horizon)["mean"]), Fitted(fitted)


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


def _reseasonalised(level: np.ndarray, season: np.ndarray, multiplicative: bool, period: int) -> np.ndarray:
    """A forecast of the deseasonalised history with the next season's indices put back."""
    steps = season[np.arange(len(level)) % period]
    return level * steps if multiplicative else level + steps


def _theta_fit(past: np.ndarray, horizon: int, period: int) -> tuple[np.ndarray, Fitted]:
    from statsforecast.models import Theta

    return _predicted(Theta(season_length=max(period, 1), decomposition_type="multiplicative"), past, horizon)


def _deseasonalised(fit: Fit, past: np.ndarray, horizon: int, period: int) -> tuple[np.ndarray, Fitted]:
    """``fit`` (a non-seasonal one) on the classically deseasonalised history (:func:`_decompose`),
    with the last season's indices put back: how ETS and ARIMA handle a season longer than
    they model (as R's ``stlf`` does), and CES one its seasonal models fail to fit."""
    adjusted, season, multiplicative = _decompose(past, period)
    level, fitted = fit(adjusted, horizon)
    return _reseasonalised(level, season, multiplicative, period), Fitted(fitted.model, period)


def _ets_fit(past: np.ndarray, horizon: int, period: int) -> tuple[np.ndarray, Fitted]:
    from statsforecast.models import AutoETS

    seasonal = period > 1 and len(past) >= 2 * period
    if seasonal and period > ETS_MAX_SEASON:
        return _deseasonalised(partial(_ets_fit, period=1), past, horizon, period)
    return _predicted(
        AutoETS(season_length=period if seasonal else 1, model="ZZZ", damped=None), past, horizon
    )


def _ces_fit(past: np.ndarray, horizon: int, period: int) -> tuple[np.ndarray, Fitted]:
    from statsforecast.models import AutoCES

    # AutoCES picks among no, simple, partial and full seasonality by AICc, and itself drops
    # the season when fewer than two periods fit; a constant history gets the naive forecast.
    return _predicted(AutoCES(season_length=max(period, 1), model="Z"), past, horizon)


def _dot_fit(past: np.ndarray, horizon: int, period: int) -> tuple[np.ndarray, Fitted]:
    from statsforecast.models import DynamicOptimizedTheta

    # Seasonal adjustment as Theta's: classical decomposition when two periods fit and the
    # 90% autocorrelation test at lag ``period`` (period of at least 4) finds a season.
    model = DynamicOptimizedTheta(season_length=max(period, 1), decomposition_type="multiplicative")
    return _predicted(model, past, horizon)


def _arima_fit(past: np.ndarray, horizon: int, period: int) -> tuple[np.ndarray, Fitted]:
    from statsforecast.models import AutoARIMA

    if period > ARIMA_MAX_SEASON:
        if len(past) >= 2 * period:
            return _deseasonalised(partial(_arima_fit, period=1), past, horizon, period)
        period = 1
    # Up to ARIMA_MAX_SEASON, AutoARIMA itself tests for (and skips) seasonal differencing on
    # histories of two periods or fewer.
    return _predicted(AutoARIMA(season_length=max(period, 1)), past, horizon)


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


REUSE_GROWTH = 0.05
"""A later origin of a series forecasts with the parameters fitted at an earlier one (its
anchor) while the rows added since are at most this fraction of the rows the anchor was fitted
on; past that, it is fitted afresh and anchors the origins after it. So a series' rolling
origins cost a fit every 5 % of growth (co2's 340 weekly test origins on ~1,950 rows: 4 fits,
not 340), and no parameter is older than 5 % of the history it forecasts from. Measured
against a refit at every origin (bench/reuse_check.py, bench/EXPERIMENTS.md E19) on co2,
AirPassengers, sunspots and Seatbelts with Theta, ETS, CES and DOT: MASE ratios 0.970 to 1.040
(median 1.000; 0.25 gave 0.976 to 1.098), fitting 15 to 70 times faster on co2."""

Choice = tuple[int, "Fitted | None"]
"""Which fit of a method's chain an anchor used (its rank) and the fitted model (None: the
naive forecast)."""


@dataclass(frozen=True)
class _Outcome:
    """What the fits (or forwards) of one chunk of origins gave."""

    forecasts: np.ndarray  # (origins, horizon, targets)
    fallbacks: int
    first_error: str
    choices: list[list[Choice]]  # per origin, per target; empty for forwarded origins


def _fit_one(
    fits: Sequence[tuple[int, Fit]], past: np.ndarray, horizon: int
) -> tuple[np.ndarray, Choice, str]:
    """The forecast of the first fit of ``fits`` whose minimum rows ``past`` meets and that
    returns finite values, else the naive one; with the fit's rank and model (rank > 0: a
    fallback; no model: naive) and the first error raised (or "")."""
    first_error = ""
    for rank, (min_rows, fit) in enumerate(fits):
        if len(past) < min_rows:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                candidate, fitted = fit(past, horizon)
        except Exception as exc:  # statsforecast raises bare Exception when no model fits
            first_error = first_error or f"{type(exc).__name__}: {exc}"
            continue
        if np.isfinite(candidate).all():
            return candidate, (rank, fitted), first_error
    return _naive_path(past, horizon), (len(fits), None), first_error


def _forward_one(
    fits: Sequence[tuple[int, Fit]], choice: Choice, past: np.ndarray, horizon: int
) -> tuple[np.ndarray, Choice, str]:
    """The forecast from ``past`` with the anchor's fitted model (:meth:`Fitted.forward`);
    fitted afresh (:func:`_fit_one`) when the anchor had none or the forward fails."""
    rank, fitted = choice
    if fitted is not None and len(past) >= fits[rank][0]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                candidate = fitted.forward(past, horizon)
            if np.isfinite(candidate).all():
                return candidate, choice, ""
        except Exception:  # noqa: S110  (a fresh fit follows, which reports its own failure)
            pass
    return _fit_one(fits, past, horizon)


def _fit_chunk(
    fits: Sequence[tuple[int, Fit]], pasts: Sequence[np.ndarray], horizon: int, n_targets: int
) -> _Outcome:
    """:func:`_fit_one` on every target of every history of ``pasts`` (rows × targets each),
    keeping each fitted model for the origins that reuse it."""
    return _chunk(fits, [(past, None) for past in pasts], horizon, n_targets)


def _forward_chunk(
    fits: Sequence[tuple[int, Fit]],
    items: Sequence[tuple[np.ndarray, list[Choice]]],
    horizon: int,
    n_targets: int,
) -> _Outcome:
    """:func:`_forward_one` on every target of every (history, anchor's choices) of ``items``."""
    return _chunk(fits, items, horizon, n_targets)


def _chunk(
    fits: Sequence[tuple[int, Fit]],
    items: Sequence[tuple[np.ndarray, list[Choice] | None]],
    horizon: int,
    n_targets: int,
) -> _Outcome:
    out = np.empty((len(items), horizon, n_targets))
    fallbacks, first_error = 0, ""
    choices: list[list[Choice]] = []
    for i, (past, anchor) in enumerate(items):
        kept: list[Choice] = []
        for target in range(n_targets):
            if anchor is None:
                forecast, choice, error = _fit_one(fits, past[:, target], horizon)
                kept.append(choice)
            else:
                forecast, choice, error = _forward_one(fits, anchor[target], past[:, target], horizon)
            out[i, :, target] = forecast
            fallbacks, first_error = fallbacks + int(choice[0] > 0), first_error or error
        if anchor is None:
            choices.append(kept)
    return _Outcome(out, fallbacks, first_error, choices)


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


def reuse_anchors(origins: np.ndarray, starts: np.ndarray | None, rows: Sequence[int]) -> np.ndarray:
    """For every origin, the origin whose fitted parameters it forecasts with (itself when it
    is fitted): the series' earlier anchor while the origin is at most :data:`REUSE_GROWTH`
    times the anchor's fitted rows after it, else itself.

    Args:
        origins: Forecast origins (rows of the stacked series).
        starts: First row of each origin's series (None: one series).
        rows: Rows of history each origin's fit reads.

    Returns:
        Indices into ``origins``, one per origin. Depends on the origins alone, never on how
        they are split among processes, so forecasts are the same in one process or many.
    """
    origins = np.asarray(origins, dtype=np.int64)
    series = np.zeros(len(origins), dtype=np.int64) if starts is None else np.asarray(starts, dtype=np.int64)
    anchor_of = np.arange(len(origins))
    anchor = -1
    for i in np.lexsort((origins, series)):
        reusable = (
            anchor >= 0
            and series[i] == series[anchor]
            and origins[i] - origins[anchor] <= REUSE_GROWTH * rows[anchor]
        )
        if reusable:
            anchor_of[i] = anchor
        else:
            anchor = int(i)
    return anchor_of


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
    """A model's forecast at every origin and target from the ``history`` rows before the
    origin (never before the first row of the origin's series).

    Anchor origins (:func:`reuse_anchors`) are fitted: ``fits`` are tried in order, the first
    whose minimum number of rows the history meets and that returns finite forecasts is used,
    and when none does, the naive forecast (last value). The other origins forecast with their
    anchor's fitted model (:meth:`Fitted.forward`), fitted afresh where that fails. Fallbacks
    are counted and logged once.

    Where each step runs is :func:`_spread`'s choice: this process, a process pool, or a Dask
    cluster; each forecast is the same, value for value, wherever it is computed.
    """
    values = np.asarray(levels, dtype=np.float64)[:, :n_targets]
    pasts = _histories(name, values, np.asarray(origins), history, starts)
    anchor_of = reuse_anchors(np.asarray(origins), starts, [len(p) for p in pasts])
    anchors = np.flatnonzero(anchor_of == np.arange(len(pasts)))
    reusing = np.flatnonzero(anchor_of != np.arange(len(pasts)))
    scheduler = cluster.address()
    with cluster.connect(scheduler) if scheduler is not None else nullcontext() as client:
        where = _Where(scheduler, client, n_jobs)
        spread = partial(_spread, name, where=where, fits=fits, horizon=horizon, n_targets=n_targets)
        fitted = spread(_fit_chunk, items=[pasts[i] for i in anchors])
        choices = dict(zip(anchors.tolist(), (c for o in fitted for c in o.choices), strict=True))
        forwarded = spread(_forward_chunk, items=[(pasts[i], choices[int(anchor_of[i])]) for i in reusing])
    out = np.empty((len(pasts), horizon, n_targets))
    for rows, outcomes in ((anchors, fitted), (reusing, forwarded)):
        if len(rows):
            out[rows] = np.concatenate([o.forecasts for o in outcomes])
    _log_fallbacks(name, [*fitted, *forwarded], len(pasts) * n_targets)
    return out


@dataclass(frozen=True)
class _Where:
    """Where the fits run: a Dask cluster (its address and connected client) or this machine
    (in up to ``n_jobs`` processes; None: :func:`jobs`' default)."""

    scheduler: str | None
    client: Any
    n_jobs: int | None


Worker = Callable[[Sequence[tuple[int, Fit]], Sequence[Any], int, int], _Outcome]
""":func:`_fit_chunk` or :func:`_forward_chunk`."""

_WHAT: dict[Worker, str] = {_fit_chunk: "fits", _forward_chunk: "reused fits"}
"""How the log names each worker's items."""


def _spread(
    name: str,
    worker: Worker,
    *,
    where: _Where,
    fits: Sequence[tuple[int, Fit]],
    items: Sequence[Any],
    horizon: int,
    n_targets: int,
) -> list[_Outcome]:
    """``worker`` on every item, in order, where it runs fastest.

    The first :data:`PROBE_ORIGINS` items run here; when :func:`jobs` is above 1 and the rest
    would take at least :data:`PARALLEL_MIN_SECONDS` at the probe's pace, the rest run in that
    many processes (joblib's reusable ``loky`` pool: fresh interpreters, not forks of this one,
    kept for the next call) on contiguous chunks. When :data:`tsforge.cluster.CLUSTER_ENV` names
    a Dask scheduler, every item runs on that cluster instead, however few (:func:`_on_cluster`).
    """
    if not items:
        return []
    if where.scheduler is not None:
        return _on_cluster(name, where, worker, fits, items, horizon=horizon, n_targets=n_targets)
    processes = jobs(where.n_jobs)
    import statsforecast.models  # noqa: F401  (imported once here, so the probe times fits only)

    started = time.perf_counter()
    outcomes = [worker(fits, items[:PROBE_ORIGINS], horizon, n_targets)]
    rest = items[PROBE_ORIGINS:]
    expected = (time.perf_counter() - started) / max(min(len(items), PROBE_ORIGINS), 1) * len(rest)
    processes = min(processes, len(rest))
    if processes > 1 and expected >= PARALLEL_MIN_SECONDS:
        from joblib import Parallel, delayed

        log.info(
            "%s: %d of %d %s in %d processes (about %.0f s in this one)",
            name,
            len(rest) * n_targets,
            len(items) * n_targets,
            _WHAT[worker],
            processes,
            expected,
        )
        chunks = [c for c in np.array_split(np.arange(len(rest)), processes * CHUNKS_PER_JOB) if len(c)]
        outcomes += Parallel(n_jobs=processes, backend="loky")(
            delayed(worker)(fits, [rest[i] for i in chunk], horizon, n_targets) for chunk in chunks
        )
    elif rest:
        outcomes.append(worker(fits, rest, horizon, n_targets))
    return outcomes


def _on_cluster(
    name: str,
    where: _Where,
    worker: Worker,
    fits: Sequence[tuple[int, Fit]],
    items: Sequence[Any],
    *,
    horizon: int,
    n_targets: int,
) -> list[_Outcome]:
    """``worker`` on every item on the Dask cluster ``where`` names, in contiguous chunks
    (:data:`CHUNKS_PER_JOB` per worker thread), in order: the same calls as the local pool's,
    each item computed from its own history (and its anchor's model) alone."""
    threads = cluster.threads(where.client)
    log.info(
        "%s: %d %s on the Dask cluster at %s (%d worker threads)",
        name,
        len(items) * n_targets,
        _WHAT[worker],
        where.scheduler,
        threads,
    )
    chunks = [c for c in np.array_split(np.arange(len(items)), threads * CHUNKS_PER_JOB) if len(c)]
    arguments = [(fits, [items[i] for i in chunk], horizon, n_targets) for chunk in chunks]
    return cluster.run(where.client, worker, arguments)


def _log_fallbacks(name: str, outcomes: Sequence[_Outcome], forecasts: int) -> None:
    """Log, once, how many of ``forecasts`` fell back to a simpler model."""
    fallbacks = sum(o.fallbacks for o in outcomes)
    first_error = next((o.first_error for o in outcomes if o.first_error), "")
    if fallbacks:
        log.warning(
            "%s: %d of %d fits fell back to a simpler model (history under the rows it needs, "
            "non-finite forecasts or a failed fit%s)",
            name,
            fallbacks,
            forecasts,
            f"; first failure: {first_error}" if first_error else "",
        )


class StatisticalMethod(Protocol):
    """A statistical baseline forecasting from every origin (made by :func:`_method`)."""

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
    drift, theta = 2), fitted on the ``history`` rows before each origin
    (a series' later origins reuse an earlier fit: :func:`reuse_anchors`).

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
    damped trend allowed), fitted on the ``history`` rows before each origin
    (a series' later origins reuse an earlier fit: :func:`reuse_anchors`).

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
    seasonality chosen by AICc), fitted on the ``history`` rows before each origin
    (a series' later origins reuse an earlier fit: :func:`reuse_anchors`).

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
    fitted on the ``history`` rows before each origin
    (a series' later origins reuse an earlier fit: :func:`reuse_anchors`).

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
    AICc), fitted on the ``history`` rows before each origin
    (a series' later origins reuse an earlier fit: :func:`reuse_anchors`). Slow: see
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
    """Statistical methods' forecasts from every origin, each fitted on the ``history`` rows
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
