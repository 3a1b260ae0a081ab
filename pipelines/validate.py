"""Stage validate: the Great Expectations data contract and the EDA that picks preprocessing."""

import shutil
import tempfile
from pathlib import Path

import mlflow
import numpy as np

from tsforge import panel, stage, tracking
from tsforge.catalog import IngestSummary, load_frame, write_json
from tsforge.config import load_params
from tsforge.eda import adf_test, plot_eda, recommend, recommend_panel, seasonal_period, summarize
from tsforge.errors import ValidationError
from tsforge.panel import Layout
from tsforge.scaling import fill_missing, series_split
from tsforge.validation import as_dicts, contract, failure_message
from tsforge.windowing import WindowSpec

PROJECT = stage.project(__file__)


def main() -> None:
    params = load_params(PROJECT.params)
    data, scale = params.data, params.scale
    frame = load_frame(PROJECT.raw_series)
    meta = IngestSummary.load(PROJECT.raw_meta)
    spec = WindowSpec(params.window.input_size, params.window.horizon, params.window.step)
    # Docs go to a scratch folder first: a failed run must not replace the last good docs.
    scratch = Path(tempfile.mkdtemp(prefix="tsforge-data-docs-"))
    checks, needed = contract(frame, params, meta.freq, docs_dir=scratch)
    if not all(c.success for c in checks):
        message = failure_message(checks, meta.source)
        raise ValidationError(
            f"{message}\nGreat Expectations data docs of this run: {scratch / 'index.html'}"
        )
    shutil.rmtree(PROJECT.data_docs, ignore_errors=True)
    shutil.move(scratch, PROJECT.data_docs)

    layout = Layout.of_frame(frame, data.series_id)
    filled, _ = fill_missing(frame, [data.target[0]], "interpolate", data.series_id)
    target = filled[data.target[0]].to_numpy(dtype=np.float64)
    stats = summarize(frame, data.columns, params.validate.outlier_iqr_factor)
    if data.series_id is None:
        split = series_split(len(frame), scale)
        adf = adf_test(target)
        period, strength = seasonal_period(target)
        advice = recommend(
            target,
            split,
            stats[data.target[0]],
            adf,
            period=period,
            robust_outlier_fraction=params.validate.robust_outlier_fraction,
        )
        findings: dict[str, object] = {"adf": adf, "season_period": period, "season_acf": strength}
        p_value = float(adf["p_value"])
    else:
        advice, summary = recommend_panel(
            target,
            panel.splits(layout, lambda n: series_split(n, scale)),
            layout.bounds,
            layout.names,
            iqr_factor=params.validate.outlier_iqr_factor,
            robust_outlier_fraction=params.validate.robust_outlier_fraction,
        )
        period = advice.season_period
        findings = {"per_series": summary, "season_period": period}
        p_value = summary["median_adf_p_value"]
    eda = {
        "columns": stats,
        **findings,
        "recommendation": advice.__dict__,
        "input_size_note": (
            f"window.input_size={spec.input_size} covers the seasonal period {period}"
            if spec.input_size >= period
            else f"window.input_size={spec.input_size} is shorter than the seasonal period {period}; "
            f"consider at least {advice.min_input_size}"
        ),
    }
    write_json(PROJECT.validation, {"success": True, "rows_needed": needed, "checks": as_dicts(checks)})
    write_json(PROJECT.eda, eda)
    # With many series the figures show the first one (the per-series votes are in eda.json).
    first = frame.iloc[layout.bounds[0] : layout.bounds[1]] if len(layout.names) else frame
    figures = plot_eda(PROJECT.eda_figures, first, data.time_column, data.columns, period)

    stage.start_tracking(PROJECT, params.tracking.experiment)
    with mlflow.start_run(run_name="validate"):
        mlflow.set_tags(tracking.lineage_tags(PROJECT.root, {"raw": PROJECT.raw_series}, PROJECT.params))
        mlflow.set_tags(
            {
                "stage": "validate",
                "eda.scaler": advice.scaler,
                "eda.scaler_reason": advice.scaler_reason,
                "eda.difference": str(advice.difference).lower(),
                "eda.difference_reason": advice.difference_reason,
                "eda.transform": advice.transform,
                "eda.transform_reason": advice.transform_reason,
            }
        )
        mlflow.log_metrics(
            {"rows": len(frame), "series": len(layout.names), "season_period": period, "adf_p_value": p_value}
        )
        mlflow.log_artifact(str(PROJECT.validation))
        mlflow.log_artifact(str(PROJECT.eda))
        for figure in figures:
            mlflow.log_artifact(str(figure), artifact_path="eda")
        mlflow.log_artifacts(str(PROJECT.data_docs), artifact_path="data_docs")


if __name__ == "__main__":
    stage.run(main)
