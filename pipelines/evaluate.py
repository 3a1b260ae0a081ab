"""Stage evaluate: score the forecaster and baselines on the test windows in original
units, then register the model and run the champion/challenger gate."""

from pathlib import Path

import mlflow
import numpy as np

from tsforge import assessment, registry, stage, tracking
from tsforge.config import load_params
from tsforge.forecaster import ForecastSpec, load_network
from tsforge.panel import Layout


def _champion_score(
    name: str, result: assessment.Assessment, levels: np.ndarray, layout: Layout, metric: str
) -> float | None:
    """The registered champion re-scored on today's test windows (not its old metrics), or None."""
    if registry.champion_version(name) is None:
        return None
    champion = mlflow.pyfunc.load_model(f"models:/{name}@{registry.CHAMPION}").unwrap_python_model()
    return assessment.rescore(
        result, champion.model, champion.spec, levels=levels, layout=layout, metric=metric
    )


def _log(result: assessment.Assessment, files: list[Path]) -> None:
    """Every method's scores, the interval coverage and the reports, to the active run."""
    for name, values in result.metrics.items():
        mlflow.log_metrics({f"{name}.{k}": v for k, v in values.items() if np.isfinite(v)})
    if result.intervals is not None:
        mlflow.log_metrics({f"interval.{k}": v for k, v in result.intervals.items()})
    for path in files:
        mlflow.log_artifact(str(path))


def main() -> None:
    params = load_params(stage.PARAMS)
    reg = params.registry
    series, windows = np.load(stage.PROCESSED), np.load(stage.WINDOWS)
    levels, layout = series["levels"].astype(np.float64), stage.load_layout(series)
    spec = ForecastSpec.load(stage.FORECAST_SPEC)
    eda = stage.read_json(stage.REPORTS / "eda.json")
    period = params.evaluate.season_period or int(eda["season_period"])
    model, split = load_network(stage.NETWORK), series["split"]
    result = assessment.assess(
        levels, layout, windows["test"], model, spec, split_rows=split, period=period, config=params.evaluate
    )
    pngs = assessment.write_plots(stage.REPORTS, result, series["times"], layout, spec)
    stage.write_json(stage.REPORTS / "metrics.json", result.report())

    stage.start_tracking(params.tracking.experiment)
    champion = _champion_score(reg.model_name, result, levels, layout, reg.metric)
    decision = assessment.gate(result.metrics, champion, reg)
    training, best = stage.read_json(stage.REPORTS / "training.json"), stage.read_json(stage.BEST_HPARAMS)
    runs = {"train_run_id": training["run_id"], "tuning_run_id": best["tuning_run_id"]}
    inputs = {"series": stage.PROCESSED, "windows": stage.WINDOWS, "raw": stage.RAW_SERIES}
    lineage = tracking.lineage_tags(stage.ROOT, inputs, stage.PARAMS)
    with mlflow.start_run(run_name="evaluate"):
        mlflow.set_tags({**lineage, **runs, "stage": "evaluate"})
        _log(result, [*pngs, stage.REPORTS / "metrics.json"])
        # Registry changes come last: if anything above failed, no version or alias moved.
        description = (
            f"Reproduce: git checkout {lineage['git_commit']} && dvc checkout && dvc repro. "
            f"Test {reg.metric}={result.metrics[assessment.MODEL][reg.metric]:.4g}."
        )
        tags = {**lineage, **runs, **result.test_tags()}
        record = registry.publish(training["model_uri"], reg.model_name, tags, description, decision)
        stage.write_json(stage.REPORTS / "promotion.json", record)
        mlflow.log_dict(record, "promotion.json")
        mlflow.set_tags({"promoted": str(decision.promote).lower(), "model_version": record["version"]})


if __name__ == "__main__":
    stage.run(main)
