"""The data contract, as a Great Expectations suite built from params and the data."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsforge.config import Params
from tsforge.panel import PADDED_SPLITS, Layout
from tsforge.scaling import Split, series_split
from tsforge.windowing import WindowSpec, window_origins

log = logging.getLogger(__name__)

FLOAT_TYPES = ["float16", "float32", "float64", "Float32", "Float64"]


@dataclass(frozen=True)
class Check:
    """One contract check and its outcome."""

    name: str
    column: str | None
    success: bool
    detail: str


MAX_SERIES_ROWS = 1_000_000
"""Longest series :func:`min_rows` tries before it gives up."""


def min_rows(
    spec: WindowSpec,
    split_of: Callable[[int], Split],
    lost_rows: int = 0,
    *,
    need_train: bool = True,
    min_history: int | None = None,
) -> int:
    """Fewest rows that give every split of a series at least one whole window.

    Args:
        spec: Window geometry.
        split_of: ``rows -> Split`` (such as :func:`tsforge.scaling.series_split`).
        lost_rows: Leading rows without usable inputs (one when differencing).
        need_train: Whether the series needs a window in every split; with many series a
            short one may contribute only its test window (training and validation windows
            come from the longer series, and its scaler from the rows before its test split).
        min_history: Fewest real input rows a padded training or test window may have
            (``window.min_history``; None: windows are complete, ``input_size`` rows);
            validation windows are always complete.

    Returns:
        The minimum row count.
    """
    least = spec.input_size if min_history is None else min(min_history, spec.input_size)
    n = least + spec.horizon
    while n <= MAX_SERIES_ROWS:
        split = split_of(n)
        bounds = (
            {"train": split.train, "val": split.val, "test": split.test}
            if need_train
            else {"test": split.test}
        )
        if all(
            len(window_origins(a, b, spec, lost_rows, least if name in PADDED_SPLITS else None))
            for name, (a, b) in bounds.items()
        ):
            return n
        n += 1
    # params.yaml's checks make every split grow with the series, so this is a safety net for
    # a split rule that never yields a window, not a limit a real series meets.
    raise ValueError(
        f"min_rows: no series of up to {MAX_SERIES_ROWS:,} rows gives every split a window of "
        f"{spec.input_size} + {spec.horizon} rows; check scale.val_size/test_size and the fractions."
    )


def count_gaps(times: pd.Series, freq: str | None) -> int:
    """Number of missing timestamps between the first and last, for a regular ``freq``."""
    if freq is None or len(times) < 2:
        return 0
    try:
        expected = pd.date_range(times.iloc[0], times.iloc[-1], freq=freq)
    except ValueError:
        return 0
    return int(len(expected.difference(pd.DatetimeIndex(times))))


def _expectations(
    time_column: str,
    columns: tuple[str, ...],
    max_missing: float,
    rows_needed: int,
    bounds: Mapping[str, Sequence[float | None]],
    *,
    series_id: str | None = None,
) -> list[Any]:
    import great_expectations as gx

    exp = gx.expectations
    if series_id is None:
        suite: list[Any] = [
            exp.ExpectColumnToExist(column=time_column),
            exp.ExpectColumnValuesToBeUnique(column=time_column),
            exp.ExpectColumnValuesToBeIncreasing(column=time_column, strictly=True),
            exp.ExpectTableRowCountToBeBetween(min_value=rows_needed),
        ]
    else:
        # Many series: a timestamp repeats across series but never within one; the
        # per-series length is checked by ``series_length_check``.
        suite = [
            exp.ExpectColumnToExist(column=series_id),
            exp.ExpectColumnValuesToNotBeNull(column=series_id),
            exp.ExpectColumnToExist(column=time_column),
            exp.ExpectCompoundColumnsToBeUnique(column_list=[series_id, time_column]),
        ]
    limit = float(np.finfo(np.float32).max)
    for column in columns:
        suite += [
            exp.ExpectColumnToExist(column=column),
            exp.ExpectColumnValuesToBeInTypeList(column=column, type_list=FLOAT_TYPES),
            exp.ExpectColumnValuesToNotBeNull(column=column, mostly=max(1.0 - max_missing, 1e-9)),
            # +/-inf falls outside the finite float32 range; NaN is counted by the null check.
            exp.ExpectColumnValuesToBeBetween(column=column, min_value=-limit, max_value=limit),
        ]
    for column, (low, high) in bounds.items():
        suite.append(exp.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high))
    return suite


def _describe(result: Any) -> Check:
    config = result.expectation_config
    column = config.kwargs.get("column")
    outcome = result.result or {}
    if "unexpected_count" in outcome:
        detail = f"{outcome['unexpected_count']} unexpected value(s)"
        examples = outcome.get("partial_unexpected_list") or []
        if examples:
            detail += f", e.g. {[str(v) for v in examples[:3]]}"
        if outcome.get("missing_count"):
            detail += f"; {outcome['missing_count']} missing"
    elif "observed_value" in outcome:
        detail = f"observed {outcome['observed_value']}"
    else:
        detail = ""
    if config.type == "expect_column_values_to_not_be_null" and "unexpected_percent" in outcome:
        allowed = (1 - config.kwargs.get("mostly", 1.0)) * 100
        detail = f"{outcome['unexpected_percent']:.1f}% missing (allowed {allowed:.1f}%)"
    if config.type == "expect_table_row_count_to_be_between":
        detail = f"{outcome.get('observed_value')} rows, need at least {config.kwargs['min_value']}"
    return Check(config.type, column, bool(result.success), detail)


def run_contract(
    frame: pd.DataFrame,
    expectations: list[Any],
    docs_dir: Path | None = None,
) -> list[Check]:
    """Validate ``frame`` with a Great Expectations suite, optionally building data docs.

    Args:
        frame: The ingested canonical frame.
        expectations: The suite's expectations.
        docs_dir: Where to write Great Expectations' HTML data docs (None: none).

    Returns:
        One :class:`Check` per expectation.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    actions: list[Any] = []
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name="tsforge",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        actions.append(gx.checkpoint.UpdateDataDocsAction(name="data_docs"))
    batch = (
        context.data_sources.add_pandas("tsforge")
        .add_dataframe_asset(name="series")
        .add_batch_definition_whole_dataframe("all_rows")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="tsforge_contract"))
    for expectation in expectations:
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="contract", data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="tsforge", validation_definitions=[definition], actions=actions, result_format="SUMMARY"
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    suite_result = next(iter(result.run_results.values()))
    return [_describe(r) for r in suite_result.results]


