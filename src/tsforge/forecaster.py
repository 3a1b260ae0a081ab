"""Raw history in, forecast in original units out: the model as it is served.

The same transform code turns levels into model inputs and model outputs back into
levels for the evaluate stage and for the MLflow pyfunc, so what is scored is what is
served.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tsforge.scaling import AffineScaler, model_space


@dataclass(frozen=True)
class ForecastSpec:
    """Everything besides the network that a forecast needs."""

    time_column: str
    targets: tuple[str, ...]
    features: tuple[str, ...]
    input_size: int
    horizon: int
    difference: bool
    freq: str | None
    scaler: AffineScaler

    @property
    def columns(self) -> tuple[str, ...]:
        """Input columns, targets first."""
        return self.targets + self.features

    def save(self, path: Path) -> None:
        """Write as JSON."""
        raw = asdict(self)
        path.write_text(json.dumps(raw, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ForecastSpec:
        """Read a spec written by :meth:`save`."""
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            time_column=raw["time_column"],
            targets=tuple(raw["targets"]),
            features=tuple(raw["features"]),
            input_size=int(raw["input_size"]),
            horizon=int(raw["horizon"]),
            difference=bool(raw["difference"]),
            freq=raw["freq"],
            scaler=AffineScaler.from_dict(raw["scaler"]),
        )


def to_model_space(levels: np.ndarray, spec: ForecastSpec) -> np.ndarray:
    """Levels (rows, columns) -> scaled model inputs, row-aligned with ``levels``."""
    return spec.scaler.transform(model_space(levels, len(spec.targets), spec.difference))


def to_levels(
    predictions: np.ndarray, levels: np.ndarray, origins: np.ndarray, spec: ForecastSpec
) -> np.ndarray:
    """Model outputs (n, horizon, targets) -> forecasts in original units.

    Args:
        predictions: Network outputs for the windows ending before each origin.
        levels: The series in original units.
        origins: Forecast origin of each window (first forecast row).
        spec: The forecast spec.

    Returns:
        Forecast levels of shape (n, horizon, targets).
    """
    steps = spec.scaler.inverse(predictions, spec.targets)
    if not spec.difference:
        return steps
    last_level = np.asarray(levels, dtype=np.float64)[origins - 1, : len(spec.targets)]
    return last_level[:, None, :] + np.cumsum(steps, axis=1)


def forecast_origins(
    model: Any, levels: np.ndarray, origins: np.ndarray, spec: ForecastSpec, batch_size: int = 1024
) -> np.ndarray:
    """Forecast from many origins of one series at once (for evaluation and re-scoring).

    Args:
        model: The Keras network.
        levels: Series in original units, shape (rows, columns).
        origins: Origins to forecast from.
        spec: The forecast spec.
        batch_size: Windows per predict call.

    Returns:
        Forecast levels, shape (len(origins), horizon, targets).
    """
    from tsforge.windowing import WindowSpec, gather_windows

    values = to_model_space(levels, spec)
    window = WindowSpec(spec.input_size, 1)
    outputs = []
    for begin in range(0, len(origins), batch_size):
        chunk = origins[begin : begin + batch_size]
        x, _ = gather_windows(values, chunk, window, len(spec.targets))
        outputs.append(np.asarray(model.predict(x, verbose=0)))
    predictions = np.concatenate(outputs) if outputs else np.empty((0, spec.horizon, len(spec.targets)))
    return to_levels(predictions, levels, origins, spec)


def has_dropout(model: Any) -> bool:
    """Whether any layer of ``model`` drops units (needed for Monte Carlo dropout)."""
    return any(float(getattr(layer, "rate", 0.0) or 0.0) > 0 for layer in model.layers)


def forecast_samples(
    model: Any, levels: np.ndarray, origins: np.ndarray, spec: ForecastSpec, *, samples: int, seed: int
) -> np.ndarray:
    """Monte Carlo dropout: ``samples`` forecasts per origin with dropout left on.

    Args:
        model: The Keras network (dropout layers make the samples differ).
        levels: Series in original units.
        origins: Origins to forecast from.
        spec: The forecast spec.
        samples: Number of stochastic passes.
        seed: Seed for the dropout masks.

    Returns:
        Forecast levels, shape (samples, len(origins), horizon, targets).
    """
    import keras

    from tsforge.windowing import WindowSpec, gather_windows

    keras.utils.set_random_seed(seed)
    x, _ = gather_windows(
        to_model_space(levels, spec), origins, WindowSpec(spec.input_size, 1), len(spec.targets)
    )
    draws = [np.asarray(model(x, training=True)) for _ in range(samples)]
    return np.stack([to_levels(d, levels, origins, spec) for d in draws])


def history_levels(history: pd.DataFrame, spec: ForecastSpec) -> tuple[np.ndarray, pd.Series]:
    """Check, sort and gap-fill a raw history frame; return its levels and timestamps."""
    missing = [c for c in (spec.time_column, *spec.columns) if c not in history.columns]
    if missing:
        raise ValueError(
            f"history is missing column(s) {missing}; it needs {[spec.time_column, *spec.columns]}"
        )
    need = spec.input_size + int(spec.difference)
    if len(history) < need:
        raise ValueError(f"history has {len(history)} rows; the model needs at least {need}")
    frame = history.assign(**{spec.time_column: pd.to_datetime(history[spec.time_column])})
    frame = frame.sort_values(spec.time_column).tail(need)
    values = frame[list(spec.columns)].astype("float64").interpolate(limit_direction="both")
    if values.isna().any().any():
        raise ValueError("history has a column with no values at all")
    return values.to_numpy(), frame[spec.time_column].reset_index(drop=True)


def future_times(last: pd.Timestamp, times: pd.Series, horizon: int, freq: str | None) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps after ``last``, at ``freq`` (or the history's last step)."""
    if freq:
        return pd.date_range(last, periods=horizon + 1, freq=freq)[1:]
    step = times.iloc[-1] - times.iloc[-2]
    return pd.DatetimeIndex([last + step * (i + 1) for i in range(horizon)])


