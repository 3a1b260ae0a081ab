"""What a finished keras-tuner search found: the winner, the best few, every trial.

The trials table and its plot go to ``reports/`` and, with the winner, to the search's
MLflow parent run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import keras_tuner as kt
import mlflow
import numpy as np

from tsforge.errors import TsforgeError
from tsforge.models import model_values
from tsforge.plotting import pyplot
from tsforge.training import OBJECTIVE
from tsforge.trial_tracking import tag_best_trial


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
    """The ``count`` best finished trials with distinct hyperparameters, best first: id,
    score and hyperparameter config (what the train stage rebuilds as ensemble members).

    Hyperband continues a promising trial as a new trial with the same hyperparameters
    (only its ``tuner/*`` bookkeeping differs); the train stage would rebuild both as the
    same network, so only the better of them is kept.
    """
    return distinct_best(tuner.oracle.get_best_trials(len(tuner.oracle.trials)), count)


def distinct_best(ranked: list[Any], count: int) -> list[dict[str, Any]]:
    """The first ``count`` of ``ranked`` (keras-tuner trials, best first) with a finite score
    and hyperparameters no earlier one had; see :func:`top_trials`."""
    chosen: list[dict[str, Any]] = []
    seen: set[str] = set()
    for trial in ranked:
        if trial.score is None or not math.isfinite(trial.score):
            continue
        key = json.dumps(model_values(trial.hyperparameters.values), sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        chosen.append(
            {"trial_id": trial.trial_id, "score": trial.score, "config": trial.hyperparameters.get_config()}
        )
        if len(chosen) == count:
            break
    return chosen


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


def plot_trials(path: Path, table: Any) -> None:
    """Objective (validation MAE) of each trial in order, with the running best."""
    plt = pyplot()

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
    mlflow.log_dict(model_values(best.hyperparameters.values), "best_hparams.json")
    failed = int((table["status"] == "FAILED").sum())
    mlflow.log_metrics(
        {f"best_{OBJECTIVE}": float(best.score), "trials": len(table), "failed_trials": failed}
    )
    mlflow.set_tag("best_trial_id", best.trial_id)
    tag_best_trial(parent_run_id, best.trial_id)
    return best, {"trials": len(table), "failed_trials": failed, f"best_{OBJECTIVE}": best.score}
