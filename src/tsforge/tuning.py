"""Hyperparameter search with keras-tuner, every trial an MLflow child run."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import mlflow
import numpy as np

from tsforge.config import TuneConfig
from tsforge.models import DEFAULT_SPACE, build_model
from tsforge.training import WindowedData, early_stopping, fit

OBJECTIVE = "val_loss"


def space_size(space: Mapping[str, Any]) -> dict[str, Any]:
    """Size of the search space.

    Args:
        space: ``tune.space``.

    Returns:
        ``discrete_combinations`` (product of discrete dimension sizes) and the names of
        ``continuous`` dimensions, which make the true space infinite.
    """
    merged = {**DEFAULT_SPACE, **space}
    combos, continuous = 1, []
    for name, entry in merged.items():
        if not isinstance(entry, Mapping) or entry.get("type") == "fixed":
            continue
        if entry["type"] == "choice":
            combos *= len(entry["values"])
        elif entry["type"] == "int":
            combos *= (int(entry["max"]) - int(entry["min"])) // int(entry.get("step", 1)) + 1
        elif entry.get("step") is not None:
            combos *= int(round((float(entry["max"]) - float(entry["min"])) / float(entry["step"]))) + 1
        else:
            continuous.append(name)
    return {"discrete_combinations": combos, "continuous": continuous}


class ForecastHyperModel(kt.HyperModel):  # type: ignore[misc]
    """Builds with :func:`build_model` and fits with :func:`tsforge.training.fit`."""

    def __init__(self, data: WindowedData, space: Mapping[str, Any], seed: int) -> None:
        super().__init__()
        self.data, self.space, self.seed = data, space, seed

    def build(self, hp: Any) -> keras.Model:
        return build_model(hp, self.data.model_spec, self.space)

    def fit(self, hp: Any, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        return fit(model, hp, self.space, self.data, self.seed, **kwargs)


class _EpochLogger(keras.callbacks.Callback):  # type: ignore[misc]
    """Sends each epoch's loss and val_loss to the active MLflow run."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.client = mlflow.MlflowClient()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        metrics = [
            mlflow.entities.Metric(key, float(value), int(time.time() * 1000), epoch)
            for key, value in logs.items()
            if key in {"loss", "val_loss"} and np.isfinite(value)
        ]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics, synchronous=False)


def _child_run_id(parent_run_id: str, trial_id: str) -> str | None:
    query = f"tags.mlflow.parentRunId = '{parent_run_id}' and tags.kt_trial_id = '{trial_id}'"
    runs = mlflow.search_runs(filter_string=query, output_format="list", search_all_experiments=True)
    return runs[0].info.run_id if runs else None


def parent_run_id(directory: Path) -> str | None:
    """The MLflow run of the search stored in ``directory``, if it was started before."""
    marker = directory / "mlflow_parent_run_id"
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
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mlflow_parent_run_id").write_text(run_id, encoding="utf-8")


def _with_mlflow_trials(base: type[kt.Tuner]) -> type[kt.Tuner]:
    """A subclass of ``base`` that wraps each trial in an MLflow child run."""

    class TrackedTuner(base):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, parent_run_id: str, tags: Mapping[str, str], **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.parent_run_id, self.tags = parent_run_id, dict(tags)

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
                mlflow.set_tags({**self.tags, "kt_trial_id": trial.trial_id, "stage": "tune-trial"})
                if existing is None:
                    mlflow.log_params(trial.hyperparameters.values)
                kwargs["callbacks"] = [*kwargs.get("callbacks", []), _EpochLogger(run.info.run_id)]
                try:
                    result = super().run_trial(trial, *args, **kwargs)
                except Exception:
                    mlflow.set_tag("trial_status", "failed")
                    raise
                histories = result if isinstance(result, list) else [result]
                best = min(
                    (min(h.history.get(OBJECTIVE, [math.inf])) for h in histories if hasattr(h, "history")),
                    default=math.inf,
                )
                if math.isfinite(best):
                    mlflow.log_metric(f"best_{OBJECTIVE}", best)
                epochs_run = max(
                    (len(h.history.get("loss", [])) for h in histories if hasattr(h, "history")), default=0
                )
                mlflow.log_metric("duration_s", time.monotonic() - started)
                requested = int(kwargs.get("epochs", 0)) - int(kwargs.get("initial_epoch", 0))
                stopped = 0 < epochs_run < requested
                status = "stopped_early" if stopped else "completed"
                # TerminateOnNaN ends a diverging trial; it has no finite objective.
                mlflow.set_tag("trial_status", status if math.isfinite(best) else "failed")
                return result

    return TrackedTuner


