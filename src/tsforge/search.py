"""The keras-tuner search: its space, identity, folds, hypermodel, tuner factory and run.

Trials log to MLflow through :mod:`tsforge.trial_tracking`; what a finished search found
is read and reported by :mod:`tsforge.search_results`; several processes share one search
through :mod:`tsforge.distributed_search`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import numpy as np
from keras_tuner.src import utils as kt_utils

from tsforge.config import DEFAULT_SPACE, TuneConfig
from tsforge.errors import ConfigError, TsforgeError
from tsforge.models import build_model
from tsforge.training import OBJECTIVE, WindowedData, early_stopping, fit
from tsforge.trial_tracking import EpochLogger, with_mlflow_trials

EXECUTION_ONLY = ("workers", "worker_wait_s")
"""Tune settings that change how a search runs, not what it finds."""

TUNERS: dict[str, type[kt.Tuner]] = {
    "hyperband": kt.Hyperband,
    "random": kt.RandomSearch,
    "bayesian": kt.BayesianOptimization,
    "grid": kt.GridSearch,
}

# keras-tuner's own writer, kept for remote paths; read (not replaced) at import.
_keras_tuner_save_json = kt_utils.save_json


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


def atomic_tuner_state() -> None:
    """Make keras-tuner write its state files (oracle, trials) atomically, in this process.

    keras-tuner offers no hook for this, so its ``save_json`` is replaced; every tuner in
    the process shares it. Called where tuners are made and searched; calling it again
    changes nothing.
    """
    kt_utils.save_json = _save_json_atomically


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


def search_key(cfg: TuneConfig, data_hashes: Mapping[str, str]) -> str:
    """Identity of a search: the tune section and the data it runs on.

    The tuner directory is named after it, so rerunning the same search resumes it (no
    finished trial is retrained), while a changed space, budget or dataset starts afresh
    instead of silently reloading an oracle built for other settings.
    """
    settings = {k: v for k, v in asdict(cfg).items() if k not in EXECUTION_ONLY}
    payload = json.dumps(
        {"tune": settings, "data": dict(sorted(data_hashes.items()))}, sort_keys=True, default=str
    )
    return "search-" + hashlib.sha256(payload.encode()).hexdigest()[:12]


def budget(cfg: TuneConfig) -> str:
    """The search budget in words, for the MLflow parent run."""
    if cfg.strategy == "hyperband":
        return (
            f"hyperband: max_epochs={cfg.max_epochs}, factor={cfg.factor}, "
            f"iterations={cfg.hyperband_iterations}"
        )
    return f"{cfg.strategy}: max_trials={cfg.max_trials}, epochs per trial={cfg.max_epochs}"


def search_params(cfg: TuneConfig) -> dict[str, Any]:
    """What the parent run records about a search when it starts: strategy, budget, space
    and its size."""
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
        kwargs.pop("verbose", None)  # keras-tuner's display setting (search's); fits are silent
        if self.folds == 1:
            history = fit(model, hp, self.space, self.data, self.seed, **kwargs)
            self._check(history.history)
            return history
        splits = rolling_folds(self.data.train, self.data.val, self.folds, self.data.window.horizon)
        scores = []
        for k, (train, val) in enumerate(splits):
            last = k == len(splits) - 1
            for callback in kwargs.get("callbacks", []):
                if isinstance(callback, EpochLogger):
                    callback.fold = None if last else k
            fold_model = model if last else self.build(hp)
            # A fold validates, as the plain split does, on complete windows only.
            fold_data = replace(self.data, train=train, val=self.data.complete(val))
            if len(fold_data.val) == 0:
                raise ConfigError(
                    f"params.yaml: tune.folds={self.folds} leaves fold {k + 1} no complete validation "
                    "window (its block holds only padded training windows). Use fewer folds, or set "
                    "window.min_history: null (no padding)."
                )
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


def make_tuner(
    cfg: TuneConfig,
    hypermodel: ForecastHyperModel,
    directory: Path,
    *,
    parent_run_id: str,
    tags: Mapping[str, str],
) -> kt.Tuner:
    """A keras-tuner tuner of ``cfg.strategy`` whose trials log to MLflow.

    ``overwrite=False`` makes a rerun continue the search recorded in ``directory``; its
    state files are written atomically (:func:`atomic_tuner_state`), so a kill cannot leave
    one that the rerun fails to read.

    Args:
        cfg: The tune section (strategy, budget, seed).
        hypermodel: What to build and fit.
        directory: Tuner state directory (persistent DVC output).
        parent_run_id: The MLflow tuning run the trials are children of.
        tags: Lineage tags for each trial run.

    Returns:
        The tuner.
    """
    atomic_tuner_state()
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
    tuner_cls = with_mlflow_trials(TUNERS[cfg.strategy])
    if cfg.strategy == "hyperband":
        return tuner_cls(
            max_epochs=cfg.max_epochs,
            factor=cfg.factor,
            hyperband_iterations=cfg.hyperband_iterations,
            **common,
        )
    return tuner_cls(max_trials=cfg.max_trials, **common)


def planned_trials(cfg: TuneConfig) -> int:
    """Trials the search runs at most: ``max_trials``, or for hyperband the trials of its
    brackets (keras-tuner's schedule, with one epoch as the least budget) times its iterations.

    A search can end sooner: a space with fewer distinct points runs out first.
    """
    if cfg.strategy != "hyperband":
        return cfg.max_trials
    epochs, brackets = float(cfg.max_epochs), 0
    while epochs >= 1:
        epochs, brackets = epochs / cfg.factor, brackets + 1
    last_round = math.ceil(1 + math.log(cfg.max_epochs, cfg.factor))
    per_iteration = sum(
        math.ceil(last_round / (bracket + 1) * cfg.factor ** (bracket - rnd))
        for bracket in range(brackets)
        for rnd in range(bracket + 1)
    )
    return per_iteration * cfg.hyperband_iterations


def search(
    tuner: kt.Tuner,
    epochs: int,
    patience: int,
    *,
    verbose: bool = False,
    on_trial_end: Callable[[Any], None] | None = None,
) -> None:
    """Run the search with early stopping per trial.

    In distributed mode the chief serves the oracle here until every trial is done, and a
    worker runs the trials the chief hands out. Tuner state is written atomically here too,
    for tuners made without :func:`make_tuner`.

    Args:
        tuner: The tuner.
        epochs: Most epochs per trial.
        patience: Early-stopping patience.
        verbose: Show keras-tuner's tables (each trial's hyperparameters and result).
        on_trial_end: Called with each trial as the oracle recorded it once it ended (its
            status, score and error); needs a tuner from :func:`make_tuner`.
    """
    atomic_tuner_state()
    listeners = getattr(tuner, "trial_listeners", None)
    if on_trial_end is not None:
        if listeners is None:
            raise TypeError("on_trial_end needs a tuner from make_tuner (its trials report their end)")
        listeners.append(on_trial_end)
    try:
        tuner.search(
            epochs=epochs,
            callbacks=[early_stopping(patience), keras.callbacks.TerminateOnNaN()],
            verbose=int(verbose),
        )
    except RuntimeError as exc:  # keras-tuner stops after too many consecutive failed trials
        raise TsforgeError(
            f"the search stopped: {exc}. Each failed trial's MLflow child run has the error as "
            "its 'error' tag; narrow tune.space (lower learning rates, smaller models) and rerun."
        ) from exc
    finally:
        if on_trial_end is not None and listeners is not None:
            listeners.remove(on_trial_end)
