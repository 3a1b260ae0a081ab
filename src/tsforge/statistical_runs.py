"""Where and how often the statistical methods are fitted: a fit at each series' anchor origins
and its reuse at the origins after (:func:`reuse_anchors`), each tried down its method's chain of
fallbacks, in this process, a process pool (:func:`jobs`) or on a Dask cluster; the forecasts
are the same wherever they run. The methods themselves are :mod:`tsforge.statistical`'s."""

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

log = logging.getLogger("tsforge.statistical")  # one logger for the methods and their runs


class Fitted(Protocol):
    """A method fitted at an anchor origin (:class:`tsforge.statistical.Fitted`)."""

    def forward(self, past: np.ndarray, horizon: int) -> np.ndarray:
        """The forecast from ``past``, a later history of the same series."""
        ...


Fit = Callable[[np.ndarray, int], tuple[np.ndarray, Fitted]]
"""A method fitted to a history: its forecast for a horizon and the fitted model."""

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

Choice = tuple[int, Fitted | None]
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


def per_origin(
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
