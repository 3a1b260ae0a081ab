"""A feature-aware baseline for the promotion gate: gradient-boosted trees (LightGBM) through mlforecast.

The statistical baselines (naive, Theta, ETS) see only the target's own history. Once the panel
carries features (price, promotions, calendar and holiday encodings, static per-series codes), the
network must also beat what a practitioner would build from the same columns: one global LightGBM
model over all series (the family that won M5) on lags of the target, the known-ahead columns at
the target time, and lags of the past-only columns.

The direct strategy is used (``max_horizon``: one model per horizon step), so each step's model
reads the known-ahead values at its own target time and never feeds its forecasts back as lags.

Time is given to mlforecast as integer row positions within each series (``freq=1``), whatever the
data's frequency: calendar effects reach the model only through the known columns, which is where
the pipeline puts them, and irregular or missing frequencies cannot break the fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

MAX_LAGS = 48
"""Most target lags (two days of hourly data): each is a column of every step's model, and the
largest is the history an origin needs before the model forecasts it (else the fallback)."""

NONSEASONAL_LAGS = 14
"""Target lags cap when there is no season (``season <= 1``)."""

PAST_LAGS = 3
"""Lags taken of each past-only column: their recent values carry most of what they say about
the next steps; each lag costs ``horizon`` columns (one per direct model)."""

PREDICT_CHUNK = 2000
"""Origins forecast per mlforecast predict call: bounds the memory of the history frames."""

DIFFERENCES = 1
"""Rows the target transform (first differences) consumes before the first lag can be read."""

LGBM_PARAMS: dict[str, Any] = {
    # One model per horizon step: 100 trees at 0.1 and 63 bins cost a third of 200 at 0.05 with
    # 255 bins, and forecast within 3% of them on synthetic trending, seasonal and promotion panels.
    "n_estimators": 100,
    "learning_rate": 0.1,
    "max_bin": 63,
    "num_leaves": 31,
    # Short panels (a few series of ~100 rows) have few rows per leaf to spare; LightGBM's
    # default of 20 would keep the trees from splitting on rarer feature values.
    "min_child_samples": 5,
    "n_jobs": 1,
    # Same inputs, same forecasts: the gate's verdict must not change between reruns.
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}
"""Modest LightGBM settings: a baseline, not a tuned competitor."""


@dataclass(frozen=True)
class FeatureColumns:
    """Which columns of ``levels`` (beyond the targets) the baseline uses, and how.

    Attributes:
        past: Column indices observed only up to the origin; the model sees their lags
            (1..``PAST_LAGS`` rows before the origin).
        known: Column indices known over the horizon (future price/promo, calendar and holiday
            encodings, static per-series encodings); the model sees their value at the target time.
    """

    past: tuple[int, ...] = ()
    known: tuple[int, ...] = ()


def target_lags(lags: int, season: int) -> list[int]:
    """The target lags the model uses.

    Consecutive lags ``1..n`` with ``n`` = ``lags`` capped at two seasons (or ``NONSEASONAL_LAGS``
    without a season) and at ``MAX_LAGS``, plus the seasonal lag itself (if at most ``MAX_LAGS``)
    when ``lags`` is shorter than a season.

    Args:
        lags: Lags requested (the network's input size, or the season).
        season: Season length in rows; 1 or less for none.

    Returns:
        Sorted, distinct lags, each at least 1.
    """
    cap = min(2 * season, MAX_LAGS) if season > 1 else NONSEASONAL_LAGS
    chosen = set(range(1, max(1, min(lags, cap)) + 1))
    if 1 < season <= MAX_LAGS:
        # The lag a season back is the one that carries seasonality; keep it even if lags is short.
        chosen.add(season)
    return sorted(chosen)


def _series_of(bounds: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index of the series each absolute row belongs to."""
    return np.searchsorted(bounds, rows, side="right") - 1


def _segments(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[start, stop)`` of each segment, concatenated, and the segment of each row."""
    sizes = np.maximum(stops - starts, 0)
    owner = np.repeat(np.arange(len(starts)), sizes)
    offsets = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return starts[owner] + offsets, owner


def _past_name(column: int, lag: int, step: int) -> str:
    return f"past{column}_lag{lag}_h{step}"


def _step_columns(past: tuple[int, ...], horizon: int) -> dict[int, list[str]]:
    """The past-column lags each direct model (1-based step) is given."""
    return {
        step: [_past_name(c, lag, step) for lag in range(1, PAST_LAGS + 1) for c in past]
        for step in range(1, horizon + 1)
    }


def _past_features(
    levels: np.ndarray,
    rows: np.ndarray,
    *,
    firsts: np.ndarray,
    limits: np.ndarray,
    past: tuple[int, ...],
    horizon: int,
) -> dict[str, np.ndarray]:
    """Lags of the past-only columns, laid out for mlforecast's direct models.

    mlforecast's model for step ``h`` (1-based) reads a dynamic column at the target time
    ``t + h - 1`` of an origin ``t``. A past-only column may only be read before ``t``, so the
    column ``pastJ_lagK_h{h}`` holds, at row ``s``, the value of column J at ``s - (h - 1) - K``:
    at the target time of step h that is column J at ``t - K``, K rows before the origin. Each
    step's model is given only its own ``_h{h}`` columns (``horizon_features``).

    Args:
        levels: All rows, (rows, columns).
        rows: Absolute rows to build the features for.
        firsts: First row of each row's series (earlier rows are another series: NaN).
        limits: One past the last row each row may read (the origin for forecast rows), so
            nothing at or after an origin is ever put in the frame, even in columns no model reads.
        past: Past-only column indices.
        horizon: Forecast steps.

    Returns:
        Column name to values (NaN where the source row falls outside the allowed range).
    """
    out: dict[str, np.ndarray] = {}
    for step in range(1, horizon + 1):
        for lag in range(1, PAST_LAGS + 1):
            source = rows - (step - 1) - lag
            valid = (source >= firsts) & (source < limits)
            source = np.where(valid, source, 0)
            for column in past:
                out[_past_name(column, lag, step)] = np.where(valid, levels[source, column], np.nan)
    return out


def _frame(
    levels: np.ndarray,
    bounds: np.ndarray,
    rows: np.ndarray,
    *,
    ids: np.ndarray,
    limits: np.ndarray,
    columns: FeatureColumns,
    horizon: int,
) -> pd.DataFrame:
    """A long frame for mlforecast: id, integer time, known columns, past-column lags (no target).

    Args:
        levels: All rows, (rows, columns).
        bounds: Series boundaries.
        rows: Absolute rows of the frame, grouped by id, in time order.
        ids: The mlforecast series id of each row (a series in training, an origin at predict time).
        limits: One past the last row each row's past-column lags may read.
        columns: The feature columns.
        horizon: Forecast steps.

    Returns:
        The frame, without the target column ``y``.
    """
    import pandas as pd

    firsts = bounds[_series_of(bounds, rows)]
    data: dict[str, np.ndarray] = {"unique_id": ids, "ds": rows - firsts}
    for column in columns.known:
        data[f"known{column}"] = levels[rows, column]
        # On a differenced target a known effect acts through its change: give the change too.
        prev = np.where(rows > firsts, levels[np.maximum(rows - 1, 0), column], np.nan)
        data[f"known{column}_delta"] = levels[rows, column] - prev
    past = _past_features(levels, rows, firsts=firsts, limits=limits, past=columns.past, horizon=horizon)
    data.update(past)
    return pd.DataFrame(data)


def _target_transforms() -> list[Any]:
    """The per-series target transform: first differences, then each series standardised.

    Why differences: trees cannot extrapolate, so on levels (``LocalStandardScaler`` alone) a
    trending series is forecast flat at the highest level seen in training; on a synthetic
    trending panel (20 series) that was no better than naive (MAE 3.7 vs 1.1 differenced), and
    much of the pipeline's data trends (CO2, M1/M3, air passengers). Why the scaler after them:
    a global model pools series of very different scales, and standardised differences let them
    share one set of trees.
    The price: on level-stationary panels the levels scaler was better (seasonal MAE 0.86 vs
    1.31, promotion 0.85 vs 1.20), as differences carry the last observation's noise; and a
    known-ahead effect on the level becomes an effect of its change, which is why the known
    columns come with their change from the previous row (``_delta``). Per-series automatic
    differencing (``AutoDifferences``) was tried and rejected: one pooled model trained on a mix
    of differenced and undifferenced targets did worst of all on random walks.
    """
    from mlforecast.target_transforms import Differences, LocalStandardScaler

    return [Differences([1]), LocalStandardScaler()]


def _fallback(levels: np.ndarray, origins: np.ndarray, horizon: int, n_targets: int) -> np.ndarray:
    """The last value before each origin, repeated over the horizon."""
    last = levels[origins - 1, :n_targets]
    return np.repeat(last[:, None, :], horizon, axis=1)


def _check(
    levels: np.ndarray,
    bounds: np.ndarray,
    origins: np.ndarray,
    *,
    times: np.ndarray,
    horizon: int,
    n_targets: int,
    columns: FeatureColumns,
    fit_stops: np.ndarray,
) -> None:
    """Reject inputs the forecasts would silently be wrong for."""
    if levels.ndim != 2 or len(times) != len(levels):
        raise ValueError("levels must be (rows, columns) with one time per row")
    if horizon < 1 or not 1 <= n_targets <= levels.shape[1]:
        raise ValueError("horizon must be positive and n_targets within the columns")
    features = set(columns.past) | set(columns.known)
    if any(not n_targets <= c < levels.shape[1] for c in features) or set(columns.past) & set(columns.known):
        raise ValueError("feature columns must be distinct non-target column indices")
    if len(bounds) < 2 or bounds[0] != 0 or bounds[-1] != len(levels) or np.any(np.diff(bounds) < 0):
        raise ValueError("bounds must run from 0 to the row count, ascending")
    if len(fit_stops) != len(bounds) - 1 or np.any(fit_stops < bounds[:-1]) or np.any(fit_stops > bounds[1:]):
        raise ValueError("fit_stops must give one stop per series, inside it")
    series = _series_of(bounds, origins)
    if np.any(origins <= bounds[series]) or np.any(origins + horizon > bounds[series + 1]):
        raise ValueError("each origin needs a row before it and its horizon rows inside its series")
    if np.any(origins < fit_stops[series]):
        raise ValueError("origins must lie at or after their series' fit stop (no test row in training)")
    if not np.isfinite(levels[:, :n_targets]).all():
        raise ValueError("target values must be finite")


def _fit(train: pd.DataFrame, *, horizon: int, lags: list[int], past: tuple[int, ...], seed: int) -> Any:
    """One global direct model (a LightGBM per horizon step) fitted on ``train``."""
    import lightgbm as lgb
    from mlforecast import MLForecast

    forecaster = MLForecast(
        models={"lgbm": lgb.LGBMRegressor(random_state=seed, **LGBM_PARAMS)},
        freq=1,
        lags=lags,
        target_transforms=_target_transforms(),
    )
    return forecaster.fit(
        train,
        # Known columns (static encodings included) vary by row here: all dynamic, read at the
        # target time from the future frame.
        static_features=[],
        max_horizon=horizon,
        # Each step's model reads only its own past-column lags (see _past_features).
        horizon_features=_step_columns(past, horizon) if past else None,
        as_numpy=True,
        validate_data=False,
    )


def _predict(forecaster: Any, history: pd.DataFrame, future: pd.DataFrame, horizon: int) -> np.ndarray:
    """Forecasts (ids, horizon) for ids ``0..n-1`` of ``history`` (NaN where none came back)."""
    with warnings.catch_warnings():
        # Known-noisy: the future frame's NaN are the other steps' past-column lags, left NaN on
        # purpose (see _frame); no step's model reads them.
        warnings.filterwarnings("ignore", message="Found null values in ")
        exog = future.shape[1] > 2
        predictions = forecaster.predict(horizon, new_df=history, X_df=future if exog else None)
    ids = predictions["unique_id"].to_numpy()
    # Steps from the ids' first forecast time; mlforecast's row order is not relied on.
    first = history.groupby("unique_id", sort=True)["ds"].max().to_numpy() + 1
    out = np.full((int(history["unique_id"].iloc[-1]) + 1, horizon), np.nan)
    out[ids, predictions["ds"].to_numpy() - first[ids]] = predictions["lgbm"].to_numpy()
    return out


def gbm_forecasts(  # noqa: PLR0917 (the signature the evaluate stage calls, like the other baselines)
    levels: np.ndarray,
    bounds: np.ndarray,
    times: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    n_targets: int,
    columns: FeatureColumns,
    *,
    fit_stops: np.ndarray,
    freq: str | None,
    lags: int,
    season: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """Forecasts of shape (len(origins), horizon, n_targets) from one global LightGBM model.

    One model (per target column, per horizon step: direct strategy) is fitted on all series
    pooled, on each series' rows before its ``fit_stops`` entry, and forecasts every origin from
    the rows before it. Its inputs at an origin ``t`` for the target time ``t + h``: the target
    lags of :func:`target_lags` (of the differenced, per-series standardised target), the
    ``known`` columns at ``t + h`` with their change from ``t + h - 1``, and the past-only columns
    at ``t - 1 .. t - PAST_LAGS`` (``h`` = 0 .. horizon - 1). Other target columns are not inputs.

    Fallback: an origin with fewer rows before it than the largest target lag plus one (its lags
    of the differenced series would reach before the series' start), and every origin when no
    series has enough training rows for the last horizon step, gets the last value before it,
    repeated over the horizon.

    Args:
        levels: All series stacked, (rows, columns): targets first, then other numeric columns.
        bounds: Series ``i`` is rows ``[bounds[i], bounds[i+1])``.
        times: Time of each row. Not used by the model: time is passed as integer positions,
            so calendar effects come only through the known columns.
        origins: Absolute rows; each forecasts rows ``[t, t + horizon)`` of its series.
        horizon: Steps per forecast.
        n_targets: Leading columns of ``levels`` that are targets.
        columns: Past-only and known-ahead feature columns.
        fit_stops: Per series, the absolute row one past the last row the model may train on
            (its test split's start); every origin must lie at or after its series' stop.
        freq: The data's frequency, or None. Not used, for the reason given under ``times``.
        lags: Target lags requested; capped by :func:`target_lags`.
        season: Season length in rows (1: none).
        seed: LightGBM's seed.

    Returns:
        Forecasts in the units of ``levels``; no NaN for finite targets.

    Raises:
        ValueError: On inconsistent inputs (bounds, fit stops, origins, columns).
    """
    del freq  # integer positions are used whatever the frequency (see the module docstring)
    values = np.asarray(levels, dtype=np.float64)
    bounds = np.asarray(bounds, dtype=np.int64)
    origins = np.asarray(origins, dtype=np.int64)
    fit_stops = np.asarray(fit_stops, dtype=np.int64)
    _check(
        values,
        bounds,
        origins,
        times=np.asarray(times),
        horizon=horizon,
        n_targets=n_targets,
        columns=columns,
        fit_stops=fit_stops,
    )
    out = _fallback(values, origins, horizon, n_targets)
    lag_set = target_lags(lags, season)
    # Rows before a row whose every target lag can be read (of the differenced series).
    need = lag_set[-1] + DIFFERENCES
    series = _series_of(bounds, origins)
    modelled = np.flatnonzero(origins - bounds[series] >= need)
    # Series too short to give a single training row are left out (mlforecast would drop them
    # with a warning); the last step's model needs at least one row with its target inside.
    sizes = fit_stops - bounds[:-1]
    trainable = np.flatnonzero(sizes > need)
    if len(modelled) == 0 or np.maximum(sizes - need - horizon + 1, 0).sum() < 1:
        return out

    shared: dict[str, Any] = {"columns": columns, "horizon": horizon}
    train_rows, train_ids = _segments(bounds[trainable], fit_stops[trainable])
    train = _frame(values, bounds, train_rows, ids=train_ids, limits=train_rows, **shared)
    for target in range(n_targets):
        train["y"] = values[train_rows, target]
        forecaster = _fit(train, horizon=horizon, lags=lag_set, past=columns.past, seed=seed)
        # In chunks of origins: each one's frame holds its whole history (see below), and the
        # past-column lags take ``PAST_LAGS * horizon`` columns each.
        for chunk in np.array_split(modelled, -(-len(modelled) // PREDICT_CHUNK)):
            used = origins[chunk]
            # The whole history before each origin: the per-series scaler is refitted on it at
            # predict time and must see what it saw in training (the series from its start).
            hist_rows, hist_ids = _segments(bounds[series[chunk]], used)
            history = _frame(values, bounds, hist_rows, ids=hist_ids, limits=hist_rows, **shared)
            history["y"] = values[hist_rows, target]
            fut_rows, fut_ids = _segments(used, used + horizon)
            future = _frame(values, bounds, fut_rows, ids=fut_ids, limits=used[fut_ids], **shared)
            forecast = _predict(forecaster, history, future, horizon)
            good = np.isfinite(forecast).all(axis=1)
            out[chunk[good], :, target] = forecast[good]
    return out
