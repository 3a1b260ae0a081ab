"""Hyperparameter search with keras-tuner, every trial an MLflow child run."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import mlflow
import numpy as np
from keras_tuner.src import utils as kt_utils

from tsforge.config import TuneConfig
from tsforge.errors import ConfigError, TsforgeError
from tsforge.models import DEFAULT_SPACE, build_model
from tsforge.training import OBJECTIVE, WindowedData, early_stopping, fit


def _save_json_atomically(path: str, obj: Any) -> str:
    """keras-tuner's ``save_json``, written to a temporary file and renamed into place.

    keras-tuner truncates ``oracle.json`` and each ``trial.json`` before writing them; a
    search killed in between (an OOM kill, a reboot) left an empty file, and resuming it
    then failed on a JSON decode error. A rename is atomic, so the last good state stays.
    """
    text = json.dumps(obj)
    if "://" in str(path):  # remote file systems go through keras-tuner's own writer
        return str(_keras_tuner_save_json(path, obj))
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return text


_keras_tuner_save_json = kt_utils.save_json
kt_utils.save_json = _save_json_atomically
EXECUTION_ONLY = ("workers", "worker_wait_s")
"""Tune settings that change how a search runs, not what it finds."""


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


def rolling_folds(
    train: np.ndarray, val: np.ndarray, folds: int, horizon: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rolling-origin folds over the training and validation origins, oldest first.

    Each fold validates on a block as long as the validation split; the blocks step back
    from the end, and each fold trains only on windows whose targets end before its
    block's first target. The last fold is the plain train/validation split.

    Args:
        train: Training origins.
        val: Validation origins (later than every training origin).
        folds: Number of folds.
        horizon: Forecast horizon (a window's targets span it).

    Returns:
        (training origins, validation origins) per fold.
    """
    origins = np.concatenate([train, val])
    size = len(val)
    result = []
    for k in range(folds):
        end = len(origins) - (folds - 1 - k) * size
        block = origins[max(end - size, 0) : end]
        fit_on = origins[origins + horizon <= block[0]] if len(block) else block
        if len(block) == 0 or len(fit_on) == 0:
            raise ConfigError(
                f"params.yaml: tune.folds={folds} leaves fold {k + 1} without training windows "
                f"({len(origins)} windows, {size} per validation block). Use fewer folds or "
                "more data."
            )
        result.append((fit_on, block))
    return result


def _diverged(history: Mapping[str, list[float]]) -> bool:
    losses = [*history.get("loss", []), *history.get(OBJECTIVE, [])]
    return not losses or not all(math.isfinite(v) for v in losses)


class ForecastHyperModel(kt.HyperModel):  # type: ignore[misc]
    """Builds with :func:`build_model` and fits with :func:`tsforge.training.fit`.

    With ``folds > 1`` the objective is the mean best ``val_mae`` over rolling-origin
    folds, each trained from fresh weights, so a winner is not an accident of one split.
    A trial whose loss turns NaN raises ``FailedTrialError``: keras-tuner records it as
    failed and the search goes on.
    """

    def __init__(self, data: WindowedData, space: Mapping[str, Any], seed: int, folds: int = 1) -> None:
        super().__init__()
        self.data, self.space, self.seed, self.folds = data, space, seed, folds

    def build(self, hp: Any) -> keras.Model:
        return build_model(hp, self.data.model_spec, self.space)

    def fit(self, hp: Any, model: keras.Model, *args: Any, **kwargs: Any) -> Any:
        if self.folds == 1:
            history = fit(model, hp, self.space, self.data, self.seed, **kwargs)
            self._check(history.history)
            return history
        splits = rolling_folds(self.data.train, self.data.val, self.folds, self.data.window.horizon)
        scores = []
        for k, (train, val) in enumerate(splits):
            last = k == len(splits) - 1
            for callback in kwargs.get("callbacks", []):
                if isinstance(callback, _EpochLogger):
                    callback.fold = None if last else k
            fold_model = model if last else self.build(hp)
            fold_data = replace(self.data, train=train, val=val)
            history = fit(fold_model, hp, self.space, fold_data, self.seed, **kwargs)
            self._check(history.history)
            scores.append(min(history.history[OBJECTIVE]))
        return {OBJECTIVE: float(np.mean(scores))}

    @staticmethod
    def _check(history: Mapping[str, list[float]]) -> None:
        if _diverged(history):
            raise kt.errors.FailedTrialError(
                f"the loss diverged (NaN or inf after {len(history.get('loss', []))} epoch(s)); "
                "a learning rate this high is outside what the model can train with"
            )


