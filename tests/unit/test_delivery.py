"""Batch forecasts: which version, which series it refuses and why, the table's shape, and one
delivery from a registered champion to a Parquet file and an MLflow run."""

from __future__ import annotations

from pathlib import Path

import keras_tuner as kt
import mlflow
import numpy as np
import pandas as pd
import pytest

from tsforge import delivery
from tsforge.catalog import Project, save_frame
from tsforge.conformal import Calibration
from tsforge.errors import TsforgeError
from tsforge.forecaster import ForecastSpec, log_forecaster
from tsforge.models import ModelSpec, build_model
from tsforge.scaling import AffineScaler

NAME = "tsforge-forecaster"


def _spec(series: tuple[str, ...] = ("",), series_id: str | None = None, **extra: object) -> ForecastSpec:
    scaler = AffineScaler("standard", ("y",), (0.0,), (1.0,))
    fields: dict = {
        "time_column": "date",
        "targets": ("y",),
        "features": (),
        "input_size": 8,
        "horizon": 2,
        "difference": False,
        "freq": "W-SAT",
        "scalers": dict.fromkeys(series, scaler),
        "series_id": series_id,
    }
    return ForecastSpec(**{**fields, **extra})


def _panel(rows: dict[str, int]) -> pd.DataFrame:
    return pd.concat(
        [
            pd.DataFrame({"store": name, "date": pd.date_range("2024-01-06", periods=n, freq="W-SAT")})
            for name, n in rows.items()
        ],
        ignore_index=True,
    ).assign(y=1.0)


def test_a_series_the_model_never_saw_is_named_and_not_refused():
    # The forecaster forecasts it from its own history (tests/pipeline/test_covariates.py).
    assert delivery.check_history(_panel({"a": 10, "c": 10}), _spec(("a", "b"), "store")) == ("c",)


def test_a_series_too_short_is_named_with_the_rows_it_needs():
    spec = _spec(("a", "b"), "store", difference=True)
    short = r"1 series have too little history.*'b' \(5 rows\).*at least 9 rows"
    with pytest.raises(TsforgeError, match=short):
        delivery.check_history(_panel({"a": 10, "b": 5}), spec)
    single = _panel({"": 4}).drop(columns="store")
    with pytest.raises(
        TsforgeError, match=r"the data has too little history to forecast: 4 rows; .* at least 8 rows"
    ):
        delivery.check_history(single, _spec())
    delivery.check_history(_panel({"a": 9, "b": 9}), spec)  # exactly enough passes


def test_the_table_has_one_row_per_series_step_and_target():
    wide = pd.DataFrame(
        {
            "store": ["a", "a", "b", "b"],
            "date": pd.to_datetime(["2024-03-02", "2024-03-09"] * 2),
            "y": [1.0, 2.0, 3.0, 4.0],
            "z": [5.0, 6.0, 7.0, 8.0],
        }
    )
    table = delivery.forecast_table(wide, _spec(("a", "b"), "store", targets=("y", "z")), "3")
    assert list(table.columns) == ["series", "timestamp", "target", *delivery.COLUMNS[2:]]
    assert len(table) == 2 * 2 * 2
    assert table.groupby(["series", "target"]).size().tolist() == [2] * 4
    assert table.loc[(table["series"] == "b") & (table["target"] == "z"), "forecast"].tolist() == [7.0, 8.0]
    assert table["lower"].isna().all() and table["upper"].isna().all()  # no intervals in the output
    assert set(table["model_version"]) == {"3"}
    one = delivery.forecast_table(wide[wide["store"] == "a"].drop(columns=["store", "z"]), _spec(), "3")
    assert list(one.columns) == list(delivery.COLUMNS) and list(one["series"]) == ["", ""]


def test_a_file_is_named_after_the_last_timestamp_of_the_data():
    assert delivery.file_name(_panel({"a": 3, "b": 5}), "date") == "2024-02-03.parquet"
    hourly = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=5, freq="30min")})
    assert delivery.file_name(hourly, "date") == "2024-01-01T0200.parquet"


