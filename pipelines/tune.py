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

from tsforge import stage, tracking, tuning
from tsforge.config import load_params
from tsforge.training import set_seeds

TOP_TRIALS_KEPT = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, help="override tune.workers")
    args = parser.parse_args()
    params = load_params(stage.PARAMS)
    cfg = params.tune if args.workers is None else dataclasses.replace(params.tune, workers=args.workers)
    role = tuning.distributed_role(os.environ)
    if role == "single" and cfg.workers > 1:
        # Create the tracking store and experiment once, before the processes race to.
        stage.start_tracking(params.tracking.experiment)
        tuning.run_local_cluster([sys.executable, __file__], cfg.workers, dict(os.environ))
        return
    data = stage.load_windowed()
    stage.start_tracking(params.tracking.experiment)
    inputs = {"series": stage.PROCESSED, "windows": stage.WINDOWS}
    tags = tracking.lineage_tags(stage.ROOT, inputs, stage.PARAMS)
    directory = stage.TUNER_DIR / tuning.search_key(
        cfg, {k: v for k, v in tags.items() if k.startswith("data.")}
    )
    set_seeds(cfg.seed)
    hypermodel = tuning.ForecastHyperModel(data, cfg.space, cfg.seed, cfg.folds)
    if role == "worker":
        parent_id = tuning.wait_for_parent_run(directory.name, cfg.worker_wait_s)
        tuner = tuning.make_tuner(cfg, hypermodel, directory, parent_run_id=parent_id, tags=tags)
        tuning.search(tuner, cfg.max_epochs, cfg.patience)
        return
    resumed = tuning.parent_run_id(directory)
    with mlflow.start_run(run_id=resumed, run_name=None if resumed else f"tune-{cfg.strategy}") as parent:
        tuning.remember_parent_run(directory, parent.info.run_id)
        mlflow.set_tags({**tags, "stage": "tune", "search_key": directory.name})
        if resumed is None:
            mlflow.log_params(tuning.search_params(cfg))
        tuner = tuning.make_tuner(cfg, hypermodel, directory, parent_run_id=parent.info.run_id, tags=tags)
        tuning.search(tuner, cfg.max_epochs, cfg.patience)
        best, summary = tuning.record_results(tuner, parent.info.run_id, stage.REPORTS)
        stage.write_json(
            stage.BEST_HPARAMS,
            {
                "trial_id": best.trial_id,
                "score": best.score,
                "values": best.hyperparameters.values,
                "config": best.hyperparameters.get_config(),
                "tuning_run_id": parent.info.run_id,
                # The train stage builds its ensemble from the best of these.
                "top": tuning.top_trials(tuner, TOP_TRIALS_KEPT),
            },
        )
        extra = {"space": tuning.space_size(cfg.space), "budget": tuning.budget(cfg)}
        settings = {"strategy": cfg.strategy, "folds": cfg.folds, "workers": cfg.workers}
        stage.write_json(stage.REPORTS / "tuning.json", {**summary, **settings, **extra})


if __name__ == "__main__":
    stage.run(main)
