"""Batch forecasts: the next ``horizon`` steps of every series from the registered champion,
handed over as a table the way forecasting libraries do (one row per series, step and target).

``tsforge forecast`` and every ``tsforge retrain`` cycle call :func:`deliver`: it loads one
registered version, forecasts every series of the ingest snapshot in one call of the
forecaster, writes ``forecasts/<last timestamp>.parquet`` atomically and logs the file to
MLflow. Files are named after the last timestamp of the data they start from, not the day
they were made: forecasting the same data again replaces the same file, and every cycle
with new data leaves a new one, so forecasts can later be scored against the actuals that
arrive after them.

``lower`` and ``upper`` are the forecaster's conformal prediction interval at
``evaluate.interval_level`` (:mod:`tsforge.conformal`); they stay NaN for a version registered
before intervals, or when ``evaluate.intervals`` is ``dropout`` or ``none``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsforge.catalog import Project, load_frame, save_frame
from tsforge.errors import TsforgeError

log = logging.getLogger(__name__)

COLUMNS = ("series", "timestamp", "forecast", "lower", "upper", "model_version")
"""The table's columns; ``target`` follows ``timestamp`` when the model forecasts several."""

SINGLE_SERIES = ""
"""The ``series`` of a project without ``data.series_id`` (its scalers' name too)."""


@dataclass(frozen=True)
class Delivery:
    """What :func:`deliver` wrote."""

    path: Path
    model_version: str
    series: int
    rows: int
    run_id: str | None = None
    new_series: tuple[str, ...] = ()
    """Series the model was not trained on, forecast from their own history."""


