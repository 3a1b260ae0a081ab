"""The one model builder used by both the tuner and the final training."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras

DEFAULT_SPACE: dict[str, Any] = {
    "num_layers": 1,
    "cell": "lstm",
    "units": 32,
    "dropout": 0.0,
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "lr_schedule": "none",
    "batch_size": 64,
}
"""Values used for any search dimension that params.yaml leaves out."""


@dataclass(frozen=True)
class ModelSpec:
    """Shapes the network must fit: ``input_size`` steps of ``n_inputs`` columns in,
    ``horizon`` steps of ``n_targets`` columns out."""

    input_size: int
    n_inputs: int
    horizon: int
    n_targets: int


def declare(hp: Any, name: str, entry: Any) -> Any:
    """Register one search dimension described in params.yaml and return its value.

    An entry is either a plain value (fixed) or a mapping with ``type`` int, float,
    choice or fixed. On a HyperParameters restored with ``from_config`` the recorded
    value is returned, which is how the train stage rebuilds the tuner's winner.

    Args:
        hp: keras_tuner.HyperParameters.
        name: Dimension name.
        entry: Its description from ``tune.space``.

    Returns:
        The value for this trial.
    """
    if not isinstance(entry, Mapping):
        return hp.Fixed(name, entry)
    kind = entry.get("type")
    if kind == "int":
        return hp.Int(name, int(entry["min"]), int(entry["max"]), step=int(entry.get("step", 1)))
    if kind == "float":
        step = entry.get("step")
        return hp.Float(
            name,
            float(entry["min"]),
            float(entry["max"]),
            step=float(step) if step is not None else None,
            sampling=entry.get("sampling", "linear"),
        )
    if kind == "choice":
        return hp.Choice(name, list(entry["values"]))
    if kind == "fixed":
        return hp.Fixed(name, entry["value"])
    raise ValueError(f"tune.space.{name}: unknown type {kind!r}; use int, float, choice or fixed")


def hp_values(hp: Any, space: Mapping[str, Any]) -> dict[str, Any]:
    """Declare every dimension (params entries over defaults) and return the values."""
    merged = {**DEFAULT_SPACE, **space}
    return {name: declare(hp, name, entry) for name, entry in merged.items()}


LR_SCHEDULES = ("none", "exponential", "plateau")
EXPONENTIAL_DECAY = {"decay_steps": 200, "decay_rate": 0.9}
"""Exponential schedule: the learning rate shrinks by 10% every 200 batches."""


def make_optimizer(name: str, learning_rate: float, schedule: str = "none") -> keras.optimizers.Optimizer:
    """A Keras optimizer by name, with an optional exponential learning-rate decay.

    ``plateau`` is applied during fitting (a ReduceLROnPlateau callback), not here.
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule '{schedule}'; use one of {LR_SCHEDULES}")
    rate: float | keras.optimizers.schedules.LearningRateSchedule = learning_rate
    if schedule == "exponential":
        rate = keras.optimizers.schedules.ExponentialDecay(learning_rate, **EXPONENTIAL_DECAY)
    optimizers: dict[str, type[keras.optimizers.Optimizer]] = {
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
        "nadam": keras.optimizers.Nadam,
        "adamw": keras.optimizers.AdamW,
    }
    if name not in optimizers:
        raise ValueError(f"unknown optimizer '{name}'; use one of {sorted(optimizers)}")
    return optimizers[name](learning_rate=rate)


def build_model(hp: Any, spec: ModelSpec, space: Mapping[str, Any]) -> keras.Model:
    """Stacked LSTM/GRU forecaster: every recurrent layer but the last returns sequences.

    Args:
        hp: keras_tuner.HyperParameters (fresh for a trial, or restored for training).
        spec: Input and output shapes.
        space: ``tune.space`` from params.

    Returns:
        A compiled model mapping (batch, input_size, n_inputs) to (batch, horizon, n_targets).
    """
    values = hp_values(hp, space)
    cell = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[values["cell"]]
    inputs = keras.Input(shape=(spec.input_size, spec.n_inputs), name="history")
    x = inputs
    for layer in range(values["num_layers"]):
        last = layer == values["num_layers"] - 1
        x = cell(values["units"], return_sequences=not last, name=f"{values['cell']}_{layer}")(x)
        # Dropout as its own layer keeps the recurrent layer eligible for the cuDNN kernel.
        if values["dropout"] > 0:
            x = keras.layers.Dropout(values["dropout"], name=f"dropout_{layer}")(x)
    x = keras.layers.Dense(spec.horizon * spec.n_targets, name="head")(x)
    outputs = keras.layers.Reshape((spec.horizon, spec.n_targets), name="forecast")(x)
    model = keras.Model(inputs, outputs, name="tsforge_rnn")
    optimizer = make_optimizer(values["optimizer"], values["learning_rate"], values["lr_schedule"])
    model.compile(optimizer=optimizer, loss="mse")
    return model
