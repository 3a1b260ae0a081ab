"""MLflow for a keras-tuner search: one child run per trial under the search's parent run.

Each trial's run holds its hyperparameters, per-epoch losses, duration, best objective and
status (``completed``, ``stopped_early`` or ``failed`` with the error). The parent run's id
is kept next to the tuner state, so a resumed search logs into the same run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import mlflow
import numpy as np

from tsforge.catalog import write_text
from tsforge.models import model_values
from tsforge.training import OBJECTIVE

PARENT_RUN_MARKER = "mlflow_parent_run_id"
"""File in the tuner state directory holding the search's MLflow run id."""


class EpochLogger(keras.callbacks.Callback):  # type: ignore[misc]
    """Sends each epoch's loss, val_loss, mae and val_mae to the trial's MLflow run.

    Earlier rolling-origin folds log as ``fold<k>.loss`` / ``fold<k>.val_loss``; the last
    fold (the plain validation split) logs plain ``loss`` / ``val_loss``. Whoever fits the
    folds sets :attr:`fold` before each one.
    """

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.client = mlflow.MlflowClient()
        self.fold: int | None = None
        self.epochs = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        prefix = "" if self.fold is None else f"fold{self.fold}."
        self.epochs += self.fold is None
        metrics = [
            mlflow.entities.Metric(prefix + key, float(value), int(time.time() * 1000), epoch)
            for key, value in logs.items()
            if key in {"loss", "val_loss", "mae", "val_mae"} and np.isfinite(value)
        ]
        if metrics:
            # Synchronous on purpose: MLflow's async queue makes every end_run wait up to a
            # second for its worker to wake, which cost more per trial than these writes.
            self.client.log_batch(self.run_id, metrics=metrics)


def _child_run_id(parent_run_id: str, trial_id: str) -> str | None:
    query = f"tags.mlflow.parentRunId = '{parent_run_id}' and tags.kt_trial_id = '{trial_id}'"
    runs = mlflow.search_runs(filter_string=query, output_format="list", search_all_experiments=True)
    return runs[0].info.run_id if runs else None


def remembered_parent_run(directory: Path) -> str | None:
    """The MLflow run of the search stored in ``directory``, if it was started before."""
    marker = directory / PARENT_RUN_MARKER
    if not marker.exists():
        return None
    run_id = marker.read_text(encoding="utf-8").strip()
    try:
        mlflow.MlflowClient().get_run(run_id)
    except mlflow.exceptions.MlflowException:
        return None  # the tracking store was reset; start a fresh parent run
    return run_id


def remember_parent_run(directory: Path, run_id: str) -> None:
    """Record the search's MLflow run next to the tuner state, for resuming."""
    write_text(directory / PARENT_RUN_MARKER, run_id)


def best_objective(result: Any) -> float:
    """The best objective value in what a trial returned (History, dict or float, or a list)."""
    values: list[float] = []
    for item in result if isinstance(result, list) else [result]:
        if hasattr(item, "history"):
            values += item.history.get(OBJECTIVE, [])
        elif isinstance(item, Mapping):
            values.append(float(item.get(OBJECTIVE, math.inf)))
        elif isinstance(item, int | float):
            values.append(float(item))
    return min((v for v in values if math.isfinite(v)), default=math.inf)


def with_mlflow_trials(base: type[kt.Tuner]) -> type[kt.Tuner]:
    """A subclass of ``base`` that wraps each trial in an MLflow child run.

    Its constructor takes ``parent_run_id`` (the search's run) and ``tags`` (lineage tags
    for each trial run) besides ``base``'s own arguments. Each of its ``trial_listeners`` is
    called with every trial that ends, as the oracle recorded it (status, score, error).
    """

    class TrackedTuner(base):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, parent_run_id: str, tags: Mapping[str, str], **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.parent_run_id, self.tags = parent_run_id, dict(tags)
            self.trial_listeners: list[Callable[[Any], None]] = []

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            if self.trial_listeners:
                ended = self.oracle.get_trial(trial.trial_id)
                for listener in self.trial_listeners:
                    listener(ended)

        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            # A trial cut off by a crash is rerun on resume; it keeps its MLflow run.
            existing = _child_run_id(self.parent_run_id, trial.trial_id)
            with mlflow.start_run(
                run_id=existing,
                run_name=None if existing else f"trial-{trial.trial_id}",
                nested=True,
                parent_run_id=self.parent_run_id,
            ) as run:
                mlflow.set_tags(
                    {
                        **self.tags,
                        "kt_trial_id": trial.trial_id,
                        "kt_tuner_id": self.tuner_id,
                        "stage": "tune-trial",
                    }
                )
                if existing is None:
                    mlflow.log_params(model_values(trial.hyperparameters.values))
                logger = EpochLogger(run.info.run_id)
                kwargs["callbacks"] = [*kwargs.get("callbacks", []), logger]
                try:
                    result = super().run_trial(trial, *args, **kwargs)
                except Exception as exc:
                    mlflow.set_tags({"trial_status": "failed", "error": str(exc)[:500]})
                    raise
                finally:
                    mlflow.log_metric("duration_s", time.monotonic() - started)
                best = best_objective(result)
                if math.isfinite(best):
                    mlflow.log_metric(f"best_{OBJECTIVE}", best)
                requested = int(kwargs.get("epochs", 0)) - int(kwargs.get("initial_epoch", 0))
                stopped = 0 < logger.epochs < requested
                mlflow.set_tag("trial_status", "stopped_early" if stopped else "completed")
                return result

    return TrackedTuner


def tag_best_trial(parent_run_id: str, trial_id: str) -> None:
    """Tag the child run of ``trial_id`` as the search's best trial."""
    run_id = _child_run_id(parent_run_id, trial_id)
    if run_id is not None:
        mlflow.MlflowClient().set_tag(run_id, "best_trial", "true")
