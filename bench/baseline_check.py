"""`python -m bench.baseline_check`: the statistical baselines on M3, recomputed through the
evaluate stage's library functions and compared with bench/accuracy.json (issue 14, item 2).

The accuracy suite's baseline scores come from full `dvc repro` runs; this recomputes them
in seconds to minutes, without training anything, with the suite's settings
(:func:`bench.accuracy.plan`): the official split (each series' last h rows are the test,
one test window per series), h = 18/8/6/8, season period 12/4/1/1, ``theta_history`` 1000.
The inputs are built as the ingest, scale and window stages build them (levels stored as
float32 in data/processed/series.npz and read back as float64 by the evaluate stage) and
scored as :func:`tsforge.assessment.assess` scores them.

For each dataset it prints every baseline's sMAPE, MASE and MAPE from accuracy.json, the
recomputed value and the difference, and the wall time of :func:`tsforge.baselines.baselines`
and of the scoring. ``--save DIR`` writes the forecasts (one .npz per dataset);
``--against DIR`` compares today's forecasts with such a file, value by value.

The Theta and ETS fits run in ``TSFORGE_JOBS`` processes (default: every core), as in the
evaluate stage.

    python -m bench.baseline_check                              # the four M3 subsets
    python -m bench.baseline_check --datasets m3-yearly,m3-other
    python -m bench.baseline_check --save bench/work/baselines-new --against bench/work/baselines-old

To time (and save the forecasts of) an older ``tsforge``, put its ``src`` first on the path:
``git worktree add /tmp/old <commit>``, then ``PYTHONPATH=/tmp/old/src:. python -m
bench.baseline_check --save bench/work/baselines-old``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.accuracy import BY_NAME, METRICS, RESULTS, plan
from tsforge import baselines as bl
from tsforge import metrics as mt
from tsforge import panel
from tsforge.catalog import Project
from tsforge.config import mase_period, merge_sections, parse_params
from tsforge.panel import Layout
from tsforge.scaling import fill_missing, series_split
from tsforge.sources import load_source
from tsforge.windowing import WindowSpec

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("m3-monthly", "m3-quarterly", "m3-yearly", "m3-other")
BASELINES = ("theta", "ets", "naive", "seasonal_naive", "seasonal_naive_drift")
DECIMALS = 4


@dataclass(frozen=True)
class Inputs:
    """What the evaluate stage passes to the baselines and the scoring, for one dataset."""

    levels: np.ndarray
    layout: Layout
    origins: np.ndarray
    split_rows: np.ndarray
    horizon: int
    n_targets: int
    period: int
    input_size: int
    theta_history: int | None


def say(line: str = "") -> None:
    """One line of the report on stdout."""
    sys.stdout.write(line + "\n")


def inputs(name: str, recorded: dict[str, Any]) -> Inputs:
    """The evaluate stage's inputs for dataset ``name`` under the accuracy suite's settings.

    Args:
        name: A dataset of :data:`bench.accuracy.BY_NAME`.
        recorded: Its entry in accuracy.json (for the representation's differencing, which
            decides the rows lost at the start of each series; the EDA is not rerun).
    """
    override, _ = plan(BY_NAME[name], quick=False)
    base = yaml.safe_load(Project(ROOT).params.read_text())
    params = parse_params(merge_sections(base, override))
    data, scale, window = params.data, params.scale, params.window
    # ingest: the source as loaded; scale: gaps filled, split per series, levels kept as float32
    frame, _ = fill_missing(load_source(data).frame, list(data.columns), scale.fill, data.series_id)
    layout = Layout.of_frame(frame, data.series_id)
    split_rows = panel.splits(layout, lambda n: series_split(n, scale))
    levels = frame[list(data.columns)].to_numpy(dtype=np.float64).astype(np.float32).astype(np.float64)
    # window: the test origins
    lost_rows = int(bool(recorded.get("representation", {}).get("difference", False)))
    spec = WindowSpec(window.input_size, window.horizon, window.step)
    origins = panel.origins(layout, split_rows, spec, lost_rows)["test"]
    # evaluate: the season of the baselines and of MASE
    period = mase_period(params.evaluate.season_period, int(recorded.get("season_period") or 1))
    return Inputs(
        levels=levels,
        layout=layout,
        origins=origins,
        split_rows=split_rows,
        horizon=window.horizon,
        n_targets=len(data.target),
        period=period,
        input_size=window.input_size,
        theta_history=params.evaluate.theta_history,
    )


def compute(x: Inputs) -> tuple[dict[str, np.ndarray], dict[str, dict[str, float]], float, float]:
    """Every baseline's forecasts and scores, as :func:`tsforge.assessment.assess` computes them.

    Returns:
        Forecasts, method -> metric -> value, seconds in :func:`tsforge.baselines.baselines`,
        seconds scoring (every metric overall and per horizon step, as the stage does).
    """
    scales = mt.mase_scales(x.levels, x.layout.bounds[:-1], x.split_rows[:, 2, 0], x.period, x.n_targets)
    of_series = x.layout.series_of(x.origins)
    actual = mt.actuals(x.levels, x.origins, x.horizon, x.n_targets)
    started = time.perf_counter()
    forecasts = bl.baselines(
        x.levels,
        x.origins,
        x.horizon,
        x.n_targets,
        period=x.period,
        input_size=x.input_size,
        starts=x.layout.starts_of(x.origins),
        theta_history=x.theta_history,
    )
    fitted = time.perf_counter()
    scores = {name: mt.score_series(actual, f, of_series, scales) for name, f in forecasts.items()}
    for f in forecasts.values():
        mt.score_per_step(actual, f, of_series, scales)
    return forecasts, scores, fitted - started, time.perf_counter() - fitted


def compare(name: str, recorded: dict[str, Any], scores: dict[str, dict[str, float]]) -> list[str]:
    """Print old, new and difference for every baseline and metric; return the mismatches."""
    old_scores = recorded.get("scores", {})
    mismatches = []
    say(f"{'method':<22}{'metric':<7}{'accuracy.json':>15}{'recomputed':>15}{'difference':>12}")
    for method in BASELINES:
        for metric in METRICS:
            old = old_scores.get(method, {}).get(metric)
            new = scores[method][metric]
            same = old is not None and round(old, DECIMALS) == round(new, DECIMALS)
            diff = "" if old is None else f"{new - old:+.2e}"
            shown_old = "—" if old is None else f"{old:.{DECIMALS}f}"
            flag = "" if same else "  DIFFERS"
            say(f"{method:<22}{metric:<7}{shown_old:>15}{new:>15.{DECIMALS}f}{diff:>12}{flag}")
            if not same:
                mismatches.append(f"{name} {method} {metric}")
    return mismatches


def against(directory: Path, name: str, forecasts: dict[str, np.ndarray]) -> list[str]:
    """Compare ``forecasts`` with the ones saved under ``directory``; return the methods that differ."""
    path = directory / f"{name}.npz"
    if not path.exists():
        say(f"  (no {path} to compare with)")
        return []
    saved = np.load(path)
    differ = []
    for method, values in forecasts.items():
        old = saved[method]
        gap = float(np.nanmax(np.abs(old - values))) if old.shape == values.shape else float("inf")
        same = old.shape == values.shape and np.array_equal(old, values, equal_nan=True)
        say(f"  forecasts {method:<22} {'identical' if same else f'max |difference| {gap:.3g}'}")
        if not same:
            differ.append(f"{name} {method} forecasts")
    return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.baseline_check", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated M3 subsets")
    parser.add_argument("--save", type=Path, help="write each dataset's forecasts to DIR/<name>.npz")
    parser.add_argument("--against", type=Path, help="compare the forecasts with DIR/<name>.npz")
    args = parser.parse_args(argv)
    results = json.loads(RESULTS.read_text())["datasets"]
    problems: list[str] = []
    timings = []
    for name in args.datasets.split(","):
        recorded = results.get(name, {})
        x = inputs(name, recorded)
        say(
            f"\n{name}: {len(x.layout.names)} series, {len(x.origins)} test windows, h={x.horizon}, "
            f"period {x.period}, theta_history {x.theta_history} (accuracy.json: {recorded.get('commit')})"
        )
        forecasts, scores, fit_s, score_s = compute(x)
        problems += compare(name, recorded, scores)
        if args.against:
            problems += against(args.against, name, forecasts)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            savez: Any = np.savez  # numpy's stubs take no arrays by keyword
            savez(args.save / f"{name}.npz", **forecasts)
        say(f"baselines {fit_s:.1f} s, scoring {score_s:.2f} s")
        timings.append((name, fit_s, score_s))
    say("\n" + "\n".join(f"{n:<14} baselines {f:7.1f} s   scoring {s:6.2f} s" for n, f, s in timings))
    if problems:
        say(f"\n{len(problems)} differ: " + "; ".join(problems))
        return 1
    say(f"\nevery baseline score equals accuracy.json's to {DECIMALS} decimals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
