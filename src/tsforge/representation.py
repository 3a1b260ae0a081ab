"""What the network sees: the representation settled from params and the EDA's advice, and
the scale stage's work of turning the raw snapshot into the model-space array."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from tsforge import covariates, panel, seasonality
from tsforge.auto_settings import choose_scaler, choose_trend_treatment, settle
from tsforge.catalog import ProcessedSeries
from tsforge.config import DataConfig, Params, ScaleConfig
from tsforge.panel import Layout
from tsforge.scaling import AffineScaler, series_split
from tsforge.seasonality import MIN_SEASONS, Seasonality, calendar_period


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
    deseasonalize: bool = False
    deseasonalize_reason: str = ""
    season_period: int = 1


def choose(params: Params, advice: Mapping[str, Any], series: int, freq: str | None = None) -> Representation:
    """Resolve every ``auto`` of params against the EDA's recommendation.

    Args:
        params: All of params.yaml.
        advice: ``recommendation`` of reports/eda.json.
        series: How many series the data holds.
        freq: The series' frequency, as ingest recorded it.

    Returns:
        The representation.
    """
    scale = params.scale
    season = choose_deseasonalization(scale.deseasonalize, int(advice.get("season_period", 1)), freq)
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
        season.deseasonalize,
        season.reason,
        season.period,
    )


def prepare(
    frame: pd.DataFrame,
    layout: Layout,
    data: DataConfig,
    scale: ScaleConfig,
    chosen: Representation,
    *,
    freq: str | None = None,
    mase_period: int = 1,
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
        freq: The series' frequency (places served histories in the season).
        mase_period: The seasonal period of the gate's MASE (weights the ``mase`` loss).

    Returns:
        The processed series and the scaler of every series.
    """
    times = frame[data.time_column].to_numpy(dtype="datetime64[ns]")
    extra = covariates.fit(data, frame, freq)
    statics = frame[list(extra.static_columns)] if extra.static else None
    levels = np.hstack([frame[list(data.columns)].to_numpy(dtype=np.float64), extra.derive(times, statics)])
    columns = data.columns + extra.derived_names
    split_rows = panel.splits(layout, lambda n: series_split(n, scale))
    n_targets = len(data.target)
    # The contract has checked the targets lie in an explicit transform's domain; the EDA
    # only recommends one whose domain holds every value.
    seasons = Seasonality()
    if chosen.deseasonalize:
        transformed = panel.stacked_model_space(levels, layout, n_targets, False, chosen.transform)
        stops = panel.fit_stops(layout, split_rows, 0, MIN_SEASONS * chosen.season_period)
        seasons = seasonality.fit(
            transformed, layout, stops, times, n_targets=n_targets, period=chosen.season_period, freq=freq
        )
    component = seasons.component(seasons.phases(None, layout), layout, n_targets) if seasons.active else None
    unscaled = panel.stacked_model_space(
        levels, layout, n_targets, chosen.difference, chosen.transform, seasonal=component
    )
    lost_rows = int(chosen.difference)
    scalers = panel.fit_scalers(
        unscaled,
        layout,
        split_rows,
        columns,
        method=chosen.method,
        lost_rows=lost_rows,
        passed=extra.n_derived,
    )
    weights = mase_weights(
        levels,
        layout,
        split_rows,
        scalers,
        transform=chosen.transform,
        period=mase_period,
        n_targets=n_targets,
    )
    series = ProcessedSeries(
        times=times,
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
        seasonality=seasons,
        weights=weights,
        covariates=extra,
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
    seasons = series.seasonality
    return {
        **asdict(chosen),
        "seasonal_series": len(seasons.indices),
        "fill_policy": fill,
        "filled_values": filled,
        "series": len(series.series_names),
        "rows": {
            name: int(rows[:, k].sum()) if many else [int(v) for v in split[0, k]]
            for k, name in enumerate(("train", "val", "test"))
        },
    }


@dataclass(frozen=True)
class SeasonalTreatment:
    """``scale.deseasonalize`` resolved: whether, at which period, and why."""

    deseasonalize: bool
    period: int
    reason: str


def choose_deseasonalization(configured: str, eda_period: int, freq: str | None) -> SeasonalTreatment:
    """Resolve ``scale.deseasonalize`` (auto, true or false).

    The period is the EDA's when it found one, else the one the frequency implies (12 for
    monthly data): series of a few seasons each are too short for the EDA's autocorrelation
    peak, yet Theta's per-series test still finds their season. Each series is then tested
    on its own training rows, and only the seasonal ones are adjusted.

    Args:
        configured: ``scale.deseasonalize``.
        eda_period: The EDA's seasonal period (1: none found).
        freq: The series' frequency.

    Returns:
        The treatment.
    """
    period, origin = (eda_period, "the EDA's") if eda_period > 1 else (calendar_period(freq), f"{freq}'s")
    setting = str(configured).lower()
    if setting == "false":
        return SeasonalTreatment(False, period, "set in params.yaml")
    if period < 2:
        return SeasonalTreatment(
            False, 1, f"no seasonal period (EDA found none; frequency {freq} implies none)"
        )
    if setting == "auto":
        return SeasonalTreatment(False, period, f"auto: {AUTO_KEEPS_SEASON} (period {period} found)")
    how = (
        f"{origin} period {period}; each series whose autocorrelation at lag {period} is significant (90 %) "
        "on its training rows has its classical seasonal indices removed, and added back to its forecasts"
    )
    return SeasonalTreatment(True, period, f"set in params.yaml: {how}")


AUTO_KEEPS_SEASON = (
    "the network learns the season from its windows; removing classical seasonal indices first "
    "scored worse on the accuracy suite (sMAPE M3 quarterly 9.58 vs 9.40, M1 quarterly 16.37 vs 15.86)"
)
"""Why ``scale.deseasonalize: auto`` leaves the season in: the suite's evidence (bench/ACCURACY.md)."""


WEIGHT_CAP_QUANTILE = 0.99
"""Weights above this quantile are capped: a near-constant history has a tiny MASE scale and
would otherwise steer the whole network."""


def mase_weights(
    levels: np.ndarray,
    layout: Layout,
    split_rows: np.ndarray,
    scalers: Mapping[str, AffineScaler],
    *,
    transform: str,
    period: int,
    n_targets: int,
) -> np.ndarray:
    """How much one unit of model-space error counts in MASE, for a window whose inputs end
    at each row (the ``mase`` loss weights each training window by it).

    A model-space error becomes a level error through the scaler's spread and, after a
    logarithm, the level itself (d level = level x d log); MASE then divides by the series'
    in-sample seasonal-naive error, the gate's own scale (rows before the test split). An MAE
    loss on scaled logarithms weighs relative errors alike, as sMAPE does; weighted so, it
    weighs them as MASE does, the metric the gate decides by.

    Args:
        levels: Every series in original units, targets first.
        layout: The series.
        split_rows: From :func:`tsforge.panel.splits`.
        scalers: Each series' scaler.
        transform: none, log or log1p.
        period: The MASE's seasonal period.
        n_targets: The forecast columns.

    Returns:
        Row-aligned weights, mean 1 over all rows (float32).
    """
    from tsforge.metrics import mase_scales

    scales = mase_scales(levels, layout.bounds[:-1], split_rows[:, 2, 0], period, n_targets)
    targets = np.asarray(levels[:, :n_targets], dtype=np.float64)
    slope = {"none": np.ones_like(targets), "log": targets, "log1p": targets + 1.0}[transform]
    out = np.empty(len(levels))
    for i, (name, start, stop) in enumerate(layout.spans()):
        spread = np.asarray(scalers[name].scale[:n_targets])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start:stop] = np.nanmean(np.abs(slope[start:stop]) * spread / scales[i], axis=1)
    finite = np.isfinite(out)
    if not finite.any():
        return np.ones(len(levels), dtype=np.float32)
    out[~finite] = np.median(out[finite])
    out = np.minimum(out, np.quantile(out, WEIGHT_CAP_QUANTILE))
    return np.asarray(out / out.mean(), dtype=np.float32)
