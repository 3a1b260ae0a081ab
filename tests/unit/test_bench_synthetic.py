"""bench/synthetic.py: the scaling benchmark's panels are reproducible, ragged, positive, seasonal."""

from __future__ import annotations

import numpy as np
import pandas as pd
from bench.synthetic import PERIOD, panel


def test_same_seed_same_frame_other_seed_other_values() -> None:
    pd.testing.assert_frame_equal(panel(20, 60, seed=3), panel(20, 60, seed=3))
    assert not panel(20, 60, seed=3).equals(panel(20, 60, seed=4))


def test_lengths_vary_within_bounds_and_series_end_together() -> None:
    frame = panel(200, 60, seed=0)
    lengths = frame.groupby("series").size()
    assert len(lengths) == 200
    assert lengths.between(30, 60).all()
    assert lengths.nunique() > 10
    assert frame.groupby("series")["date"].max().nunique() == 1
    # monthly, no gaps: consecutive month starts within every series
    steps = frame.groupby("series")["date"].diff().dropna().dt.days
    assert steps.between(28, 31).all()
    assert (frame["date"].dt.day == 1).all()


def test_values_finite_and_positive() -> None:
    values = panel(100, 50, seed=1)["value"].to_numpy()
    assert np.isfinite(values).all()
    assert (values > 0).all()


def test_period_12_season_is_detectable() -> None:
    frame = panel(50, 120, seed=2)
    autocorrelations: dict[int, list[float]] = {lag: [] for lag in (6, PERIOD)}
    for _, group in frame.groupby("series"):
        logs = np.log(group["value"].to_numpy())
        detrended = np.diff(logs)  # removes the trend; the season survives differencing
        detrended = detrended - detrended.mean()
        for lag, found in autocorrelations.items():
            found.append(float(np.dot(detrended[:-lag], detrended[lag:]) / np.dot(detrended, detrended)))
    # the season repeats every 12 months (positive autocorrelation at 12, negative at 6)
    assert np.median(autocorrelations[PERIOD]) > 0.3
    assert np.median(autocorrelations[6]) < -0.3


def test_scaling_section_is_spliced_in_place() -> None:
    from bench.run import splice_scaling

    stage = {"s": 2.0, "per_1k_s": 2.0, "peak_mb": 100.0}
    run = {
        "series": 1000,
        "total_s": 14.0,
        "peak_mb": 100.0,
        "stages": dict.fromkeys(
            ("ingest", "validate", "scale", "window", "tune", "train", "evaluate"), stage
        ),
    }
    before = "# tsforge benchmarks\n\n| row |\n\n## Accuracy\n\ntext\n"
    once = splice_scaling(before, {"1000": run})
    assert (
        once.startswith(before.rstrip("\n"))
        and "## Scaling" in once
        and "| evaluate | 2.0 / 2.00 / 100 |" in once
    )
    assert splice_scaling(once, {"1000": run}) == once
    middle = splice_scaling(once + "\n## Later\n\nkept\n", {"1000": run, "10000": {**run, "series": 10000}})
    assert middle.endswith("\n## Later\n\nkept\n") and middle.count("## Scaling") == 1
    assert "10,000 series" in middle
