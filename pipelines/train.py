"""Stage train: rebuild the best trials with the tuner's builder, train them (one network or an
ensemble of the best trials x seeds), log the forecaster (tsforge.stages.train)."""

from tsforge import catalog, run_notes, stage
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
    params = load_params(PROJECT.params)
    best, eda = catalog.read_json(PROJECT.best_hparams), catalog.read_json(PROJECT.eda)
    series, windows = catalog.ProcessedSeries.load(PROJECT.series), catalog.Windows.load(PROJECT.windows)
    freq, scalers = catalog.IngestSummary.load(PROJECT.raw_meta).freq, catalog.load_scalers(PROJECT.scaler)
    window = params.window  # the served forecaster pads a history down to window.min_history rows
    spec = ForecastSpec.of_pipeline(
        params.data, series, windows, freq, scalers, min_history=window.training_history
    )
    # Intervals' scales are the gate's MASE scales: the same period.
    period = mase_period(params.evaluate.season_period, int(eda["season_period"]))
    stage.start_tracking(PROJECT, params.tracking.experiment)
    inputs = {"series": PROJECT.series, "windows": PROJECT.windows}
    config = params.train
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
            config=params.train,
            space=params.tune.space,
            period=period,
            # A network combined with Theta or ETS fits them as the gate's baselines are fitted.
            statistical_history=params.evaluate.theta_history,
            metric=params.registry.metric,
            on_trained=say_trained,
        )
        catalog.save_csv(PROJECT.learning_curve, trained.curve)
        plot_learning_curve(PROJECT.learning_curve_plot, trained.curve)
        catalog.save_network(PROJECT.network, trained.final.model)
        trained.spec.save(PROJECT.forecast_spec)
        example = example_history(catalog.load_frame(PROJECT.raw_series), trained.spec)
        model_uri = train.log_model(trained, PROJECT, example, params.train)
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
