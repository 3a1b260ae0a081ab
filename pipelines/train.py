"""Stage train: rebuild the best trial with the tuner's builder, train, log the forecaster.

MLflow's import and tracking-store start-up (about two seconds, most of this stage's own
cost) run in a background thread while the network trains; nothing is logged until the
fit is done, so the run records exactly what it recorded before.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import keras_tuner as kt
import numpy as np
import pandas as pd

from tsforge import stage
from tsforge.config import load_params
from tsforge.panel import scalers_from_dict
from tsforge.training import StopWhenFailed, plot_learning_curve, train_best

INPUTS = {"series": stage.PROCESSED, "windows": stage.WINDOWS}


def _prepare_tracking(experiment: str) -> dict[str, str]:
    """Import MLflow and the forecaster, open the tracking store; the run's lineage tags."""
    from tsforge import forecaster, tracking  # noqa: F401  (imports MLflow)

    stage.start_tracking(experiment)
    return tracking.lineage_tags(stage.ROOT, INPUTS, stage.PARAMS)


def _log_run(
    params: Any,
    best: dict[str, Any],
    hp: Any,
    model: Any,
    history: dict[str, list[float]],
    *,
    fit_seconds: float,
    lineage: dict[str, str],
    train_windows: int,
    window: Any,
) -> None:
    import mlflow

    from tsforge.forecaster import ForecastSpec, example_history, log_forecaster

    with mlflow.start_run(run_name="train") as run:
        mlflow.set_tags({**lineage, "stage": "train", "tuning_run_id": best["tuning_run_id"]})
        mlflow.log_params(hp.values)
        throughput = train_windows * len(history["loss"]) / fit_seconds
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
        series = np.load(stage.PROCESSED)
        spec = ForecastSpec(
            time_column=params.data.time_column,
            targets=params.data.target,
            features=params.data.features,
            input_size=window.input_size,
            horizon=window.horizon,
            difference=bool(series["difference"]),
            freq=stage.read_json(stage.RAW_META)["freq"],
            scalers=scalers_from_dict(stage.read_json(stage.SCALER)),
            series_id=params.data.series_id,
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


def main() -> None:
    params = load_params(stage.PARAMS)
    best = stage.read_json(stage.BEST_HPARAMS)
    hp = kt.HyperParameters.from_config(best["config"])
    data = stage.load_windowed()
    with ThreadPoolExecutor(max_workers=1) as pool:
        tracking_ready = pool.submit(_prepare_tracking, params.tracking.experiment)
        fit_started = time.perf_counter()
        model, history = train_best(
            hp,
            params.tune.space,
            data,
            epochs=params.train.epochs,
            patience=params.train.patience,
            seed=params.train.seed,
            # A tracking failure (say, an unreachable server) ends the fit within an epoch.
            callbacks=[StopWhenFailed(tracking_ready)],
        )
        fit_seconds = time.perf_counter() - fit_started
        lineage = tracking_ready.result()  # re-raises a tracking error (such as an unreachable server)
    _log_run(
        params,
        best,
        hp,
        model,
        history,
        fit_seconds=fit_seconds,
        lineage=lineage,
        train_windows=len(data.train),
        window=data.window,
    )


if __name__ == "__main__":
    stage.run(main)
