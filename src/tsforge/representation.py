"""What the network sees: the representation settled from params and the EDA's advice, and
the scale stage's work of turning the raw snapshot into the model-space array."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from tsforge import panel
from tsforge.catalog import ProcessedSeries
from tsforge.config import DataConfig, Params, ScaleConfig
from tsforge.eda import choose_scaler, choose_trend_treatment, settle
from tsforge.panel import Layout
from tsforge.scaling import AffineScaler, series_split


@dataclass(frozen=True)
class Representation:
    """Every choice of the chain levels -> transform -> difference -> scale -> window, each
    with the reason it was made (reports/scale.json)."""

    transform: str
    transform_reason: str
    method: str
    method_reason: str
    difference: bool
    difference_reason: str
    normalize: str
    normalize_reason: str


def choose(params: Params, advice: Mapping[str, Any], series: int) -> Representation:
    """Resolve every ``auto`` of params against the EDA's recommendation.

    Args:
        params: All of params.yaml.
        advice: ``recommendation`` of reports/eda.json.
        series: How many series the data holds.

    Returns:
        The representation.
    """
    scale = params.scale
    trend = choose_trend_treatment(
        params.window.normalize, scale.difference, bool(advice["difference"]), advice["difference_reason"]
    )
    transform, transform_reason = settle(
        scale.transform, str(advice.get("transform", "none")), str(advice.get("transform_reason", ""))
    )
    method, method_reason = choose_scaler(
        scale.method,
        advice["scaler"],
        advice["scaler_reason"],
        transform=transform,
        normalize=trend.normalize,
        series=series,
    )
    return Representation(
        transform,
        transform_reason,
        method,
        method_reason,
        trend.difference,
        trend.difference_reason,
        trend.normalize,
        trend.normalize_reason,
    )


def prepare(
    frame: pd.DataFrame, layout: Layout, data: DataConfig, scale: ScaleConfig, chosen: Representation
) -> tuple[ProcessedSeries, dict[str, AffineScaler]]:
    """Split, transform, difference and scale every series of a filled frame.

    Each series' scaler is fitted on its own training rows (or one on all of them, for the
    ``global`` method); windows are not cut here, only the array they will index.

    Args:
        frame: The snapshot with gaps filled (sorted by series, then time).
        layout: Its series (``Layout.of_frame``).
        data: The data section of params.
        scale: The scale section of params.
        chosen: From :func:`choose`.

    Returns:
        The processed series and the scaler of every series.
    """
    levels = frame[list(data.columns)].to_numpy(dtype=np.float64)
    split_rows = panel.splits(layout, lambda n: series_split(n, scale))
    # The contract has checked the targets lie in an explicit transform's domain; the EDA
    # only recommends one whose domain holds every value.
    unscaled = panel.stacked_model_space(
        levels, layout, len(data.target), chosen.difference, chosen.transform
    )
    lost_rows = int(chosen.difference)
    scalers = panel.fit_scalers(
        unscaled, layout, split_rows, data.columns, method=chosen.method, lost_rows=lost_rows
    )
    series = ProcessedSeries(
        times=frame[data.time_column].to_numpy(dtype="datetime64[ns]"),
        levels=levels.astype(np.float32),
        values=panel.scale_stacked(unscaled, layout, scalers),
        n_targets=len(data.target),
        split=split_rows,
        bounds=layout.bounds,
        series_names=layout.names,
        lost_rows=lost_rows,
        difference=chosen.difference,
        transform=chosen.transform,
        normalize=chosen.normalize == "last",
    )
    return series, scalers


def report(
    chosen: Representation, series: ProcessedSeries, *, fill: str, filled: int, many: bool
) -> dict[str, Any]:
    """reports/scale.json: every choice with its reason, and the rows of each split.

    Args:
        chosen: The representation.
        series: The processed series.
        fill: ``scale.fill``.
        filled: Cells filled (or rows dropped) by it.
        many: Whether the data holds many series (rows are then totals over series).

    Returns:
        The JSON-ready report.
    """
    split = series.split
    rows = split[:, :, 1] - split[:, :, 0]
    return {
        **asdict(chosen),
        "fill_policy": fill,
        "filled_values": filled,
        "series": len(series.series_names),
        "rows": {
            name: int(rows[:, k].sum()) if many else [int(v) for v in split[0, k]]
            for k, name in enumerate(("train", "val", "test"))
        },
    }
