"""Many series in one array: boundaries, per-series scalers, forecasts and averaged metrics."""

import numpy as np
import pandas as pd
import pytest

from tsforge import baselines as bl
from tsforge import metrics as mt
from tsforge import panel
from tsforge import statistical as st
from tsforge.config import ScaleConfig
from tsforge.forecaster import ForecastSpec, forecast_frame, forecast_origins, to_model_space
from tsforge.panel import Layout
from tsforge.scaling import series_split
from tsforge.windowing import WindowSpec

LEVELS = np.concatenate([np.arange(20.0), 1000 + 10 * np.arange(30.0)])[:, None]
LAYOUT = Layout.from_ids(["a"] * 20 + ["b"] * 30)
FIXED = ScaleConfig(val_size=4, test_size=4)


def test_layout_finds_each_series_and_refuses_interleaved_rows():
    assert LAYOUT.names == ("a", "b") and list(LAYOUT.bounds) == [0, 20, 50]
    assert list(LAYOUT.series_of(np.array([0, 19, 20, 49]))) == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="contiguous"):
        Layout.from_ids(["a", "b", "a"])


def test_fixed_size_splits_take_the_last_rows_of_every_series():
    rows = panel.splits(LAYOUT, lambda n: series_split(n, FIXED))
    assert rows[0].tolist() == [[0, 12], [12, 16], [16, 20]]
    assert rows[1].tolist() == [[20, 42], [42, 46], [46, 50]]


def test_no_window_crosses_from_one_series_into_the_next():
    rows = panel.splits(LAYOUT, lambda n: series_split(n, FIXED))
    spec = WindowSpec(5, 4)
    origins = panel.origins(LAYOUT, rows, spec, lost_rows=1)
    for name, found in origins.items():
        starts = LAYOUT.starts_of(found)
        stops = LAYOUT.bounds[LAYOUT.series_of(found) + 1]
        assert (found - spec.input_size >= starts + 1).all(), name
        assert (found + spec.horizon <= stops).all(), name
    assert origins["test"].tolist() == [16, 46]


def test_only_splits_without_a_complete_window_are_padded_each_within_its_own_series():
    """A series too short for a complete training window still trains, on its own rows."""
    from tsforge.training import WindowedData

    rows = panel.splits(LAYOUT, lambda n: series_split(n, FIXED))
    spec = WindowSpec(10, 4)
    complete = panel.origins(LAYOUT, rows, spec, lost_rows=0)
    padded = panel.origins(LAYOUT, rows, spec, lost_rows=0, min_history=3)
    assert not (LAYOUT.series_of(complete["train"]) == 0).any()  # "a": 12 training rows, input 10
    assert (LAYOUT.series_of(padded["train"]) == 0).sum() == 6  # origins 3..8
    assert padded["val"].tolist() == complete["val"].tolist()
    assert padded["test"].tolist() == complete["test"].tolist()
    data = WindowedData(
        LEVELS,
        padded["train"],
        padded["val"],
        padded["test"],
        spec,
        1,
        series_starts=panel.first_usable_rows(LAYOUT, 0),
    )
    x, _ = data.gather(np.array([3, 22]))
    assert x[0, :, 0].tolist() == [0.0] * 8 + [1.0, 2.0]
    assert x[1, :, 0].tolist() == [1000.0] * 9 + [1010.0]  # series "b"'s first value, not "a"'s rows
    assert data.complete(padded["train"]).tolist() == complete["train"].tolist()


def test_padding_after_differencing_repeats_the_first_differenced_row():
    """Row 0 of each differenced series is empty (NaN): padding starts from row 1, never row 0."""
    from tsforge.training import WindowedData

    rows = panel.splits(LAYOUT, lambda n: series_split(n, FIXED))
    spec = WindowSpec(10, 4)
    unscaled = panel.stacked_model_space(LEVELS, LAYOUT, 1, difference=True)
    padded = panel.origins(LAYOUT, rows, spec, lost_rows=1, min_history=3)
    assert padded["train"][0] == 4  # three real rows: 1, 2, 3
    data = WindowedData(
        unscaled,
        padded["train"],
        padded["val"],
        padded["test"],
        spec,
        1,
        series_starts=panel.first_usable_rows(LAYOUT, 1),
    )
    x, _ = data.gather(padded["train"])
    assert np.isfinite(x).all()
    assert data.gather(np.array([24]))[0][0, :, 0].tolist() == [10.0] * 10  # "b" from row 21
    # "b" has complete training windows (from row 31): it gets no padded ones.
    assert padded["train"][LAYOUT.series_of(padded["train"]) == 1][0] == 31


