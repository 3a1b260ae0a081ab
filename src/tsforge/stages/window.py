"""The window stage: forecast origins per split, targets inside the split (no look-ahead).

With many series the origins of every series are pooled; no window crosses from one series
into the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tsforge import panel
from tsforge.catalog import ProcessedSeries, Windows
from tsforge.config import WindowConfig
from tsforge.windowing import WindowSpec


@dataclass(frozen=True)
class Windowed:
    """The window stage's outputs: the origins and reports/windows.json."""

    windows: Windows
    report: dict[str, Any]


def window(series: ProcessedSeries, cfg: WindowConfig) -> Windowed:
    """The forecast origins of every split of the scale stage's series.

    Args:
        series: The scale stage's series (layout, splits, lost rows, resolved normalize).
        cfg: The ``window`` params section.

    Returns:
        The windows and their report (geometry, series, windows per split).

    Raises:
        ConfigError: A split has no window; the message says what to change.
    """
    spec = WindowSpec(cfg.input_size, cfg.horizon, cfg.step)
    least = cfg.training_history
    origins = panel.origins(series.layout, series.split, spec, series.lost_rows, least)
    panel.require_windows(origins)
    padded = {
        f"padded_{name}_windows": int(np.sum(found - spec.input_size < first_usable(series, found)))
        for name, found in origins.items()
        if name in panel.PADDED_SPLITS
    }
    report = {
        "input_size": spec.input_size,
        "horizon": spec.horizon,
        "step": spec.step,
        "min_history": least,
        **padded,
        "normalize": "last" if series.normalize else "none",
        "series": len(series.series_names),
        **{k: len(v) for k, v in origins.items()},
    }
    # normalize was resolved by the scale stage (window.normalize auto follows the EDA's trend finding).
    return Windowed(Windows(spec, series.normalize, **origins), report)


def first_usable(series: ProcessedSeries, origins: np.ndarray) -> np.ndarray:
    """The first row with usable inputs of each origin's series."""
    return np.asarray(series.layout.starts_of(origins) + series.lost_rows, dtype=np.int64)
