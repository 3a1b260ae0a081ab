"""Forecast combination: chosen on held-out windows, served and scored as one forecast."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tsforge import evaluation as ev
from tsforge.combination import Combination, candidates, choose
from tsforge.config import parse_params
from tsforge.errors import ConfigError
from tsforge.forecaster import (
    ForecastSpec,
    forecast_frame,
    forecast_origins,
    forecast_samples,
    log_forecaster,
)
from tsforge.scaling import AffineScaler


def _windows(n: int = 6, horizon: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    actual = 100 + rng.normal(size=(n, horizon, 1))
    return actual, np.arange(n) % 2, np.ones((2, 1))


def test_a_network_off_one_way_and_theta_off_the_other_are_served_combined():
    actual, of_series, scales = _windows()
    statistical = {"theta": actual - 2.0, "ets": actual + 5.0}
    choice = choose(
        actual, actual + 2.0, statistical, of_series, scales, metric="mase", base=Combination((), 12, 40)
    )
    # network + theta cancel exactly; ETS's larger error would spoil either average.
    assert choice.combination == Combination(("theta",), 12, 40)
    assert choice.scores["network+theta"] == pytest.approx(0.0)
    assert choice.scores["network"] == pytest.approx(2.0)
    assert choice.scores["network+theta+ets"] == pytest.approx(5 / 3)
    assert "network+theta scored best" in choice.reason and "against 2" in choice.reason


def test_an_exact_network_is_served_alone_and_a_tie_keeps_fewer_methods():
    actual, of_series, scales = _windows()
    statistical = {"theta": actual + 1, "ets": actual - 1}
    exact = choose(actual, actual, statistical, of_series, scales, metric="mase", base=Combination())
    # network+theta+ets is exact too (the errors cancel), but the network alone came first.
    assert exact.scores["network+theta+ets"] == pytest.approx(0.0)
    assert not exact.combination.active and exact.combination.label == "network"
    assert "the network alone scored best" in exact.reason
    assert candidates(("theta", "ets")) == [(), ("theta",), ("ets",), ("theta", "ets")]


def _spec(combination: Combination) -> ForecastSpec:
    scaler = AffineScaler("standard", ("y",), (0.0,), (1.0,))
    return ForecastSpec("date", ("y",), (), 4, 3, False, "MS", {"": scaler}, combination=combination)


class _Flat:
    """Stands in for the network: forecasts 10 for every step."""

    def predict(self, x: np.ndarray, verbose: int = 0) -> np.ndarray:
        return np.full((len(x), 3, 1), 10.0)

    def __call__(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self.predict(x)


def test_a_combined_forecast_is_the_mean_of_the_network_and_theta_fitted_on_the_same_rows(tmp_path: Path):
    levels = (50 + np.arange(60.0) + 5 * np.sin(np.arange(60) / 2)).reshape(-1, 1)
    origins = np.array([40, 50, 57])
    combination = Combination(("theta",), 12, 36)
    spec = _spec(combination)
    theta = ev.theta(levels, origins, 3, 1, period=12, history=36, starts=np.zeros(3, dtype=np.int64))
    got = forecast_origins(_Flat(), levels, origins, spec)
    np.testing.assert_allclose(got, (10.0 + theta) / 2)
    # Monte Carlo draws are averaged with the same statistical forecast.
    draws = forecast_samples(_Flat(), levels, origins, spec, samples=2, seed=0)
    np.testing.assert_allclose(draws[1], got)
    # The spec keeps the combination; a served history is kept long enough for Theta's fit.
    spec.save(tmp_path / "spec.json")
    loaded = ForecastSpec.load(tmp_path / "spec.json")
    assert loaded.combination == combination and loaded.history_needed == 36
    assert _spec(Combination()).history_needed == 4


def test_the_served_pyfunc_refits_theta_and_ets_on_the_history_it_is_given(mlflow_store, tmp_path: Path):
    import keras

    history = pd.DataFrame(
        {"date": pd.date_range("2020-01-01", periods=48, freq="MS"), "y": 100 + np.arange(48.0) % 12}
    )
    network = keras.Sequential([keras.Input((4, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    network.layers[-1].set_weights([np.zeros((4, 3)), np.full(3, 10.0)])
    network.add(keras.layers.Reshape((3, 1)))
    spec = _spec(Combination(("theta", "ets"), 12, 36))
    network.save(tmp_path / "model.keras")
    spec.save(tmp_path / "spec.json")
    with mlflow.start_run():
        uri = log_forecaster(tmp_path / "model.keras", tmp_path / "spec.json", history, network, spec)
    served = mlflow.pyfunc.load_model(uri).predict(history)["y"].to_numpy()
    levels = history[["y"]].to_numpy(dtype=np.float64)
    origin, start = np.array([48]), np.zeros(1, dtype=np.int64)
    padded = np.vstack([levels, levels[-1:]])  # the forecaster's row at the origin, never read
    theta = ev.theta(padded, origin, 3, 1, period=12, history=36, starts=start)[0, :, 0]
    ets = ev.ets(padded, origin, 3, 1, period=12, history=36, starts=start)[0, :, 0]
    np.testing.assert_allclose(served, (10.0 + theta + ets) / 3, rtol=1e-5)
    assert not np.allclose(served, 10.0)
    np.testing.assert_allclose(served, forecast_frame(network, history, spec)["y"].to_numpy(), rtol=1e-6)
    # A server building the model's own environment installs what the fits import.
    required = Path(mlflow.pyfunc.get_model_dependencies(uri)).read_text().split()
    assert {r.split("==")[0] for r in required} >= {"statsforecast", "statsmodels", "joblib", "keras"}


@pytest.mark.parametrize("combine", ["theta", ["theta", "arima"], ["ets", "ets"], ["theta", ["ets"]], 3])
def test_train_combine_outside_auto_none_and_theta_ets_is_refused_in_words(combine):
    with pytest.raises(ConfigError, match=r"train\.combine .*use auto .*none .*theta, ets"):
        parse_params({"train": {"combine": combine}})


@pytest.mark.parametrize(
    ("combine", "methods"), [("auto", None), ("none", ()), (None, ()), (["ets"], ("ets",)), ([], ())]
)
def test_train_combine_reads_as_methods_or_auto(combine, methods):
    assert parse_params({"train": {"combine": combine}}).train.combine_with == methods