def test_no_champion_says_how_to_get_one(mlflow_store):
    with pytest.raises(TsforgeError, match=r"no champion is registered.*Run `dvc repro` \(or `make run`\)"):
        delivery.resolve_version(NAME)
    with pytest.raises(TsforgeError, match="has no registered versions yet"):
        delivery.resolve_version(NAME, version="4")


def test_the_champion_forecasts_every_series_in_one_table_logged_to_mlflow(mlflow_store, tmp_path: Path):
    history = _panel({"a": 12, "b": 10})
    scores = np.linspace(0.1, 2.0, 20)[:, None, None].repeat(2, axis=1)  # 20 windows, 2 steps
    calibration = Calibration(scores, np.arange(1, 21), 20, {"a": (1.0,), "b": (3.0,)})
    spec = _spec(("a", "b"), "store", conformal=calibration)
    network = build_model(kt.HyperParameters(), ModelSpec(8, 1, 2, 1), {"num_layers": 1, "units": 4})
    network.save(tmp_path / "model.keras")
    spec.save(tmp_path / "spec.json")
    with mlflow.start_run():
        uri = log_forecaster(tmp_path / "model.keras", tmp_path / "spec.json", history, network, spec)
    version = mlflow.register_model(uri, NAME).version
    mlflow.MlflowClient().set_registered_model_alias(NAME, "champion", version)
    project = Project(tmp_path / "proj")
    save_frame(project.raw_series, history)
    project.params.write_text("data: {}\n")  # hashed into the run's lineage tags

    done = delivery.deliver(project, NAME)

    assert done.path == project.forecasts / "2024-03-23.parquet" and done.model_version == str(version)
    table = pd.read_parquet(done.path)
    assert list(table.columns) == list(delivery.COLUMNS) and (done.series, done.rows) == (2, 4)
    last = history.groupby("store")["date"].max()
    for name, part in table.groupby("series"):
        assert list(part["timestamp"]) == list(pd.date_range(last[name], periods=3, freq="W-SAT")[1:])
    assert np.isfinite(table["forecast"]).all()
    # The 90% interval (params.yaml has no evaluate section: the default level), each series
    # by its own scale: the 19th of 20 scores (1.9) times 1 for a, times 3 for b.
    half = (table["upper"] - table["lower"]) / 2
    np.testing.assert_allclose(half, np.where(table["series"] == "a", 1.9, 5.7))
    np.testing.assert_allclose(table["upper"] - half, table["forecast"])
    run = mlflow.get_run(done.run_id)
    assert run.data.tags["stage"] == "forecast" and run.data.tags["model_version"] == str(version)
    artifacts = mlflow.MlflowClient().list_artifacts(done.run_id, "forecasts")
    assert [a.path for a in artifacts] == ["forecasts/2024-03-23.parquet"]
    assert [d.dataset.digest for d in run.inputs.dataset_inputs] != []
    with pytest.raises(TsforgeError, match="no version of tsforge-forecaster holds the alias 'nightly'"):
        delivery.deliver(project, NAME, alias="nightly")
    # A retrain cycle that found nothing new finds these forecasts and does not make them again.
    assert delivery.delivered(project, NAME, "date") == done.path
    mlflow.MlflowClient().delete_registered_model_alias(NAME, "champion")
    assert delivery.delivered(project, NAME, "date") is None


def test_the_command_without_a_champion_exits_non_zero_and_says_what_to_run(
    tmp_path: Path, mlflow_store: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tsforge import cli

    (tmp_path / "params.yaml").write_text(f"registry: {{model_name: {NAME}}}\n", encoding="utf-8")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    assert cli.main(["--project", str(tmp_path), "forecast"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: no champion is registered for tsforge-forecaster") and "`dvc repro`" in err
