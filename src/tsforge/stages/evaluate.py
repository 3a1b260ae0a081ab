"""The evaluate stage: score the trained forecaster and every baseline on the test windows in
original units, judge it against the champion re-scored on the same windows, and register it
with the gate's decision.

:func:`assess` and :func:`tsforge.assessment.gate` are pure (:mod:`tsforge.assessment` holds
the scoring); :func:`gate_with_champion` loads the champion from the registry, and :func:`log`,
:func:`publish` and :func:`log_promotion` are the MLflow wrappers the stage's run calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from tsforge import assessment, registry
from tsforge.assessment import Assessment
from tsforge.catalog import ProcessedSeries, Windows
from tsforge.config import EvaluateConfig, RegistryConfig
from tsforge.forecast_spec import ForecastSpec
from tsforge.registry import Decision


def assess(
    series: ProcessedSeries,
    windows: Windows,
    network: Any,
    spec: ForecastSpec,
    *,
    period: int,
    config: EvaluateConfig,
) -> Assessment:
    """The forecaster and every baseline scored on the test windows of the scale stage's series.

    Args:
        series: The scale stage's series (levels in original units, splits, layout).
        windows: The window stage's origins; the test ones are scored.
        network: The trained network (anything :func:`tsforge.assessment.assess` takes).
        spec: The forecast spec it was trained with.
        period: The MASE period (:func:`tsforge.config.mase_period`).
        config: The ``evaluate`` params section.

    Returns:
        :func:`tsforge.assessment.assess`'s assessment.
    """
    return assessment.assess(
        series.levels.astype(np.float64),
        series.layout,
        windows.test,
        network,
        spec,
        split_rows=series.split,
        period=period,
        config=config,
        times=series.times,
    )


def champion_score(result: Assessment, series: ProcessedSeries, config: RegistryConfig) -> float | None:
    """The registered champion re-scored on today's test windows (not its old metrics).

    Args:
        result: Today's assessment, whose windows and scales are reused.
        series: The series it was computed on.
        config: The ``registry`` params section (model name, metric).

    Returns:
        The champion's ``config.metric``, or None without a champion or when it cannot
        forecast these series.
    """
    name = config.model_name
    if registry.champion_version(name) is None:
        return None
    champion = mlflow.pyfunc.load_model(f"models:/{name}@{registry.CHAMPION}").unwrap_python_model()
    levels = series.levels.astype(np.float64)
    return assessment.rescore(
        result, champion.model, champion.spec, levels=levels, layout=series.layout, metric=config.metric
    )


def gate_with_champion(result: Assessment, series: ProcessedSeries, config: RegistryConfig) -> Decision:
    """The gate's decision on today's model, against the baselines and the re-scored champion."""
    return assessment.gate(result.metrics, champion_score(result, series, config), config)


def log(result: Assessment, files: list[Path]) -> None:
    """Every method's scores, the interval coverage and the reports, to the active run."""
    for name, values in result.metrics.items():
        mlflow.log_metrics({f"{name}.{k}": v for k, v in values.items() if np.isfinite(v)})
    if result.conformal is not None:
        mlflow.log_metrics({f"conformal.{k}": v for k, v in result.conformal.items() if np.isfinite(v)})
    if result.intervals is not None:
        mlflow.log_metrics({f"interval.{k}": v for k, v in result.intervals.items()})
    for path in files:
        mlflow.log_artifact(str(path))


def publish(
    result: Assessment,
    model_uri: str,
    lineage: Mapping[str, str],
    decision: Decision,
    config: RegistryConfig,
    *,
    served: str,
) -> dict[str, Any]:
    """Register the evaluated model with its test scores and apply the gate's decision.

    Args:
        result: The model's assessment (its test metrics become ``test.*`` tags).
        model_uri: The model the train stage logged.
        lineage: The version's lineage tags (``git_commit`` among them, for the description).
        decision: :func:`gate_with_champion`'s decision.
        config: The ``registry`` params section.
        served: What the forecaster serves (:attr:`tsforge.combination.Combination.label`:
            the network alone, or blended with statistical methods and their weights).

    Returns:
        :func:`tsforge.registry.publish`'s decision record (reports/promotion.json).
    """
    description = (
        f"Reproduce: git checkout {lineage['git_commit']} && dvc checkout && dvc repro. "
        f"Test {config.metric}={result.metrics[assessment.MODEL][config.metric]:.4g}. Serves {served}."
    )
    tags = {**lineage, **result.test_tags()}
    return registry.publish(model_uri, config.model_name, tags, description, decision)


def log_promotion(record: dict[str, Any], decision: Decision) -> None:
    """The decision record and its outcome (``promoted``, ``model_version``), to the active run."""
    mlflow.log_dict(record, "promotion.json")
    mlflow.set_tags({"promoted": str(decision.promote).lower(), "model_version": record["version"]})