def resolve_version(name: str, version: str | None = None, alias: str | None = None) -> str:
    """The registered version to forecast with: ``version``, else the holder of ``alias``
    (default ``champion``).

    Args:
        name: Registered model name (``registry.model_name``).
        version: A version number, as typed.
        alias: An alias such as ``champion`` or ``challenger``.

    Returns:
        The version number, as a string.

    Raises:
        TsforgeError: The version does not exist or no version holds the alias.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from tsforge import registry

    if version is not None:
        registry.require_version(name, version)
        return str(version)
    alias = alias or registry.CHAMPION
    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        pass
    if alias == registry.CHAMPION:
        raise TsforgeError(
            f"no champion is registered for {name}, so there is no model to forecast with. Run "
            "`dvc repro` (or `make run`) first: the evaluate stage registers the model and makes it "
            "champion when it beats the baselines; `tsforge promote VERSION` makes one champion by "
            "hand, and `tsforge forecast --version N` uses any registered version."
        )
    raise TsforgeError(f"no version of {name} holds the alias '{alias}'; pass --version N or another alias.")


def check_history(history: pd.DataFrame, spec: Any) -> tuple[str, ...]:
    """Refuse, naming them, series too short to forecast; name the series new to the model.

    Args:
        history: The raw rows of every series (the ingest snapshot).
        spec: The model's :class:`tsforge.forecast_spec.ForecastSpec`.

    Returns:
        The series the model was not trained on (it forecasts them from their own history).

    Raises:
        TsforgeError: A series has fewer rows than one window.
    """
    if spec.series_id is not None and spec.series_id not in history.columns:
        raise TsforgeError(
            f"the data has no series id column '{spec.series_id}', which the model was trained "
            "with; set data.series_id as it was, or retrain (`dvc repro`)."
        )
    ids = history[spec.series_id].astype(str) if spec.series_id else pd.Series(SINGLE_SERIES, history.index)
    counts = ids.value_counts(sort=False)
    unknown = tuple(sorted(set(counts.index) - set(spec.scalers)))
    need = int(spec.least_history)
    short = counts[counts < need]
    if len(short):
        if spec.series_id is None:
            what, named = "the data has", f"{int(short.iloc[0])} rows"
        else:
            what = f"{len(short)} series have"
            named = ", ".join(f"'{name}' ({rows} rows)" for name, rows in short.head(5).items())
        raise TsforgeError(
            f"{what} too little history to forecast: {named}; the model needs at least {need} rows "
            f"per series ({need - int(spec.difference)} rows of input"
            + (" plus one, as it differences)." if spec.difference else ").")
            + " Add history or remove those series."
        )
    return unknown


def forecast_table(forecast: pd.DataFrame, spec: Any, model_version: str) -> pd.DataFrame:
    """The forecaster's wide output -> one row per series, step and target (:data:`COLUMNS`).

    Args:
        forecast: The forecaster's output: series id (if any), time column, one column per
            target (and ``<target>_lower`` / ``<target>_upper`` when it gave intervals).
        spec: The model's forecast spec.
        model_version: The registered version that forecast.

    Returns:
        The table; a ``target`` column after ``timestamp`` when there are several targets.
    """
    n = len(forecast)
    series = forecast[spec.series_id].astype(str).to_numpy() if spec.series_id else [SINGLE_SERIES] * n

    def bound(target: str, side: str) -> np.ndarray:
        column = f"{target}_{side}"
        return forecast[column].to_numpy(dtype=np.float64) if column in forecast else np.full(n, np.nan)

    parts = [
        pd.DataFrame(
            {
                "series": series,
                "timestamp": pd.to_datetime(forecast[spec.time_column]).to_numpy(),
                "target": target,
                "forecast": forecast[target].to_numpy(dtype=np.float64),
                "lower": bound(target, "lower"),
                "upper": bound(target, "upper"),
            }
        )
        for target in spec.targets
    ]
    table = pd.concat(parts, ignore_index=True)
    table = table.sort_values(["series", "target", "timestamp"], kind="stable", ignore_index=True)
    table = table.assign(model_version=str(model_version))
    columns = list(COLUMNS)
    if len(spec.targets) > 1:
        columns.insert(2, "target")
    return table[columns]


def file_name(history: pd.DataFrame, time_column: str) -> str:
    """``<last timestamp>.parquet``: the date alone when every timestamp falls on midnight."""
    times = pd.to_datetime(history[time_column])
    last = times.max()
    daily = bool((times == times.dt.normalize()).all())
    return f"{last.strftime('%Y-%m-%d' if daily else '%Y-%m-%dT%H%M')}.parquet"


def delivered(project: Project, name: str, time_column: str) -> Path | None:
    """The file that already holds the champion's forecasts of the current snapshot, if any.

    Lets a retrain cycle that found nothing new skip loading the model (seconds of
    TensorFlow) and logging the same forecasts again.

    Args:
        project: The project.
        name: Registered model name.
        time_column: The snapshot's time column (``data.time_column``).

    Returns:
        The file, or None when there is none, no champion, or another version wrote it.
    """
    if not project.raw_series.is_file():
        return None
    times = pd.read_parquet(project.raw_series, columns=[time_column])
    path = project.forecasts / file_name(times, time_column)
    if not path.is_file():
        return None
    try:
        champion = resolve_version(name)
    except TsforgeError:
        return None
    written = pd.read_parquet(path, columns=["model_version"])["model_version"].unique()
    return path if list(written) == [champion] else None


def load_forecaster(name: str, version: str) -> Any:
    """The registered forecaster (the pyfunc's own Python object, with its ``spec`` and network).

    Forecasting through the Python object rather than the pyfunc wrapper skips MLflow's
    signature check, so versions registered before the signature took datetimes still work.
    """
    import mlflow

    return mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model()


def forecast_snapshot(
    forecaster: Any,
    history: pd.DataFrame,
    model_version: str,
    level: float | None = None,
    future: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Forecast every series of ``history`` in one call of ``forecaster`` and tabulate it.

    Args:
        forecaster: A loaded :class:`tsforge.forecaster.Forecaster`.
        history: The raw rows of every series.
        model_version: The registered version, recorded in every row.
        level: Coverage of the ``lower`` / ``upper`` interval; None leaves them NaN.
        future: The horizon's rows of the known-future features (time column, series id and
            the features), appended to the history with empty targets.

    Returns:
        The :func:`forecast_table`, and the series new to the model (:func:`check_history`).

    Raises:
        TsforgeError: A series is too short, or the forecaster refused the data (future rows
            missing or misaligned among its reasons).
    """
    spec = forecaster.spec
    new = check_history(history, spec)
    request = history if future is None else with_future(history, future, spec)
    try:
        asked = {"intervals": True, "level": level} if level is not None else None
        wide = forecaster.predict(None, request, asked)
    except ValueError as exc:  # the forecaster's own checks: columns, values, domains
        raise TsforgeError(f"model version {model_version} cannot forecast this data: {exc}") from exc
    return forecast_table(wide, spec, model_version), new


def with_future(history: pd.DataFrame, future: pd.DataFrame, spec: Any) -> pd.DataFrame:
    """The request: ``history`` then ``future``'s rows (targets empty), each series' rows together.

    Raises:
        TsforgeError: ``future`` lacks the time column, the series id or a known-future feature.
    """
    needed = [spec.time_column, *([spec.series_id] if spec.series_id else []), *spec.covariates.future]
    absent = [c for c in needed if c not in future.columns]
    if absent:
        raise TsforgeError(
            f"the future file has no column(s) {absent}; it needs {needed}: one row per series and "
            "forecast step, with the known-future features' planned values"
        )
    rows = future[needed].copy()
    rows[spec.time_column] = pd.to_datetime(rows[spec.time_column])
    if spec.series_id:
        rows[spec.series_id] = rows[spec.series_id].astype(str)
        statics = list(spec.covariates.static_columns)
        if statics:  # each series' attributes travel with its future rows too
            first = history.groupby(spec.series_id, sort=False)[statics].first()
            rows = rows.join(first, on=spec.series_id)
    combined = pd.concat([history, rows], ignore_index=True)
    order = [spec.series_id, spec.time_column] if spec.series_id else [spec.time_column]
    return combined.sort_values(order, kind="stable", ignore_index=True)


def interval_level(project: Project) -> float | None:
    """The coverage of the delivered intervals: ``evaluate.interval_level``, or None when
    ``evaluate.intervals`` leaves conformal intervals out."""
    from tsforge.config import load_evaluate

    evaluate = load_evaluate(project.params)
    return float(evaluate.interval_level) if evaluate.conformal else None


def end_dead_runs(project: Project) -> list[str]:
    """End as KILLED the runs of the project's experiment that dead processes left RUNNING
    (:func:`tsforge.tracking.end_dead_runs`): a forecast killed while it logged its run.

    MLflow must already point at the project's store.

    Args:
        project: The project.

    Returns:
        The ids of the runs ended.
    """
    import mlflow

    from tsforge import tracking
    from tsforge.config import load_params

    experiment = mlflow.get_experiment_by_name(load_params(project.params).tracking.experiment)
    return [] if experiment is None else tracking.end_dead_runs(experiment.experiment_id)


def log_delivery(project: Project, delivery: Delivery, name: str) -> str:
    """Record the forecasts in MLflow: a ``forecast`` run with the file, the version and the data.

    Args:
        project: The project.
        delivery: What was written.
        name: Registered model name.

    Returns:
        The run id.
    """
    import mlflow

    from tsforge import tracking

    lineage = tracking.lineage_tags(project.root, {"raw": project.raw_series}, project.params)
    with mlflow.start_run(run_name=f"forecast-v{delivery.model_version}") as run:
        mlflow.set_tags(
            {
                **lineage,
                "stage": "forecast",
                "model_name": name,
                "model_version": delivery.model_version,
                "model_uri": f"models:/{name}/{delivery.model_version}",
                "forecast_file": delivery.path.name,
            }
        )
        tracking.log_snapshot_input(project, "forecast")
        mlflow.log_metrics({"series": delivery.series, "rows": delivery.rows})
        mlflow.log_artifact(str(delivery.path), artifact_path="forecasts")
        return str(run.info.run_id)


def deliver(
    project: Project,
    name: str,
    *,
    version: str | None = None,
    alias: str | None = None,
    track: bool = True,
    future: pd.DataFrame | None = None,
) -> Delivery:
    """Forecast every series of the snapshot with one registered version; write and log the table.

    MLflow must already point at the project's store (:func:`tsforge.tracking.configure_project`).

    Args:
        project: The project.
        name: Registered model name (``registry.model_name``).
        version: A version number (default: the holder of ``alias``).
        alias: An alias (default ``champion``).
        track: Log the forecasts to MLflow as a ``forecast`` run.
        future: The horizon's known-future feature values (``tsforge forecast --future FILE``).

    Returns:
        Where the table went and what it holds.

    Raises:
        TsforgeError: No such model, no snapshot, or data the model cannot forecast.
    """
    chosen = resolve_version(name, version, alias)
    if not project.raw_series.is_file():
        raise TsforgeError(
            f"no data snapshot at {project.raw_series}; run `dvc repro` (or `make run`) first."
        )
    history = load_frame(project.raw_series)
    forecaster = load_forecaster(name, chosen)
    if forecaster.spec.covariates.future and future is None:
        raise TsforgeError(
            f"model version {chosen} reads the known-future features "
            f"{list(forecaster.spec.covariates.future)} over the horizon; give their planned values with "
            "--future FILE (CSV or Parquet: the time column, the series id and those columns, one row "
            "per series and forecast step)"
        )
    table, new = forecast_snapshot(forecaster, history, chosen, interval_level(project), future)
    path = project.forecasts / file_name(history, forecaster.spec.time_column)
    save_frame(path, table)
    delivery = Delivery(path, chosen, int(table["series"].nunique()), len(table), new_series=new)
    if new:
        log.info("%d series new to the model, forecast from their own history: %s", len(new), list(new))
    log.info("wrote %d forecast rows of %d series to %s", delivery.rows, delivery.series, path)
    if not track:
        return delivery
    return replace(delivery, run_id=log_delivery(project, delivery, name))
