"""Raw history in, forecast in original units out: the model as it is served.

The same transform code turns levels into model inputs and model outputs back into
levels for the evaluate stage and for the MLflow pyfunc, so what is scored is what is
served.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsforge import statistical as st
from tsforge.catalog import write_text
from tsforge.combination import Combination
from tsforge.conformal import Calibration, bounds
from tsforge.covariates import Covariates
from tsforge.panel import (
    SINGLE,
    Layout,
    require_scalers,
    scale_stacked,
    scalers_from_dict,
    scalers_to_dict,
    stacked_model_space,
)
from tsforge.scaling import AffineScaler, forward_transform, inverse_transform, model_space
from tsforge.seasonality import Seasonality
from tsforge.windowing import last_inputs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForecastSpec:
    """Everything besides the network that a forecast needs.

    ``scalers`` holds one scaler per series (the single series of a project without
    ``data.series_id`` is named ``""``); ``series_id`` names the id column of the input.
    ``conformal`` is the prediction intervals' calibration (:mod:`tsforge.conformal`), None
    for a model saved before intervals (or calibrated on no validation window).
    """

    time_column: str
    targets: tuple[str, ...]
    features: tuple[str, ...]
    input_size: int
    horizon: int
    difference: bool
    freq: str | None
    scalers: Mapping[str, AffineScaler]
    series_id: str | None = None
    transform: str = "none"
    normalize: bool = False
    seasonality: Seasonality = Seasonality()
    conformal: Calibration | None = None
    min_history: int | None = None
    """Fewest real rows a window may hold (``window.min_history``); a shorter history than
    ``input_size`` is padded with its first value. None: ``input_size`` (no padding)."""
    combination: Combination = Combination()
    """Statistical methods the network's forecast is averaged with (``train.combine``)."""
    covariates: Covariates = Covariates()
    """Known-future, calendar, holiday and static columns (:mod:`tsforge.covariates`)."""

    @property
    def columns(self) -> tuple[str, ...]:
        """Numeric columns a request carries: targets, past-only then known-future features."""
        return self.targets + self.features + self.covariates.future

    @property
    def known(self) -> int:
        """Trailing model columns known for the horizon (0: the network reads the past only)."""
        return self.covariates.n_known

    @property
    def request_columns(self) -> tuple[str, ...]:
        """Every column a request carries besides the time and series id: the numeric ones,
        then the static features."""
        return self.columns + self.covariates.static_columns

    @property
    def history_needed(self) -> int | None:
        """Rows of history one forecast reads: ``input_size``, one more when differencing, or
        more when a combined statistical method fits on a longer history; None when it fits
        on the whole history it is sent."""
        network = self.input_size + int(self.difference)
        if not self.combination.active:
            return network
        statistical = self.combination.history
        return None if statistical is None else max(network, statistical)

    @property
    def least_history(self) -> int:
        """Fewest rows of history a forecast accepts (shorter than :attr:`history_needed` is padded)."""
        least = self.input_size if self.min_history is None else min(self.min_history, self.input_size)
        return least + int(self.difference)

    @classmethod
    def of_pipeline(
        cls,
        data: Any,
        series: Any,
        windows: Any,
        freq: str | None,
        scalers: Mapping[str, AffineScaler],
        *,
        min_history: int | None = None,
    ) -> ForecastSpec:
        """The spec of a model trained by the pipeline.

        Args:
            data: The data section of params (:class:`tsforge.config.DataConfig`).
            series: The scale stage's :class:`tsforge.catalog.ProcessedSeries`.
            windows: The window stage's :class:`tsforge.catalog.Windows`.
            freq: The series' frequency, as ingest recorded it.
            scalers: The scale stage's per-series scalers.
            min_history: ``window.min_history`` as resolved (the fewest real rows of a window).

        Returns:
            The spec.
        """
        return cls(
            time_column=data.time_column,
            targets=data.target,
            features=data.features,
            input_size=windows.spec.input_size,
            horizon=windows.spec.horizon,
            difference=series.difference,
            freq=freq,
            scalers=scalers,
            series_id=data.series_id,
            transform=series.transform,
            normalize=windows.normalize,
            seasonality=series.seasonality,
            min_history=min_history,
            covariates=series.covariates,
        )

    def save(self, path: Path) -> None:
        """Write as JSON, atomically."""
        skip = ("scalers", "seasonality", "conformal", "combination", "covariates")
        raw = {k: v for k, v in asdict(self).items() if k not in skip}
        raw["scalers"] = scalers_to_dict(self.scalers)
        raw["seasonality"] = self.seasonality.to_dict()
        if self.conformal is not None:
            raw["conformal"] = self.conformal.to_dict()
        if self.combination.active:
            raw["combination"] = self.combination.to_dict()
        raw["covariates"] = self.covariates.to_dict()
        write_text(path, json.dumps(raw, indent=2))

    @classmethod
    def load(cls, path: Path) -> ForecastSpec:
        """Read a spec written by :meth:`save` (or by a version with one ``scaler``)."""
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            time_column=raw["time_column"],
            targets=tuple(raw["targets"]),
            features=tuple(raw["features"]),
            input_size=int(raw["input_size"]),
            horizon=int(raw["horizon"]),
            difference=bool(raw["difference"]),
            freq=raw["freq"],
            scalers=scalers_from_dict(raw["scalers"] if "scalers" in raw else raw["scaler"]),
            series_id=raw.get("series_id"),
            # Specs from before log1p stored a flag ``log``.
            transform=str(raw.get("transform") or ("log" if raw.get("log") else "none")),
            normalize=bool(raw.get("normalize", False)),
            seasonality=Seasonality.from_dict(raw.get("seasonality")),
            conformal=Calibration.from_dict(raw.get("conformal")),
            min_history=None if raw.get("min_history") is None else int(raw["min_history"]),
            combination=Combination.from_dict(raw.get("combination")),
            # Specs from before covariates read their past features only.
            covariates=Covariates.from_dict(raw.get("covariates"), past=tuple(raw["features"])),
        )


