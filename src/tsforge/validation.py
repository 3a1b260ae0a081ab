"""The data contract, as a Great Expectations suite built from params and the data."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsforge.config import Params
from tsforge.scaling import chronological_split
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


def min_rows(spec: WindowSpec, train_fraction: float, val_fraction: float, lost_rows: int = 0) -> int:
    """Fewest rows that give every split at least one whole window.

    Args:
        spec: Window geometry.
        train_fraction: Share of rows for training.
        val_fraction: Share of rows for validation.
        lost_rows: Leading rows without usable inputs (one when differencing).

    Returns:
        The minimum row count.
    """
    n = spec.input_size + spec.horizon
    while True:
        split = chronological_split(n, train_fraction, val_fraction)
        bounds = (split.train, split.val, split.test)
        if all(len(window_origins(a, b, spec, lost_rows)) for a, b in bounds):
            return n
        n += 1


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
) -> list[Any]:
    import great_expectations as gx

    exp = gx.expectations
    suite: list[Any] = [
        exp.ExpectColumnToExist(column=time_column),
        exp.ExpectColumnValuesToBeUnique(column=time_column),
        exp.ExpectColumnValuesToBeIncreasing(column=time_column, strictly=True),
        exp.ExpectTableRowCountToBeBetween(min_value=rows_needed),
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
        allowed = (1 - config.kwargs["mostly"]) * 100
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


def failure_message(checks: list[Check], origin: str) -> str:
    """One readable paragraph naming every failed check."""
    failed = [c for c in checks if not c.success]
    lines = [f"Data contract failed for {origin}: {len(failed)} of {len(checks)} checks failed."]
    for check in failed:
        where = f" on column '{check.column}'" if check.column else ""
        lines.append(f"  - {check.name}{where}: {check.detail}")
    lines.append(
        "Fix the source data, or loosen the bound in params.yaml (validate.max_missing_fraction, "
        "validate.max_gaps, validate.bounds, window.input_size/horizon, scale fractions) if the "
        "data is right."
    )
    return "\n".join(lines)


def as_dicts(checks: list[Check]) -> list[dict[str, Any]]:
    """Checks as JSON-ready dictionaries."""
    return [asdict(c) for c in checks]


def validate_series(
    frame: pd.DataFrame,
    time_column: str,
    columns: tuple[str, ...],
    *,
    max_missing: float,
    rows_needed: int,
    freq: str | None,
    max_gaps: int,
    bounds: Mapping[str, Sequence[float | None]] | None = None,
    docs_dir: Path | None = None,
) -> list[Check]:
    """The whole contract: the Great Expectations suite plus the regular-frequency check.

    Args:
        frame: The ingested canonical frame.
        time_column: Name of the time column.
        columns: Targets and features.
        max_missing: Largest allowed missing fraction per column.
        rows_needed: Rows required for windows in every split.
        freq: The series' frequency (pandas alias) or None.
        max_gaps: Missing timestamps allowed.
        bounds: Optional column -> [min, max] (either may be None) value bounds.
        docs_dir: Where to write Great Expectations' HTML data docs.

    Returns:
        Every check with its outcome.
    """
    expectations = _expectations(time_column, columns, max_missing, rows_needed, bounds or {})
    checks = run_contract(frame, expectations, docs_dir)
    checks.append(gap_check(frame[time_column], freq, max_gaps))
    return checks


def contract(
    frame: pd.DataFrame,
    params: Params,
    freq: str | None,
    docs_dir: Path | None = None,
) -> tuple[list[Check], int]:
    """The data contract for ``frame`` with every bound taken from ``params``.

    Both ingest (as a gate, so bad data never replaces the last good snapshot) and
    validate (for the reports and data docs) run exactly this.

    Args:
        frame: The canonical frame.
        params: The parsed :class:`tsforge.config.Params`.
        freq: The series' frequency (pandas alias) or None.
        docs_dir: Where to write Great Expectations' HTML data docs (None: none).

    Returns:
        Every check with its outcome, and the rows the windows need.
    """
    scale, window = params.scale, params.window
    spec = WindowSpec(window.input_size, window.horizon, window.step)
    may_difference = str(scale.difference).lower() != "false"
    needed = min_rows(spec, scale.train_fraction, scale.val_fraction, int(may_difference))
    checks = validate_series(
        frame,
        params.data.time_column,
        params.data.columns,
        max_missing=params.validate.max_missing_fraction,
        rows_needed=needed,
        freq=freq,
        max_gaps=params.validate.max_gaps,
        bounds=params.validate.bounds,
        docs_dir=docs_dir,
    )
    return checks, needed
