"""The one model builder used by both the tuner and the final training."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras

from tsforge.config import DEFAULT_SPACE, SPACE_CHOICES

FAMILIES = SPACE_CHOICES["family"]
LOSSES: dict[str, Any] = {
    "mse": "mse",
    "mae": "mae",
    "huber": keras.losses.Huber(delta=1.0),
    # MAE with each training window weighted as MASE weighs its errors (tsforge.training.fit
    # passes the weights; see tsforge.representation.mase_weights).
    "mase": "mae",
}
"""Training losses by name. Trials are compared on validation MAE whatever their loss
(see :data:`tsforge.training.OBJECTIVE`), so losses can be searched."""

WEIGHTED_LOSSES = frozenset({"mase"})
"""Losses whose training windows carry the series' MASE weights."""


@dataclass(frozen=True)
class ModelSpec:
    """Shapes the network must fit: ``input_size`` steps of ``n_inputs`` columns in (then
    ``ahead`` steps of what is known for the horizon), ``horizon`` steps of ``n_targets``
    columns out."""

    input_size: int
    n_inputs: int
    horizon: int
    n_targets: int
    ahead: int = 0


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


def model_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameter values without keras-tuner's ``tuner/*`` bookkeeping (epochs, bracket, round)."""
    return {k: v for k, v in values.items() if not k.startswith("tuner/")}


def hp_values(hp: Any, space: Mapping[str, Any]) -> dict[str, Any]:
    """Declare every dimension (params entries over defaults) and return the values."""
    merged = {**DEFAULT_SPACE, **space}
    return {name: declare(hp, name, entry) for name, entry in merged.items()}


LR_SCHEDULES = SPACE_CHOICES["lr_schedule"]
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


@keras.saving.register_keras_serializable(package="tsforge")
class AddPositions(keras.layers.Layer):  # type: ignore[misc]
    """Adds a learned embedding of each step's position in the window (attention has no
    notion of order without it)."""

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.positions = self.add_weight(
            shape=(int(input_shape[1]), int(input_shape[2])), initializer="glorot_uniform", name="positions"
        )

    def call(self, inputs: Any) -> Any:
        return inputs + self.positions


ATTENTION_HEADS = 2


