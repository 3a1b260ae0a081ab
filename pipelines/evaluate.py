"""Stage evaluate: score the forecaster and baselines on the test windows in original
units, then register the model and run the champion/challenger gate."""

import mlflow
import numpy as np
import pandas as pd

from tsforge import evaluation as ev
from tsforge import registry, stage, tracking
from tsforge.config import load_params
from tsforge.forecaster import ForecastSpec, forecast_origins


def _champion_forecasts(name: str, levels: np.ndarray, origins: np.ndarray) -> tuple[str, np.ndarray] | None:
    """Re-score the current champion on today's test windows (not its old metrics)."""
    version = registry.champion_version(name)
    if version is None:
        return None
    champion = mlflow.pyfunc.load_model(f"models:/{name}@{registry.CHAMPION}").unwrap_python_model()
    return str(version.version), forecast_origins(champion.model, levels, origins, champion.spec)


def main() -> None:
    params = load_params(stage.PARAMS)
    cfg, reg = params.evaluate, params.registry
    import keras

    series, windows = np.load(stage.PROCESSED), np.load(stage.WINDOWS)
    levels, times, origins = series["levels"].astype(np.float64), series["times"], windows["test"]
    spec = ForecastSpec.load(stage.FORECAST_SPEC)
    n_targets, horizon = len(spec.targets), spec.horizon
    period = cfg.season_period or int(stage.read_json(stage.REPORTS / "eda.json")["season_period"])
    train_end = int(series["split"][0][1])
    scale = ev.mase_scale(levels[:train_end, 0], period)

    actual = ev.actuals(levels, origins, horizon, n_targets)
    forecasts = {
        "model": forecast_origins(keras.models.load_model(stage.NETWORK), levels, origins, spec),
        "naive": ev.naive(levels, origins, horizon, n_targets),
        "seasonal_naive": ev.seasonal_naive(levels, origins, horizon, n_targets, period),
    }
    metrics = {name: ev.score(actual, f, scale) for name, f in forecasts.items()}
    per_step = {name: ev.per_step(actual, f, ev.mae) for name, f in forecasts.items()}

    stage.start_tracking(params.tracking.experiment)
    champion = _champion_forecasts(reg.model_name, levels, origins)
    champion_score = ev.score(actual, champion[1], scale)[reg.metric] if champion else None
    baselines = {k: v[reg.metric] for k, v in metrics.items() if k != "model"}
    decision = registry.decide(
        reg.metric, metrics["model"][reg.metric], champion_score, baselines, reg.min_improvement
    )

    plot_path = stage.REPORTS / "forecast.png"
    path = pd.DataFrame(
        {
            "time": pd.to_datetime(times[origins]),
            "actual": actual[:, 0, 0],
            **{k: f[:, 0, 0] for k, f in forecasts.items()},
        }
    )
    path.to_csv(stage.REPORTS / "forecast.csv", index=False)
    ev.plot_forecasts(
        plot_path,
        path["time"].to_numpy(),
        path["actual"].to_numpy(),
        {k: path[k].to_numpy() for k in forecasts},
        f"{spec.targets[0]}: one-step-ahead forecasts on the test split (MASE scale, period {period})",
    )
    report = {
        "season_period": period,
        "test_windows": len(origins),
        "horizon": horizon,
        **metrics,
        "per_step_mae": per_step,
    }
    stage.write_json(stage.REPORTS / "metrics.json", report)

    training = stage.read_json(stage.REPORTS / "training.json")
    best = stage.read_json(stage.BEST_HPARAMS)
    with mlflow.start_run(run_name="evaluate"):
        lineage = tracking.lineage_tags(
            stage.ROOT,
            {"series": stage.PROCESSED, "windows": stage.WINDOWS, "raw": stage.RAW_SERIES},
            stage.PARAMS,
        )
        mlflow.set_tags(
            {
                **lineage,
                "stage": "evaluate",
                "train_run_id": training["run_id"],
                "tuning_run_id": best["tuning_run_id"],
            }
        )
        for name, values in metrics.items():
            mlflow.log_metrics({f"{name}.{k}": v for k, v in values.items() if np.isfinite(v)})
        mlflow.log_artifact(str(plot_path))
        mlflow.log_artifact(str(stage.REPORTS / "metrics.json"))
        # Registry changes come last: if anything above failed, no version or alias moved.
        version = registry.register(
            training["model_uri"],
            reg.model_name,
            {
                **lineage,
                "train_run_id": training["run_id"],
                "tuning_run_id": best["tuning_run_id"],
                **{f"test.{k}": f"{v:.6g}" for k, v in metrics["model"].items()},
            },
            f"Reproduce: git checkout {lineage['git_commit']} && dvc checkout && dvc repro. "
            f"Test {reg.metric}={metrics['model'][reg.metric]:.4g}.",
        )
        registry.move_alias(reg.model_name, registry.CHALLENGER, version.version, "new version from evaluate")
        if decision.promote:
            registry.move_alias(reg.model_name, registry.CHAMPION, version.version, decision.reason)
        record = registry.decision_record(decision, version.version)
        stage.write_json(stage.REPORTS / "promotion.json", record)
        mlflow.log_dict(record, "promotion.json")
        mlflow.set_tags({"promoted": str(decision.promote).lower(), "model_version": str(version.version)})


if __name__ == "__main__":
    stage.run(main)
