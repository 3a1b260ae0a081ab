"""Stage train: rebuild the best trial with the tuner's builder, train, log the forecaster."""

import time

import keras_tuner as kt
import mlflow
import numpy as np
import pandas as pd

from tsforge import stage, tracking
from tsforge.config import load_params
from tsforge.forecaster import ForecastSpec, example_history, log_forecaster
from tsforge.panel import scalers_from_dict
from tsforge.training import plot_learning_curve, train_best


def main() -> None:
    params = load_params(stage.PARAMS)
    best = stage.read_json(stage.BEST_HPARAMS)
    hp = kt.HyperParameters.from_config(best["config"])
    data = stage.load_windowed()
    series = np.load(stage.PROCESSED)
    stage.start_tracking(params.tracking.experiment)
    with mlflow.start_run(run_name="train") as run:
        mlflow.set_tags(
            {
                **tracking.lineage_tags(
                    stage.ROOT, {"series": stage.PROCESSED, "windows": stage.WINDOWS}, stage.PARAMS
                ),
                "stage": "train",
                "tuning_run_id": best["tuning_run_id"],
            }
        )
        mlflow.log_params(hp.values)
        fit_started = time.perf_counter()
        model, history = train_best(
            hp,
            params.tune.space,
            data,
            epochs=params.train.epochs,
            patience=params.train.patience,
            seed=params.train.seed,
        )
        fit_seconds = time.perf_counter() - fit_started
        throughput = len(data.train) * len(history["loss"]) / fit_seconds
        mlflow.log_metrics({"fit_seconds": fit_seconds, "train_samples_per_second": throughput})
        curve = pd.DataFrame(
            {
                "epoch": range(1, len(history["loss"]) + 1),
                "loss": history["loss"],
                "val_loss": history["val_loss"],
            }
        )
        for row in curve.itertuples():
            mlflow.log_metrics({"loss": row.loss, "val_loss": row.val_loss}, step=int(row.epoch))
        curve.to_csv(stage.REPORTS / "learning_curve.csv", index=False)
        plot_learning_curve(stage.REPORTS / "learning_curve.png", curve)
        mlflow.log_artifact(str(stage.REPORTS / "learning_curve.csv"))
        mlflow.log_artifact(str(stage.REPORTS / "learning_curve.png"))
        model.save(stage.NETWORK)
        spec = ForecastSpec(
            time_column=params.data.time_column,
            targets=params.data.target,
            features=params.data.features,
            input_size=data.window.input_size,
            horizon=data.window.horizon,
            difference=bool(series["difference"]),
            freq=stage.read_json(stage.RAW_META)["freq"],
            scalers=scalers_from_dict(stage.read_json(stage.SCALER)),
            series_id=params.data.series_id,
            log=bool(series["log"]),
            normalize=data.normalize,
        )
        spec.save(stage.FORECAST_SPEC)
        raw = pd.read_parquet(stage.RAW_SERIES)
        model_uri = log_forecaster(
            stage.NETWORK, stage.FORECAST_SPEC, example_history(raw, spec), model, spec
        )
        stage.write_json(
            stage.REPORTS / "training.json",
            {
                "run_id": run.info.run_id,
                "model_uri": model_uri,
                "epochs": len(curve),
                "best_val_loss": float(curve["val_loss"].min()),
                "fit_seconds": round(fit_seconds, 3),
                "train_samples_per_second": round(throughput, 1),
                "hyperparameters": hp.values,
            },
        )


if __name__ == "__main__":
    stage.run(main)