def _encoder(values: Mapping[str, Any], x: Any) -> Any:
    """A transformer encoder: project each step, add positions, then ``num_layers`` blocks of
    self-attention and a feed-forward layer, each with a residual and layer normalisation;
    the last step's representation feeds the head (it has attended to the whole window)."""
    units = int(values["units"])
    x = keras.layers.Dense(units, name="project")(x)
    x = AddPositions(name="positions")(x)
    for layer in range(values["num_layers"]):
        attended = keras.layers.MultiHeadAttention(
            ATTENTION_HEADS,
            max(units // ATTENTION_HEADS, 1),
            dropout=values["dropout"],
            name=f"attention_{layer}",
        )(x, x)
        x = keras.layers.LayerNormalization(name=f"norm_a{layer}")(x + attended)
        fed = keras.layers.Dense(units, activation="relu", name=f"feed_{layer}")(x)
        x = keras.layers.LayerNormalization(name=f"norm_f{layer}")(x + fed)
    return _last_step(x)


def _last_step(x: Any) -> Any:
    """The representation of the window's last step."""
    return keras.layers.Cropping1D((int(x.shape[1]) - 1, 0), name="last_step")(x)


def _body(values: Mapping[str, Any], x: Any) -> Any:
    """The hidden layers of ``values['family']`` over the (cropped) window ``x``."""
    if values["family"] == "attention":
        return keras.layers.Flatten(name="flatten")(_encoder(values, x))
    if values["family"] == "mlp":
        x = keras.layers.Flatten(name="flatten")(x)
        for layer in range(values["num_layers"]):
            x = keras.layers.Dense(values["width"], activation="relu", name=f"dense_{layer}")(x)
            if values["dropout"] > 0:
                x = keras.layers.Dropout(values["dropout"], name=f"dropout_{layer}")(x)
        return x
    cell = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[values["cell"]]
    for layer in range(values["num_layers"]):
        last = layer == values["num_layers"] - 1
        x = cell(values["units"], return_sequences=not last, name=f"{values['cell']}_{layer}")(x)
        # Dropout as its own layer keeps the recurrent layer eligible for the cuDNN kernel.
        if values["dropout"] > 0:
            x = keras.layers.Dropout(values["dropout"], name=f"dropout_{layer}")(x)
    return x


def reads_steps(values: Mapping[str, Any], window: int) -> int:
    """How many of the window's last steps a network with these values reads."""
    wanted = int(values.get("input_size") or 0)
    if wanted > window:
        raise ValueError(
            f"tune.space.input_size {wanted} is longer than the windows (window.input_size {window}); "
            "raise window.input_size to the longest input size the search may choose"
        )
    return wanted or window


def build_model(hp: Any, spec: ModelSpec, space: Mapping[str, Any], name: str = "tsforge_net") -> keras.Model:
    """The forecaster network: stacked LSTM/GRU (family rnn) or dense layers (family mlp).

    Every recurrent layer but the last returns sequences; a linear head maps the last hidden
    state to all horizon steps at once.

    Args:
        hp: keras_tuner.HyperParameters (fresh for a trial, or restored for training).
        spec: Input and output shapes.
        space: ``tune.space`` from params.
        name: The model's name (ensemble members need distinct names).

    Returns:
        A compiled model mapping (batch, input_size, n_inputs) to (batch, horizon, n_targets).
    """
    values = hp_values(hp, space)
    if values["family"] not in FAMILIES:
        raise ValueError(f"unknown family '{values['family']}'; use one of {FAMILIES}")
    if values["loss"] not in LOSSES:
        raise ValueError(f"unknown loss '{values['loss']}'; use one of {sorted(LOSSES)}")
    inputs = keras.Input(shape=(spec.input_size + spec.ahead, spec.n_inputs), name="history")
    steps = reads_steps(values, spec.input_size)
    x = inputs
    if steps < spec.input_size:
        # The known-ahead steps come last: cropping the front keeps them and the last inputs.
        x = keras.layers.Cropping1D((spec.input_size - steps, 0), name="last_steps")(x)
    x = _body(values, x)
    x = keras.layers.Dense(spec.horizon * spec.n_targets, name="head")(x)
    outputs = keras.layers.Reshape((spec.horizon, spec.n_targets), name="forecast")(x)
    model = keras.Model(inputs, outputs, name=name)
    optimizer = make_optimizer(values["optimizer"], values["learning_rate"], values["lr_schedule"])
    model.compile(
        optimizer=optimizer,
        loss=LOSSES[values["loss"]],
        metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
    )
    return model


@keras.saving.register_keras_serializable(package="tsforge")
class Combine(keras.layers.Layer):  # type: ignore[misc]
    """The element-wise median or mean of the members' forecasts."""

    def __init__(self, how: str = "median", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if how not in ENSEMBLE_COMBINERS:
            raise ValueError(f"unknown ensemble combiner '{how}'; use one of {ENSEMBLE_COMBINERS}")
        self.how = how

    def call(self, inputs: list[Any]) -> Any:
        stacked = keras.ops.stack(inputs, axis=0)
        if self.how == "median":
            return keras.ops.median(stacked, axis=0)
        return keras.ops.mean(stacked, axis=0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "how": self.how}


ENSEMBLE_COMBINERS = ("median", "mean")


def combine(members: list[keras.Model], how: str) -> keras.Model:
    """One network whose forecast is the median (or mean) of ``members``' forecasts.

    The ensemble is an ordinary Keras model with one input and one output, so it is saved,
    served, re-scored and sampled (Monte Carlo dropout) exactly like a single network.

    Args:
        members: Trained networks with the same input and output shapes and distinct names.
        how: median or mean.

    Returns:
        The ensemble (a single member is returned as it is).
    """
    if len(members) == 1:
        return members[0]
    if len({m.name for m in members}) < len(members):
        raise ValueError("ensemble members need distinct names (build_model's name argument)")
    inputs = keras.Input(shape=tuple(members[0].inputs[0].shape[1:]), name="history")
    outputs = [member(inputs) for member in members]
    return keras.Model(
        inputs, Combine(how, name=f"{how}_of_{len(members)}")(outputs), name="tsforge_ensemble"
    )