def gap_check(times: pd.Series, freq: str | None, max_gaps: int) -> Check:
    """Regular-frequency check: count missing timestamps against ``max_gaps``."""
    gaps = count_gaps(times, freq)
    detail = f"{gaps} missing timestamp(s) at frequency {freq} (allowed {max_gaps})"
    return Check(
        "regular_frequency", times.name if isinstance(times.name, str) else None, gaps <= max_gaps, detail
    )


def series_gap_check(
    frame: pd.DataFrame, layout: Layout, time_column: str, freq: str | None, max_gaps: int
) -> Check:
    """Regular-frequency check of every series: missing timestamps, at most ``max_gaps`` per series."""
    times = frame[time_column]
    gaps = {name: count_gaps(times.iloc[start:stop], freq) for name, start, stop in layout.spans()}
    worst = sorted(((g, n) for n, g in gaps.items() if g > max_gaps), reverse=True)
    detail = (
        f"{len(worst)} of {len(gaps)} series have more than {max_gaps} missing timestamp(s) at "
        f"frequency {freq}, e.g. {', '.join(f'{n}: {g}' for g, n in worst[:3])}"
        if worst
        else f"every series has at most {max_gaps} missing timestamp(s) at frequency {freq}"
    )
    return Check("regular_frequency", time_column, not worst, detail)


def series_length_check(layout: Layout, rows_needed: int, series_id: str) -> Check:
    """Every series needs ``rows_needed`` rows for a validation and a test window."""
    short = [(int(n), name) for name, n in zip(layout.names, layout.lengths, strict=True) if n < rows_needed]
    detail = (
        f"{len(short)} of {len(layout.names)} series have fewer than {rows_needed} rows, e.g. "
        f"{', '.join(f'{name}: {n}' for n, name in sorted(short)[:3])}; drop them from the source "
        "or shorten window.input_size / scale.val_size / scale.test_size (or lower window.min_history, "
        "the fewest real rows a padded window may hold)"
        if short
        else f"{len(layout.names)} series, shortest {int(layout.lengths.min()) if len(layout.names) else 0} "
        f"rows (need {rows_needed})"
    )
    return Check("series_length", series_id, bool(layout.names) and not short, detail)