def test_a_series_shorter_than_the_input_is_scored_and_served_from_padded_windows(tmp_path):
    """With window.min_history a series shorter than input_size is not refused: it is
    windowed, scored and served from windows padded with its first value, all alike."""
    from tsforge.data_contract import min_rows

    rows = panel.splits(LAYOUT, lambda n: series_split(n, FIXED))
    spec = WindowSpec(18, 4)
    assert min_rows(spec, lambda n: series_split(n, FIXED), need_train=False) == 22
    assert min_rows(spec, lambda n: series_split(n, FIXED), need_train=False, min_history=4) == 8
    padded = panel.origins(LAYOUT, rows, spec, lost_rows=0, min_history=4)
    of_a = {k: v[LAYOUT.series_of(v) == 0].tolist() for k, v in padded.items()}
    assert of_a == {
        "train": [4, 5, 6, 7, 8],
        "val": [],
        "test": [16],
    }  # "a": 20 rows, input 18; val is never padded
    of_b = {k: v[LAYOUT.series_of(v) == 1].tolist() for k, v in padded.items()}
    assert of_b == {"train": [38], "val": [42], "test": [46]}  # "b" keeps its complete windows only

    scalers = panel.fit_scalers(LEVELS, LAYOUT, rows, ("y",), method="standard", lost_rows=0)
    forecast_spec = ForecastSpec(
        "date", ("y",), (), 18, 4, False, "D", scalers, series_id="item", min_history=4
    )
    forecast_spec.save(tmp_path / "spec.json")
    assert ForecastSpec.load(tmp_path / "spec.json").least_history == 4

    class InputMean:  # forecasts the mean of its (scaled) inputs: shows what the window held
        def predict(self, x: np.ndarray, verbose: int = 0) -> np.ndarray:
            return np.repeat(x[:, :, :1].mean(axis=1, keepdims=True), 4, axis=1)

    scored = forecast_origins(InputMean(), LEVELS, np.array([16]), forecast_spec, layout=LAYOUT)
    assert scored[0, 0, 0] == pytest.approx((0.0 * 2 + sum(range(16))) / 18)  # row 0 twice, then rows 0-15
    history = pd.DataFrame(
        {"item": "a", "date": pd.date_range("2024-01-01", periods=10).astype(str), "y": LEVELS[10:20, 0]}
    )
    served = forecast_frame(InputMean(), history, forecast_spec)
    assert served["y"].tolist() == pytest.approx([(10.0 * 8 + sum(range(10, 20))) / 18] * 4)
    with pytest.raises(ValueError, match="needs at least 4"):
        forecast_frame(InputMean(), history.head(3), forecast_spec)


def test_each_series_is_differenced_and_scaled_on_its_own_training_rows():
    rows = panel.splits(LAYOUT, lambda n: series_split(n, FIXED))
    unscaled = panel.stacked_model_space(LEVELS, LAYOUT, 1, difference=True)
    assert np.isnan(unscaled[0, 0]) and np.isnan(unscaled[20, 0])  # no step across the boundary
    scalers = panel.fit_scalers(unscaled, LAYOUT, rows, ("y",), method="standard", lost_rows=1)
    assert scalers["a"].offset == (1.0,) and scalers["b"].offset == (10.0,)
    scaled = panel.scale_stacked(unscaled, LAYOUT, scalers)
    assert np.allclose(scaled[1:20], 0) and np.allclose(scaled[21:], 0)


def test_forecasts_come_back_in_each_series_own_units():
    """A network that outputs the scaled truth reproduces every series' true levels."""
    rows = panel.splits(LAYOUT, lambda n: series_split(n, FIXED))
    unscaled = panel.stacked_model_space(LEVELS, LAYOUT, 1, difference=True)
    noisy = unscaled + np.random.default_rng(0).normal(0, 0.1, unscaled.shape)
    scalers = panel.fit_scalers(noisy, LAYOUT, rows, ("y",), method="standard", lost_rows=1)
    spec = ForecastSpec("date", ("y",), (), 5, 4, True, "D", scalers, series_id="item")
    truth = to_model_space(LEVELS, spec, LAYOUT)
    origins = np.array([16, 46])

    class Oracle:
        def predict(self, x: np.ndarray, verbose: int = 0) -> np.ndarray:
            return np.stack([truth[o : o + 4, :1] for o in origins])

    got = forecast_origins(Oracle(), LEVELS, origins, spec, layout=LAYOUT)
    np.testing.assert_allclose(got[:, :, 0], [LEVELS[16:20, 0], LEVELS[46:50, 0]], rtol=1e-5)

    history = pd.DataFrame(
        {
            "item": ["b"] * 30 + ["a"] * 20,
            "date": list(pd.date_range("2024-01-01", periods=30).astype(str))
            + list(pd.date_range("2024-03-01", periods=20).astype(str)),
            "y": np.concatenate([LEVELS[20:, 0], LEVELS[:20, 0]]),
        }
    )

    class Flat:
        def predict(self, x: np.ndarray, verbose: int = 0) -> np.ndarray:
            return np.zeros((len(x), 4, 1))

    out = forecast_frame(Flat(), history, spec)
    assert out["item"].tolist() == ["b"] * 4 + ["a"] * 4
    # Zero in model space is each series' own mean step, added onto its own last level.
    np.testing.assert_allclose(out["y"].iloc[:4], 1290 + scalers["b"].offset[0] * np.arange(1, 5))
    np.testing.assert_allclose(out["y"].iloc[4:], 19 + scalers["a"].offset[0] * np.arange(1, 5))
    assert out["date"].iloc[0] == pd.Timestamp("2024-01-31") and out["date"].iloc[4] == pd.Timestamp(
        "2024-03-21"
    )


