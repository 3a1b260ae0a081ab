"""Stage window: forecast origins per split (targets inside the split, no look-ahead).

With many series the origins of every series are pooled; no window crosses from one
series into the next.
"""

import numpy as np

from tsforge import panel, stage
from tsforge.config import load_params
from tsforge.windowing import WindowSpec


def main() -> None:
    cfg = load_params(stage.PARAMS).window
    spec = WindowSpec(cfg.input_size, cfg.horizon, cfg.step)
    series = np.load(stage.PROCESSED)
    layout = stage.load_layout(series)
    origins = panel.origins(layout, series["split"], spec, int(series["lost_rows"]))
    panel.require_windows(origins)
    stage.save_arrays(
        stage.WINDOWS,
        spec=np.array([spec.input_size, spec.horizon, spec.step]),
        # Resolved by the scale stage (window.normalize auto follows the EDA's trend finding).
        normalize=np.bool_(series["normalize"]),
        **origins,
    )
    stage.write_json(
        stage.REPORTS / "windows.json",
        {
            "input_size": spec.input_size,
            "horizon": spec.horizon,
            "step": spec.step,
            "normalize": "last" if bool(series["normalize"]) else "none",
            "series": len(layout.names),
            **{k: len(v) for k, v in origins.items()},
        },
    )


if __name__ == "__main__":
    stage.run(main)
