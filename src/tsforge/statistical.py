"""The statistical forecasting methods (Theta, ETS, CES, DOT, ARIMA): each method's fits, their
fallbacks and seasonal adjustment, and the fitted model a later origin reuses. Where and how
often they are fitted (anchors, the process pool, the Dask cluster) is
:mod:`tsforge.statistical_runs`'."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np

from tsforge.statistical_runs import per_origin

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
"""A method fitted to a history: its forecast for a horizon and the fitted model
(:data:`tsforge.statistical_runs.Fit` with this module's :class:`Fitted`)."""


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
        return per_origin(
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
    (a series' later origins reuse an earlier fit: :func:`tsforge.statistical_runs.reuse_anchors`).

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
    (a series' later origins reuse an earlier fit: :func:`tsforge.statistical_runs.reuse_anchors`).

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
    (a series' later origins reuse an earlier fit: :func:`tsforge.statistical_runs.reuse_anchors`).

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
    (a series' later origins reuse an earlier fit: :func:`tsforge.statistical_runs.reuse_anchors`).

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
    (a series' later origins reuse an earlier fit: :func:`tsforge.statistical_runs.reuse_anchors`). Slow: see
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
