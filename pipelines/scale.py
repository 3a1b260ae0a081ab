"""Stage scale: fill gaps, settle the representation (transform, season, trend treatment, scaler)
from params and the EDA, split by time, and fit the scalers on the training rows only.

With ``data.series_id`` every series is filled, transformed, split and scaled on its own
(its scaler fitted on its own training rows, or one shared by all), then stacked into one
array.
"""

from tsforge import representation, stage
from tsforge.catalog import IngestSummary, load_frame, read_json, save_scalers, write_json
from tsforge.config import load_params, mase_period
from tsforge.panel import Layout
from tsforge.scaling import fill_missing

PROJECT = stage.project(__file__)


def main() -> None:
    params = load_params(PROJECT.params)
    data, scale = params.data, params.scale
    advice = read_json(PROJECT.eda)["recommendation"]
    frame, filled = fill_missing(
        load_frame(PROJECT.raw_series), list(data.columns), scale.fill, data.series_id
    )
    layout = Layout.of_frame(frame, data.series_id)
    freq = IngestSummary.load(PROJECT.raw_meta).freq
    chosen = representation.choose(params, advice, len(layout.names), freq)
    # The gate's MASE period: the loss `mase` weights windows as that MASE weighs them.
    period = mase_period(params.evaluate.season_period, int(advice["season_period"]))
    series, scalers = representation.prepare(
        frame, layout, data, scale, chosen, freq=freq, mase_period=period
    )
    save_scalers(PROJECT.scaler, scalers)
    series.save(PROJECT.series)
    many = data.series_id is not None
    write_json(
        PROJECT.scale_report,
        representation.report(chosen, series, fill=scale.fill, filled=filled, many=many),
    )


if __name__ == "__main__":
    stage.run(main)
