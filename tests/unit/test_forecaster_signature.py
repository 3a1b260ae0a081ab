"""The logged forecaster's signature takes what pandas gives: dates parsed or as ISO text,
values as float64, float32 or int, series ids as text or numbers."""

from __future__ import annotations

import importlib.metadata as md
import io
from pathlib import Path

import keras_tuner as kt
import mlflow
import numpy as np
import pandas as pd
import pytest

from tsforge.forecaster import REQUIREMENT_CHECK, ForecastSpec, log_forecaster
from tsforge.models import ModelSpec, build_model
from tsforge.scaling import AffineScaler

SPACE = {"num_layers": 1, "cell": "lstm", "units": 4, "dropout": 0.0, "learning_rate": 0.01}


def _logged(tmp_path: Path, history: pd.DataFrame, series: tuple[str, ...], series_id: str | None) -> str:
    """An untrained tiny network logged as the forecaster (the signature does not care how good it is)."""
    network = build_model(kt.HyperParameters(), ModelSpec(8, 1, 2, 1), SPACE)
    network.save(tmp_path / "model.keras")
    scaler = AffineScaler.fit(history[["y"]].dropna().to_numpy(np.float64), ("y",), "standard")
    spec = ForecastSpec("date", ("y",), (), 8, 2, False, "W-SAT", dict.fromkeys(series, scaler), series_id)
    spec.save(tmp_path / "spec.json")
    with mlflow.start_run():
        return log_forecaster(tmp_path / "model.keras", tmp_path / "spec.json", history, network, spec)


def _csv(frame: pd.DataFrame) -> str:
    return frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(index=False)


def test_a_single_series_model_takes_read_csv_output_as_is(seasonal_frame, mlflow_store, tmp_path: Path):
    history = seasonal_frame.tail(20).reset_index(drop=True)
    history.loc[5, "y"] = np.nan  # a gap: read_csv gives float64 with NaN
    model = mlflow.pyfunc.load_model(_logged(tmp_path, history, ("",), None))
    text = _csv(history)
    frames = {
        "plain read_csv (ISO text dates)": pd.read_csv(io.StringIO(text)),
        "parse_dates": pd.read_csv(io.StringIO(text), parse_dates=["date"]),
        "float32 values": pd.read_csv(io.StringIO(text), parse_dates=["date"]).astype({"y": "float32"}),
        "int values": pd.read_csv(io.StringIO(text)).fillna(0).astype({"y": "int64"}),
        "ISO text with a time": pd.read_csv(io.StringIO(text)).assign(date=lambda f: f["date"] + "T00:00:00"),
    }
    expected_dates = pd.date_range(history["date"].iloc[-1], periods=3, freq="W-SAT")[1:]
    for name, frame in frames.items():
        out = model.predict(frame)
        assert list(out["date"]) == list(expected_dates), name
        assert np.isfinite(out["y"].to_numpy()).all(), name
    with pytest.raises(Exception, match="history column 'y' must hold numbers"):
        model.predict(pd.read_csv(io.StringIO(text)).astype({"y": str}).assign(y="lots"))


def test_a_panel_model_takes_numeric_series_ids_from_read_csv(seasonal_frame, mlflow_store, tmp_path: Path):
    one = seasonal_frame.tail(12).reset_index(drop=True)
    history = pd.concat([one.assign(store=1), one.assign(store=2, y=one["y"] * 2)], ignore_index=True)
    model = mlflow.pyfunc.load_model(_logged(tmp_path, history, ("1", "2"), "store"))
    frame = pd.read_csv(io.StringIO(_csv(history)), parse_dates=["date"])
    assert frame["store"].dtype == np.int64
    out = model.predict(frame)
    assert out.groupby("store").size().to_dict() == {"1": 2, "2": 2}


def test_the_requirements_are_the_installed_versions_and_not_checked_against_every_package(
    seasonal_frame, mlflow_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from mlflow.utils import environment, requirements_utils

    # The check log_forecaster skips exists in the MLflow installed (else the skip is a no-op).
    check = getattr(environment, REQUIREMENT_CHECK)

    scans: list[str] = []  # the check swallows errors: count the calls instead
    monkeypatch.setattr(requirements_utils, "_MODULES_TO_PACKAGES", None)
    monkeypatch.setattr(
        requirements_utils.importlib_metadata, "packages_distributions", lambda: scans.append("all") or {}
    )
    uri = _logged(tmp_path, seasonal_frame.tail(20).reset_index(drop=True), ("",), None)
    assert scans == [], "MLflow mapped every installed package to check the requirements"
    assert getattr(environment, REQUIREMENT_CHECK) is check  # put back
    required = Path(mlflow.pyfunc.get_model_dependencies(uri)).read_text().split()
    names = ("mlflow", "tensorflow-cpu", "keras", "pandas", "numpy")
    assert sorted(required) == sorted(f"{name}=={md.version(name)}" for name in names)
