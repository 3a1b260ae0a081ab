"""The validate stage's EDA: statistics, stationarity, season, feature correlations and the
recommendation, run on the snapshot and written as reports/eda.json.

The parts live one job a module: :mod:`tsforge.series_statistics` (statistics of a series),
:mod:`tsforge.correlations` (features against the target), :mod:`tsforge.recommendation`
(the preprocessing the data calls for), :mod:`tsforge.auto_settings` (``auto`` params resolved
against it) and :mod:`tsforge.eda_plots` (the figures). Their public names are re-exported here,
so ``from tsforge.eda import ...`` keeps working.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from tsforge.auto_settings import TrendTreatment, choose_scaler, choose_trend_treatment, settle
from tsforge.correlations import (
    CONSTANT_TOLERANCE,
    MIN_PAIRS,
    feature_correlations,
    within_series_correlation,
)
from tsforge.eda_plots import plot_eda
from tsforge.panel import Layout, splits
from tsforge.recommendation import (
    LEVEL_MOVES,
    Recommendation,
    recommend,
    recommend_panel,
    recommend_transform,
)
from tsforge.scaling import fill_missing, series_split
from tsforge.series_statistics import adf_test, column_stats, level_spread_slope, seasonal_period, summarize

__all__ = [
    "CONSTANT_TOLERANCE",
    "LEVEL_MOVES",
    "MIN_PAIRS",
    "Exploration",
    "Recommendation",
    "TrendTreatment",
    "adf_test",
    "advice_tags",
    "choose_scaler",
    "choose_trend_treatment",
    "column_stats",
    "explore",
    "feature_correlations",
    "level_spread_slope",
    "plot_eda",
    "recommend",
    "recommend_panel",
    "recommend_transform",
    "seasonal_period",
    "settle",
    "summarize",
    "within_series_correlation",
]


@dataclass(frozen=True)
class Exploration:
    """The validate stage's EDA: the recommendation, the findings behind it, and the report."""

    advice: Recommendation
    period: int
    adf_p_value: float
    report: dict[str, Any]
    layout: Layout


def explore(frame: pd.DataFrame, params: Any) -> Exploration:
    """Run the EDA on the snapshot: statistics, stationarity, season and the recommendation
    (per series and a vote when the data holds many).

    Args:
        frame: The canonical snapshot.
        params: All of params.yaml (:class:`tsforge.config.Params`).

    Returns:
        The exploration; ``report`` is reports/eda.json.
    """
    data, scale, window = params.data, params.scale, params.window
    layout = Layout.of_frame(frame, data.series_id)
    filled, _ = fill_missing(frame, [data.target[0]], "interpolate", data.series_id)
    target = filled[data.target[0]].to_numpy(dtype=np.float64)
    stats = summarize(frame, data.columns, params.validate.outlier_iqr_factor)
    findings: dict[str, Any]
    if data.series_id is None:
        adf = adf_test(target)
        period, strength = seasonal_period(target)
        advice = recommend(
            target,
            series_split(len(frame), scale),
            stats[data.target[0]],
            adf,
            period=period,
            robust_outlier_fraction=params.validate.robust_outlier_fraction,
        )
        findings = {"adf": adf, "season_period": period, "season_acf": strength}
        p_value = float(adf["p_value"])
    else:
        advice, summary = recommend_panel(
            target,
            splits(layout, lambda n: series_split(n, scale)),
            layout.bounds,
            layout.names,
            iqr_factor=params.validate.outlier_iqr_factor,
            robust_outlier_fraction=params.validate.robust_outlier_fraction,
        )
        period = advice.season_period
        findings = {"per_series": summary, "season_period": period}
        p_value = float(summary["median_adf_p_value"])
    note = (
        f"window.input_size={window.input_size} covers the seasonal period {period}"
        if window.input_size >= period
        else f"window.input_size={window.input_size} is shorter than the seasonal period {period}; "
        f"consider at least {advice.min_input_size}"
    )
    correlations = feature_correlations(
        frame,
        data.target[0],
        data.features,
        data.future_features,
        horizon=window.horizon,
        series_id=data.series_id,
    )
    report = {
        "columns": stats,
        **findings,
        "feature_correlations": correlations,
        "recommendation": asdict(advice),
        "input_size_note": note,
    }
    return Exploration(advice, period, p_value, report, layout)


def advice_tags(advice: Recommendation) -> dict[str, str]:
    """The recommendation as MLflow tags (``eda.*``), each choice with its reason."""
    return {f"eda.{k}": str(v).lower() if isinstance(v, bool) else str(v) for k, v in asdict(advice).items()}
