"""What the MLflow UI shows a reader: descriptions of the tuning, train and evaluate runs and of
the registered model, a model-against-baselines table, and links that open the runs view.

The texts are plain functions of what each stage already knows, so a test can read them; only
:func:`describe_run` and :func:`describe_model` talk to MLflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

NOTE_TAG = "mlflow.note.content"
"""The run tag MLflow's UI shows (and edits) as the run's Description."""

RUNS_VIEW = "#/experiments/{experiment_id}/runs?workflowType=machine_learning"
"""The UI's runs table in its "Model training" view (MLflow 3 otherwise may open an experiment on
its GenAI overview)."""

LOCAL_UI = "http://127.0.0.1:5000"
"""Where ``make ui`` serves the UI."""

METRIC_ORDER = ("rmse", "mae", "mape", "smape", "mase")


def runs_url(experiment_id: str, base: str = LOCAL_UI) -> str:
    """The UI's address of an experiment's runs, in the Model training view."""
    return base.rstrip("/") + "/" + RUNS_VIEW.format(experiment_id=experiment_id)


def version_url(model_name: str, version: str, base: str = LOCAL_UI) -> str:
    """The UI's page of one registered model version."""
    return f"{base.rstrip('/')}/#/models/{model_name}/versions/{version}"


def reproduce(commit: str, stage: str | None = None) -> str:
    """The commands that rebuild a run from its commit and data version."""
    target = f" {stage}" if stage else ""
    return f"`git checkout {commit} && dvc checkout && dvc repro{target}`"


def scored(metrics: Mapping[str, Any]) -> list[str]:
    """The methods of an evaluate report (reports/metrics.json), the model first."""
    return [name for name, values in metrics.items() if isinstance(values, Mapping) and "rmse" in values]


def scores_markdown(metrics: Mapping[str, Any], gate_metric: str) -> str:
    """The model against every baseline on the test windows, best ``gate_metric`` first."""
    names = sorted(scored(metrics), key=lambda n: float(metrics[n][gate_metric]))
    lines = [
        "| method | " + " | ".join(METRIC_ORDER) + " |",
        "|---|" + "---|" * len(METRIC_ORDER),
    ]
    for name in names:
        label = f"**{name}**" if name == "model" else name
        cells = " | ".join(f"{float(metrics[name][m]):.4g}" for m in METRIC_ORDER)
        lines.append(f"| {label} | {cells} |")
    return "\n".join(lines)


def tuning_note(
    *, strategy: str, trials: int, best_trial: str, family: str, score: float, commit: str
) -> str:
    """The tuning parent run's description."""
    return "\n".join(
        [
            f"**Hyperparameter search** ({strategy}, keras-tuner): {trials} trials, each a child run "
            "with its hyperparameters, learning curve and val_mae.",
            f"Best: trial {best_trial} ({family}), val_mae {score:.4g}; the train stage rebuilds the best "
            "trials as an ensemble.",
            f"Reproduce: {reproduce(commit, 'tune')}.",
        ]
    )


def training_note(
    *,
    source: str,
    targets: Sequence[str],
    series: int,
    representation: Mapping[str, Any],
    served: str,
    reason: str,
    commit: str,
) -> str:
    """The train run's description: the data, the representation the EDA chose, what is served."""
    chosen = ", ".join(
        f"{key} {representation[key]}"
        for key in ("transform", "method", "difference", "normalize", "deseasonalize")
        if key in representation
    )
    return "\n".join(
        [
            f"**Forecaster** for {', '.join(targets)} of `{source}` ({series} series).",
            f"Representation (chosen by the EDA, reports/scale.json): {chosen}.",
            f"Serves {served}: {reason}.",
            f"Reproduce: {reproduce(commit, 'train')}.",
        ]
    )


def evaluation_note(
    *, model_name: str, version: str, promoted: bool, reason: str, table: str, commit: str
) -> str:
    """The evaluate run's description: the gate's verdict, the registered version, the scores."""
    verdict = "promoted to champion" if promoted else "not promoted"
    return "\n".join(
        [
            f"**Gate**: [{model_name} version {version}](#/models/{model_name}/versions/{version}) "
            f"{verdict}: {reason}.",
            "",
            "Test windows, original units (also scores.md):",
            "",
            table,
            "",
            f"Reproduce: {reproduce(commit)}.",
        ]
    )


def model_note(*, source: str, targets: Sequence[str], horizon: int, freq: str | None) -> str:
    """The registered model's description."""
    step = f" steps of {freq}" if freq else " steps"
    return (
        f"tsforge forecaster of {', '.join(targets)} (`{source}`), {horizon}{step} ahead. The `champion` "
        "alias is what `tsforge forecast` and `make serve` use; the evaluate stage's gate moves it only to "
        "a version that beats every baseline and the champion on the same test windows. Each version's "
        "description says what it serves and how to rebuild it."
    )


def describe_run(text: str) -> None:
    """Set the active MLflow run's description."""
    import mlflow

    mlflow.set_tag(NOTE_TAG, text)


def describe_model(model_name: str, text: str) -> None:
    """Set the registered model's description."""
    import mlflow

    mlflow.MlflowClient().update_registered_model(model_name, description=text)


def main(argv: Sequence[str] | None = None) -> None:
    """``make ui``'s first line: the address of the experiment's runs in the local UI."""
    import argparse
    import sys

    from tsforge.config import load_params

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--store", required=True, help="the tracking store the UI serves")
    store = parser.parse_args(argv).store
    experiment = load_params().tracking.experiment
    found = None
    try:
        import mlflow

        found = mlflow.MlflowClient(store).get_experiment_by_name(experiment)
    except Exception:  # noqa: BLE001  (no store yet: the UI opens on its experiment list)
        found = None
    if found is None:
        sys.stdout.write(f"No experiment {experiment!r} in {store} yet: run `make run` first.\n")
        return
    url = runs_url(found.experiment_id)
    sys.stdout.write(f"Open {url}  (the {experiment!r} runs; Ctrl-C stops the UI)\n")


if __name__ == "__main__":
    main()
