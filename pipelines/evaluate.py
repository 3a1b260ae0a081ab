"""Stage evaluate: score the forecaster and baselines on the test windows in original units,
then register the model and run the champion/challenger gate (tsforge.stages.evaluate)."""

import mlflow

from tsforge import run_notes, stage
from tsforge.assessment import write_plots
from tsforge.catalog import ProcessedSeries, Windows, read_json, write_json
from tsforge.config import load_params, mase_period
from tsforge.console import paths, say
from tsforge.forecaster import ForecastSpec, load_network
from tsforge.stages import evaluate
from tsforge.tracking import redact

PROJECT = stage.project(__file__)


def ui_base() -> str:
    """Where the MLflow UI of this run's store is: the tracking server, or `make ui`'s address."""
    uri = mlflow.get_tracking_uri()
    return redact(uri) if uri.startswith(("http://", "https://")) else run_notes.LOCAL_UI


def main() -> None:
    params = load_params(PROJECT.params)
    series, windows = ProcessedSeries.load(PROJECT.series), Windows.load(PROJECT.windows)
    spec = ForecastSpec.load(PROJECT.forecast_spec)
    period = mase_period(params.evaluate.season_period, int(read_json(PROJECT.eda)["season_period"]))
    network = load_network(PROJECT.network)
    result = evaluate.assess(series, windows, network, spec, period=period, config=params.evaluate)
    pngs = write_plots(PROJECT.reports, result, series.times, series.layout, spec)
    metrics = result.report()
    write_json(PROJECT.metrics, metrics)
    scored = [name for name, v in metrics.items() if isinstance(v, dict) and "rmse" in v and name != "model"]
    say(
        f"scored the model and {len(scored)} baselines on {metrics['test_windows']} test windows -> "
        f"{paths(PROJECT.root, PROJECT.metrics)} and {len(pngs)} figure(s)"
    )

    stage.start_tracking(PROJECT, params.tracking.experiment)
    decision = evaluate.gate_with_champion(result, series, params.registry)
    training, best = read_json(PROJECT.training), read_json(PROJECT.best_hparams)
    runs = {"train_run_id": training["run_id"], "tuning_run_id": best["tuning_run_id"]}
    inputs = {"series": PROJECT.series, "windows": PROJECT.windows, "raw": PROJECT.raw_series}
    with stage.tracked_run(PROJECT, "evaluate", inputs, runs) as run:
        evaluate.log(result, [*pngs, PROJECT.metrics])
        # Registry changes come last: if anything above failed, no version or alias moved.
        lineage = {**run.lineage, **runs}
        record = evaluate.publish(
            result, training["model_uri"], lineage, decision, params.registry, served=spec.combination.label
        )
        experiment_id = mlflow.get_run(run.run_id).info.experiment_id
        record["runs_url"] = run_notes.runs_url(experiment_id, ui_base())
        write_json(PROJECT.promotion, record)
        evaluate.log_promotion(record, decision)
        table = run_notes.scores_markdown(metrics, params.registry.metric)
        mlflow.log_text(table + "\n", "scores.md")
        run_notes.describe_run(
            run_notes.evaluation_note(
                model_name=params.registry.model_name,
                version=str(record["version"]),
                promoted=bool(record["promote"]),
                reason=record["reason"],
                table=table,
                commit=run.lineage["git_commit"],
            )
        )
        run_notes.describe_model(
            params.registry.model_name,
            run_notes.model_note(
                source=params.data.source, targets=spec.targets, horizon=spec.horizon, freq=spec.freq
            ),
        )
    verdict = "promoted to champion" if record["promote"] else "not promoted"
    say(
        f"registered {params.registry.model_name} version {record['version']}: {verdict} -> "
        f"{paths(PROJECT.root, PROJECT.promotion)}"
    )


if __name__ == "__main__":
    stage.run(main)
