"""Stage scale: fill gaps, settle the representation (transform, season, trend treatment, scaler)
from params and the EDA, split by time, and fit the scalers on the training rows only
(tsforge.stages.scale)."""

from tsforge import stage
from tsforge.catalog import IngestSummary, load_frame, read_json, save_scalers, write_json
from tsforge.config import load_params, mase_period
from tsforge.console import paths, say
from tsforge.stages import scale

PROJECT = stage.project(__file__)


def main() -> None:
    params = load_params(PROJECT.params)
    advice = read_json(PROJECT.eda)["recommendation"]
    # The gate's MASE period: the loss `mase` weights windows as that MASE weighs them.
    period = mase_period(params.evaluate.season_period, int(advice["season_period"]))
    freq = IngestSummary.load(PROJECT.raw_meta).freq
    scaled = scale.scale(load_frame(PROJECT.raw_series), params, advice, freq=freq, mase_period=period)
    save_scalers(PROJECT.scaler, scaled.scalers)
    scaled.series.save(PROJECT.series)
    write_json(PROJECT.scale_report, scaled.report)
    said = scaled.report
    rows = "/".join(str(r[1] - r[0] if isinstance(r, list) else r) for r in said["rows"].values())
    filled = said["filled_values"]
    filled_text = f"; {filled} values filled ({said['fill_policy']})" if filled else ""
    if said["difference"]:
        trend = "differenced"
    elif said["normalize"] == "last":
        trend = "windows relative to their last value"
    else:
        trend = "levels as they are"
    say(
        f"rows train/val/test {rows}{filled_text} -> {paths(PROJECT.root, PROJECT.series, PROJECT.scaler)}",
        f"transform {said['transform']}, {said['method']} scaler (fitted on the training rows), "
        f"trend: {trend}",
    )


if __name__ == "__main__":
    stage.run(main)
