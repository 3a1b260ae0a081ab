"""Forecasts from many origins at once, in original units: the arithmetic evaluation and
serving share.

Levels become scaled model inputs (:func:`to_model_space`: deseasonalised, differenced,
scaled per series) and network outputs become levels again (:func:`to_levels`);
:func:`forecast_origins` runs the network over every origin's window and blends in the
combined statistical methods, :func:`forecast_samples` does the same with dropout left on,
and :func:`forecast_intervals` puts conformal bounds around the result. A series the model
has never seen gets a scaler fitted on its own history (:func:`with_new_series`). The same
code scores the evaluate stage and answers the served model, so what is scored is what is
served. Keras is imported only inside :func:`forecast_samples`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from tsforge import statistical as st
from tsforge.conformal import bounds
from tsforge.forecast_spec import ForecastSpec
from tsforge.panel import Layout, require_scalers, scale_stacked, stacked_model_space
from tsforge.scaling import AffineScaler, forward_transform, inverse_transform, model_space
from tsforge.windowing import last_inputs

log = logging.getLogger(__name__)


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
