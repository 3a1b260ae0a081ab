"""Shared fixtures: tiny synthetic series and an isolated MLflow store per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.fixture(autouse=True)
def _mlflow_globals_restored() -> Iterator[None]:
    """Every test leaves MLflow's process-wide URIs as it found them.

    ``mlflow.set_tracking_uri`` / ``set_registry_uri`` (and ``tracking.configure``, which calls
    both) write module globals *and* the ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI``
    environment variables. Under pytest-xdist a later test in the same worker would otherwise
    resolve its ``models:/`` URIs on whatever server an earlier test pointed at (CI failure of
    c760320: test_covariates loading from the auth test's unreachable server).
    """
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    environment = {name: os.environ.get(name) for name in names}
    tracking_uri, registry_uri = tracking_utils._tracking_uri, registry_utils._registry_uri
    yield
    tracking_utils._tracking_uri, registry_utils._registry_uri = tracking_uri, registry_uri
    for name, value in environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def seasonal_frame() -> pd.DataFrame:
    """Weekly series: trend + period-12 season + noise, 240 rows."""
    rng = np.random.default_rng(0)
    t = np.arange(240)
    values = 10 + 0.05 * t + 2 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.2, t.size)
    return pd.DataFrame({"date": pd.date_range("2020-01-04", periods=t.size, freq="W-SAT"), "y": values})


@pytest.fixture
def mlflow_store(tmp_path: Path) -> Iterator[str]:
    """A temporary SQLite tracking store; the global MLflow state is restored afterwards."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    from mlflow.tracking._model_registry import utils as registry_utils

    previous, previous_registry = mlflow.get_tracking_uri(), registry_utils._registry_uri
    previous_env = os.environ.get("MLFLOW_REGISTRY_URI")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment(
        experiment_id=mlflow.create_experiment("test", artifact_location=(tmp_path / "art").as_uri())
    )
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)
    # Tests share a process (and, under pytest-xdist, run in any order): leave no registry
    # behind, or a later test's models:/ URI resolves in this deleted store.
    registry_utils._registry_uri = previous_registry
    if previous_env is None:
        os.environ.pop("MLFLOW_REGISTRY_URI", None)
    else:
        os.environ["MLFLOW_REGISTRY_URI"] = previous_env
