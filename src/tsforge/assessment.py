"""The evaluate stage's logic: score a trained forecaster and its baselines on the test
windows in original units, and decide whether it may be promoted.

Everything here takes arrays, a model and config sections as values and returns typed
results, so a unit test calls it without DVC, files or MLflow; the stage script loads the
inputs, logs the result and registers the model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tsforge import baselines as bl
from tsforge import conformal, reports
from tsforge import metrics as mt
from tsforge.combination import Combination
from tsforge.config import EvaluateConfig, RegistryConfig
from tsforge.forecast_spec import ForecastSpec
from tsforge.origin_forecasts import forecast_intervals, forecast_origins, forecast_samples, has_dropout
from tsforge.panel import Layout
from tsforge.registry import Decision, promotion_rule

log = logging.getLogger(__name__)

MODEL = "model"
"""Name of the trained forecaster among the scored methods (the others are baselines)."""


@dataclass(frozen=True)
class Assessment:
    """The forecaster and every baseline scored on the same test windows.

    Attributes:
        metrics: Method -> metric -> value, per series then averaged over series.
        per_step: Method -> metric -> value at each horizon step.
        forecasts: Method -> forecasts in original units, shape (windows, horizon, targets).
        actual: True values of the same windows, same shape.
        intervals: Monte Carlo dropout interval coverage (``level``, ``coverage``,
            ``mean_width``), or None when not asked for or the model has no dropout.
        conformal: Conformal interval coverage on the test windows (``level``, ``coverage``,
            ``mean_width``, ``mean_scaled_width``, per-step coverage, ``calibration_windows``),
            or None when not asked for or the model carries no calibration.
        origins: Forecast origin (first forecast row) of each window.
        of_series: Series index of each window.
        scales: MASE scale of each series and target, shape (series, targets).
        period: Seasonal period of the baselines and the MASE scale.
        n_series: Series in the panel.
        history: Rows each baseline's statistical fit read (``evaluate.theta_history``; None:
            each series' whole history), so a forecaster combined with those methods fitted
            alike reuses their forecasts.
    """

    metrics: dict[str, dict[str, float]]
    per_step: dict[str, dict[str, list[float]]]
    forecasts: dict[str, np.ndarray]
    actual: np.ndarray
    intervals: dict[str, float] | None
    origins: np.ndarray
    of_series: np.ndarray
    scales: np.ndarray
    period: int
    n_series: int
    conformal: dict[str, float] | None = None
    history: int | None = None

    def score(self, forecast: np.ndarray) -> dict[str, float]:
        """Score another forecast of the same windows with the same series weighting and scales.

        Args:
            forecast: Forecasts of every window, shaped like ``actual``.

        Returns:
            Metric name -> value, as in ``metrics``.
        """
        return mt.score_series(self.actual, forecast, self.of_series, self.scales)

    def report(self) -> dict[str, Any]:
        """The content of reports/metrics.json.

        Returns:
            Counts, every method's metrics, the intervals when computed (``conformal``, and
            Monte Carlo dropout's under ``intervals`` as before) and the per-step metrics;
            numbers only, since ``dvc exp show --csv`` makes a column of every key.
        """
        report: dict[str, Any] = {
            "season_period": self.period,
            "series": self.n_series,
            "test_windows": len(self.origins),
            "horizon": int(self.actual.shape[1]),
            **self.metrics,
        }
        if self.conformal is not None:
            report["conformal"] = self.conformal
        if self.intervals is not None:
            report["intervals"] = self.intervals
        return {**report, "per_step": self.per_step}

    def test_tags(self) -> dict[str, str]:
        """The forecaster's test metrics as registry tags (``test.<metric>``), and its conformal
        intervals' level and test coverage (``test.interval_level``, ``test.interval_coverage``),
        so the registry says how far the intervals it serves can be trusted.

        Returns:
            Tag name -> value, six significant digits.
        """
        tags = {f"test.{k}": f"{v:.6g}" for k, v in self.metrics[MODEL].items()}
        if self.conformal is not None:
            tags["test.interval_level"] = f"{self.conformal['level']:.6g}"
            tags["test.interval_coverage"] = f"{self.conformal['coverage']:.6g}"
        return tags


def _intervals(
    model: Any,
    levels: np.ndarray,
    origins: np.ndarray,
    spec: ForecastSpec,
    layout: Layout,
    *,
    actual: np.ndarray,
    config: EvaluateConfig,
) -> dict[str, float] | None:
    """Coverage of Monte Carlo dropout intervals, or None when not asked for or not possible."""
    if not config.dropout:
        return None
    if not has_dropout(model):
        log.warning(
            "no intervals: the trained model has no dropout, so Monte Carlo dropout gives no spread; "
            "give tune.space.dropout a range above 0 (or fix it above 0) to get intervals"
        )
        return None
    samples = forecast_samples(
        model, levels, origins, spec, samples=config.interval_samples, seed=0, layout=layout
    )
    return mt.interval_coverage(actual, samples, config.interval_level)


def conformal_coverage(
    forecast: np.ndarray,
    actual: np.ndarray,
    names: list[str],
    spec: ForecastSpec,
    level: float,
) -> dict[str, float] | None:
    """Coverage of the forecaster's own conformal intervals on windows it was not calibrated on.

    Args:
        forecast: The forecaster's forecasts of the windows, original units.
        actual: Their true values.
        names: The series of each window.
        spec: The forecast spec (with its calibration).
        level: Nominal coverage (``evaluate.interval_level``).

    Returns:
        :func:`tsforge.conformal.coverage`'s figures and ``calibration_windows``; None (with
        the reason logged) for a model without a calibration or with too few windows for
        ``level``.
    """
    calibration = spec.conformal
    if calibration is None:
        log.warning(
            "no conformal intervals: the model carries no calibration (saved before intervals, or "
            "trained with no validation window); retrain it (dvc repro) to get them"
        )
        return None
    if not np.isfinite(calibration.quantile(level)).all():
        log.warning(
            "no conformal intervals at level %s: %d calibration windows are too few (need at least %d)",
            level,
            calibration.count,
            conformal.min_windows(level),
        )
        return None
    lower, upper = forecast_intervals(forecast, names, spec, level)
    figures = conformal.coverage(actual, lower, upper, calibration.scale_of(names), level)
    return {**figures, "calibration_windows": calibration.count}


def _model_forecast(
    model: Any,
    levels: np.ndarray,
    layout: Layout,
    origins: np.ndarray,
    spec: ForecastSpec,
    *,
    baselines: Mapping[str, np.ndarray],
    history: int | None,
    period: int,
) -> np.ndarray:
    """The served forecaster's forecasts of the windows. A network combined with Theta/ETS
    fitted as the gate fits its baselines (same period and history) is averaged with those
    very baseline forecasts rather than fitting them again: the same numbers, one fit fewer."""
    combination = spec.combination
    if not combination.active or (combination.period, combination.history) != (period, history):
        return forecast_origins(model, levels, origins, spec, layout=layout)
    alone = replace(spec, combination=Combination())
    network = forecast_origins(model, levels, origins, alone, layout=layout)
    return combination.blend(network, [baselines[m] for m in combination.methods])


def assess(
    levels: np.ndarray,
    layout: Layout,
    origins: np.ndarray,
    model: Any,
    spec: ForecastSpec,
    *,
    split_rows: np.ndarray,
    period: int,
    config: EvaluateConfig,
    times: np.ndarray | None = None,
) -> Assessment:
    """Score the forecaster and every baseline on the test windows, in original units.

    Metrics are computed per series and then averaged over series (each series counts once);
    MASE divides each target's errors by that target's in-sample seasonal-naive error on the
    series' rows before its test split.

    Args:
        levels: Stacked series in original units, targets first, shape (rows, columns).
        layout: The series of ``levels``.
        origins: Test-window origins.
        model: The network: anything with ``predict(x, verbose=0)`` returning model-space
            outputs (and ``layers`` / ``__call__`` for Monte Carlo dropout intervals).
        spec: The forecast spec the model was trained with.
        split_rows: Absolute row ranges of every series' train / val / test split, shape
            (series, 3, 2), as :func:`tsforge.panel.splits` gives.
        period: Seasonal period of the baselines and the MASE scale.
        config: The ``evaluate`` params section.
        times: Each row's timestamp (for the feature-aware baseline of a model with features).

    Returns:
        Every method's forecasts and scores on the same windows. A model that reads features
        also faces ``gbm``: gradient-boosted trees given the same features
        (:mod:`tsforge.feature_baseline`).
    """
    levels = np.asarray(levels, dtype=np.float64)
    n_targets, horizon = len(spec.targets), spec.horizon
    scales = mt.mase_scales(levels, layout.bounds[:-1], np.asarray(split_rows)[:, 2, 0], period, n_targets)
    of_series = layout.series_of(origins)
    actual = mt.actuals(levels, origins, horizon, n_targets)
    baselines = bl.baselines(
        levels,
        origins,
        horizon,
        n_targets,
        period=period,
        input_size=spec.input_size,
        starts=layout.starts_of(origins),
        theta_history=config.theta_history,
        arima=config.arima,
    )
    if spec.covariates.active:
        baselines[FEATURE_BASELINE] = feature_forecasts(
            levels, layout, origins, spec, split_rows=split_rows, period=period, times=times
        )
    served = _model_forecast(
        model, levels, layout, origins, spec, baselines=baselines, history=config.theta_history, period=period
    )
    forecasts = {MODEL: served, **baselines}
    names = [layout.names[i] for i in of_series]
    covered = (
        conformal_coverage(forecasts[MODEL], actual, names, spec, config.interval_level)
        if config.conformal
        else None
    )
    log.info(
        "metrics per series, then averaged over %d series; MASE scales each target by its own "
        "in-sample seasonal-naive error (period %d)",
        len(layout.names),
        period,
    )
    return Assessment(
        metrics={name: mt.score_series(actual, f, of_series, scales) for name, f in forecasts.items()},
        per_step={name: mt.score_per_step(actual, f, of_series, scales) for name, f in forecasts.items()},
        forecasts=forecasts,
        actual=actual,
        intervals=_intervals(model, levels, origins, spec, layout, actual=actual, config=config),
        origins=np.asarray(origins),
        of_series=of_series,
        scales=scales,
        period=period,
        n_series=len(layout.names),
        conformal=covered,
        history=config.theta_history,
    )


FEATURE_BASELINE = "gbm"
"""The gate's feature-aware baseline: LightGBM through mlforecast with the model's features."""


def feature_forecasts(
    levels: np.ndarray,
    layout: Layout,
    origins: np.ndarray,
    spec: ForecastSpec,
    *,
    split_rows: np.ndarray,
    period: int,
    times: np.ndarray | None,
) -> np.ndarray:
    """The feature-aware baseline's forecasts of ``origins``: trees trained on every series'
    rows before its test split, given the target's lags, the past features' lags and the
    known-ahead columns (future features, calendar, holidays, static) at each forecast step."""
    from tsforge.feature_baseline import FeatureColumns, gbm_forecasts

    n_targets, width = len(spec.targets), np.shape(levels)[1]
    columns = FeatureColumns(
        past=tuple(range(n_targets, n_targets + len(spec.features))),
        known=tuple(range(width - spec.known, width)),
    )
    stamps = np.zeros(len(levels), dtype="datetime64[ns]") if times is None else np.asarray(times)
    return gbm_forecasts(
        levels,
        layout.bounds,
        stamps,
        origins,
        spec.horizon,
        n_targets,
        columns,
        fit_stops=np.asarray(split_rows)[:, 2, 0],
        freq=spec.freq,
        lags=spec.input_size,
        season=period,
    )


def rescore(
    result: Assessment,
    model: Any,
    spec: ForecastSpec,
    *,
    levels: np.ndarray,
    layout: Layout,
    metric: str,
) -> float | None:
    """Another forecaster (the champion) scored on the windows of ``result``.

    The champion is judged on today's windows, not by the metrics it was registered with. A
    champion combined with statistical methods fitted as ``result``'s baselines were (same
    period and history) reuses their forecasts instead of fitting them again.

    Args:
        result: The assessment whose windows, series weighting and scales are reused.
        model: That forecaster's network.
        spec: That forecaster's spec.
        levels: The levels ``result`` was computed on.
        layout: Their series.
        metric: The metric returned.

    Returns:
        Its ``metric``, or None when it cannot forecast these series.
    """
    try:
        forecast = _model_forecast(
            model,
            levels,
            layout,
            result.origins,
            spec,
            baselines=result.forecasts,
            history=result.history,
            period=result.period,
        )
    except ValueError as exc:
        # Series the champion never saw: it cannot forecast today's data, so it cannot hold on.
        log.warning("the champion cannot be re-scored on the current data (%s); it is not compared", exc)
        return None
    return result.score(forecast)[metric]


def gate(
    metrics: Mapping[str, Mapping[str, float]], champion: float | None, config: RegistryConfig
) -> Decision:
    """The promotion decision for the forecaster scored in ``metrics``.

    Args:
        metrics: Method -> metric -> value; :data:`MODEL` is the forecaster, every other
            method a baseline scored on the same windows.
        champion: The champion's ``config.metric`` on the same windows, or None.
        config: The ``registry`` params section (metric and minimum improvement).

    Returns:
        :func:`tsforge.registry.promotion_rule`'s decision.
    """
    baselines = {name: values[config.metric] for name, values in metrics.items() if name != MODEL}
    return promotion_rule(
        config.metric, metrics[MODEL][config.metric], champion, baselines, config.min_improvement
    )


def write_plots(
    directory: Path, result: Assessment, times: np.ndarray, layout: Layout, spec: ForecastSpec
) -> list[Path]:
    """Write the forecast, residual and per-step plots and their CSV data.

    The forecast and residual plots follow one series, the first (usually the only one):
    overlaid series would be unreadable.

    Args:
        directory: The reports folder.
        result: The assessment.
        times: Timestamp of every row of the stacked levels.
        layout: The series of those rows.
        spec: The forecast spec (target and series id names for the title).

    Returns:
        The PNG files written.
    """
    origins, of_series = result.origins, result.of_series
    shown = of_series == (of_series[0] if len(origins) else 0)
    where = f" of series {layout.names[of_series[0]]}" if spec.series_id and len(origins) else ""
    title = f"{spec.targets[0]}{where}: one-step-ahead forecasts on the test split (season {result.period})"
    return reports.write_reports(
        directory,
        np.asarray(times)[origins[shown]],
        result.actual[shown],
        {k: f[shown] for k, f in result.forecasts.items()},
        per_step_errors=result.per_step,
        title=title,
    )
