"""A forecast request answered: the raw history frame in, the forecast frame out.

Each series of the request is checked (columns, length, numbers, the transform's domain),
sorted and gap-filled (:func:`history_levels`); its rows after the last target value are the
horizon's known-future features, checked against the timestamps the forecast needs
(:func:`split_future`, :func:`future_values`); :func:`forecast_frame` forecasts every series
through :mod:`tsforge.origin_forecasts` and lays the result out with its timestamps and, when
asked, its conformal intervals. Every message names the series, the column and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from tsforge.forecast_spec import ForecastSpec
from tsforge.origin_forecasts import forecast_intervals, forecast_origins
from tsforge.panel import SINGLE, Layout


def history_levels(
    history: pd.DataFrame, spec: ForecastSpec, keep: int | None = None
) -> tuple[np.ndarray, pd.Series]:
    """Check, sort and gap-fill one series' raw history (its last ``keep`` rows, default
    ``spec.history_needed``); return its levels and timestamps."""
    missing = [c for c in (spec.time_column, *spec.columns) if c not in history.columns]
    if missing:
        raise ValueError(
            f"history is missing column(s) {missing}; it needs {[spec.time_column, *spec.request_columns]}"
        )
    if len(history) < spec.least_history:
        raise ValueError(f"history has {len(history)} rows; the model needs at least {spec.least_history}")
    frame = history.assign(**{spec.time_column: pd.to_datetime(history[spec.time_column])})
    frame = frame.sort_values(spec.time_column)
    rows = keep or spec.history_needed
    frame = frame if rows is None else frame.tail(rows)
    numbers = {}
    for column in spec.columns:  # the signature lets any type through: say which column is wrong
        try:
            numbers[column] = frame[column].astype("float64")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"history column '{column}' must hold numbers ({exc})") from exc
    values = pd.DataFrame(numbers).interpolate(limit_direction="both")
    if values.isna().any().any():
        raise ValueError("history has a column with no values at all")
    targets = values[list(spec.targets)].to_numpy()
    if (spec.transform == "log" and (targets <= 0).any()) or (
        spec.transform == "log1p" and (targets < 0).any()
    ):
        domain = "above 0" if spec.transform == "log" else "at or above 0"
        raise ValueError(
            f"the model takes {spec.transform} of the targets and needs every value {domain}; the history "
            f"has lower values (lowest {targets.min():.4g}). Retrain with scale.transform set to "
            f"{'log1p or ' if spec.transform == 'log' else ''}none"
        )
    return values.to_numpy(), frame[spec.time_column].reset_index(drop=True)


def future_times(last: pd.Timestamp, times: pd.Series, horizon: int, freq: str | None) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps after ``last``, at ``freq`` (or the history's last step)."""
    if freq:
        return pd.date_range(last, periods=horizon + 1, freq=freq)[1:]
    step = times.iloc[-1] - times.iloc[-2]
    return pd.DatetimeIndex([last + step * (i + 1) for i in range(horizon)])


def _groups(history: pd.DataFrame, spec: ForecastSpec) -> list[tuple[str, pd.DataFrame]]:
    if spec.series_id is None:
        return [(SINGLE, history)]
    if spec.series_id not in history.columns:
        raise ValueError(
            f"history is missing the series id column '{spec.series_id}'; the model forecasts "
            "many series and needs to know which rows belong to which"
        )
    return [(str(name), part) for name, part in history.groupby(spec.series_id, sort=False)]


@dataclass(frozen=True)
class ServedSeries:
    """One series of a forecast request: its rows as the network reads them."""

    name: str
    block: np.ndarray
    """History rows, then the horizon's rows (known columns filled, the rest repeating the last
    row), or a single padding row when nothing is known ahead; every model column."""
    times: pd.Series
    """The history's timestamps."""
    history_rows: int


