"""Stage validate: the Great Expectations data contract and the EDA that picks preprocessing."""

import shutil
import tempfile
from pathlib import Path

import mlflow

from tsforge import stage, tracking
from tsforge.catalog import IngestSummary, load_frame, write_json
from tsforge.config import load_params
from tsforge.eda import advice_tags, explore, plot_eda
from tsforge.errors import ValidationError
from tsforge.validation import as_dicts, contract, failure_message

PROJECT = stage.project(__file__)


def main() -> None:
    params = load_params(PROJECT.params)
    frame, meta = load_frame(PROJECT.raw_series), IngestSummary.load(PROJECT.raw_meta)
    # Docs go to a scratch folder first: a failed run must not replace the last good docs.
    scratch = Path(tempfile.mkdtemp(prefix="tsforge-data-docs-"))
    checks, needed = contract(frame, params, meta.freq, docs_dir=scratch)
    if not all(c.success for c in checks):
        docs = f"Great Expectations data docs of this run: {scratch / 'index.html'}"
        raise ValidationError(f"{failure_message(checks, meta.source)}\n{docs}")
    shutil.rmtree(PROJECT.data_docs, ignore_errors=True)
    shutil.move(scratch, PROJECT.data_docs)

    found = explore(frame, params)
    write_json(PROJECT.validation, {"success": True, "rows_needed": needed, "checks": as_dicts(checks)})
    write_json(PROJECT.eda, found.report)
    # With many series the figures show the first one (the per-series votes are in eda.json).
    layout = found.layout
    first = frame.iloc[layout.bounds[0] : layout.bounds[1]] if len(layout.names) else frame
    columns = params.data.target + params.data.features
    figures = plot_eda(PROJECT.eda_figures, first, params.data.time_column, columns, found.period)

    stage.start_tracking(PROJECT, params.tracking.experiment)
    with mlflow.start_run(run_name="validate"):
        mlflow.set_tags(tracking.lineage_tags(PROJECT.root, {"raw": PROJECT.raw_series}, PROJECT.params))
        mlflow.set_tags({"stage": "validate", **advice_tags(found.advice)})
        tracking.log_snapshot_input(PROJECT, "validate")
        counts = {"rows": len(frame), "series": len(layout.names), "season_period": found.period}
        mlflow.log_metrics({**counts, "adf_p_value": found.adf_p_value})
        for path in (PROJECT.validation, PROJECT.eda):
            mlflow.log_artifact(str(path))
        for figure in figures:
            mlflow.log_artifact(str(figure), artifact_path="eda")
        mlflow.log_artifacts(str(PROJECT.data_docs), artifact_path="data_docs")


if __name__ == "__main__":
    stage.run(main)
