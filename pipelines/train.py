"""Stage train: rebuild the best trials with the tuner's builder, train them (one network or
an ensemble of the best trials x seeds), log the forecaster."""

from dataclasses import replace

import mlflow
import pandas as pd

from tsforge import catalog, conformal, stage, tracking, training
from tsforge.config import load_params, mase_period
from tsforge.forecaster import ForecastSpec, example_history, log_forecaster
from tsforge.models import model_values
from tsforge.training import OBJECTIVE, Member, WindowedData, ensemble_candidates, train_final

PROJECT = stage.project(__file__)


def _log_member(member: Member) -> None:
    """Each member is a child run of the train run, with its hyperparameters and score."""
    with mlflow.start_run(run_name=member.model.name, nested=True):
        mlflow.set_tags({"stage": "train-member", "kt_trial_id": member.trial_id})
        mlflow.log_params({**model_values(member.hp.values), "seed": member.seed})
        scores = {f"best_{OBJECTIVE}": member.val_score, "best_epoch": member.best_epoch}
        mlflow.log_metrics({**scores, "epochs": len(member.history["loss"]), "refitted": member.refitted})


def main() -> None:
    params = load_params(PROJECT.params)
    best = catalog.read_json(PROJECT.best_hparams)
    candidates = ensemble_candidates(best, params.train.ensemble_trials)
    series, windows = catalog.ProcessedSeries.load(PROJECT.series), catalog.Windows.load(PROJECT.windows)
    stage.start_tracking(PROJECT, params.tracking.experiment)
    with mlflow.start_run(run_name="train") as run:
        inputs = {"series": PROJECT.series, "windows": PROJECT.windows}
        lineage = tracking.lineage_tags(PROJECT.root, inputs, PROJECT.params)
        mlflow.set_tags({**lineage, "stage": "train", "tuning_run_id": best["tuning_run_id"]})
        tracking.log_snapshot_input(PROJECT, "train")
        mlflow.log_params(model_values(candidates[0][1].values))
        several = len(candidates) * params.train.ensemble_seeds > 1
        data = training.trial_data(WindowedData.of(series, windows), candidates[0][1].values)
        final = train_final(
            candidates, params.tune.space, data, params.train, _log_member if several else None
        )
        figures = {"fit_seconds": final.fit_seconds, "train_samples_per_second": final.samples_per_second}
        held_out = {} if final.val_score is None else {f"ensemble_{OBJECTIVE}": final.val_score}
        mlflow.log_metrics({**figures, **held_out, "members": len(final.members)})
        curve = pd.DataFrame(final.curve())
        for row in curve.to_dict("records"):
            mlflow.log_metrics({k: float(v) for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))
        catalog.save_csv(PROJECT.learning_curve, curve)
        training.plot_learning_curve(PROJECT.learning_curve_plot, curve)
        for path in (PROJECT.learning_curve, PROJECT.learning_curve_plot):
            mlflow.log_artifact(str(path))
        catalog.save_network(PROJECT.network, final.model)
        freq, scalers = (
            catalog.IngestSummary.load(PROJECT.raw_meta).freq,
            catalog.load_scalers(PROJECT.scaler),
        )
        spec = replace(
            ForecastSpec.of_pipeline(params.data, series, windows, freq, scalers), normalize=data.normalize
        )
        # Intervals' scales are the gate's MASE scales: the same period.
        period = mase_period(
            params.evaluate.season_period, int(catalog.read_json(PROJECT.eda)["season_period"])
        )
        calibration = conformal.calibrate_final(final, spec, series, windows.val, period)
        spec = replace(spec, conformal=calibration)
        spec.save(PROJECT.forecast_spec)
        if calibration is not None:
            mlflow.log_metric("conformal_calibration_windows", calibration.count)
        example = example_history(catalog.load_frame(PROJECT.raw_series), spec)
        model_uri = log_forecaster(
            PROJECT.network,
            PROJECT.forecast_spec,
            example,
            final.model,
            spec,
            with_example=params.train.input_example,
        )
        report = {
            "run_id": run.info.run_id,
            "model_uri": model_uri,
            "epochs": len(curve),
            f"best_{OBJECTIVE}": float(curve[OBJECTIVE].min()),
            "fit_seconds": round(final.fit_seconds, 3),
            "train_samples_per_second": round(final.samples_per_second, 1),
            "hyperparameters": model_values(candidates[0][1].values),
        }
        catalog.write_json(PROJECT.training, {**report, "ensemble": final.summary()})


if __name__ == "__main__":
    stage.run(main)
