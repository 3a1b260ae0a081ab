"""Stage evaluate: score the forecaster and baselines on the test windows in original
units, then register the model and run the champion/challenger gate."""

from pathlib import Path

import mlflow
import numpy as np

from tsforge import assessment, registry, stage, tracking
from tsforge.catalog import ProcessedSeries, Windows, read_json, write_json
from tsforge.config import load_params, mase_period
from tsforge.forecaster import ForecastSpec, load_network
from tsforge.panel import Layout

PROJECT = stage.project(__file__)


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
    if result.conformal is not None:
        mlflow.log_metrics({f"conformal.{k}": v for k, v in result.conformal.items() if np.isfinite(v)})
    if result.intervals is not None:
        mlflow.log_metrics({f"interval.{k}": v for k, v in result.intervals.items()})
    for path in files:
        mlflow.log_artifact(str(path))


def main() -> None:
    params = load_params(PROJECT.params)
    reg = params.registry
    series, windows = ProcessedSeries.load(PROJECT.series), Windows.load(PROJECT.windows)
    levels, layout = series.levels.astype(np.float64), series.layout
    spec = ForecastSpec.load(PROJECT.forecast_spec)
    eda = read_json(PROJECT.eda)
    period = mase_period(params.evaluate.season_period, int(eda["season_period"]))
    model, split = load_network(PROJECT.network), series.split
    result = assessment.assess(
        levels, layout, windows.test, model, spec, split_rows=split, period=period, config=params.evaluate
    )
    pngs = assessment.write_plots(PROJECT.reports, result, series.times, layout, spec)
    write_json(PROJECT.metrics, result.report())

    stage.start_tracking(PROJECT, params.tracking.experiment)
    champion = _champion_score(reg.model_name, result, levels, layout, reg.metric)
    decision = assessment.gate(result.metrics, champion, reg)
    training, best = read_json(PROJECT.training), read_json(PROJECT.best_hparams)
    runs = {"train_run_id": training["run_id"], "tuning_run_id": best["tuning_run_id"]}
    inputs = {"series": PROJECT.series, "windows": PROJECT.windows, "raw": PROJECT.raw_series}
    lineage = tracking.lineage_tags(PROJECT.root, inputs, PROJECT.params)
    with mlflow.start_run(run_name="evaluate"):
        mlflow.set_tags({**lineage, **runs, "stage": "evaluate"})
        tracking.log_snapshot_input(PROJECT, "evaluate")
        _log(result, [*pngs, PROJECT.metrics])
        # Registry changes come last: if anything above failed, no version or alias moved.
        description = (
            f"Reproduce: git checkout {lineage['git_commit']} && dvc checkout && dvc repro. "
            f"Test {reg.metric}={result.metrics[assessment.MODEL][reg.metric]:.4g}."
        )
        tags = {**lineage, **runs, **result.test_tags()}
        record = registry.publish(training["model_uri"], reg.model_name, tags, description, decision)
        write_json(PROJECT.promotion, record)
        mlflow.log_dict(record, "promotion.json")
        mlflow.set_tags({"promoted": str(decision.promote).lower(), "model_version": record["version"]})


if __name__ == "__main__":
    stage.run(main)
