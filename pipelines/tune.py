"""Stage tune: keras-tuner search; one MLflow parent run, one child run per trial.

Rerunning an interrupted search resumes it. With ``tune.workers > 1`` (or ``--workers N``) the
stage runs keras-tuner's distributed mode on this host: a chief and N workers, each this script
with its KERASTUNER_* role; started by hand with those variables set, it is one chief or one
worker of a search that spans hosts (tsforge.stages.tune says more).
"""

import os
import sys

from tsforge import run_notes, stage
from tsforge.catalog import ProcessedSeries, Windows, write_json
from tsforge.config import load_params
from tsforge.console import paths, say
from tsforge.distributed_search import distributed_role, run_local_cluster, wait_for_parent_run
from tsforge.search import budget, planned_trials
from tsforge.stages import tune
from tsforge.training import WindowedData

PROJECT = stage.project(__file__)


def main() -> None:
    workers = tune.workers_override(sys.argv[1:], __doc__)
    params = load_params(PROJECT.params)
    cfg, role = tune.with_workers(params.tune, workers), distributed_role(os.environ)
    if role == "single" and cfg.workers > 1:
        # Create the tracking store and experiment once, before the processes race to.
        stage.start_tracking(PROJECT, params.tracking.experiment)
        run_local_cluster([sys.executable, __file__], cfg.workers, dict(os.environ))
        return
    data = WindowedData.of(ProcessedSeries.load(PROJECT.series), Windows.load(PROJECT.windows))
    stage.start_tracking(PROJECT, params.tracking.experiment)
    setup = tune.prepare(PROJECT, cfg, data)
    verbose = stage.CONSOLE.verbose
    if role == "worker":
        run_id = wait_for_parent_run(setup.directory.name, cfg.worker_wait_s)
        tune.run_trials(setup, run_id, verbose=verbose)
        return
    windows = f"{len(data.train)} training and {len(data.val)} validation windows"
    say(f"{budget(cfg)}: up to {planned_trials(cfg)} trials on {windows}")
    with tune.parent_run(PROJECT, setup) as run_id:
        # One bar, not one per process, when workers share this console.
        searched = tune.run_trials(setup, run_id, verbose=verbose, progress=role == "single" and not verbose)
        result = tune.record(searched, cfg, run_id, PROJECT.reports)
        write_json(PROJECT.best_hparams, result.best_hparams)
        write_json(PROJECT.tuning, result.report)
        best, report = result.best_hparams, result.report
        run_notes.describe_run(
            run_notes.tuning_note(
                strategy=cfg.strategy,
                trials=report["trials"],
                best_trial=best["trial_id"],
                family=best["values"].get("family", "rnn"),
                score=best["score"],
                commit=setup.lineage["git_commit"],
            )
        )
    failed = f", {report['failed_trials']} failed" if report.get("failed_trials") else ""
    family = best["values"].get("family", "rnn")
    say(
        f"{report['trials']} trials{failed}; best: trial {best['trial_id']} ({family}), val_mae "
        f"{best['score']:.4g} -> {paths(PROJECT.root, PROJECT.best_hparams, PROJECT.tuning)}"
    )


if __name__ == "__main__":
    stage.run(main)