class _EpochLogger(keras.callbacks.Callback):  # type: ignore[misc]
    """Sends each epoch's loss, val_loss, mae and val_mae to the trial's MLflow run.

    Earlier rolling-origin folds log as ``fold<k>.loss`` / ``fold<k>.val_loss``; the last
    fold (the plain validation split) logs plain ``loss`` / ``val_loss``.
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
                mlflow.set_tags(
                    {
                        **self.tags,
                        "kt_trial_id": trial.trial_id,
                        "kt_tuner_id": self.tuner_id,
                        "stage": "tune-trial",
                    }
                )
                if existing is None:
                    mlflow.log_params(trial.hyperparameters.values)
                logger = _EpochLogger(run.info.run_id)
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
    """Run the search with early stopping per trial.

    In distributed mode the chief serves the oracle here until every trial is done, and a
    worker runs the trials the chief hands out.
    """
    try:
        tuner.search(epochs=epochs, callbacks=[early_stopping(patience), keras.callbacks.TerminateOnNaN()])
    except RuntimeError as exc:  # keras-tuner stops after too many consecutive failed trials
        raise TsforgeError(
            f"the search stopped: {exc}. Each failed trial's MLflow child run has the error as "
            "its 'error' tag; narrow tune.space (lower learning rates, smaller models) and rerun."
        ) from exc


def best_trial(tuner: kt.Tuner) -> Any:
    """The finished trial with the lowest objective; an error if every trial failed."""
    best = tuner.oracle.get_best_trials(1)
    if not best or best[0].score is None or not math.isfinite(best[0].score):
        raise TsforgeError(
            "no trial finished with a finite validation loss; every trial failed or diverged. "
            "See the 'error' tag of the trials in MLflow, then narrow tune.space."
        )
    return best[0]


def top_trials(tuner: kt.Tuner, count: int) -> list[dict[str, Any]]:
    """The ``count`` best finished trials, best first: id, score and hyperparameter config
    (what the train stage needs to rebuild each as an ensemble member)."""
    return [
        {"trial_id": t.trial_id, "score": t.score, "config": t.hyperparameters.get_config()}
        for t in tuner.oracle.get_best_trials(count)
        if t.score is not None and math.isfinite(t.score)
    ]


def distributed_role(env: Mapping[str, str]) -> str:
    """``single``, ``chief`` or ``worker``, from keras-tuner's KERASTUNER_* variables."""
    if not env.get("KERASTUNER_ORACLE_IP") or not env.get("KERASTUNER_TUNER_ID"):
        return "single"
    return "chief" if env["KERASTUNER_TUNER_ID"] == "chief" else "worker"


