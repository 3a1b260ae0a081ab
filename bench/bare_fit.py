"""The bare baseline for the pipeline-overhead benchmark: what a person writes by hand.

Loads the same scaled series and window origins the train stage reads, stacks every
window into arrays, builds the same network in plain Keras and calls ``model.fit`` for a
fixed number of epochs. No MLflow, no DVC, no forecaster packaging.

Usage: python bench/bare_fit.py PROJECT EPOCHS UNITS BATCH_SIZE
Prints one JSON line: fit seconds and samples per second.
"""

import json
import sys
import time
from pathlib import Path

import keras
import numpy as np

from tsforge.catalog import ProcessedSeries, Project, Windows


def main() -> None:
    project, epochs, units, batch_size = Project(Path(sys.argv[1])), *map(int, sys.argv[2:5])
    series, windows = ProcessedSeries.load(project.series), Windows.load(project.windows)
    values, n_targets = series.values, series.n_targets
    input_size, horizon = windows.spec.input_size, windows.spec.horizon

    def stack(origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.stack([values[t - input_size : t] for t in origins])
        y = np.stack([values[t : t + horizon, :n_targets] for t in origins])
        return x, y

    (x_train, y_train), (x_val, y_val) = stack(windows.train), stack(windows.val)
    keras.utils.set_random_seed(42)
    inputs = keras.Input(shape=(input_size, values.shape[1]))
    x = keras.layers.LSTM(units)(inputs)
    x = keras.layers.Dense(horizon * n_targets)(x)
    model = keras.Model(inputs, keras.layers.Reshape((horizon, n_targets))(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    started = time.perf_counter()
    model.fit(
        x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size, verbose=0
    )
    seconds = time.perf_counter() - started
    model.save(project.root / "bench_bare_model.keras")
    sys.stdout.write(
        json.dumps({"fit_seconds": seconds, "samples_per_second": len(x_train) * epochs / seconds}) + "\n"
    )


if __name__ == "__main__":
    main()