TUNERS: dict[str, type[kt.Tuner]] = {
    "hyperband": kt.Hyperband,
    "random": kt.RandomSearch,
    "bayesian": kt.BayesianOptimization,
    "grid": kt.GridSearch,
}


def make_tuner(
    cfg: TuneConfig,
    hypermodel: ForecastHyperModel,
    directory: Path,
    *,
    parent_run_id: str,
    tags: Mapping[str, str],
) -> kt.Tuner:
    """A keras-tuner tuner of ``cfg.strategy`` whose trials log to MLflow.

    ``overwrite=False`` makes a rerun continue the search recorded in ``directory``.

    Args:
        cfg: The tune section (strategy, budget, seed).
        hypermodel: What to build and fit.
        directory: Tuner state directory (persistent DVC output).
        parent_run_id: The MLflow tuning run the trials are children of.
        tags: Lineage tags for each trial run.

    Returns:
        The tuner.
    """
    common: dict[str, Any] = {
        "hypermodel": hypermodel,
        "objective": kt.Objective(OBJECTIVE, direction="min"),
        "directory": str(directory.parent),
        "project_name": directory.name,
        "overwrite": False,
        "seed": cfg.seed,
        "parent_run_id": parent_run_id,
        "tags": tags,
    }
    tuner_cls = _with_mlflow_trials(TUNERS[cfg.strategy])
    if cfg.strategy == "hyperband":
        return tuner_cls(
            max_epochs=cfg.max_epochs,
            factor=cfg.factor,
            hyperband_iterations=cfg.hyperband_iterations,
            **common,
        )
    return tuner_cls(max_trials=cfg.max_trials, **common)


def search(tuner: kt.Tuner, epochs: int, patience: int) -> None:
    """Run the search with early stopping per trial."""
    tuner.search(epochs=epochs, callbacks=[early_stopping(patience), keras.callbacks.TerminateOnNaN()])


def trials_table(tuner: kt.Tuner) -> list[dict[str, Any]]:
    """One row per trial: id, status, score and hyperparameters."""
    rows = []
    for trial in tuner.oracle.trials.values():
        rows.append(
            {
                "trial_id": trial.trial_id,
                "status": str(trial.status),
                "score": trial.score,
                **trial.hyperparameters.values,
            }
        )
    return sorted(rows, key=lambda r: r["trial_id"])


def search_key(cfg: TuneConfig, data_hashes: Mapping[str, str]) -> str:
    """Identity of a search: the tune section and the data it runs on.

    The tuner directory is named after it, so rerunning the same search resumes it (no
    finished trial is retrained), while a changed space, budget or dataset starts afresh
    instead of silently reloading an oracle built for other settings.
    """
    import hashlib
    import json

    payload = json.dumps(
        {"tune": asdict(cfg), "data": dict(sorted(data_hashes.items()))}, sort_keys=True, default=str
    )
    return "search-" + hashlib.sha256(payload.encode()).hexdigest()[:12]


def tag_best_trial(parent_run_id: str, trial_id: str) -> None:
    """Tag the child run of ``trial_id`` as the search's best trial."""
    run_id = _child_run_id(parent_run_id, trial_id)
    if run_id is not None:
        mlflow.MlflowClient().set_tag(run_id, "best_trial", "true")


def budget(cfg: TuneConfig) -> str:
    """The search budget in words, for the MLflow parent run."""
    if cfg.strategy == "hyperband":
        return (
            f"hyperband: max_epochs={cfg.max_epochs}, factor={cfg.factor}, "
            f"iterations={cfg.hyperband_iterations}"
        )
    return f"{cfg.strategy}: max_trials={cfg.max_trials}, epochs per trial={cfg.max_epochs}"


def plot_trials(path: Path, table: Any) -> None:
    """Objective (val_loss) of each trial in order, with the running best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = table["score"].astype(float).to_numpy()
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.scatter(range(1, len(scores) + 1), scores, s=18, label="trial val_loss")
    ax.plot(
        range(1, len(scores) + 1),
        np.fmin.accumulate(np.where(np.isnan(scores), np.inf, scores)),
        color="C1",
        label="best so far",
    )
    ax.set_xlabel("trial")
    ax.set_ylabel("val_loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
