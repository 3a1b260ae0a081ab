"""Accuracy of past forecasts: the files ``tsforge forecast`` and every retrain cycle left in
``forecasts/``, scored against the actuals that have arrived since, and the ``degraded``
retraining rule that reads the score.

Scoring is stateless: every cycle re-reads every forecasts file and scores each row whose
actual is now in the snapshot, so a version's live accuracy is its whole track record so
far, the same whichever cycle computes it, and nothing has to be remembered between cycles
(or deleted). The metrics are evaluate's (:mod:`tsforge.metrics`), per series and then
averaged over series; MASE divides each row's error by its series' in-sample seasonal-naive
error on the history before that forecast's origin, as evaluate divides by the error before
its test split.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from tsforge import metrics as mt
from tsforge.catalog import is_temporary

METRICS = ("mae", "rmse", "smape", "mape", "mase")
"""The metrics of a live score, as evaluate reports them."""

WHEN = ("data_changed", "degraded")
"""``retrain.when``: the rules that start a retraining."""

KEY = ["series", "target", "timestamp"]


@dataclass(frozen=True)
class VersionAccuracy:
    """The live accuracy of one registered version's forecasts."""

    metrics: dict[str, float]
    series: int
    scored_rows: int
    pending_rows: int
    files: list[str]


@dataclass(frozen=True)
class LiveAccuracy:
    """Every version's live accuracy at one cycle, and what could not be read."""

    season_period: int
    versions: dict[str, VersionAccuracy] = field(default_factory=dict)
    scored_rows: int = 0
    pending_rows: int = 0
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Trigger:
    """Whether a cycle retrains, by which rule, and the numbers behind it."""

    rule: str
    retrain: bool
    reason: str
    champion: str | None = None
    metric: str | None = None
    live: float | None = None
    test: float | None = None
    limit: float | None = None


def _naive_times(values: pd.Series) -> pd.Series:
    """Timestamps without a zone, so a snapshot and a forecasts file always compare."""
    times = pd.to_datetime(pd.Series(values))
    naive = times.dt.tz_localize(None) if times.dt.tz is not None else times
    return naive.astype("datetime64[ns]")


def actuals_table(
    snapshot: pd.DataFrame, time_column: str, targets: Sequence[str], series_id: str | None
) -> pd.DataFrame:
    """The snapshot as long rows (series, target, timestamp, actual), sorted in time.

    Missing values stay as NaN: a row whose actual is missing has not arrived.

    Args:
        snapshot: The ingest snapshot (data/raw/series.parquet).
        time_column: ``data.time_column``.
        targets: ``data.target``.
        series_id: ``data.series_id`` (None: one series, named ``""`` as in the forecasts).

    Returns:
        The long table.
    """
    series = snapshot[series_id].astype(str) if series_id else pd.Series("", index=snapshot.index)
    parts = [
        pd.DataFrame(
            {
                "series": series.to_numpy(),
                "target": target,
                "timestamp": _naive_times(snapshot[time_column]).to_numpy(),
                "actual": snapshot[target].to_numpy(dtype=np.float64),
            }
        )
        for target in targets
    ]
    return pd.concat(parts, ignore_index=True).sort_values(KEY, kind="stable", ignore_index=True)


def forecast_rows(table: pd.DataFrame, file: str, targets: Sequence[str]) -> pd.DataFrame:
    """One forecasts file's rows with the file's name and, for a one-target model (whose
    table has no ``target`` column), that target.

    Raises:
        ValueError: A column the table must have is missing.
    """
    needed = {"series", "timestamp", "forecast", "model_version"}
    missing = sorted(needed - set(table.columns))
    if missing:
        raise ValueError(f"not a forecasts table: no column(s) {missing}")
    target = table["target"].astype(str) if "target" in table else pd.Series(targets[0], index=table.index)
    return pd.DataFrame(
        {
            "file": file,
            "model_version": table["model_version"].astype(str).to_numpy(),
            "series": table["series"].astype(str).to_numpy(),
            "target": target.to_numpy(),
            "timestamp": _naive_times(table["timestamp"]).to_numpy(),
            "forecast": table["forecast"].to_numpy(dtype=np.float64),
        }
    )


