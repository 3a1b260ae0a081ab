"""Stage train: rebuild the best trials with the tuner's builder, train them (one network or
an ensemble of the best trials x seeds), log the forecaster."""

import time

import keras_tuner as kt
import mlflow
import pandas as pd

from tsforge import stage, tracking
from tsforge.catalog import (
    IngestSummary,
    ProcessedSeries,
    Windows,
    load_frame,
    load_scalers,
    read_json,
    save_csv,
    save_network,
    write_json,
)
from tsforge.config import load_params
from tsforge.forecaster import ForecastSpec, example_history, log_forecaster
from tsforge.models import combine
from tsforge.training import (
    OBJECTIVE,
    Member,
    WindowedData,
    plot_learning_curve,
    train_members,
    validation_score,
)

PROJECT = stage.project(__file__)


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
    params = load_params(PROJECT.params)
    cfg = params.train
    best = read_json(PROJECT.best_hparams)
    ranked = best.get("top") or [best]
    candidates = [(str(t["trial_id"]), kt.HyperParameters.from_config(t["config"])) for t in ranked]
    candidates = candidates[: cfg.ensemble_trials]
    series, windows = ProcessedSeries.load(PROJECT.series), Windows.load(PROJECT.windows)
    data = WindowedData(
        series.values, windows.train, windows.val, windows.test,
        windows.spec, series.n_targets, windows.normalize,
    )
    stage.start_tracking(PROJECT, params.tracking.experiment)
    with mlflow.start_run(run_name="train") as run:
        mlflow.set_tags(
            {
                **tracking.lineage_tags(
                    PROJECT.root, {"series": PROJECT.series, "windows": PROJECT.windows}, PROJECT.params
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
        save_csv(PROJECT.learning_curve, curve)
        plot_learning_curve(PROJECT.learning_curve_plot, curve)
        mlflow.log_artifact(str(PROJECT.learning_curve))
        mlflow.log_artifact(str(PROJECT.learning_curve_plot))
        save_network(PROJECT.network, model)
        spec = ForecastSpec(
            time_column=params.data.time_column,
            targets=params.data.target,
            features=params.data.features,
            input_size=data.window.input_size,
            horizon=data.window.horizon,
            difference=series.difference,
            freq=IngestSummary.load(PROJECT.raw_meta).freq,
            scalers=load_scalers(PROJECT.scaler),
            series_id=params.data.series_id,
            transform=series.transform,
            normalize=data.normalize,
        )
        spec.save(PROJECT.forecast_spec)
        raw = load_frame(PROJECT.raw_series)
        model_uri = log_forecaster(
            PROJECT.network, PROJECT.forecast_spec, example_history(raw, spec), model, spec
        )
        ensemble = {
            "members": [
                {"trial_id": m.trial_id, "seed": m.seed, f"best_{OBJECTIVE}": m.val_score} for m in members
            ],
            "combine": cfg.ensemble_combine if len(members) > 1 else "single network",
            "refit_on_validation": cfg.refit,
            f"{OBJECTIVE}": ensemble_score,
        }
        write_json(
            PROJECT.training,
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
