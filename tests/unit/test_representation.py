"""The scale stage's logic: params' autos resolved against the EDA, then the model-space array."""

import numpy as np
import pandas as pd

from tsforge import representation
from tsforge.config import parse_params
from tsforge.panel import Layout

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
