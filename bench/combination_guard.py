"""`python -m bench.combination_guard`: how many validation windows weights need (issue 28, item 3).

``train.combine: auto`` chooses the served blend on the validation windows. Ensemble selection
(:func:`tsforge.combination.ensemble_selection`) can fit any weights in steps of 1/20; the
equal-weight subsets (:func:`tsforge.combination.candidates`) are 16 fixed choices. On few
windows the finer choice chases noise. This measures where it stops doing so, on real M3
series, without training anything:

- per series, its last ``h`` rows are the test window; the ``h`` origins before them whose
  targets end where the test begins are its validation windows (one independent window);
- Theta stands in for the network; ETS, CES, DOT and the naive forecast are the methods it
  may be blended with, each fitted at every origin on the whole history before it;
- for each number of series ``n`` (= independent windows), ``--draws`` random draws of ``n``
  series: both rules choose on the draw's validation windows, and the choice is scored on
  the same series' test windows (MASE, as the gate).

It prints, per ``n``, the mean test MASE of each rule and how often selection was better;
:data:`tsforge.combination.MIN_SELECTION_WINDOWS` is set where selection starts to win.

    python -m bench.combination_guard                        # m3-other, m3-quarterly, m3-yearly
    python -m bench.combination_guard --datasets m3-other --draws 100
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.baseline_check import inputs
from tsforge import baselines as bl
from tsforge import metrics as mt
from tsforge import statistical as st
from tsforge.combination import NETWORK, Combination, _best_subset, _selected

DATASETS = ("m3-other", "m3-quarterly", "m3-yearly")
SIZES = (5, 10, 20, 40, 60, 100, 150)
MEMBERS = ("theta", "ets", "ces", "dot")


def _say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


Windows = tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]
"""Member -> forecasts, the actuals and each window's series."""


def _forecasts(name: str) -> tuple[Windows, Windows, np.ndarray]:
    """The validation and the test windows (every member's forecasts, 'naive' included) and
    each series' MASE scale (from the rows before its first validation origin)."""
    x = inputs(name, {})
    h, starts = x.horizon, x.layout.bounds[:-1]
    test = x.layout.bounds[1:] - h
    val = np.concatenate([test - h - k for k in range(h - 1, -1, -1)])
    val = np.sort(val[val - starts[x.layout.series_of(val)] >= 2 * max(x.period, 2)])
    out: dict[str, Windows] = {}
    for label, origins in (("val", val), ("test", test)):
        fitted = st.statistical_forecasts(
            MEMBERS,
            x.levels,
            origins,
            h,
            1,
            period=x.period,
            history=None,
            starts=x.layout.starts_of(origins),
        )
        fitted["naive"] = bl.naive(x.levels, origins, h, 1)
        out[label] = (fitted, mt.actuals(x.levels, origins, h, 1), x.layout.series_of(origins))
    scales = mt.mase_scales(x.levels, starts, test - 2 * h + 1, x.period, 1)
    return out["val"], out["test"], scales


def _score(actual: np.ndarray, forecast: np.ndarray, of_series: np.ndarray, scales: np.ndarray) -> float:
    return float(mt.score_series(actual, forecast, of_series, scales)["mase"])


def _rules(
    network: np.ndarray, others: dict[str, np.ndarray], score: Callable[[np.ndarray], float]
) -> list[Combination]:
    """The blends chosen by selection, by the equal-weight subsets, and by selection starting
    from the best subset's bag."""
    chosen_by: dict[str, Any] = {"base": Combination(), "described": "", "metric": "mase", "score": score}
    subset = _best_subset(network, others, **chosen_by).combination
    refined = _selected(network, others, start=(NETWORK, *subset.methods), **chosen_by).combination
    return [_selected(network, others, **chosen_by).combination, subset, refined]


def _measure(name: str, draws: int, rng: np.random.Generator, sizes: tuple[int, ...] = SIZES) -> None:
    started = time.perf_counter()
    (val_f, val_a, val_s), (test_f, test_a, test_s), scales = _forecasts(name)
    series = np.unique(val_s)
    _say(f"\n{name}: {len(series)} series, fits {time.perf_counter() - started:.0f} s")
    _say(
        "| series (independent windows) | selection | equal-weight subsets | selection from the best subset "
        "| selection better | from the subset better or equal |"
    )
    _say("|---|---|---|---|---|---|")
    for size in (s for s in sizes if s <= len(series)):
        results = []
        for _ in range(draws):
            chosen = rng.choice(series, size, replace=False)
            v, t = np.isin(val_s, chosen), np.isin(test_s, chosen)
            network = val_f["theta"][v]
            others = {m: val_f[m][v] for m in (*MEMBERS[1:], "naive")}

            def score(forecast: np.ndarray, v: np.ndarray = v) -> float:
                return _score(val_a[v], forecast, val_s[v], scales)

            rules = _rules(network, others, score)
            results.append(
                [
                    _score(
                        test_a[t],
                        b.blend(test_f["theta"][t], [test_f[m][t] for m in b.methods]),
                        test_s[t],
                        scales,
                    )
                    for b in rules
                ]
            )
        table = np.asarray(results)
        _say(
            f"| {size} | {table[:, 0].mean():.4f} | {table[:, 1].mean():.4f} | {table[:, 2].mean():.4f} | "
            f"{(table[:, 0] < table[:, 1]).mean():.0%} | {(table[:, 2] <= table[:, 1]).mean():.0%} |"
        )


def _measure_sampled(name: str, draws: int, rng: np.random.Generator, sizes: tuple[int, ...]) -> None:
    """``train.combine_series``: the equal-weight subset chosen on the validation windows of a
    sample of the series, scored on every series' test windows, against the one chosen on all."""
    started = time.perf_counter()
    (val_f, val_a, val_s), (test_f, test_a, test_s), scales = _forecasts(name)
    series = np.unique(val_s)
    chosen_by: dict[str, Any] = {"base": Combination(), "described": "", "metric": "mase"}

    def subset(rows: np.ndarray) -> Combination:
        def score(forecast: np.ndarray) -> float:
            return _score(val_a[rows], forecast, val_s[rows], scales)

        others = {m: val_f[m][rows] for m in MEMBERS[1:]}  # as served: Theta stands in for the network
        return _best_subset(val_f["theta"][rows], others, score=score, **chosen_by).combination

    def on_test(blend: Combination) -> float:
        served = blend.blend(test_f["theta"], [test_f[m] for m in blend.methods])
        return _score(test_a, served, test_s, scales)

    everything = subset(np.ones(len(val_s), dtype=bool))
    _say(f"\n{name}: {len(series)} series, fits {time.perf_counter() - started:.0f} s")
    _say(f"chosen on every series: {everything.label}, test MASE {on_test(everything):.4f}")
    _say("| series sampled | mean test MASE (all series) | worst draw | same choice as on all |")
    _say("|---|---|---|---|")
    for size in (s for s in sizes if s < len(series)):
        picks = [subset(np.isin(val_s, rng.choice(series, size, replace=False))) for _ in range(draws)]
        scores = np.asarray([on_test(p) for p in picks])
        same = np.mean([p.methods == everything.methods for p in picks])
        _say(f"| {size} | {scores.mean():.4f} | {scores.max():.4f} | {same:.0%} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="numbers of series drawn")
    parser.add_argument(
        "--sampled",
        action="store_true",
        help="train.combine_series instead: the subset chosen on a sample, scored on every series",
    )
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    for name in args.datasets.split(","):
        (_measure_sampled if args.sampled else _measure)(name, args.draws, rng, sizes)


if __name__ == "__main__":
    main()