def split_future(name: str, part: pd.DataFrame, spec: ForecastSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A series' request rows cut into its history and the rows after its last target value
    (the horizon's rows, targets empty, as statsforecast's ``X_df`` and neuralforecast's
    ``futr_df`` carry them), both in time order."""
    if spec.time_column not in part.columns:
        raise ValueError(f"history is missing the time column '{spec.time_column}'")
    frame = part.assign(**{spec.time_column: pd.to_datetime(part[spec.time_column])})
    frame = frame.sort_values(spec.time_column, kind="stable")
    missing = [t for t in spec.targets if t not in frame.columns]
    if missing:
        raise ValueError(
            f"history is missing column(s) {missing}; it needs {[spec.time_column, *spec.request_columns]}"
        )
    observed = np.flatnonzero(frame[list(spec.targets)].notna().any(axis=1).to_numpy())
    if not len(observed):
        raise ValueError(f"series '{name}' has no target values: send its history before the horizon")
    last = int(observed[-1]) + 1
    return frame.iloc[:last], frame.iloc[last:]


def future_values(
    name: str, future: pd.DataFrame, expected: pd.DatetimeIndex, spec: ForecastSpec
) -> np.ndarray:
    """The known-future features over the horizon (horizon x features), checked against the
    timestamps the forecast needs.

    Raises:
        ValueError: Rows are missing, short, misaligned or hold empty values; the message names
            the series and the timestamps.
    """
    columns = list(spec.covariates.future)
    wanted = ", ".join(t.isoformat() for t in expected[:3]) + (" ..." if len(expected) > 3 else "")
    if not len(future):
        raise ValueError(
            f"series '{name}': no future rows. The model reads {columns} over the horizon: add "
            f"{len(expected)} rows after the history with {spec.time_column} {wanted} (through "
            f"{expected[-1].isoformat()}), their {columns} values and the targets left empty"
            + (" (tsforge forecast --future FILE reads them from a file)" if columns else "")
        )
    given = pd.DatetimeIndex(future[spec.time_column])
    given_set, expected_set = set(given), set(expected)
    absent = [t for t in expected if t not in given_set]
    if absent:
        shown = ", ".join(t.isoformat() for t in absent[:5])
        stray = [t.isoformat() for t in given if t not in expected_set][:3]
        extra = f"; rows at {stray} are not forecast steps" if stray else ""
        raise ValueError(
            f"series '{name}': future rows for {len(absent)} of the {len(expected)} forecast steps are "
            f"missing or misaligned ({shown}){extra}. The horizon after the last target value "
            f"{(expected[0]).isoformat()} ... {expected[-1].isoformat()} needs one row per step"
        )
    rows = future.drop_duplicates(spec.time_column).set_index(spec.time_column).loc[expected]
    values = rows[columns].apply(pd.to_numeric, errors="coerce")
    empty = values.isna()
    if empty.any().any():
        cells = [
            f"{column} at {stamp.isoformat()}"
            for column in columns
            for stamp in values.index[empty[column].to_numpy()]
        ]
        raise ValueError(
            f"series '{name}': known-future values are empty or not numbers: {', '.join(cells[:5])}"
            f"{' ...' if len(cells) > 5 else ''}. Give every future feature a value at every step"
        )
    return values.to_numpy(dtype=np.float64)


def served_series(name: str, part: pd.DataFrame, spec: ForecastSpec) -> ServedSeries:
    """One series of a request as the network reads it (see :class:`ServedSeries`)."""
    history, future = split_future(name, part, spec)
    # A series new to the model keeps all the history sent: its scale is measured there.
    levels, times = history_levels(history, spec, None if name in spec.scalers else len(history))
    covariates = spec.covariates
    if spec.known:
        expected = future_times(times.iloc[-1], times, spec.horizon, spec.freq)
        ahead = np.repeat(levels[-1:], spec.horizon, axis=0)
        if covariates.future:
            ahead[:, len(spec.columns) - len(covariates.future) :] = future_values(
                name, future, expected, spec
            )
        block_times = np.concatenate([times.to_numpy(), expected.to_numpy()])
        block = np.vstack([levels, ahead])
    else:
        # One padding row at the origin (never read; a copy of the last row so that
        # logarithms stay finite).
        block_times = np.concatenate([times.to_numpy(), times.to_numpy()[-1:]])
        block = np.vstack([levels, levels[-1:]])
    if covariates.n_derived:
        statics = None
        if covariates.static:
            absent = [c for c in covariates.static_columns if c not in history.columns]
            if absent:
                raise ValueError(
                    f"history is missing the static feature column(s) {absent}; each series' rows carry "
                    "its value (constant within the series)"
                )
            first = history[list(covariates.static_columns)].iloc[:1]
            statics = first.loc[first.index.repeat(len(block))].reset_index(drop=True)
        block = np.hstack([block, covariates.derive(block_times, statics)])
    return ServedSeries(name, block, times, len(levels))


def forecast_frame(
    model: Any, history: pd.DataFrame, spec: ForecastSpec, *, level: float | None = None
) -> pd.DataFrame:
    """Forecast the next ``horizon`` steps after ``history`` (of every series in it).

    Args:
        model: The Keras network.
        history: Recent raw rows: the time column and every input column (and the series
            id column for a model of many series); per series ``spec.history_needed`` rows,
            or as few as ``spec.least_history``, padded with the first (``window.min_history``).
            A model with known-future features also needs, per series, the horizon's rows after
            its history: their timestamps and feature values, the targets empty. A series the
            model was not trained on is forecast from its own history (its scale measured there).
        spec: The forecast spec.
        level: Add conformal prediction intervals at this coverage (``<target>_lower`` and
            ``<target>_upper`` after the targets; NaN for a model without a calibration).
            None: the forecast columns only.

    Returns:
        A frame with the series id (if any), the time column and one column per target,
        ``horizon`` rows per series.
    """
    served = [served_series(name, part, spec) for name, part in _groups(history, spec)]
    lengths = np.array([len(s.block) for s in served])
    layout = Layout(tuple(s.name for s in served), np.concatenate([[0], np.cumsum(lengths)]))
    origins = layout.bounds[:-1] + np.array([s.history_rows for s in served])
    phases = None
    if spec.seasonality.active:
        # Only each block's first timestamp places it in the season; the rows follow at freq.
        starts = np.concatenate([np.asarray(s.times[:1].to_numpy()).repeat(len(s.block)) for s in served])
        phases = spec.seasonality.phases(starts, layout)
    levels = np.vstack([s.block for s in served])
    forecasts = forecast_origins(model, levels, origins, spec, layout=layout, phases=phases)
    names = [s.name for s in served]
    if level is not None:
        if spec.conformal is not None:
            histories = {s.name: s.block[: s.history_rows, : len(spec.targets)] for s in served}
            spec = replace(spec, conformal=spec.conformal.with_scales_of(histories))
        lower, upper = forecast_intervals(forecasts, names, spec, level)
    frames = []
    for i, (series, forecast) in enumerate(zip(served, forecasts, strict=True)):
        out = pd.DataFrame(forecast, columns=list(spec.targets))
        if level is not None:
            for j, target in enumerate(spec.targets):
                out[f"{target}_lower"], out[f"{target}_upper"] = lower[i, :, j], upper[i, :, j]
        out.insert(
            0, spec.time_column, future_times(series.times.iloc[-1], series.times, spec.horizon, spec.freq)
        )
        if spec.series_id is not None:
            out.insert(0, spec.series_id, series.name)
        frames.append(out)
    return pd.concat(frames, ignore_index=True)