def test_metrics_average_over_series_not_over_windows():
    actual = np.array([[1.0], [1.0], [1.0], [10.0]])[:, :, None]
    forecast = np.array([[2.0], [2.0], [2.0], [10.0]])[:, :, None]
    series = np.array([0, 0, 0, 1])
    scores = mt.score_series(actual, forecast, series, np.array([1.0, 1.0]))
    assert scores["mae"] == pytest.approx(0.5)  # (1 + 0) / 2, not 3/4
    assert scores["mase"] == pytest.approx(0.5)


def test_seasonal_naive_never_reaches_into_the_previous_series():
    """Less than a season before the origin (a short series' padded window): the missing
    season repeats the series' own first value, never the previous series' last rows."""
    starts = LAYOUT.starts_of(np.array([25]))
    forecast = bl.seasonal_naive(LEVELS, np.array([25]), 4, 1, period=7, starts=starts)
    assert forecast[0, :, 0].tolist() == [1000.0, 1000.0, 1000.0, 1010.0]  # rows 18, 19 belong to "a"
    drift = bl.seasonal_naive_drift(LEVELS, np.array([25]), 4, 1, period=7, input_size=10, starts=starts)
    # b's own step of 10, over the 5 rows back to the first row that stands in: b's true values
    assert drift[0, :, 0] == pytest.approx([1050.0, 1060.0, 1070.0, 1080.0])
    with pytest.raises(ValueError, match="at least one row before each origin"):
        bl.seasonal_naive(LEVELS, np.array([20]), 4, 1, period=7, starts=LAYOUT.starts_of(np.array([20])))
    theta = st.theta(
        LEVELS, np.array([30]), 2, 1, period=1, history=100, starts=LAYOUT.starts_of(np.array([30]))
    )
    assert theta.min() > 1000  # fitted on series b only


def test_a_short_series_gives_only_its_test_window_and_scales_on_the_rows_before_it():
    """M1 quarterly has series of 18 rows with a horizon of 8: they cannot give validation
    windows, but must still be forecast and scored."""
    from tsforge.data_contract import min_rows

    spec = WindowSpec(6, 4)
    assert min_rows(spec, lambda n: series_split(n, FIXED), need_train=False) == 10
    short = np.arange(10.0)[:, None] + 500
    levels = np.concatenate([LEVELS[20:], short])
    layout = Layout.from_ids(["b"] * 30 + ["short"] * 10)
    rows = panel.splits(layout, lambda n: series_split(n, FIXED))
    origins = panel.origins(layout, rows, spec, lost_rows=0)
    of_series = {k: set(layout.series_of(v).tolist()) for k, v in origins.items()}
    assert of_series == {"train": {0}, "val": {0}, "test": {0, 1}}
    scalers = panel.fit_scalers(levels, layout, rows, ("y",), method="standard", lost_rows=0)
    # Its 2 training rows are too few: the scaler uses the 6 rows before its test split.
    assert scalers["short"].offset[0] == pytest.approx(short[:6].mean())
    panel.require_windows(origins)
    with pytest.raises(Exception, match="no train or val windows"):
        panel.require_windows({"train": np.empty(0), "val": np.empty(0), "test": origins["test"]})


def test_a_global_scaler_is_one_for_every_series_fitted_on_all_training_rows():
    rows = panel.splits(LAYOUT, lambda n: series_split(n, FIXED))
    scalers = panel.fit_scalers(LEVELS, LAYOUT, rows, ("y",), method="global", lost_rows=0)
    training = np.concatenate([LEVELS[0:12], LEVELS[20:42]])
    assert scalers["a"] == scalers["b"]
    assert scalers["a"].offset[0] == pytest.approx(training.mean())
    assert scalers["a"].scale[0] == pytest.approx(training.std())


def test_min_rows_gives_up_in_words_on_a_split_that_never_holds_a_window(monkeypatch):
    from tsforge import data_contract
    from tsforge.scaling import Split

    monkeypatch.setattr(data_contract, "MAX_SERIES_ROWS", 200)
    never = lambda n: Split(train=(0, n), val=(n, n), test=(n, n))  # noqa: E731
    with pytest.raises(ValueError, match="no series of up to 200 rows gives every split a window"):
        data_contract.min_rows(WindowSpec(12, 4), never)
