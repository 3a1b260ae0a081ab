"""Stage train: rebuild the best trials with the tuner's builder, train them (one network or an
ensemble of the best trials x seeds), log the forecaster (tsforge.stages.train)."""

from tsforge import catalog, stage
from tsforge.config import load_params, mase_period
from tsforge.forecaster import ForecastSpec, example_history
from tsforge.stages import train
from tsforge.training import plot_learning_curve

PROJECT = stage.project(__file__)


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
        )
        catalog.save_csv(PROJECT.learning_curve, trained.curve)
        plot_learning_curve(PROJECT.learning_curve_plot, trained.curve)
        catalog.save_network(PROJECT.network, trained.final.model)
        trained.spec.save(PROJECT.forecast_spec)
        example = example_history(catalog.load_frame(PROJECT.raw_series), trained.spec)
        model_uri = train.log_model(trained, PROJECT, example, params.train)
        catalog.write_json(PROJECT.training, trained.report(run.run_id, model_uri))


if __name__ == "__main__":
    stage.run(main)
