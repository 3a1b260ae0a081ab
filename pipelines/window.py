"""Stage window: forecast origins per split (targets inside the split, no look-ahead).

With many series the origins of every series are pooled; no window crosses from one
series into the next.
"""

from tsforge import panel, stage
from tsforge.catalog import ProcessedSeries, Windows, write_json
from tsforge.config import load_params
from tsforge.windowing import WindowSpec

PROJECT = stage.project(__file__)


def main() -> None:
    cfg = load_params(PROJECT.params).window
    spec = WindowSpec(cfg.input_size, cfg.horizon, cfg.step)
    series = ProcessedSeries.load(PROJECT.series)
    layout = series.layout
    origins = panel.origins(layout, series.split, spec, series.lost_rows)
    panel.require_windows(origins)
    # normalize was resolved by the scale stage (window.normalize auto follows the EDA's trend finding).
    Windows(spec, series.normalize, **origins).save(PROJECT.windows)
    write_json(
        PROJECT.windows_report,
        {
            "input_size": spec.input_size,
            "horizon": spec.horizon,
            "step": spec.step,
            "normalize": "last" if series.normalize else "none",
            "series": len(layout.names),
            **{k: len(v) for k, v in origins.items()},
        },
    )


if __name__ == "__main__":
    stage.run(main)