def transform_domain_checks(frame: pd.DataFrame, targets: tuple[str, ...], transform: str) -> list[Check]:
    """Whether every target value lies where ``scale.transform`` is defined, in words.

    log needs values above 0 and log1p values at or above 0; ``auto`` and ``none`` need
    nothing (the EDA only recommends a transform every value allows).

    Args:
        frame: The canonical frame.
        targets: Target columns.
        transform: ``scale.transform``.

    Returns:
        One check per target column present in the frame (none for auto/none).
    """
    if transform not in {"log", "log1p"}:
        return []
    checks = []
    for column in (c for c in targets if c in frame.columns):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values[(values <= 0) if transform == "log" else (values < 0)]
        if bad.empty:
            detail = f"every value is {'above 0' if transform == 'log' else 'at or above 0'}"
        elif transform == "log" and (bad >= 0).all():
            detail = (
                f"scale.transform: log needs every value above 0, but {len(bad)} value(s) are exactly 0. "
                "Use scale.transform: log1p (log(1 + x), defined at 0), none, or auto (the EDA decides)"
            )
        else:
            detail = (
                f"scale.transform: {transform} is undefined for negative values, and {int((bad < 0).sum())} "
                f"value(s) are negative (lowest {float(bad.min()):.4g}). Use scale.transform: none or auto"
            )
        checks.append(Check(f"{transform}_domain", column, bad.empty, detail))
    return checks


def failure_message(checks: list[Check], origin: str) -> str:
    """One readable paragraph naming every failed check."""
    failed = [c for c in checks if not c.success]
    lines = [f"Data contract failed for {origin}: {len(failed)} of {len(checks)} checks failed."]
    for check in failed:
        where = f" on column '{check.column}'" if check.column else ""
        lines.append(f"  - {check.name}{where}: {check.detail}")
    lines.append(
        "Fix the source data, or loosen the bound in params.yaml (validate.max_missing_fraction, "
        "validate.max_gaps, validate.bounds, window.input_size/horizon, scale fractions, "
        "scale.transform) if the "
        "data is right."
    )
    return "\n".join(lines)


def as_dicts(checks: list[Check]) -> list[dict[str, Any]]:
    """Checks as JSON-ready dictionaries."""
    return [asdict(c) for c in checks]


def contract(
    frame: pd.DataFrame,
    params: Params,
    freq: str | None,
    docs_dir: Path | None = None,
) -> tuple[list[Check], int]:
    """The data contract for ``frame`` with every bound taken from ``params``.

    Both ingest (as a gate, so bad data never replaces the last good snapshot) and
    validate (for the reports and data docs) run exactly this: the Great Expectations
    suite plus the regular-frequency check (and, with many series, a length check per
    series).

    Args:
        frame: The canonical frame.
        params: The parsed :class:`tsforge.config.Params`.
        freq: The series' frequency (pandas alias) or None.
        docs_dir: Where to write Great Expectations' HTML data docs (None: none).

    Returns:
        Every check with its outcome, and the rows each series needs.
    """
    data, scale, window = params.data, params.scale, params.window
    spec = WindowSpec(window.input_size, window.horizon, window.step)
    may_difference = str(scale.difference).lower() != "false"
    needed = min_rows(
        spec,
        lambda n: series_split(n, scale),
        int(may_difference),
        need_train=data.series_id is None,
        min_history=window.training_history,
    )
    expectations = _expectations(
        data.time_column,
        data.columns,
        params.validate.max_missing_fraction,
        needed,
        params.validate.bounds or {},
        series_id=data.series_id,
    )
    checks = run_contract(frame, expectations, docs_dir)
    checks += transform_domain_checks(frame, data.target, scale.transform)
    if data.series_id is None:
        checks.append(gap_check(frame[data.time_column], freq, params.validate.max_gaps))
    elif data.series_id in frame.columns and len(frame):
        layout = Layout.from_ids(frame[data.series_id])
        checks.append(series_length_check(layout, needed, data.series_id))
        checks.append(series_gap_check(frame, layout, data.time_column, freq, params.validate.max_gaps))
    return checks, needed