def _one_series(levels: np.ndarray, layout: Layout | None) -> Layout:
    return layout if layout is not None else Layout.single(len(levels))


def to_model_space(
    levels: np.ndarray, spec: ForecastSpec, layout: Layout | None = None, phases: np.ndarray | None = None
) -> np.ndarray:
    """Levels (rows, columns) -> scaled model inputs, row-aligned with ``levels``.

    Each series of ``layout`` (default: one series) is deseasonalised, differenced and scaled
    on its own; ``phases`` places each row in its season (see :func:`season_phases`).
    """
    layout = _one_series(levels, layout)
    n_targets = len(spec.targets)
    seasons = spec.seasonality
    component = None
    if seasons.active:
        component = seasons.component(season_phases(spec, layout, phases), layout, n_targets)
    unscaled = stacked_model_space(
        levels, layout, n_targets, spec.difference, spec.transform, seasonal=component
    )
    return scale_stacked(unscaled, layout, spec.scalers)


def season_phases(spec: ForecastSpec, layout: Layout, phases: np.ndarray | None) -> np.ndarray:
    """``phases`` when given, else those of series that start at their anchor (the pipeline's arrays)."""
    return phases if phases is not None else spec.seasonality.phases(None, layout)


def to_levels(
    predictions: np.ndarray,
    levels: np.ndarray,
    origins: np.ndarray,
    spec: ForecastSpec,
    layout: Layout | None = None,
    *,
    phases: np.ndarray | None = None,
) -> np.ndarray:
    """Model outputs (n, horizon, targets) -> forecasts in original units.

    Args:
        predictions: Network outputs for the windows ending before each origin.
        levels: The series in original units.
        origins: Forecast origin of each window (first forecast row).
        spec: The forecast spec.
        layout: The series of ``levels`` (default: one series).
        phases: Each row's phase in its season (default: series start at their anchor).

    Returns:
        Forecast levels of shape (n, horizon, targets).
    """
    layout = _one_series(levels, layout)
    require_scalers(spec.scalers, layout.names)
    n_targets = len(spec.targets)
    seasons = spec.seasonality
    phases = season_phases(spec, layout, phases) if seasons.active else None
    of_origin = layout.series_of(origins)
    steps = np.empty(np.shape(predictions), dtype=np.float64)
    for i in np.unique(of_origin):
        rows = of_origin == i
        steps[rows] = spec.scalers[layout.names[i]].inverse(predictions[rows], spec.targets)
    if spec.difference:
        last_level = np.asarray(levels, dtype=np.float64)[origins - 1, :n_targets]
        last_level = forward_transform(last_level, spec.transform)
        if phases is not None:
            last_level -= seasons.ahead(phases, layout, origins - 1, 1, n_targets)[:, 0]
        steps = last_level[:, None, :] + np.cumsum(steps, axis=1)
    if phases is not None:
        steps = steps + seasons.ahead(phases, layout, origins, spec.horizon, n_targets)
    return inverse_transform(steps, spec.transform)


