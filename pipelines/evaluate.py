"""Stage evaluate: score the forecaster and baselines on the test windows in original
units, then register the model and run the champion/challenger gate."""

import logging
from pathlib import Path

import mlflow
import numpy as np

from tsforge import evaluation as ev
from tsforge import registry, stage, tracking
from tsforge.config import load_params
from tsforge.forecaster import ForecastSpec, forecast_origins, forecast_samples, has_dropout, load_network
from tsforge.panel import Layout

log = logging.getLogger(__name__)


def _champion_forecasts(
    name: str, levels: np.ndarray, origins: np.ndarray, layout: Layout
) -> np.ndarray | None:
    """Re-score the current champion on today's test windows (not its old metrics)."""
    if registry.champion_version(name) is None:
        return None
    champion = mlflow.pyfunc.load_model(f"models:/{name}@{registry.CHAMPION}").unwrap_python_model()
    try:
        return forecast_origins(champion.model, levels, origins, champion.spec, layout=layout)
    except ValueError as exc:
        # Series the champion never saw: it cannot forecast today's data, so it cannot hold on.
        log.warning("the champion cannot be re-scored on the current data (%s); it is not compared", exc)
        return None


def _plots(
    times: np.ndarray,
    origins: np.ndarray,
    of_series: np.ndarray,
    layout: Layout,
    *,
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    per_step: dict[str, dict[str, list[float]]],
    spec: ForecastSpec,
    period: int,
) -> list[Path]:
    """The forecast and residual plots follow one series: the first (the only one, usually)."""
    shown = of_series == (of_series[0] if len(origins) else 0)
    where = f" of series {layout.names[of_series[0]]}" if spec.series_id and len(origins) else ""
    title = f"{spec.targets[0]}{where}: one-step-ahead forecasts on the test split (season {period})"
    return ev.write_reports(
        stage.REPORTS,
        times[origins[shown]],
        actual[shown],
        {k: f[shown] for k, f in forecasts.items()},
        per_step_errors=per_step,
        title=title,
    )


def main() -> None:
    params = load_params(stage.PARAMS)
    reg = params.registry
    series, windows = np.load(stage.PROCESSED), np.load(stage.WINDOWS)
    levels, origins = series["levels"].astype(np.float64), windows["test"]
    layout = stage.load_layout(series)
    spec = ForecastSpec.load(stage.FORECAST_SPEC)
    n_targets, horizon = len(spec.targets), spec.horizon
    period = params.evaluate.season_period or int(
        stage.read_json(stage.REPORTS / "eda.json")["season_period"]
    )
    # Per series and target: in-sample seasonal-naive error on every row before the test split.
    scales = ev.mase_scales(levels, layout.bounds[:-1], series["split"][:, 2, 0], period, n_targets)
    of_series = layout.series_of(origins)

    actual = ev.actuals(levels, origins, horizon, n_targets)
    model = load_network(stage.NETWORK)
    forecasts = {
        "model": forecast_origins(model, levels, origins, spec, layout=layout),
        **ev.baselines(
            levels,
            origins,
            horizon,
            n_targets,
            period=period,
            input_size=spec.input_size,
            starts=layout.starts_of(origins),
            theta_history=params.evaluate.theta_history,
        ),
    }
    metrics = {name: ev.score_series(actual, f, of_series, scales) for name, f in forecasts.items()}
    per_step = {name: ev.score_per_step(actual, f, of_series, scales) for name, f in forecasts.items()}
    pngs = _plots(
        series["times"],
        origins,
        of_series,
        layout,
        actual=actual,
        forecasts=forecasts,
        per_step=per_step,
        spec=spec,
        period=period,
    )
    report = {
        "season_period": period,
        "series": len(layout.names),
        "test_windows": len(origins),
        "horizon": horizon,
        **metrics,
    }
    # metrics.json holds numbers only (`dvc exp show --csv` makes a column of every key).
    log.info(
        "metrics per series, then averaged over %d series; MASE scales each target by its own "
        "in-sample seasonal-naive error (period %d)",
        len(layout.names),
        period,
    )
    if params.evaluate.intervals and not has_dropout(model):
        log.warning(
            "no intervals: the trained model has no dropout, so Monte Carlo dropout gives no spread; "
            "give tune.space.dropout a range above 0 (or fix it above 0) to get intervals"
        )
    elif params.evaluate.intervals:
        samples = forecast_samples(
            model, levels, origins, spec, samples=params.evaluate.interval_samples, seed=0, layout=layout
        )
        report["intervals"] = ev.interval_coverage(actual, samples, params.evaluate.interval_level)
    stage.write_json(stage.REPORTS / "metrics.json", {**report, "per_step": per_step})

    stage.start_tracking(params.tracking.experiment)
    champion = _champion_forecasts(reg.model_name, levels, origins, layout)
    champion_score = (
        ev.score_series(actual, champion, of_series, scales)[reg.metric] if champion is not None else None
    )
    baseline_scores = {k: v[reg.metric] for k, v in metrics.items() if k != "model"}
    decision = registry.decide(
        reg.metric, metrics["model"][reg.metric], champion_score, baseline_scores, reg.min_improvement
    )
    training = stage.read_json(stage.REPORTS / "training.json")
    tuning_run = stage.read_json(stage.BEST_HPARAMS)["tuning_run_id"]
    inputs = {"series": stage.PROCESSED, "windows": stage.WINDOWS, "raw": stage.RAW_SERIES}
    lineage = tracking.lineage_tags(stage.ROOT, inputs, stage.PARAMS)
    runs = {"train_run_id": training["run_id"], "tuning_run_id": tuning_run}
    with mlflow.start_run(run_name="evaluate"):
        mlflow.set_tags({**lineage, **runs, "stage": "evaluate"})
        for name, values in metrics.items():
            mlflow.log_metrics({f"{name}.{k}": v for k, v in values.items() if np.isfinite(v)})
        if "coverage" in report.get("intervals", {}):
            mlflow.log_metrics({f"interval.{k}": v for k, v in report["intervals"].items()})
        for png in pngs:
            mlflow.log_artifact(str(png))
        mlflow.log_artifact(str(stage.REPORTS / "metrics.json"))
        # Registry changes come last: if anything above failed, no version or alias moved.
        test_tags = {f"test.{k}": f"{v:.6g}" for k, v in metrics["model"].items()}
        version = registry.register(
            training["model_uri"],
            reg.model_name,
            {**lineage, **runs, **test_tags},
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