def forecast_frame(model: Any, history: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
    """Forecast the next ``horizon`` steps after ``history``.

    Args:
        model: The Keras network.
        history: Recent raw rows: the time column and every input column.
        spec: The forecast spec.

    Returns:
        A frame with the time column and one column per target, ``horizon`` rows.
    """
    levels, times = history_levels(history, spec)
    origin = np.array([len(levels)])
    padded = np.vstack([levels, np.zeros((1, levels.shape[1]))])  # origin row is never read
    forecast = forecast_origins(model, padded, origin, spec)[0]
    out = pd.DataFrame(forecast, columns=list(spec.targets))
    out.insert(0, spec.time_column, future_times(times.iloc[-1], times, spec.horizon, spec.freq))
    return out


def _python_model_base() -> type:
    import mlflow.pyfunc

    return mlflow.pyfunc.PythonModel  # type: ignore[no-any-return]


class Forecaster(_python_model_base()):  # type: ignore[misc]
    """MLflow pyfunc: ``predict(history DataFrame) -> forecast DataFrame`` in real units."""

    def load_context(self, context: Any) -> None:
        import keras

        self.spec = ForecastSpec.load(Path(context.artifacts["spec"]))
        self.model = keras.models.load_model(context.artifacts["network"], compile=False)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return forecast_frame(self.model, model_input, self.spec)


def log_forecaster(
    network_path: Path, spec_path: Path, example: pd.DataFrame, model: Any, spec: ForecastSpec
) -> str:
    """Log the pyfunc forecaster to the active MLflow run.

    Args:
        network_path: Saved Keras model (.keras).
        spec_path: Saved :class:`ForecastSpec`.
        example: A raw history frame (input example; at least ``input_size`` rows).
        model: The loaded network, used to compute the example output for the signature.
        spec: The forecast spec.

    Returns:
        The URI of the logged model.
    """
    import importlib.metadata as md

    import mlflow
    from mlflow.models import infer_signature

    example = example.reset_index(drop=True)
    example[spec.time_column] = example[spec.time_column].dt.strftime("%Y-%m-%dT%H:%M:%S")
    output = forecast_frame(model, example, spec)
    requirements = [
        f"{name}=={md.version(name)}" for name in ("tensorflow-cpu", "keras", "pandas", "numpy", "mlflow")
    ]
    info = mlflow.pyfunc.log_model(
        name="forecaster",
        python_model=Forecaster(),
        artifacts={"network": str(network_path), "spec": str(spec_path)},
        code_paths=[str(Path(__file__).parent)],
        signature=infer_signature(example, output),
        input_example=example,
        pip_requirements=requirements,
    )
    return str(info.model_uri)
