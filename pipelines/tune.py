"""Stage tune: keras-tuner search; one MLflow parent run, one child run per trial.

Rerunning an interrupted search resumes it: the tuner state and the parent run are
found again through the search key, finished trials are not retrained.

With ``tune.workers > 1`` (or ``--workers N``) the stage runs keras-tuner's distributed
mode on this host: it starts a chief (the oracle, over gRPC) and N workers, each this same
script with its KERASTUNER_* role. Started by hand with those variables set, it is one
chief or one worker of a search that spans hosts.
"""

import argparse
import dataclasses
import os
import sys

import mlflow

from tsforge import stage, tracking
from tsforge.catalog import ProcessedSeries, Windows, write_json
from tsforge.config import load_params
from tsforge.distributed_search import distributed_role, run_local_cluster, wait_for_parent_run
from tsforge.search import (
    ForecastHyperModel,
    budget,
    make_tuner,
    search,
    search_key,
    search_params,
    space_size,
)
from tsforge.search_results import record_results, top_trials
from tsforge.training import WindowedData, set_seeds
from tsforge.trial_tracking import remember_parent_run, remembered_parent_run

PROJECT = stage.project(__file__)
TOP_TRIALS_KEPT = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, help="override tune.workers")
    args = parser.parse_args()
    params = load_params(PROJECT.params)
    cfg = params.tune if args.workers is None else dataclasses.replace(params.tune, workers=args.workers)
    role = distributed_role(os.environ)
    if role == "single" and cfg.workers > 1:
        # Create the tracking store and experiment once, before the processes race to.
        stage.start_tracking(PROJECT, params.tracking.experiment)
        run_local_cluster([sys.executable, __file__], cfg.workers, dict(os.environ))
        return
    series, windows = ProcessedSeries.load(PROJECT.series), Windows.load(PROJECT.windows)
    data = WindowedData.of(series, windows)
    stage.start_tracking(PROJECT, params.tracking.experiment)
    inputs = {"series": PROJECT.series, "windows": PROJECT.windows}
    tags = tracking.lineage_tags(PROJECT.root, inputs, PROJECT.params)
    directory = PROJECT.tuner / search_key(cfg, {k: v for k, v in tags.items() if k.startswith("data.")})
    set_seeds(cfg.seed)
    hypermodel = ForecastHyperModel(data, cfg.space, cfg.seed, cfg.folds)
    if role == "worker":
        parent_id = wait_for_parent_run(directory.name, cfg.worker_wait_s)
        tuner = make_tuner(cfg, hypermodel, directory, parent_run_id=parent_id, tags=tags)
        search(tuner, cfg.max_epochs, cfg.patience)
        return
    resumed = remembered_parent_run(directory)
    with mlflow.start_run(run_id=resumed, run_name=None if resumed else f"tune-{cfg.strategy}") as parent:
        remember_parent_run(directory, parent.info.run_id)
        mlflow.set_tags({**tags, "stage": "tune", "search_key": directory.name})
        tracking.log_snapshot_input(PROJECT, "tune")
        if resumed is None:
            mlflow.log_params(search_params(cfg))
        tuner = make_tuner(cfg, hypermodel, directory, parent_run_id=parent.info.run_id, tags=tags)
        search(tuner, cfg.max_epochs, cfg.patience)
        best, summary = record_results(tuner, parent.info.run_id, PROJECT.reports)
        write_json(
            PROJECT.best_hparams,
            {
                "trial_id": best.trial_id,
                "score": best.score,
                "values": best.hyperparameters.values,
                "config": best.hyperparameters.get_config(),
                "tuning_run_id": parent.info.run_id,
                # The train stage builds its ensemble from the best of these.
                "top": top_trials(tuner, TOP_TRIALS_KEPT),
            },
        )
        extra = {"space": space_size(cfg.space), "budget": budget(cfg)}
        settings = {"strategy": cfg.strategy, "folds": cfg.folds, "workers": cfg.workers}
        write_json(PROJECT.tuning, {**summary, **settings, **extra})


if __name__ == "__main__":
    stage.run(main)
