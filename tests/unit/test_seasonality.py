"""Seasonal indices: found where a season is, removed before the network, added back after."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tsforge.forecaster import ForecastSpec, forecast_frame, to_levels, to_model_space
from tsforge.panel import Layout
from tsforge.representation import choose_deseasonalization
from tsforge.scaling import AffineScaler
from tsforge.seasonality import Seasonality, calendar_period, fit, is_seasonal, seasonal_indices

PATTERN = np.array([0.1, -0.05, 0.2, 0.0, -0.15, -0.1, 0.05, 0.12, -0.08, 0.02, -0.06, -0.05])
PATTERN = PATTERN - PATTERN.mean()


def _log_levels(rows: int, slope: float = 0.01) -> np.ndarray:
    """A monthly series that grows by ``slope`` a month with a multiplicative season."""
    t = np.arange(rows)
    return np.exp(3.0 + slope * t + PATTERN[t % 12])


@pytest.mark.parametrize(
    ("freq", "period"),
    [
        ("MS", 12),
        ("ME", 12),
        ("QS-OCT", 4),
        ("W-SAT", 52),
        ("D", 7),
        ("h", 24),
        ("30min", 48),
        ("YS", 1),
        (None, 1),
    ],
)
def test_calendar_period_of_common_frequencies(freq: str | None, period: int) -> None:
    assert calendar_period(freq) == period


def test_seasonality_test_tells_a_season_from_a_trend() -> None:
    t = np.arange(72)
    assert is_seasonal(np.log(_log_levels(72)), 12)
    assert not is_seasonal(3.0 + 0.01 * t, 12)
    assert not is_seasonal(np.log(_log_levels(30)), 12), "fewer than three seasons are never tested"


def test_classical_indices_recover_the_pattern_under_a_trend() -> None:
    indices = seasonal_indices(np.log(_log_levels(96)), 12)
    np.testing.assert_allclose(indices, PATTERN, atol=1e-9)


def _spec(seasons: Seasonality, *, difference: bool, slope: float) -> ForecastSpec:
    # Deseasonalised logs rise by exactly ``slope`` a row: differenced, they scale to 0.
    offset = slope if difference else 3.0
    return ForecastSpec(
        time_column="date",
        targets=("y",),
        features=(),
        input_size=24,
        horizon=6,
        difference=difference,
        freq="MS",
        scalers={"": AffineScaler("standard", ("y",), (offset,), (1.0,))},
        transform="log",
        seasonality=seasons,
    )


def _fitted(rows: int) -> tuple[np.ndarray, pd.DatetimeIndex, Seasonality]:
    levels = _log_levels(rows)[:, None]
    times = pd.date_range("2001-03-01", periods=rows, freq="MS")
    layout = Layout.single(rows)
    seasons = fit(
        np.log(levels), layout, np.array([rows]), times.to_numpy(), n_targets=1, period=12, freq="MS"
    )
    return levels, times, seasons


@pytest.mark.parametrize("difference", [False, True])
def test_forecaster_adds_the_season_back_in_original_units(difference: bool) -> None:
    levels, _, seasons = _fitted(96)
    assert seasons.active
    spec = _spec(seasons, difference=difference, slope=0.01)
    origins = np.array([30, 47, 60])
    values = to_model_space(levels, spec)
    truth_model_space = np.stack([values[o : o + 6, :1] for o in origins])
    forecasts = to_levels(truth_model_space, levels, origins, spec)
    np.testing.assert_allclose(forecasts, np.stack([levels[o : o + 6] for o in origins]), rtol=1e-6)


class _Flat:
    """A network that forecasts no change in model space (the deseasonalised trend)."""

    def predict(self, x: np.ndarray, verbose: int = 0) -> np.ndarray:
        return np.zeros((len(x), 6, 1), dtype=np.float32)


def test_served_history_starting_mid_season_gets_the_right_season() -> None:
    levels, times, seasons = _fitted(60)
    spec = _spec(seasons, difference=True, slope=0.01)
    # The history a user sends starts 17 months after the series' first row.
    history = pd.DataFrame({"date": times[17:60], "y": levels[17:60, 0]})
    forecast = forecast_frame(_Flat(), history, spec)
    future = _log_levels(66)[60:]
    np.testing.assert_allclose(forecast["y"].to_numpy(), future, rtol=1e-6)
    assert forecast["date"].iloc[0] == pd.Timestamp("2006-03-01")


def test_spec_keeps_the_seasonality_through_save_and_load(tmp_path) -> None:
    _, _, seasons = _fitted(60)
    path = tmp_path / "spec.json"
    _spec(seasons, difference=False, slope=0.01).save(path)
    loaded = ForecastSpec.load(path).seasonality
    assert loaded.period == 12 and loaded.anchors[""] == pd.Timestamp("2001-03-01")
    np.testing.assert_allclose(loaded.indices[""], seasons.indices[""])


def test_only_seasonal_series_of_a_panel_are_adjusted() -> None:
    seasonal = np.log(_log_levels(48))
    flat = 3.0 + 0.01 * np.arange(48)
    unscaled = np.concatenate([seasonal, flat])[:, None]
    layout = Layout(("s", "f"), np.array([0, 48, 96]))
    times = np.concatenate([pd.date_range("2000-01-01", periods=48, freq="MS")] * 2)
    seasons = fit(unscaled, layout, np.array([48, 96]), times, n_targets=1, period=12, freq="MS")
    assert set(seasons.indices) == {"s"}
    component = seasons.component(seasons.phases(None, layout), layout, 1)
    assert np.all(component[48:] == 0) and np.abs(component[:48]).max() > 0.1


def test_deseasonalize_falls_back_to_the_frequency_and_auto_keeps_the_season_saying_why() -> None:
    chosen = choose_deseasonalization("true", 1, "QS-OCT")
    assert chosen.deseasonalize and chosen.period == 4 and "QS-OCT" in chosen.reason
    assert not choose_deseasonalization("true", 1, "YS").deseasonalize
    assert not choose_deseasonalization("false", 12, "MS").deseasonalize
    auto = choose_deseasonalization("auto", 12, "MS")
    assert not auto.deseasonalize and "scored worse" in auto.reason
