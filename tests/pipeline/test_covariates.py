"""What is known ahead, end to end: known-future features, calendar and holidays, a static
attribute and series the model never saw, on a small panel of daily store sales."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.pipeline.conftest import make_project, run

pytestmark = pytest.mark.pipeline

HORIZON = 7
DAYS = 240
TRAINED = [f"s{i}" for i in range(8)]
HELD_OUT = [f"s{i}" for i in range(8, 12)]


def _stores(seed: int = 5) -> pd.DataFrame:
    """Daily sales of 12 stores: a weekly cycle, promotions (x1.6), planned prices (elasticity
    -1.5), US public holidays (x0.5), a little temperature effect, two store types."""
    import holidays

    rng = np.random.default_rng(seed)
    days = pd.date_range("2023-01-01", periods=DAYS, freq="D")
    us = holidays.country_holidays("US", years=[2023])
    holiday = np.array([d.date() in us for d in days], dtype=float)
    frames = []
    for i, store in enumerate(TRAINED + HELD_OUT):
        kind = "big" if i % 2 == 0 else "small"
        base = (200.0 if kind == "big" else 80.0) * rng.uniform(0.9, 1.1)
        promo = (rng.random(DAYS) < 0.15).astype(float)
        price = 10.0 + np.repeat(rng.normal(0, 0.8, DAYS // 20 + 1), 20)[:DAYS]
        temperature = 15 + 8 * np.sin(2 * np.pi * np.arange(DAYS) / 365) + rng.normal(0, 2, DAYS)
        weekly = 1 + 0.3 * np.sin(2 * np.pi * (days.dayofweek.to_numpy() - 2) / 7)
        sales = (
            base
            * weekly
            * np.where(promo > 0, 1.6, 1.0)
            * (price / 10.0) ** -1.5
            * np.where(holiday > 0, 0.5, 1.0)
            * (1 + 0.005 * (temperature - 15))
            * rng.lognormal(0, 0.05, DAYS)
        )
        frames.append(
            pd.DataFrame(
                {
                    "store": store,
                    "date": days,
                    "sales": sales,
                    "promo": promo,
                    "price": price,
                    "temperature": temperature,
                    "store_type": kind,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


OVERRIDE = {
    "data": {
        "source": "file",
        "path": "data/external/stores.csv",
        "series_id": "store",
        "target": ["sales"],
        "features": ["temperature"],
        "future_features": ["promo", "price"],
        "static_features": ["store_type"],
        "calendar": "auto",
        "holidays": "US",
        "until": None,
    },
    "validate": {"max_missing_fraction": 0.05},
    "scale": {"val_size": 28, "test_size": 28},
    "window": {"input_size": 14, "horizon": HORIZON},
    "tune": {"max_epochs": 6},
    "train": {"epochs": 8, "patience": 3, "combine": "none", "feature_ablation": True},
}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    everything = _stores()
    trained = everything[everything["store"].isin(TRAINED)]
    project = make_project(
        tmp_path_factory.mktemp("stores"), OVERRIDE, {"data/external/stores.csv": trained.to_csv(index=False)}
    )
    everything.to_csv(project / "everything.csv", index=False)
    return project


def _forecaster(project: Path):  # type: ignore[no-untyped-def]
    import mlflow

    store = f"sqlite:///{project / 'mlflow.db'}"
    # Both URIs, explicitly: the registry falls back to MLFLOW_REGISTRY_URI before the tracking
    # URI. conftest's autouse fixture puts both back after the test.
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    return mlflow.pyfunc.load_model("models:/tsforge-forecaster/1")


def _request(frame: pd.DataFrame, stores: list[str], origin: pd.Timestamp, history: int = 28) -> pd.DataFrame:
    """Each store's ``history`` days before ``origin`` and the horizon's rows, targets empty."""
    rows = frame[frame["store"].isin(stores)]
    past = rows[(rows["date"] < origin) & (rows["date"] >= origin - pd.Timedelta(days=history))]
    ahead = rows[(rows["date"] >= origin) & (rows["date"] < origin + pd.Timedelta(days=HORIZON))]
    return pd.concat([past, ahead.assign(sales=np.nan)]).sort_values(["store", "date"], ignore_index=True)


def test_known_ahead_features_reach_the_network_and_a_feature_aware_baseline_joins_the_gate(stores: Path):
    spec = json.loads((stores / "models/forecast_spec.json").read_text())
    covariates = spec["covariates"]
    assert covariates["future"] == ["promo", "price"] and covariates["past"] == ["temperature"]
    assert covariates["calendar"][:1] == ["day_of_week"] and covariates["holidays"] == "US"
    assert covariates["static"][0]["categories"] == ["big", "small"]
    metrics = json.loads((stores / "reports/metrics.json").read_text())
    assert np.isfinite(metrics["gbm"]["mase"]) and np.isfinite(metrics["model"]["mase"])
    promotion = json.loads((stores / "reports/promotion.json").read_text())
    assert "gbm" in json.dumps(promotion) or promotion["best_baseline"] != ""
    ablation = json.loads((stores / "reports/training.json").read_text())["feature_ablation"]
    assert set(ablation["without"]) == {"past", "known_future", "static"}
    # promo and price, day of week and of month (sin, cos; 240 days hold no two years, so no day
    # of year), three holiday columns
    assert ablation["columns"] == {"past": 1, "known_future": 2 + 4 + 3, "static": 2}
    assert all(np.isfinite(v) for v in [ablation["all"], *ablation["without"].values()])
    eda = json.loads((stores / "reports/eda.json").read_text())["feature_correlations"]
    assert eda["features"]["promo"]["kind"] == "future" and eda["features"]["promo"]["correlation"] > 0.2


def test_the_served_forecaster_reads_future_rows_beside_the_history(stores: Path):
    frame = pd.read_csv(stores / "everything.csv", parse_dates=["date"])
    origin = pd.Timestamp("2023-08-01")
    request = _request(frame, ["s0", "s1"], origin)
    model = _forecaster(stores)
    out = model.predict(request)
    assert list(out["store"].unique()) == ["s0", "s1"] and len(out) == 2 * HORIZON
    assert list(pd.to_datetime(out["date"])[:HORIZON]) == list(pd.date_range(origin, periods=HORIZON))
    assert np.isfinite(out["sales"]).all()
    promoted = request.copy()
    promoted.loc[promoted["sales"].isna(), "promo"] = 1.0 - promoted.loc[promoted["sales"].isna(), "promo"]
    assert not np.allclose(model.predict(promoted)["sales"], out["sales"])
    schema = {c.name for c in model.metadata.get_input_schema().inputs}
    assert {"promo", "price", "temperature", "store_type"} <= schema


def test_missing_future_rows_are_refused_naming_the_series_and_the_timestamps(stores: Path):
    frame = pd.read_csv(stores / "everything.csv", parse_dates=["date"])
    request = _request(frame, ["s0", "s1"], pd.Timestamp("2023-08-01"))
    short = request.drop(request.index[-1])  # s1's last future row
    with pytest.raises(Exception, match=r"s1.*2023-08-07"):
        _forecaster(stores).predict(short)
    emptied = request.copy()
    emptied.loc[emptied.index[-2], "price"] = np.nan
    with pytest.raises(Exception, match=r"s1.*price at 2023-08-06"):
        _forecaster(stores).predict(emptied)


def test_tsforge_forecast_reads_the_future_from_a_file(stores: Path):
    frame = pd.read_csv(stores / "everything.csv", parse_dates=["date"])
    last = frame[frame["store"].isin(TRAINED)]["date"].max()
    future = pd.DataFrame(
        [
            {"store": s, "date": d, "promo": 0.0, "price": 10.0}
            for s in TRAINED
            for d in pd.date_range(last + pd.Timedelta(days=1), periods=HORIZON)
        ]
    )
    future.to_csv(stores / "future.csv", index=False)
    tsforge = str(Path(sys.executable).parent / "tsforge")
    # The tiny model loses to the feature-aware baseline, so version 1 is not champion.
    refused = run(stores, tsforge, "forecast", "--version", "1", check=False)
    assert refused.returncode == 2 and "--future" in refused.stderr
    done = run(stores, tsforge, "forecast", "--version", "1", "--future", "future.csv")
    written = pd.read_parquet(next((stores / "forecasts").glob("*.parquet")))
    assert "forecast rows for 8 series" in done.stdout
    assert len(written) == 8 * HORIZON and np.isfinite(written["forecast"]).all()


def _scaled_errors(
    model: object, frame: pd.DataFrame, stores: list[str], rename: str = "", per_level: bool = False
) -> dict[str, float]:
    """Each store's mean absolute error over the test split's four weeks, forecast weekly from 168
    days of history, in units of its in-sample seasonal-naive error (MASE), or with
    ``per_level`` of its mean sales there (WAPE); ``rename`` serves the stores under new names."""
    errors: dict[str, list[float]] = {s: [] for s in stores}
    for week in range(4):
        origin = pd.Timestamp("2023-01-01") + pd.Timedelta(days=DAYS - 28 + 7 * week)
        request = _request(frame, stores, origin, history=168)
        request["store"] = request["store"] + rename
        out = model.predict(request).set_index(["store", "date"])["sales"]  # type: ignore[attr-defined]
        steps = pd.date_range(origin, periods=HORIZON)
        for store in stores:
            rows = frame[frame["store"] == store].set_index("date")["sales"]
            before = rows[rows.index < pd.Timestamp("2023-01-01") + pd.Timedelta(days=DAYS - 56)].to_numpy()
            scale = np.mean(before) if per_level else np.mean(np.abs(before[7:] - before[:-7]))
            actual = rows.loc[steps].to_numpy()
            errors[store].append(
                float(np.mean(np.abs(out.loc[store + rename].loc[steps].to_numpy() - actual))) / scale
            )
    return {store: float(np.mean(values)) for store, values in errors.items()}


def test_series_the_model_never_saw_are_forecast_from_their_own_history(stores: Path):
    frame = pd.read_csv(stores / "everything.csv", parse_dates=["date"])
    model = _forecaster(stores)
    trained = _scaled_errors(model, frame, TRAINED)
    # The same stores served as if new: their scale measured on the served history instead of
    # their training rows. This isolates what being new costs, free of which stores are harder.
    as_new = _scaled_errors(model, frame, TRAINED, rename="-new")
    assert np.mean(list(as_new.values())) <= 1.1 * np.mean(list(trained.values())), (as_new, trained)
    # Stores held out of training entirely: no worse than 10 % off the trained stores, by MASE
    # and relative to their sales (WAPE; the noise is multiplicative, the same 5 % in every
    # store). Measured after 37c2908: MASE 0.955 and WAPE 1.016 of the trained stores' (WAPE was
    # 1.12 while data.calendar auto still gave these 240 days a day-of-year ramp).
    held_out = _scaled_errors(model, frame, HELD_OUT)
    assert np.isfinite(list(held_out.values())).all()
    assert np.mean(list(held_out.values())) <= 1.1 * np.mean(list(trained.values())), (held_out, trained)
    wape_trained = np.mean(list(_scaled_errors(model, frame, TRAINED, per_level=True).values()))
    wape_held_out = np.mean(list(_scaled_errors(model, frame, HELD_OUT, per_level=True).values()))
    assert wape_held_out <= 1.1 * wape_trained, (wape_held_out, wape_trained)


def test_a_static_feature_that_varies_within_a_series_is_refused_with_its_name(tmp_path: Path):
    from tsforge.config import DataConfig
    from tsforge.covariates import check_static
    from tsforge.errors import ValidationError

    frame = _stores().iloc[: DAYS + 10].copy()
    frame.loc[3, "store_type"] = "small"
    data = DataConfig(series_id="store", static_features=("store_type",))
    with pytest.raises(ValidationError, match=r"static feature 'store_type' is not constant.*'s0'"):
        check_static(frame, data.series_id, data.static_features)


def test_the_snapshot_stays_when_a_static_feature_varies(stores: Path):
    frame = _stores()
    frame = frame[frame["store"].isin(TRAINED)].copy()
    before = (stores / "data/raw/series.parquet").read_bytes()
    frame.loc[frame.index[5], "store_type"] = "small"
    frame.to_csv(stores / "data/external/stores.csv", index=False)
    try:
        result = run(
            stores, str(Path(sys.executable).parent / "dvc"), "repro", "--force", "ingest", check=False
        )
        assert result.returncode != 0
        assert "store_type" in result.stdout + result.stderr
        assert (stores / "data/raw/series.parquet").read_bytes() == before
    finally:
        _stores()[lambda f: f["store"].isin(TRAINED)].to_csv(stores / "data/external/stores.csv", index=False)