def read_forecasts(folder: Path, targets: Sequence[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every ``*.parquet`` of ``folder`` as :func:`forecast_rows`, and the files that could not
    be read (name -> why): one broken file must not hide the others' scores.

    Args:
        folder: The project's forecasts/ folder (absent: nothing to score).
        targets: ``data.target``.

    Returns:
        The rows of every readable file, and the errors.
    """
    frames, errors = [], {}
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        if is_temporary(path):  # a forecast killed mid-write: never a delivered file
            continue
        try:
            frames.append(forecast_rows(pd.read_parquet(path), path.name, targets))
        except Exception as exc:  # any unreadable file is reported and skipped
            errors[path.name] = f"{type(exc).__name__}: {exc}"
    if not frames:
        empty = pd.DataFrame({"series": [], "timestamp": [], "forecast": [], "model_version": []})
        return forecast_rows(empty, "", targets), errors
    return pd.concat(frames, ignore_index=True), errors


def seasonal_naive_scale(history: np.ndarray, period: int) -> float:
    """:func:`tsforge.metrics.mase_scale` on a raw history with gaps: missing values are
    left out of the seasonal differences (evaluate's history is already filled)."""
    values = np.asarray(history, dtype=np.float64)
    finite = values[np.isfinite(values)]
    period = period if len(finite) > period else 1
    if len(values) <= period:
        return float("nan")
    diffs = np.abs(values[period:] - values[:-period])
    diffs = diffs[np.isfinite(diffs)]
    scale = float(diffs.mean()) if len(diffs) else float("nan")
    return scale if scale > 0 else float("nan")


def match(forecasts: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """The forecast rows whose actual has arrived (in the snapshot, not missing), with it."""
    arrived = actuals[np.isfinite(actuals["actual"].to_numpy())]
    return forecasts.merge(arrived, on=KEY, how="inner", validate="many_to_one")


def row_scales(
    matched: pd.DataFrame, forecasts: pd.DataFrame, actuals: pd.DataFrame, period: int
) -> np.ndarray:
    """Each matched row's MASE scale: its series' seasonal-naive error on the history before
    the origin of the forecast it belongs to (rows before the file's first forecast of that
    series and target), so a forecast is judged against what the forecaster could know.

    Args:
        matched: :func:`match` output.
        forecasts: All forecast rows (the origins come from them, arrived or not).
        actuals: :func:`actuals_table`.
        period: Seasonal period.

    Returns:
        One scale per matched row (NaN where the history is too short or constant).
    """
    groups = ["file", "series", "target"]
    origins = forecasts.groupby(groups, sort=False)["timestamp"].min()
    history = {key: frame for key, frame in actuals.groupby(["series", "target"], sort=False)}
    scales: dict[tuple[str, str, str], float] = {}
    for key, origin in origins.items():
        file, series, target = (str(part) for part in cast(tuple[str, str, str], key))
        past = history.get((series, target))
        values = past.loc[past["timestamp"] < origin, "actual"].to_numpy() if past is not None else []
        scales[(file, series, target)] = seasonal_naive_scale(np.asarray(values), period)
    keys = zip(matched["file"], matched["series"], matched["target"], strict=True)
    return np.array([scales[key] for key in keys], dtype=np.float64)


def score_series(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """Evaluate's metrics of one series' rows; MASE is the mean of each row's error over its
    own scale (rows with an undefined scale left out, NaN when none has one)."""
    scored = mt.score(actual, forecast, 1.0)
    defined = np.isfinite(scale)
    scored["mase"] = (
        mt.mae(actual[defined] / scale[defined], forecast[defined] / scale[defined])
        if defined.any()
        else float("nan")
    )
    return {name: scored[name] for name in METRICS}


def _mean(values: Iterable[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def score_versions(
    matched: pd.DataFrame, scales: np.ndarray, forecasts: pd.DataFrame
) -> dict[str, VersionAccuracy]:
    """Per model version: every metric per series, then averaged over series (each series
    counts once, as in evaluate), with the rows scored and still waiting for actuals.

    Args:
        matched: :func:`match` output.
        scales: :func:`row_scales` output.
        forecasts: All forecast rows (for the pending counts and file names).

    Returns:
        Version -> its accuracy; versions with no arrived row are left out.
    """
    frame = matched.assign(scale=scales)
    out: dict[str, VersionAccuracy] = {}
    for version, rows in frame.groupby("model_version", sort=True):
        per = [
            score_series(group["actual"].to_numpy(), group["forecast"].to_numpy(), group["scale"].to_numpy())
            for _, group in rows.groupby("series", sort=True)
        ]
        written = forecasts[forecasts["model_version"] == version]
        out[str(version)] = VersionAccuracy(
            metrics={name: _mean(p[name] for p in per) for name in METRICS},
            series=len(per),
            scored_rows=len(rows),
            pending_rows=len(written) - len(rows),
            files=sorted(rows["file"].unique()),
        )
    return out


def live_accuracy(
    forecasts: pd.DataFrame, actuals: pd.DataFrame, period: int, errors: Mapping[str, str] | None = None
) -> LiveAccuracy:
    """Score every forecast row whose actual has arrived, per model version.

    Args:
        forecasts: :func:`read_forecasts` rows.
        actuals: :func:`actuals_table` of the current snapshot.
        period: The seasonal period evaluate used (``evaluate.season_period`` or the EDA's).
        errors: Files that could not be read, carried into the result.

    Returns:
        The live accuracy.
    """
    matched = match(forecasts, actuals)
    versions = score_versions(matched, row_scales(matched, forecasts, actuals, period), forecasts)
    return LiveAccuracy(
        season_period=int(period),
        versions=versions,
        scored_rows=len(matched),
        pending_rows=len(forecasts) - len(matched),
        errors=dict(errors or {}),
    )


def _cannot_compare(champion: str | None, live: float | None, test: float | None, metric: str) -> str | None:
    """Why the champion's live and test errors cannot be compared, or None when they can."""
    if champion is None:
        return "there is no champion to keep"
    if live is None or not np.isfinite(live):
        return f"no forecast of champion v{champion} has been scored yet (nothing to compare)"
    if test is None or not np.isfinite(test):
        return f"champion v{champion} has no test.{metric} tag to compare with"
    return None


def retrain_trigger(
    when: str,
    changed: bool,
    *,
    champion: str | None,
    live: float | None,
    test: float | None,
    metric: str,
    fraction: float,
) -> Trigger:
    """Whether this cycle retrains.

    ``data_changed`` retrains whenever the data (or the pipeline) changed. ``degraded``
    retrains only when, as well, the champion's live error exceeds its test error by more
    than ``fraction`` (0.2: live > 1.2 × test): a model that still forecasts as well as it
    tested is kept, saving the training. Without a live score or a test score to compare
    (no forecast of the champion's has arrived yet, no champion, an older version without
    the tag) it retrains, as ``data_changed`` would: it cannot tell, and not retraining
    could keep a bad model forever.

    Args:
        when: ``retrain.when``.
        changed: Whether the data or the pipeline changed since the last run.
        champion: The champion's version, or None.
        live: The champion's live ``metric``.
        test: The champion's test ``metric`` (its ``test.<metric>`` registry tag).
        metric: ``registry.metric``.
        fraction: ``retrain.degraded_fraction``.

    Returns:
        The decision and its numbers.
    """
    if not changed:
        return Trigger(when, False, "source data and pipeline unchanged; nothing retrained")
    if when == "data_changed":
        return Trigger(when, True, "the data or the pipeline changed")
    base = Trigger(when, True, "", champion=champion, metric=metric, live=live, test=test)
    unknown = _cannot_compare(champion, live, test, metric)
    if unknown is not None or test is None or live is None:
        return replace(base, reason=f"data changed and {unknown}")
    limit = test * (1 + fraction)
    if live > limit:
        reason = (
            f"data changed and champion v{champion} degraded: live {metric} {live:.4g} exceeds "
            f"its test {metric} {test:.4g} by more than {fraction:.0%} (limit {limit:.4g})"
        )
        return replace(base, reason=reason, limit=limit)
    reason = (
        f"data changed but champion v{champion} is not degraded: live {metric} {live:.4g} is within "
        f"{fraction:.0%} of its test {metric} {test:.4g} (limit {limit:.4g}); not retrained"
    )
    return replace(base, retrain=False, reason=reason, limit=limit)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def as_record(live: LiveAccuracy) -> dict[str, object]:
    """The live accuracy as the decision record holds it: undefined metrics as null, since
    strict JSON has no NaN."""
    return {
        "season_period": live.season_period,
        "scored_rows": live.scored_rows,
        "pending_rows": live.pending_rows,
        "versions": {
            version: {
                "metrics": {name: _finite(value) for name, value in accuracy.metrics.items()},
                "series": accuracy.series,
                "scored_rows": accuracy.scored_rows,
                "pending_rows": accuracy.pending_rows,
                "files": list(accuracy.files),
            }
            for version, accuracy in live.versions.items()
        },
        "errors": dict(live.errors),
    }


def version_tags(accuracy: VersionAccuracy, updated: str) -> dict[str, str]:
    """The registry tags of a version's live accuracy (``live.<metric>``, counts, when), beside
    the ``test.<metric>`` tags evaluate gave it, so the two read side by side."""
    tags = {f"live.{name}": f"{value:.6g}" for name, value in accuracy.metrics.items() if np.isfinite(value)}
    return {
        **tags,
        "live.series": str(accuracy.series),
        "live.scored_rows": str(accuracy.scored_rows),
        "live.pending_rows": str(accuracy.pending_rows),
        "live.updated": updated,
    }


def run_metrics(accuracy: VersionAccuracy) -> dict[str, float]:
    """The MLflow metrics of a version's live accuracy at one cycle (``live_<metric>`` and counts)."""
    metrics = {f"live_{name}": float(value) for name, value in accuracy.metrics.items() if np.isfinite(value)}
    return {**metrics, "live_series": float(accuracy.series), "live_scored_rows": float(accuracy.scored_rows)}
