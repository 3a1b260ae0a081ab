"""Raw history in, forecast in original units out: the model as it is served.

This module holds the MLflow pyfunc (:class:`Forecaster`, registered models find it here by
its import path), the network's loading, and the logging of the served model with its
signature and requirements. What a forecast does is elsewhere, one job a module:
:mod:`tsforge.forecast_spec` (what besides the network a forecast needs),
:mod:`tsforge.origin_forecasts` (levels to model space and back, forecasts from many origins,
intervals) and :mod:`tsforge.forecast_requests` (a request frame checked and answered). Their
public names are re-exported here, so ``from tsforge.forecaster import ...`` keeps working.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsforge.forecast_requests import (
    ServedSeries,
    forecast_frame,
    future_times,
    future_values,
    history_levels,
    served_series,
    split_future,
)
from tsforge.forecast_spec import ForecastSpec
from tsforge.origin_forecasts import (
    combined_forecasts,
    first_input_rows,
    forecast_intervals,
    forecast_origins,
    forecast_samples,
    has_dropout,
    interval_columns,
    new_series,
    scalers_columns,
    season_phases,
    to_levels,
    to_model_space,
    with_new_series,
)

# Re-exported: what a forecast does moved to three modules; importers of this one keep working.
__all__ = [
    "DEFAULT_LEVEL",
    "ForecastSpec",
    "Forecaster",
    "REQUIREMENT_CHECK",
    "STATISTICAL_PACKAGES",
    "ServedSeries",
    "combined_forecasts",
    "example_history",
    "first_input_rows",
    "forecast_frame",
    "forecast_intervals",
    "forecast_origins",
    "forecast_samples",
    "future_times",
    "future_values",
    "has_dropout",
    "history_levels",
    "interval_columns",
    "interval_level",
    "load_network",
    "log_forecaster",
    "new_series",
    "scalers_columns",
    "season_phases",
    "served_series",
    "split_future",
    "tensorflow_distribution",
    "to_levels",
    "to_model_space",
    "with_new_series",
]


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