def forecast_origins(
    model: Any,
    levels: np.ndarray,
    origins: np.ndarray,
    spec: ForecastSpec,
    *,
    layout: Layout | None = None,
    phases: np.ndarray | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """Forecast from many origins at once (for evaluation and re-scoring).

    Args:
        model: The Keras network.
        levels: Series in original units, shape (rows, columns), series stacked.
        origins: Origins to forecast from.
        spec: The forecast spec.
        layout: The series of ``levels`` (default: one series).
        phases: Each row's phase in its season (default: series start at their anchor).
        batch_size: Windows per predict call.

    Returns:
        Forecast levels, shape (len(origins), horizon, targets).
    """
    from tsforge.windowing import WindowSpec, gather_windows

    spec = with_new_series(spec, levels, origins, layout)
    values = to_model_space(levels, spec, layout, phases)
    first_rows = first_input_rows(origins, spec, _one_series(levels, layout))
    window = WindowSpec(spec.input_size, spec.horizon if spec.known else 1)
    outputs = []
    for begin in range(0, len(origins), batch_size):
        chunk = slice(begin, begin + batch_size)
        x, _ = gather_windows(
            values,
            origins[chunk],
            window,
            len(spec.targets),
            spec.normalize,
            first_rows=first_rows[chunk],
            known=spec.known,
        )
        outputs.append(np.asarray(model.predict(x, verbose=0)))
    predictions = np.concatenate(outputs) if outputs else np.empty((0, spec.horizon, len(spec.targets)))
    network = to_levels(
        _denormalize(predictions, values, origins, spec), levels, origins, spec, layout, phases=phases
    )
    return spec.combination.blend(network, combined_forecasts(levels, origins, spec, layout))


def new_series(spec: ForecastSpec, names: Sequence[str]) -> list[str]:
    """The series among ``names`` the model was not trained on."""
    return [name for name in names if name not in spec.scalers]


def with_new_series(
    spec: ForecastSpec, levels: np.ndarray, origins: np.ndarray, layout: Layout | None
) -> ForecastSpec:
    """``spec`` with a scaler for every series it has never seen, fitted on that series' own
    history before its first origin, as the scale stage fitted the others on their training
    rows: a global model reads any series in its own scale, so a new one is forecast from its
    own history. A model with one scaler shared by all series (``scale.method: global``) uses
    that one. Unchanged when every series is known.
    """
    layout = _one_series(levels, layout)
    unseen = new_series(spec, layout.names)
    if not unseen:
        return spec
    known = list(spec.scalers.values())
    passed = spec.covariates.n_derived
    shared = known[0] if known and all(s == known[0] for s in known) and len(known) > 1 else None
    method = known[0].method if known else "standard"
    scalers = dict(spec.scalers)
    of_origin = layout.series_of(origins)
    for name in unseen:
        if shared is not None:
            scalers[name] = shared
            continue
        index = layout.names.index(name)
        start = int(layout.bounds[index])
        mine = origins[of_origin == index]
        stop = int(mine.min()) if len(mine) else int(layout.bounds[index + 1])
        # Only this series' history is brought to model space: the others have their scalers.
        unscaled = model_space(
            np.asarray(levels[start:stop], dtype=np.float64),
            len(spec.targets),
            spec.difference,
            spec.transform,
        )
        rows = unscaled[int(spec.difference) :]
        if len(rows) < 2:
            raise ValueError(
                f"series '{name}' is new to the model and has {len(rows)} row(s) of history: its scale "
                "cannot be measured from fewer than 2; send more history"
            )
        scalers[name] = AffineScaler.fit(rows, scalers_columns(spec), method).passing(passed)
    return replace(spec, scalers=scalers)


def scalers_columns(spec: ForecastSpec) -> tuple[str, ...]:
    """The columns each scaler covers: the request's numeric columns, then the derived ones."""
    return spec.columns + spec.covariates.derived_names


def combined_forecasts(
    levels: np.ndarray, origins: np.ndarray, spec: ForecastSpec, layout: Layout | None
) -> list[np.ndarray]:
    """The forecasts of the statistical methods the spec averages the network with, fitted at
    ``origins`` as the gate fits its baselines (none for a network served alone)."""
    combination = spec.combination
    if not combination.active or not len(origins):
        return []
    fitted = st.statistical_forecasts(
        combination.methods,
        np.asarray(levels, dtype=np.float64),
        origins,
        spec.horizon,
        len(spec.targets),
        period=combination.period,
        history=combination.history,
        starts=_one_series(levels, layout).starts_of(origins),
    )
    return list(fitted.values())


def first_input_rows(origins: np.ndarray, spec: ForecastSpec, layout: Layout) -> np.ndarray:
    """Each origin's first usable row (its series' first, one later when differencing): a
    window reaching before it is padded, as the pipeline's short series were in training."""
    return np.asarray(layout.starts_of(origins) + int(spec.difference), dtype=np.int64)


def _denormalize(
    predictions: np.ndarray, values: np.ndarray, origins: np.ndarray, spec: ForecastSpec
) -> np.ndarray:
    """Undo ``window.normalize: last``: add back each window's last input value."""
    if not spec.normalize:
        return predictions
    return predictions + last_inputs(values, origins, len(spec.targets))[:, None, :]


def has_dropout(model: Any) -> bool:
    """Whether any layer of ``model`` drops units (needed for Monte Carlo dropout)."""
    return any(float(getattr(layer, "rate", 0.0) or 0.0) > 0 for layer in model.layers)


def forecast_samples(
    model: Any,
    levels: np.ndarray,
    origins: np.ndarray,
    spec: ForecastSpec,
    *,
    samples: int,
    seed: int,
    layout: Layout | None = None,
) -> np.ndarray:
    """Monte Carlo dropout: ``samples`` forecasts per origin with dropout left on.

    Args:
        model: The Keras network (dropout layers make the samples differ).
        levels: Series in original units.
        origins: Origins to forecast from.
        spec: The forecast spec.
        samples: Number of stochastic passes.
        seed: Seed for the dropout masks.
        layout: The series of ``levels`` (default: one series).

    Returns:
        Forecast levels, shape (samples, len(origins), horizon, targets).
    """
    import keras

    from tsforge.windowing import WindowSpec, gather_windows

    keras.utils.set_random_seed(seed)
    spec = with_new_series(spec, levels, origins, layout)
    values = to_model_space(levels, spec, layout)
    first_rows = first_input_rows(origins, spec, _one_series(levels, layout))
    x, _ = gather_windows(
        values,
        origins,
        WindowSpec(spec.input_size, spec.horizon if spec.known else 1),
        len(spec.targets),
        spec.normalize,
        first_rows=first_rows,
        known=spec.known,
    )
    draws = [_denormalize(np.asarray(model(x, training=True)), values, origins, spec) for _ in range(samples)]
    # The statistical forecasts are fitted once; each draw of the network is averaged with them.
    others = combined_forecasts(levels, origins, spec, layout)
    blend = spec.combination.blend
    return np.stack([blend(to_levels(d, levels, origins, spec, layout), others) for d in draws])


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


def interval_columns(spec: ForecastSpec) -> list[str]:
    """The columns intervals add: ``<target>_lower`` and ``<target>_upper`` for each target."""
    return [f"{t}_{side}" for t in spec.targets for side in ("lower", "upper")]


def forecast_intervals(
    forecasts: np.ndarray, names: list[str], spec: ForecastSpec, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Conformal bounds of forecasts of the named series, in original units.

    Args:
        forecasts: Shape (series, horizon, targets).
        names: The series of each forecast.
        spec: A spec with a calibration.
        level: Nominal coverage.

    Returns:
        ``(lower, upper)`` shaped like ``forecasts``; NaN when the spec has no calibration, or
        too few calibration windows for ``level`` (the honest interval is then unbounded, and
        NaN, unlike infinity, survives JSON and reads as "no interval").
    """
    if spec.conformal is None or not np.isfinite(spec.conformal.quantile(level)).all():
        if spec.conformal is not None:
            log.warning(
                "no intervals at level %s: the model has %d calibration windows, too few for it",
                level,
                spec.conformal.count,
            )
        nan = np.full(np.shape(forecasts), np.nan)
        return nan, nan.copy()
    floor = 0.0 if spec.transform in ("log", "log1p") else None  # such targets are never negative
    return bounds(forecasts, spec.conformal.scale_of(names), spec.conformal, level, floor=floor)


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


def load_network(path: Path) -> Any:
    """Load a saved network or ensemble (importing tsforge.models registers its layers)."""
    import keras

    import tsforge.models  # noqa: F401  (registers the ensemble's Combine layer)

    return keras.models.load_model(path, compile=False)


def _python_model_base() -> type:
    import mlflow.pyfunc

    return mlflow.pyfunc.PythonModel  # type: ignore[no-any-return]


DEFAULT_LEVEL = 0.9
"""Interval coverage when a caller asks for intervals without a level (as ``evaluate.interval_level``)."""


def interval_level(params: Mapping[str, Any] | None) -> float | None:
    """The coverage a predict call asks for: None without ``intervals``, else ``level`` (default 0.9).

    Raises:
        ValueError: ``level`` is not strictly between 0 and 1.
    """
    params = params or {}
    if not params.get("intervals"):
        return None
    level = float(params.get("level") or DEFAULT_LEVEL)
    if not 0 < level < 1:
        raise ValueError(f"params level is {level}; give a coverage strictly between 0 and 1, such as 0.9")
    return level


class Forecaster(_python_model_base()):  # type: ignore[misc]
    """MLflow pyfunc: ``predict(history DataFrame) -> forecast DataFrame`` in real units.

    ``params={"intervals": True}`` (and optionally ``"level": 0.8``) adds conformal
    prediction intervals as ``<target>_lower`` / ``<target>_upper`` columns; without it the
    output is the forecast columns only, as before intervals existed.
    """

    def load_context(self, context: Any) -> None:
        self.spec = ForecastSpec.load(Path(context.artifacts["spec"]))
        self.model = load_network(Path(context.artifacts["network"]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return forecast_frame(self.model, model_input, self.spec, level=interval_level(params))


def example_history(raw: pd.DataFrame, spec: ForecastSpec, series: int = 2) -> pd.DataFrame:
    """The last rows a forecast needs, of the first ``series`` series: the input example. A
    model with known-future features gets, as its requests carry them, the horizon's rows
    after the history: the last ``horizon`` rows of each series with their targets emptied."""
    ahead = spec.horizon if spec.covariates.future else 0
    # A combination fitted on whole histories is shown a year's worth or more: an example.
    need = (spec.history_needed or max(spec.input_size * 3, 3 * spec.combination.period)) + ahead
    if spec.series_id is None:
        chosen = raw.tail(need)
    else:
        first = list(dict.fromkeys(raw[spec.series_id]))[:series]
        chosen = raw[raw[spec.series_id].isin(first)].groupby(spec.series_id, sort=False).tail(need)
    if not ahead:
        return chosen
    chosen = chosen.copy()
    groups = chosen.groupby(spec.series_id, sort=False) if spec.series_id else [(None, chosen)]
    for _, part in groups:
        chosen.loc[part.index[-ahead:], list(spec.targets)] = np.nan
    return chosen


def log_forecaster(
    network_path: Path,
    spec_path: Path,
    example: pd.DataFrame,
    model: Any,
    spec: ForecastSpec,
    *,
    with_example: bool = False,
) -> str:
    """Log the pyfunc forecaster to the active MLflow run.

    The pip requirements add :data:`STATISTICAL_PACKAGES` for a forecaster combined with
    Theta or ETS. The input signature takes what pandas gives: MLflow enforces it before ``predict`` (in
    ``pyfunc.load_model(...).predict``, ``mlflow models predict`` and ``mlflow models
    serve``) and refuses any conversion it deems unsafe, so types inferred from the example
    (a float32 target, a string date) turned away ``pd.read_csv`` output. The time column is
    declared ``datetime``: ISO strings and ``datetime64`` both arrive as ``datetime64``.
    Targets, features and the series id are ``Any``: MLflow will not cast an int64 column to
    double, so :func:`history_levels` converts them and names a column it cannot use. The
    output signature comes from ``example``'s forecast. Storing the example with the model
    makes MLflow load the model and serve it the example once more while logging (about
    1.2 s, most of the train stage's fixed cost), so it is stored only when asked. The pip
    requirements are pinned to the installed versions, so MLflow's check of them against the
    environment is skipped (:func:`_requirements_as_installed`).

    Args:
        network_path: Saved Keras model (.keras).
        spec_path: Saved :class:`ForecastSpec`.
        example: A raw history frame (at least ``input_size`` rows).
        model: The loaded network, used to compute the example output for the signature.
        spec: The forecast spec.
        with_example: Store ``example`` as the model's input example (validated by serving).

    Returns:
        The URI of the logged model.
    """
    import importlib.metadata as md

    import mlflow
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import AnyType, ParamSchema, ParamSpec

    example = example.reset_index(drop=True)
    example[spec.time_column] = example[spec.time_column].dt.strftime("%Y-%m-%dT%H:%M:%S")
    output = forecast_frame(model, example, spec)
    ids = [] if spec.series_id is None else [ColSpec(AnyType(), spec.series_id)]
    # Known-future features come as the horizon's rows after each series' history, their
    # targets empty (statsforecast's X_df, neuralforecast's futr_df, in one frame).
    inputs = Schema(
        [
            *ids,
            ColSpec(DataType.datetime, spec.time_column),
            *(ColSpec(AnyType(), c) for c in spec.request_columns),
        ]
    )
    # Declared params reach predict (undeclared ones MLflow drops); the output schema lists the
    # plain forecast, which callers that do not ask for intervals get unchanged.
    asks = ParamSchema(
        [ParamSpec("intervals", "boolean", False), ParamSpec("level", "double", DEFAULT_LEVEL)]
    )
    signature = ModelSignature(inputs=inputs, outputs=infer_signature(output).inputs, params=asks)
    packages = [tensorflow_distribution(), "keras", "pandas", "numpy", "mlflow"]
    if spec.combination.active:  # Theta and ETS are refitted on every served history
        packages += list(STATISTICAL_PACKAGES)
    requirements = [f"{name}=={md.version(name)}" for name in packages]
    with _requirements_as_installed():
        info = mlflow.pyfunc.log_model(
            name="forecaster",
            python_model=Forecaster(),
            artifacts={"network": str(network_path), "spec": str(spec_path)},
            code_paths=[str(Path(__file__).parent)],
            signature=signature,
            input_example=example if with_example else None,
            pip_requirements=requirements,
        )
    return str(info.model_uri)


def tensorflow_distribution() -> str:
    """The TensorFlow installed: ``tensorflow-cpu`` (the default install) or ``tensorflow`` (with
    CUDA, ``make setup-gpu``); a served model asks for the one it was trained with."""
    import importlib.metadata as md

    try:
        md.version("tensorflow-cpu")
    except md.PackageNotFoundError:
        return "tensorflow"
    return "tensorflow-cpu"


STATISTICAL_PACKAGES = ("statsforecast", "statsmodels", "joblib")
"""What a forecaster combined with Theta or ETS imports to fit them (tsforge.statistical)."""

REQUIREMENT_CHECK = "warn_dependency_requirement_mismatches"
"""The function of ``mlflow.utils.environment`` that warns when a model's pip requirements do
not match the installed packages (the check :func:`log_forecaster` skips)."""


@contextlib.contextmanager
def _requirements_as_installed() -> Iterator[None]:
    """Skip MLflow's check of the model's pip requirements against the installed packages.

    :func:`log_forecaster`'s requirements are the installed versions (``importlib.metadata``),
    so the check can only agree; yet it first maps every module of every installed
    distribution to its package (``packages_distributions``, about 0.7 s on this project's
    environment: most of the cost of logging the model). What MLflow writes is unchanged: the
    check only logs a warning. An MLflow without the function is left as it is.
    """
    from mlflow.utils import environment

    check = getattr(environment, REQUIREMENT_CHECK, None)
    if check is None:
        yield
        return
    setattr(environment, REQUIREMENT_CHECK, lambda requirements: None)
    try:
        yield
    finally:
        setattr(environment, REQUIREMENT_CHECK, check)
