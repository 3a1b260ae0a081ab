"""Stage scale: fill gaps, split by time, fit the scaler on the training split only.

With ``data.series_id`` every series is filled, differenced, split and scaled on its own
(its scaler fitted on its own training rows), then stacked into one array.
"""

import numpy as np

from tsforge import panel, stage
from tsforge.catalog import ProcessedSeries, load_frame, read_json, save_scalers, write_json
from tsforge.config import load_params
from tsforge.eda import choose_scaler, choose_trend_treatment
from tsforge.panel import Layout
from tsforge.scaling import fill_missing, series_split

PROJECT = stage.project(__file__)


def _choice(configured: str, recommended: object, reason: str) -> tuple[object, str]:
    if str(configured).lower() == "auto":
        return recommended, f"auto: {reason}"
    return configured, f"set in params.yaml (EDA recommended {recommended}: {reason})"


def main() -> None:
    params = load_params(PROJECT.params)
    data, scale = params.data, params.scale
    advice = read_json(PROJECT.eda)["recommendation"]
    raw = load_frame(PROJECT.raw_series)
    frame, filled = fill_missing(raw, list(data.columns), scale.fill, data.series_id)
    trend = choose_trend_treatment(
        params.window.normalize, scale.difference, bool(advice["difference"]), advice["difference_reason"]
    )
    difference, difference_reason = trend.difference, trend.difference_reason
    transform, transform_reason = _choice(
        scale.transform, advice.get("transform", "none"), advice.get("transform_reason", "")
    )

    layout = Layout.of_frame(frame, data.series_id)
    method, method_reason = choose_scaler(
        scale.method,
        advice["scaler"],
        advice["scaler_reason"],
        transform=str(transform),
        normalize=trend.normalize,
        series=len(layout.names),
    )
    levels = frame[list(data.columns)].to_numpy(dtype=np.float64)
    split_rows = panel.splits(layout, lambda n: series_split(n, scale))
    # The contract has checked the targets lie in an explicit transform's domain; the EDA
    # only recommends one whose domain holds every value.
    unscaled = panel.stacked_model_space(levels, layout, len(data.target), difference, str(transform))
    lost_rows = int(difference)
    scalers = panel.fit_scalers(
        unscaled, layout, split_rows, data.columns, method=str(method), lost_rows=lost_rows
    )
    save_scalers(PROJECT.scaler, scalers)
    ProcessedSeries(
        times=frame[data.time_column].to_numpy(dtype="datetime64[ns]"),
        levels=levels.astype(np.float32),
        values=panel.scale_stacked(unscaled, layout, scalers),
        n_targets=len(data.target),
        split=split_rows,
        bounds=layout.bounds,
        series_names=layout.names,
        lost_rows=lost_rows,
        difference=bool(difference),
        transform=str(transform),
        normalize=trend.normalize == "last",
    ).save(PROJECT.series)
    rows = split_rows[:, :, 1] - split_rows[:, :, 0]
    write_json(
        PROJECT.scale_report,
        {
            "method": method,
            "method_reason": method_reason,
            "difference": difference,
            "difference_reason": difference_reason,
            "transform": transform,
            "transform_reason": transform_reason,
            "normalize": trend.normalize,
            "normalize_reason": trend.normalize_reason,
            "fill_policy": scale.fill,
            "filled_values": filled,
            "series": len(layout.names),
            "rows": {
                name: [int(v) for v in split_rows[0, k]] if data.series_id is None else int(rows[:, k].sum())
                for k, name in enumerate(("train", "val", "test"))
            },
        },
    )


if __name__ == "__main__":
    stage.run(main)
