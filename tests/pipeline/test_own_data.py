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
