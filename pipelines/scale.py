"""Stage scale: fill gaps, split by time, fit the scaler on the training split only."""

import numpy as np
import pandas as pd

from tsforge import stage
from tsforge.config import load_params
from tsforge.scaling import AffineScaler, chronological_split, fill_missing, model_space


def _choice(configured: str, recommended: object, reason: str) -> tuple[object, str]:
    if str(configured).lower() == "auto":
        return recommended, f"auto: {reason}"
    return configured, f"set in params.yaml (EDA recommended {recommended}: {reason})"


def main() -> None:
    params = load_params(stage.PARAMS)
    data, scale = params.data, params.scale
    advice = stage.read_json(stage.REPORTS / "eda.json")["recommendation"]
    frame, filled = fill_missing(pd.read_parquet(stage.RAW_SERIES), list(data.columns), scale.fill)
    method, method_reason = _choice(scale.method, advice["scaler"], advice["scaler_reason"])
    difference, difference_reason = _choice(
        scale.difference, advice["difference"], advice["difference_reason"]
    )
    difference = str(difference).lower() == "true"

    levels = frame[list(data.columns)].to_numpy(dtype=np.float64)
    split = chronological_split(len(levels), scale.train_fraction, scale.val_fraction)
    unscaled = model_space(levels, len(data.target), difference)
    first_row = int(difference)
    scaler = AffineScaler.fit(unscaled[first_row : split.train[1]], data.columns, str(method))
    scaler.save(stage.SCALER)
    stage.save_arrays(
        stage.PROCESSED,
        times=frame[data.time_column].to_numpy(dtype="datetime64[ns]"),
        levels=levels.astype(np.float32),
        values=scaler.transform(unscaled),
        n_targets=np.int64(len(data.target)),
        split=np.array([split.train, split.val, split.test], dtype=np.int64),
        first_row=np.int64(first_row),
        difference=np.bool_(difference),
    )
    stage.write_json(
        stage.REPORTS / "scale.json",
        {
            "method": method,
            "method_reason": method_reason,
            "difference": difference,
            "difference_reason": difference_reason,
            "fill_policy": scale.fill,
            "filled_values": filled,
            "rows": {"train": split.train, "val": split.val, "test": split.test},
        },
    )


if __name__ == "__main__":
    stage.run(main)
