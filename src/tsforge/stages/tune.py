"""The tune stage: a keras-tuner search over ``tune.space``, one MLflow parent run with a child
run per trial.

Rerunning an interrupted search resumes it: the tuner state lives in a folder named after the
search's definition and data (:func:`search_directory`), and the parent run is found again
through a marker in it (:func:`parent_run`); finished trials are not retrained.

With ``tune.workers > 1`` (or ``--workers N``) the stage runs keras-tuner's distributed mode
on this host: it starts a chief (the oracle, over gRPC) and N workers, each the same stage
script with its KERASTUNER_* role. Started by hand with those variables set, it is one chief
or one worker of a search that spans hosts: a worker runs trials under the chief's parent run
(:func:`run_trials`), and the chief records the results (:func:`record`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras_tuner as kt
import mlflow

from tsforge import tracking, training
from tsforge.catalog import Project
from tsforge.config import TuneConfig
from tsforge.console import SearchProgress
from tsforge.search import (
    ForecastHyperModel,
    budget,
    make_tuner,
    planned_trials,
    search,
    search_key,
    search_params,
    space_size,
)
from tsforge.search_results import record_results, top_trials
from tsforge.training import WindowedData, set_seeds
from tsforge.trial_tracking import remember_parent_run, remembered_parent_run

TOP_TRIALS_KEPT = 10
"""Trials best_hparams.json keeps for the train stage's ensemble (it takes the best of them)."""


def workers_override(argv: Sequence[str], description: str | None) -> int | None:
    """The stage's command line: ``--workers N`` overrides ``tune.workers``, or None.

    Args:
        argv: The arguments after the script's name.
        description: The ``--help`` text (the stage script's docstring).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workers", type=int, help="override tune.workers")
    workers: int | None = parser.parse_args(argv).workers
    return workers


def with_workers(cfg: TuneConfig, workers: int | None) -> TuneConfig:
    """The tune section with ``workers`` from the command line, when given."""
    return cfg if workers is None else dataclasses.replace(cfg, workers=workers)


@dataclass(frozen=True)
class Search:
    """One search, as every process of it (single, chief or worker) sets it up.

    Attributes:
        cfg: The tune section.
        directory: The tuner state's folder (:func:`search_directory`).
        hypermodel: What every trial builds and fits.
        lineage: The lineage tags of the parent run and of every trial's run.
    """

    cfg: TuneConfig
    directory: Path
    hypermodel: ForecastHyperModel
    lineage: dict[str, str]


def search_directory(tuner_root: Path, cfg: TuneConfig, lineage: Mapping[str, str]) -> Path:
    """The folder of a search's tuner state: named after its definition and its data (the
    ``data.*`` lineage hashes), so the same search resumes and a changed one starts afresh."""
    return tuner_root / search_key(cfg, {k: v for k, v in lineage.items() if k.startswith("data.")})


def prepare(project: Project, cfg: TuneConfig, data: WindowedData) -> Search:
    """Set a search up: lineage tags, its folder, and the hypermodel (with every seed set).

    Args:
        project: The project (the tuner folder; the inputs and params hashed for lineage).
        cfg: The tune section.
        data: The windowed series the trials train on.

    Returns:
        The search.
    """
    inputs = {"series": project.series, "windows": project.windows}
    lineage = tracking.lineage_tags(project.root, inputs, project.params)
    directory = search_directory(project.tuner, cfg, lineage)
    set_seeds(cfg.seed)
    return Search(cfg, directory, ForecastHyperModel(data, cfg.space, cfg.seed, cfg.folds), lineage)


@contextlib.contextmanager
def parent_run(project: Project, setup: Search) -> Iterator[str]:
    """The search's MLflow parent run: the one an interrupted search started, else a new one.

    Its ``stage`` and ``search_key`` tags are how a worker finds it; the search's params are
    logged when it is new.

    Args:
        project: The project (its snapshot is the run's dataset input).
        setup: The search.

    Yields:
        The parent run's id.
    """
    cfg, directory = setup.cfg, setup.directory
    resumed = remembered_parent_run(directory)
    with mlflow.start_run(run_id=resumed, run_name=None if resumed else f"tune-{cfg.strategy}") as parent:
        remember_parent_run(directory, parent.info.run_id)
        mlflow.set_tags(
            {**setup.lineage, "stage": "tune", "search_key": directory.name, "device": training.device()}
        )
        tracking.log_snapshot_input(project, "tune")
        if resumed is None:
            mlflow.log_params(search_params(cfg))
        yield parent.info.run_id


def run_trials(
    setup: Search, parent_run_id: str, *, verbose: bool = False, progress: bool = False
) -> kt.Tuner:
    """Run the search's trials, each an MLflow child run of ``parent_run_id``.

    On the chief this serves the oracle until every trial is done; on a worker it runs the
    trials the chief hands out.

    Args:
        setup: The search.
        parent_run_id: The search's MLflow run.
        verbose: Show keras-tuner's tables.
        progress: Show a progress bar (trials done of those planned, the best objective so
            far), counting the trials a resumed search had done.

    Returns:
        The tuner.
    """
    cfg = setup.cfg
    tuner = make_tuner(
        cfg, setup.hypermodel, setup.directory, parent_run_id=parent_run_id, tags=setup.lineage
    )
    done, best = (ended_trials(tuner), best_score(tuner)) if progress else (0, None)
    with SearchProgress(planned_trials(cfg), done=done, best=best, enabled=progress) as bar:
        report = bar.trial_ended if progress else None
        search(tuner, cfg.max_epochs, cfg.patience, verbose=verbose, on_trial_end=report)
    return tuner


def ended_trials(tuner: kt.Tuner) -> int:
    """Trials of the tuner's search that have ended (completed or failed)."""
    return sum(t.status in ("COMPLETED", "FAILED") for t in tuner.oracle.trials.values())


def best_score(tuner: kt.Tuner) -> float | None:
    """The best objective of the tuner's search so far, or None before any trial completed."""
    best = tuner.oracle.get_best_trials(1)
    return None if not best or best[0].score is None else float(best[0].score)


@dataclass(frozen=True)
class Tuned:
    """What a finished search leaves: models/best_hparams.json and reports/tuning.json."""

    best_hparams: dict[str, Any]
    report: dict[str, Any]


def record(tuner: kt.Tuner, cfg: TuneConfig, parent_run_id: str, reports: Path) -> Tuned:
    """Record a finished search: the trials table and plot (written to ``reports`` and logged),
    the winner on the parent run and its child run, and the stage's two JSON outputs.

    Args:
        tuner: The finished tuner.
        cfg: The tune section.
        parent_run_id: The search's MLflow run (active).
        reports: The reports folder.

    Returns:
        The best trial with the top trials for the ensemble, and the search's summary.
    """
    best, summary = record_results(tuner, parent_run_id, reports)
    best_hparams = {
        "trial_id": best.trial_id,
        "score": best.score,
        "values": best.hyperparameters.values,
        "config": best.hyperparameters.get_config(),
        "tuning_run_id": parent_run_id,
        # The train stage builds its ensemble from the best of these.
        "top": top_trials(tuner, TOP_TRIALS_KEPT),
    }
    extra = {"space": space_size(cfg.space), "budget": budget(cfg)}
    settings = {"strategy": cfg.strategy, "folds": cfg.folds, "workers": cfg.workers}
    return Tuned(best_hparams, {**summary, **settings, **extra})
