"""Stage train: rebuild the best trials with the tuner's builder, train them (one network or
an ensemble of the best trials x seeds), log the forecaster."""

import time

import keras_tuner as kt
import mlflow
import numpy as np
import pandas as pd

from tsforge import stage, tracking
from tsforge.config import load_params
from tsforge.forecaster import ForecastSpec, example_history, log_forecaster
from tsforge.models import combine
from tsforge.panel import scalers_from_dict
from tsforge.training import OBJECTIVE, Member, plot_learning_curve, train_members, validation_score


def _log_member(member: Member) -> None:
    """Each member is a child run of the train run, with its hyperparameters and score."""
    with mlflow.start_run(run_name=member.model.name, nested=True):
        mlflow.set_tags({"stage": "train-member", "kt_trial_id": member.trial_id})
        mlflow.log_params({**member.hp.values, "seed": member.seed})
        mlflow.log_metrics(
            {
                f"best_{OBJECTIVE}": member.val_score,
                "epochs": len(member.history["loss"]),
                "best_epoch": member.best_epoch,
                "refitted": float(member.refitted),
            }
        )


def main() -> None:
    params = load_params(stage.PARAMS)
    cfg = params.train
    best = stage.read_json(stage.BEST_HPARAMS)
    ranked = best.get("top") or [best]
    candidates = [(str(t["trial_id"]), kt.HyperParameters.from_config(t["config"])) for t in ranked]
    candidates = candidates[: cfg.ensemble_trials]
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
        mlflow.log_params(candidates[0][1].values)
        fit_started = time.perf_counter()
        members = train_members(
            candidates,
            params.tune.space,
            data,
            seeds=cfg.ensemble_seeds,
            epochs=cfg.epochs,
            patience=cfg.patience,
            seed=cfg.seed,
            refit=cfg.refit,
            on_member=_log_member if len(candidates) * cfg.ensemble_seeds > 1 else None,
        )
        fit_seconds = time.perf_counter() - fit_started
        model = combine([m.model for m in members], cfg.ensemble_combine)
        # A refitted model has learnt the validation windows: it has no held-out score.
        ensemble_score = None if cfg.refit else validation_score(model, data)
        history = members[0].history
        epochs_run = sum(len(m.history["loss"]) for m in members)
        throughput = len(data.train) * epochs_run / fit_seconds
        mlflow.log_metrics(
            {
                "fit_seconds": fit_seconds,
                "train_samples_per_second": throughput,
                "members": len(members),
                **({} if ensemble_score is None else {f"ensemble_{OBJECTIVE}": ensemble_score}),
            }
        )
        curve = pd.DataFrame(
            {
                "epoch": range(1, len(history["loss"]) + 1),
                "loss": history["loss"],
                "val_loss": history["val_loss"],
                OBJECTIVE: history[OBJECTIVE],
            }
        )
        for row in curve.to_dict("records"):
            mlflow.log_metrics({k: float(v) for k, v in row.items() if k != "epoch"}, step=int(row["epoch"]))
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
            transform=str(series["transform"]),
            normalize=data.normalize,
        )
        spec.save(stage.FORECAST_SPEC)
        raw = pd.read_parquet(stage.RAW_SERIES)
        model_uri = log_forecaster(
            stage.NETWORK, stage.FORECAST_SPEC, example_history(raw, spec), model, spec
        )
        ensemble = {
            "members": [
                {"trial_id": m.trial_id, "seed": m.seed, f"best_{OBJECTIVE}": m.val_score} for m in members
            ],
            "combine": cfg.ensemble_combine if len(members) > 1 else "single network",
            "refit_on_validation": cfg.refit,
            f"{OBJECTIVE}": ensemble_score,
        }
        stage.write_json(
            stage.REPORTS / "training.json",
            {
                "run_id": run.info.run_id,
                "model_uri": model_uri,
                "epochs": len(curve),
                f"best_{OBJECTIVE}": float(curve[OBJECTIVE].min()),
                "fit_seconds": round(fit_seconds, 3),
                "train_samples_per_second": round(throughput, 1),
                "hyperparameters": candidates[0][1].values,
                "ensemble": ensemble,
            },
        )


if __name__ == "__main__":
    stage.run(main)
