"""Stage train: rebuild the best trials with the tuner's builder, train them (one network or an
ensemble of the best trials x seeds), log the forecaster (tsforge.stages.train).

With ``train.workers > 1`` the stage trains the networks data-parallel on that many processes of
this host, each this script with its ``TF_CONFIG`` (TensorFlow's MultiWorkerMirroredStrategy
over loopback); started by hand with ``TF_CONFIG`` set, it is one worker of a cluster that spans
hosts. Only the chief (worker 0) writes files and logs (tsforge.multiworker says more).
"""

import os
import sys

from tsforge import catalog, multiworker, run_notes, stage
from tsforge.config import load_params, mase_period
from tsforge.console import paths, say
from tsforge.forecaster import ForecastSpec, example_history
from tsforge.stages import train
from tsforge.training import OBJECTIVE, Member, ensemble_candidates, plot_learning_curve

PROJECT = stage.project(__file__)


def say_trained(member: Member) -> None:
    """One line per network: its name, trial, seed, epochs and best validation score."""
    epochs = len(member.history["loss"])
    say(
        f"  {member.model.name} (trial {member.trial_id}, seed {member.seed}): {epochs} epochs, "
        f"best {OBJECTIVE} {member.val_score:.4g} at epoch {member.best_epoch}"
    )


def main() -> None:
    role = multiworker.role(os.environ)
    # First, before any TensorFlow operation: the strategy sets up the collectives once.
    strategy = None if role == "single" else multiworker.strategy()
    params = load_params(PROJECT.params)
    if role == "single" and params.train.workers > 1:
        workers = params.train.workers
        say(f"training on {workers} workers of this host (MultiWorkerMirroredStrategy over loopback)")
        multiworker.run_local_workers([sys.executable, __file__], workers, multiworker.environment())
        return
    config = params.train if strategy is None else multiworker.fit_config(params.train)
    best, eda = catalog.read_json(PROJECT.best_hparams), catalog.read_json(PROJECT.eda)
    series, windows = catalog.ProcessedSeries.load(PROJECT.series), catalog.Windows.load(PROJECT.windows)
    if role == "worker":
        networks = train.train_replica(
            best, series, windows, config=config, space=params.tune.space, strategy=strategy
        )
        say(f"worker: trained its share of {networks} network(s) with the chief, which writes and logs")
        multiworker.leave()
        return
    freq, scalers = catalog.IngestSummary.load(PROJECT.raw_meta).freq, catalog.load_scalers(PROJECT.scaler)
    window = params.window  # the served forecaster pads a history down to window.min_history rows
    spec = ForecastSpec.of_pipeline(
        params.data, series, windows, freq, scalers, min_history=window.training_history
    )
    # Intervals' scales are the gate's MASE scales: the same period.
    period = mase_period(params.evaluate.season_period, int(eda["season_period"]))
    stage.start_tracking(PROJECT, params.tracking.experiment)
    inputs = {"series": PROJECT.series, "windows": PROJECT.windows}
    workers = multiworker.cluster_size(os.environ)
    if workers > 1:
        joint = (
            " (train.ensemble_fit joint fits as separate here)"
            if params.train.ensemble_fit == "joint"
            else ""
        )
        say(f"chief of {workers} workers: each network's fit runs on all of them{joint}")
    trials = len(ensemble_candidates(best, config.ensemble_trials))
    refit = ", then refit on train+val" if config.refit else ""
    say(
        f"training {trials} trial(s) x {config.ensemble_seeds} seed(s), up to {config.epochs} epochs, "
        f"early stopping on {OBJECTIVE} (patience {config.patience}){refit}"
    )
    with stage.tracked_run(PROJECT, "train", inputs, {"tuning_run_id": best["tuning_run_id"]}) as run:
        trained = train.train_logged(
            best,
            series,
            windows,
            spec,
            config=config,
            space=params.tune.space,
            period=period,
            # A network combined with Theta or ETS fits them as the gate's baselines are fitted.
            statistical_history=params.evaluate.theta_history,
            metric=params.registry.metric,
            on_trained=say_trained,
            strategy=strategy,
            workers=workers,
        )
        catalog.save_csv(PROJECT.learning_curve, trained.curve)
        plot_learning_curve(PROJECT.learning_curve_plot, trained.curve)
        catalog.save_network(PROJECT.network, trained.final.model)
        trained.spec.save(PROJECT.forecast_spec)
        example = example_history(catalog.load_frame(PROJECT.raw_series), trained.spec)
        model_uri = train.log_model(trained, PROJECT, example, config)
        catalog.write_json(PROJECT.training, trained.report(run.run_id, model_uri))
        run_notes.describe_run(
            run_notes.training_note(
                source=params.data.source,
                targets=params.data.target,
                series=len(series.layout.lengths),
                representation=catalog.read_json(PROJECT.scale_report),
                served=trained.spec.combination.label,
                reason=trained.choice.reason,
                commit=run.lineage["git_commit"],
            )
        )
    members, combine = len(trained.final.members), trained.final.combine
    served = f"the {combine} of {members} networks" if members > 1 else "one network"
    say(f"serving {served} ({trained.choice.reason}) -> {paths(PROJECT.root, PROJECT.network)}")


if __name__ == "__main__":
    stage.run(main)