def wait_for_parent_run(key: str, timeout_s: float, poll_s: float = 1.0) -> str:
    """A worker's wait for the chief's running tuning run of search ``key``.

    Workers find the run through MLflow, not a local file, so the same works across hosts
    that share a tracking server.
    """
    query = f"tags.search_key = '{key}' and tags.stage = 'tune' and attributes.status = 'RUNNING'"
    deadline = time.monotonic() + timeout_s
    while True:
        runs = mlflow.search_runs(filter_string=query, output_format="list", search_all_experiments=True)
        if runs:
            return str(runs[0].info.run_id)
        if time.monotonic() > deadline:
            raise TsforgeError(
                f"no running tuning run for search {key} appeared in MLflow within {timeout_s:.0f}s. "
                "Start the chief first (KERASTUNER_TUNER_ID=chief), with the same params.yaml, "
                "data and MLFLOW_TRACKING_URI as this worker."
            )
        time.sleep(poll_s)


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

    settings = {k: v for k, v in asdict(cfg).items() if k not in EXECUTION_ONLY}
    payload = json.dumps(
        {"tune": settings, "data": dict(sorted(data_hashes.items()))}, sort_keys=True, default=str
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
    """Objective (validation MAE) of each trial in order, with the running best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = table["score"].astype(float).to_numpy()
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.scatter(range(1, len(scores) + 1), scores, s=18, label=f"trial {OBJECTIVE}")
    ax.plot(
        range(1, len(scores) + 1),
        np.fmin.accumulate(np.where(np.isnan(scores), np.inf, scores)),
        color="C1",
        label="best so far",
    )
    ax.set_xlabel("trial")
    ax.set_ylabel(OBJECTIVE)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def search_params(cfg: TuneConfig) -> dict[str, Any]:
    """What the parent run records about a search when it starts: strategy, budget, space
    and its size."""
    import json

    size = space_size(cfg.space)
    return {
        "strategy": cfg.strategy,
        "budget": budget(cfg),
        "space": json.dumps(dict(cfg.space)),
        "space_discrete_combinations": size["discrete_combinations"],
        "space_continuous": ",".join(size["continuous"]) or "none",
        "seed": cfg.seed,
        "folds": cfg.folds,
        "workers": cfg.workers,
    }


def record_results(tuner: kt.Tuner, parent_run_id: str, reports: Path) -> tuple[Any, dict[str, Any]]:
    """Write the trials table and plot, log them and the winner to the active parent run,
    and tag the winning child run.

    Args:
        tuner: The finished tuner (on the chief in distributed mode).
        parent_run_id: The search's MLflow run.
        reports: Folder for ``tuning_trials.csv`` / ``.png``.

    Returns:
        The best trial, and counts for the stage's summary.
    """
    import pandas as pd

    best = best_trial(tuner)
    table = pd.DataFrame(trials_table(tuner))
    table.to_csv(reports / "tuning_trials.csv", index=False)
    plot_trials(reports / "tuning_trials.png", table)
    mlflow.log_artifact(str(reports / "tuning_trials.csv"))
    mlflow.log_artifact(str(reports / "tuning_trials.png"))
    mlflow.log_dict(best.hyperparameters.values, "best_hparams.json")
    failed = int((table["status"] == "FAILED").sum())
    mlflow.log_metrics(
        {f"best_{OBJECTIVE}": float(best.score), "trials": len(table), "failed_trials": failed}
    )
    mlflow.set_tag("best_trial_id", best.trial_id)
    tag_best_trial(parent_run_id, best.trial_id)
    return best, {"trials": len(table), "failed_trials": failed, f"best_{OBJECTIVE}": best.score}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_local_cluster(command: list[str], workers: int, env: Mapping[str, str], poll_s: float = 0.5) -> None:
    """Run keras-tuner's distributed mode on this host: a chief and ``workers`` workers.

    Each process runs ``command`` (the tune stage) with the KERASTUNER_* variables that
    give it its role; they talk gRPC over loopback. If any process fails, the others are
    stopped: a worker that died mid-trial would otherwise leave the chief waiting for it.

    Args:
        command: The stage command, such as ``[python, "pipelines/tune.py"]``.
        workers: Number of worker processes that run trials.
        env: Environment to start them with.
        poll_s: How often to look at the processes.
    """
    base = {**env, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(_free_port())}
    roles = ["chief", *(f"tuner{i}" for i in range(workers))]
    processes = {role: subprocess.Popen(command, env={**base, "KERASTUNER_TUNER_ID": role}) for role in roles}
    try:
        while True:
            codes = {role: process.poll() for role, process in processes.items()}
            failed = {role: code for role, code in codes.items() if code not in (None, 0)}
            if failed:
                raise TsforgeError(
                    f"distributed search: {failed} (process: exit status) failed; the other "
                    "processes were stopped. Rerun the stage to resume: finished trials are kept."
                )
            if all(code == 0 for code in codes.values()):
                return
            time.sleep(poll_s)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            process.wait()
