"""Forecast combination: chosen on held-out windows, served and scored as one forecast."""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tsforge import statistical as st
from tsforge.combination import Combination, candidates, choose, sampled_origins
from tsforge.config import EvaluateConfig, parse_params
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
    theta = st.theta(levels, origins, 3, 1, period=12, history=36, starts=np.zeros(3, dtype=np.int64))
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
    theta = st.theta(padded, origin, 3, 1, period=12, history=36, starts=start)[0, :, 0]
    ets = st.ets(padded, origin, 3, 1, period=12, history=36, starts=start)[0, :, 0]
    np.testing.assert_allclose(served, (10.0 + theta + ets) / 3, rtol=1e-5)
    assert not np.allclose(served, 10.0)
    np.testing.assert_allclose(served, forecast_frame(network, history, spec)["y"].to_numpy(), rtol=1e-6)
    # A server building the model's own environment installs what the fits import.
    required = Path(mlflow.pyfunc.get_model_dependencies(uri)).read_text().split()
    assert {r.split("==")[0] for r in required} >= {"statsforecast", "statsmodels", "joblib", "keras"}


@pytest.mark.parametrize("combine", ["theta", ["theta", "arima"], ["ets", "ets"], ["theta", ["ets"]], 3])
def test_train_combine_outside_auto_none_and_theta_ets_is_refused_in_words(combine):
    with pytest.raises(ConfigError, match=r"train\.combine .*use auto .*weighted .*none .*theta, ets"):
        parse_params({"train": {"combine": combine}})


@pytest.mark.parametrize(
    ("combine", "methods"), [("auto", None), ("none", ()), (None, ()), (["ets"], ("ets",)), ([], ())]
)
def test_train_combine_reads_as_methods_or_auto(combine, methods):
    assert parse_params({"train": {"combine": combine}}).train.combine_with == methods


def _many_windows(series: int = 40, per_series: int = 9, horizon: int = 3) -> tuple[np.ndarray, ...]:
    """Enough windows for weights: 40 series × 3 independent windows each."""
    rng = np.random.default_rng(1)
    actual = 100 + rng.normal(size=(series * per_series, horizon, 1))
    return actual, np.repeat(np.arange(series), per_series), np.ones((series, 1))


def test_a_weighted_combination_is_the_weighted_mean_of_its_members(tmp_path: Path):
    combination = Combination(("theta", "ets"), 12, 36, (0.5, 0.3, 0.2))
    network, theta, ets = np.full((2, 3, 1), 10.0), np.full((2, 3, 1), 20.0), np.full((2, 3, 1), 40.0)
    np.testing.assert_allclose(combination.blend(network, [theta, ets]), 0.5 * 10 + 0.3 * 20 + 0.2 * 40)
    assert combination.label == "network*0.5+theta*0.3+ets*0.2"
    # Served: the network's forecast and Theta's and ETS's fitted on the same rows, so weighted.
    levels = (50 + np.arange(60.0) + 5 * np.sin(np.arange(60) / 2)).reshape(-1, 1)
    origins, starts = np.array([40, 57]), np.zeros(2, dtype=np.int64)
    fitted = st.statistical_forecasts(
        ("theta", "ets"), levels, origins, 3, 1, period=12, history=36, starts=starts
    )
    got = forecast_origins(_Flat(), levels, origins, _spec(combination))
    np.testing.assert_allclose(got, 0.5 * 10.0 + 0.3 * fitted["theta"] + 0.2 * fitted["ets"])
    # The weights survive the spec's round trip; a spec written before weights has equal ones.
    _spec(combination).save(tmp_path / "spec.json")
    assert ForecastSpec.load(tmp_path / "spec.json").combination == combination
    old = Combination.from_dict({"methods": ["theta"], "period": 12, "history": 36})
    assert old.shares == {"network": 0.5, "theta": 0.5} and old.label == "network+theta"


