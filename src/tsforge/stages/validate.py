"""The validate stage: the Great Expectations data contract on the snapshot, with its data
docs, and the EDA whose recommendation the scale stage follows.

:func:`check` raises before anything is replaced when the contract fails; :func:`plot` draws
the EDA figures and :func:`log` is the MLflow wrapper of the stage's run.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from tsforge.catalog import IngestSummary
from tsforge.config import DataConfig, Params
from tsforge.data_contract import Check, as_dicts, contract, failure_message
from tsforge.eda import Exploration
from tsforge.eda_plots import plot_eda
from tsforge.errors import ValidationError


@dataclass(frozen=True)
class Checked:
    """A snapshot that kept the contract: every check, and the rows each series needs."""

    checks: list[Check]
    rows_needed: int

    def report(self) -> dict[str, Any]:
        """The content of reports/validation.json."""
        return {"success": True, "rows_needed": self.rows_needed, "checks": as_dicts(self.checks)}


def check(frame: pd.DataFrame, params: Params, meta: IngestSummary, docs: Path) -> Checked:
    """Run the data contract on the snapshot and put its data docs in ``docs``.

    The docs are written to a scratch folder first: a failed run must not replace the last
    good docs, and its own stay where the error message says.

    Args:
        frame: The snapshot.
        params: All of params.yaml (the contract's bounds).
        meta: The ingest summary (frequency, source).
        docs: Where the Great Expectations data docs go.

    Returns:
        The checks.

    Raises:
        ValidationError: A check failed.
    """
    scratch = Path(tempfile.mkdtemp(prefix="tsforge-data-docs-"))
    checks, needed = contract(frame, params, meta.freq, docs_dir=scratch)
    if not all(c.success for c in checks):
        where = f"Great Expectations data docs of this run: {scratch / 'index.html'}"
        raise ValidationError(f"{failure_message(checks, meta.source)}\n{where}")
    shutil.rmtree(docs, ignore_errors=True)
    shutil.move(scratch, docs)
    return Checked(checks, needed)


def plot(directory: Path, frame: pd.DataFrame, data: DataConfig, found: Exploration) -> list[Path]:
    """The EDA figures. With many series they show the first one (the per-series votes are in
    eda.json): overlaid series would be unreadable.

    Returns:
        The files written.
    """
    layout = found.layout
    first = frame.iloc[layout.bounds[0] : layout.bounds[1]] if len(layout.names) else frame
    columns = data.columns
    return plot_eda(directory, first, data.time_column, columns, found.period)


def log(rows: int, found: Exploration, files: list[Path], figures: list[Path], docs: Path) -> None:
    """The snapshot's size, the EDA's findings and the stage's reports, figures and data docs,
    to the active run.

    Args:
        rows: Rows of the snapshot.
        found: The EDA.
        files: The JSON reports.
        figures: The EDA figures (under ``eda/``).
        docs: The data docs folder (under ``data_docs/``).
    """
    counts = {"rows": rows, "series": len(found.layout.names), "season_period": found.period}
    mlflow.log_metrics({**counts, "adf_p_value": found.adf_p_value})
    for path in files:
        mlflow.log_artifact(str(path))
    for figure in figures:
        mlflow.log_artifact(str(figure), artifact_path="eda")
    mlflow.log_artifacts(str(docs), artifact_path="data_docs")
