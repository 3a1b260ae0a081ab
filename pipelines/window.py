"""Stage window: forecast origins per split (targets inside the split, no look-ahead)."""

import numpy as np

from tsforge import stage
from tsforge.config import load_params
from tsforge.windowing import WindowSpec, window_origins


def main() -> None:
    cfg = load_params(stage.PARAMS).window
    spec = WindowSpec(cfg.input_size, cfg.horizon, cfg.step)
    series = np.load(stage.PROCESSED)
    first_row = int(series["first_row"])
    splits = dict(zip(("train", "val", "test"), series["split"], strict=True))
    origins = {name: window_origins(int(a), int(b), spec, first_row) for name, (a, b) in splits.items()}
    stage.save_arrays(stage.WINDOWS, spec=np.array([spec.input_size, spec.horizon, spec.step]), **origins)
    stage.write_json(
        stage.REPORTS / "windows.json",
        {
            "input_size": spec.input_size,
            "horizon": spec.horizon,
            "step": spec.step,
            **{k: len(v) for k, v in origins.items()},
        },
    )


if __name__ == "__main__":
    stage.run(main)
