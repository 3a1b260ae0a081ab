"""Reusing a statistical fit at a series' later origins against refitting at every origin.

The gate's statistical baselines forecast from every test origin. Since E19 a series' later
origins reuse the parameters fitted at an earlier one (tsforge.statistical_runs.reuse_anchors, while
the history has grown by at most REUSE_GROWTH); before, every origin was refitted. This scores
both ways on the suite's datasets with rolling origins (the competitions have one test origin
per series, where nothing changes), on the suite's own test split, horizon and period:

    python -m bench.reuse_check                     # every dataset below -> bench/reuse_check.json
    python -m bench.reuse_check --datasets co2,sunspots

MASE is the mean over origins of MAE / the in-sample seasonal-naive MAE of the series' history
before its first test origin (the evaluate stage's scaling); seconds are the fits' wall time in
the default processes (TSFORGE_JOBS or every core), measured in this run for both ways.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import accuracy
from tsforge import statistical as st
from tsforge import statistical_runs as runs

DATASETS = ("co2", "airpassengers", "sunspots", "seatbelts", "taylor", "retail")
METHODS = ("theta", "ets", "ces", "dot")
OUT = Path(__file__).with_name("reuse_check.json")
CO2_HORIZON, CO2_PERIOD = 4, 52  # params.yaml's horizon and the period the EDA finds on co2
TEST_FRACTION = 0.15  # params.yaml's split: the last 15 % of each series is the test part


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _dataset(name: str) -> accuracy.Dataset:
    every = {d.name: d for d in (*accuracy.DATASETS, accuracy.RETAIL)}
    return every[name]


def _series(dataset: accuracy.Dataset) -> list[np.ndarray]:
    """Each series' target, gaps interpolated as the pipeline's fill does."""
    frame = dataset.frame()
    groups: Any = frame.groupby(dataset.series_column, sort=True) if dataset.panel else [("", frame)]
    return [
        pd.Series(rows[dataset.target].to_numpy(dtype=float)).interpolate().bfill().to_numpy()
        for _, rows in groups
    ]


def _origins(n: int, test_rows: int, horizon: int) -> np.ndarray:
    """Every origin whose horizon ends within the test part (the evaluate stage's windows)."""
    return np.arange(n - test_rows, n - horizon + 1)


def _scale(history: np.ndarray, period: int) -> float:
    lag = period if len(history) > period else 1
    return float(np.mean(np.abs(history[lag:] - history[:-lag]))) or 1.0


def score(name: str, growth: float) -> dict[str, Any]:
    """Both ways' MASE and seconds per method on one dataset (reuse while the history grows
    by at most ``growth``)."""
    dataset = _dataset(name)
    horizon = dataset.horizon or CO2_HORIZON
    period = dataset.period or CO2_PERIOD
    series = _series(dataset)
    levels = np.concatenate(series)[:, None]
    starts_of, origins, scales = [], [], []
    offset = 0
    for values in series:
        test_rows = dataset.split or int(round(TEST_FRACTION * len(values)))
        local = _origins(len(values), test_rows, horizon)
        origins.append(offset + local)
        starts_of.append(np.full(len(local), offset))
        scales.append(np.full(len(local), _scale(values[: local[0]], period)))
        offset += len(values)
    at, starts, scale = np.concatenate(origins), np.concatenate(starts_of), np.concatenate(scales)
    actual = np.stack([levels[o : o + horizon, 0] for o in at])
    result: dict[str, Any] = {"series": len(series), "origins": len(at), "horizon": horizon, "period": period}
    default = runs.REUSE_GROWTH
    for method in METHODS:
        for way, reuse in (("refit", 0.0), ("reuse", growth)):
            runs.REUSE_GROWTH = reuse
            started = time.perf_counter()
            forecast = st.statistical_forecasts(
                [method], levels, at, horizon, 1, period=period, history=None, starts=starts
            )[method][:, :, 0]
            seconds = time.perf_counter() - started
            mase = float(np.mean(np.mean(np.abs(forecast - actual), axis=1) / scale))
            result[f"{method}/{way}"] = {"mase": round(mase, 4), "seconds": round(seconds, 1)}
        _say(f"{name} {method}: refit {result[f'{method}/refit']}, reuse {result[f'{method}/reuse']}")
    runs.REUSE_GROWTH = default
    return result


def table(results: dict[str, dict[str, Any]]) -> str:
    """The markdown table of EXPERIMENTS.md's E19."""
    lines = [
        "| dataset | origins | method | MASE refit | MASE reuse | reuse / refit | s refit | s reuse |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in results.items():
        for method in METHODS:
            refit, reuse = row[f"{method}/refit"], row[f"{method}/reuse"]
            lines.append(
                f"| {name} | {row['origins']} | {method} | {refit['mase']:.4f} | {reuse['mase']:.4f} | "
                f"{reuse['mase'] / refit['mase']:.3f} | {refit['seconds']:.1f} | {reuse['seconds']:.1f} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--growth", type=float, default=runs.REUSE_GROWTH, help="reuse's REUSE_GROWTH")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    results = {name: score(name, args.growth) for name in args.datasets.split(",")}
    args.out.write_text(json.dumps({"growth": args.growth, "datasets": results}, indent=1) + "\n")
    _say(table(results))


if __name__ == "__main__":
    main()
