"""The scale stage's logic: params' autos resolved against the EDA, then the model-space array."""

import numpy as np
import pandas as pd
import pytest

from tsforge import representation
from tsforge.config import parse_params
from tsforge.panel import Layout
from tsforge.scaling import AffineScaler

ADVICE = {
    "scaler": "robust",
    "scaler_reason": "outliers",
    "difference": True,
    "difference_reason": "ADF p-value 0.9",
    "transform": "log",
    "transform_reason": "the level moves by a factor 3",
}


def _panel() -> pd.DataFrame:
    steps = np.arange(40.0)
    parts = [
        pd.DataFrame({"item": name, "date": pd.date_range("2020-01-01", periods=40, freq="MS"), "y": level})
        for name, level in (("a", 10 + steps), ("b", 1000 * 1.05**steps))
    ]
    return pd.concat(parts, ignore_index=True)


def test_a_panel_of_trending_positive_series_gets_logs_window_relative_levels_and_one_scaler():
    params = parse_params({"data": {"source": "file", "series_id": "item", "target": ["y"]}})
    chosen = representation.choose(params, ADVICE, series=2)
    assert (chosen.transform, chosen.normalize, chosen.difference, chosen.method) == (
        "log",
        "last",
        False,
        "global",
    )
    assert all(r.startswith("auto:") for r in (chosen.transform_reason, chosen.normalize_reason))
    frame = _panel()
    series, scalers = representation.prepare(
        frame, Layout.of_frame(frame, "item"), params.data, params.scale, chosen
    )
    assert series.series_names == ("a", "b") and series.normalize and series.transform == "log"
    assert scalers["a"] == scalers["b"]
    # The model space is the scaled logarithm of the levels, row for row.
    expected = scalers["a"].transform(np.log(_panel()[["y"]].to_numpy()))
    np.testing.assert_allclose(series.values, expected, rtol=1e-5)
    report = representation.report(chosen, series, fill="interpolate", filled=0, many=True)
    assert report["method"] == "global" and report["rows"]["test"] == 12  # 15% of 40 rows, twice


def test_explicit_settings_win_over_the_eda_and_say_so():
    params = parse_params(
        {
            "data": {"source": "file", "target": ["y"]},
            "scale": {"transform": "none", "method": "standard", "difference": "true"},
            "window": {"normalize": "none"},
        }
    )
    chosen = representation.choose(params, ADVICE, series=1)
    assert (chosen.transform, chosen.method, chosen.difference, chosen.normalize) == (
        "none",
        "standard",
        True,
        "none",
    )
    assert "set in params.yaml (EDA recommended log" in chosen.transform_reason


def test_mase_weights_count_each_window_as_the_gates_mase_does():
    # Two series on one shared scaler: "calm" moves 1 a month at level 100, "wild" 10 a month
    # at level 100. An error of 1 % costs the calm series ten times more MASE.
    steps = np.arange(24)
    calm, wild = 100 + np.where(steps % 2, 1.0, 0.0), 100 + np.where(steps % 2, 10.0, 0.0)
    levels = np.concatenate([calm, wild])[:, None]
    layout = Layout(("calm", "wild"), np.array([0, 24, 48]))
    split_rows = np.array([[[0, 16], [16, 20], [20, 24]], [[24, 40], [40, 44], [44, 48]]])
    shared = AffineScaler("standard", ("y",), (0.0,), (0.1,))
    weights = representation.mase_weights(
        levels, layout, split_rows, {"calm": shared, "wild": shared}, transform="log", period=1, n_targets=1
    )
    assert weights.shape == (48,) and weights.dtype == np.float32
    assert weights.mean() == pytest.approx(1.0, rel=1e-5)
    ratio = weights[:24].mean() / weights[24:].mean()
    assert 8 < ratio <= 10.5, "calm windows weigh about ten times more"
