"""The scale stage: fill gaps, settle the representation (transform, season, trend treatment,
scaler) from params and the EDA, split by time, and fit the scalers on the training rows only.

With ``data.series_id`` every series is filled, transformed, split and scaled on its own (its
scaler fitted on its own training rows, or one shared by all), then stacked into one array.
:mod:`tsforge.representation` holds the choices and the chain; :func:`scale` is the stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tsforge import representation
from tsforge.catalog import ProcessedSeries
from tsforge.config import Params
from tsforge.panel import Layout
from tsforge.scaling import AffineScaler, fill_missing


@dataclass(frozen=True)
class Scaled:
    """The scale stage's outputs: the series for the model, the scalers served with it, and
    reports/scale.json (every choice with its reason)."""

    series: ProcessedSeries
    scalers: dict[str, AffineScaler]
    report: dict[str, Any]


def scale(
    raw: pd.DataFrame, params: Params, advice: Mapping[str, Any], *, freq: str | None, mase_period: int
) -> Scaled:
    """Turn the snapshot into the model-space series.

    Args:
        raw: The snapshot.
        params: All of params.yaml (``scale``, ``data``, and ``window.normalize`` for the trend).
        advice: The EDA's recommendation (reports/eda.json).
        freq: The series' frequency, as ingest recorded it.
        mase_period: The gate's MASE period: the ``mase`` loss weights windows as that MASE
            weighs them.

    Returns:
        The series, the scalers and the report.
    """
    data, cfg = params.data, params.scale
    frame, filled = fill_missing(raw, list(data.columns), cfg.fill, data.series_id)
    layout = Layout.of_frame(frame, data.series_id)
    chosen = representation.choose(params, advice, len(layout.names), freq)
    series, scalers = representation.prepare(
        frame, layout, data, cfg, chosen, freq=freq, mase_period=mase_period
    )
    many = data.series_id is not None
    report = representation.report(chosen, series, fill=cfg.fill, filled=filled, many=many)
    return Scaled(series, scalers, report)