def test_selection_on_windows_where_one_method_is_exact_serves_it_alone():
    actual, of_series, scales = _many_windows()
    statistical = {"theta": actual + 1.0, "ets": actual.copy(), "ces": actual - 3.0, "dot": actual + 2.0}
    choice = choose(
        actual,
        actual + 0.5,
        statistical,
        of_series,
        scales,
        metric="mase",
        base=Combination((), 12),
        weighted=True,
    )
    # Only ETS has a weight: the served forecaster refits nothing else.
    assert choice.combination.methods == ("ets",)
    assert choice.combination.shares == {"network": 0.0, "ets": 1.0}
    assert choice.scores[choice.combination.label] == pytest.approx(0.0)
    assert "ensemble selection" in choice.reason and "120 independent" in choice.reason


def test_selection_weights_the_members_whose_errors_cancel():
    actual, of_series, scales = _many_windows()
    # network +3 and theta -1: three parts theta to one part network cancel exactly.
    statistical = {"theta": actual - 1.0, "ets": actual + 4.0}
    choice = choose(
        actual,
        actual + 3.0,
        statistical,
        of_series,
        scales,
        metric="mase",
        base=Combination((), 12),
        weighted=True,
    )
    assert choice.combination.shares == pytest.approx({"network": 0.25, "theta": 0.75})
    assert choice.scores[choice.combination.label] == pytest.approx(0.0, abs=1e-12)


def test_few_windows_allow_only_equal_weight_subsets():
    # The same members on 6 windows (2 independent): the cancelling 1:3 weights are not tried.
    actual, of_series, scales = _windows()
    statistical = {"theta": actual - 1.0, "ets": actual + 4.0}
    choice = choose(
        actual,
        actual + 3.0,
        statistical,
        of_series,
        scales,
        metric="mase",
        base=Combination((), 12),
        weighted=True,
    )
    assert choice.combination == Combination(("theta",), 12)
    assert choice.combination.label == "network+theta" and "too few for weights" in choice.reason


def test_auto_tries_only_equal_weight_subsets_however_many_the_windows():
    actual, of_series, scales = _many_windows()
    statistical = {"theta": actual - 1.0, "ets": actual + 4.0}
    choice = choose(
        actual, actual + 3.0, statistical, of_series, scales, metric="mase", base=Combination((), 12)
    )
    assert choice.combination == Combination(("theta",), 12) and "equal-weight subsets" in choice.reason
    assert parse_params({"train": {"combine": "weighted"}}).train.combine_with is None


def test_the_statistical_fits_read_each_series_whole_history_by_default():
    assert EvaluateConfig().theta_history is None
    levels = (50 + np.arange(300.0) + 5 * np.sin(np.arange(300) / 2)).reshape(-1, 1)
    origins, starts = np.array([250, 290]), np.zeros(2, dtype=np.int64)
    whole = st.ets(levels, origins, 3, 1, period=12, history=None, starts=starts)
    np.testing.assert_allclose(whole, st.ets(levels, origins, 3, 1, period=12, history=290, starts=starts))
    assert not np.allclose(whole, st.ets(levels, origins, 3, 1, period=12, history=36, starts=starts))
    # A forecaster combined on whole histories keeps every row it is sent.
    assert _spec(Combination(("theta",), 12, None)).history_needed is None


def test_a_big_panel_chooses_on_every_window_of_a_seeded_sample_of_its_series():
    of_series = np.repeat(np.arange(50), 3)  # 50 series, 3 validation windows each
    origins = np.arange(150) * 10
    kept = sampled_origins(origins, of_series, 20, seed=42)
    series = np.unique(of_series[np.isin(origins, kept)])
    assert len(series) == 20 and len(kept) == 60  # whole series: all 3 windows of each
    assert np.array_equal(kept, np.sort(kept))  # in their order
    assert np.array_equal(sampled_origins(origins, of_series, 20, seed=42), kept)  # same params, same sample
    assert not np.array_equal(sampled_origins(origins, of_series, 20, seed=7), kept)
    # A panel within the cap, or no cap: every window.
    assert np.array_equal(sampled_origins(origins, of_series, 50, seed=42), origins)
    assert np.array_equal(sampled_origins(origins, of_series, None, seed=42), origins)
