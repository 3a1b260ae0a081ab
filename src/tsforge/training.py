"""Feeding windows to Keras and fitting, shared by tuning trials and final training: the
batches (stacked, or gathered on demand), the seeds, one network's fit with early stopping and
its refit, one ensemble member trained alone.

The windows themselves are :mod:`tsforge.windowed_data` and the ensemble's member plans
:mod:`tsforge.members`; their public names are re-exported here, so
``from tsforge.training import ...`` keeps working.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import keras
import numpy as np

from tsforge.members import Member, MemberPlan, ensemble_candidates, member_plans, with_lookback, with_loss
from tsforge.models import WEIGHTED_LOSSES, build_model, hp_values
from tsforge.plotting import pyplot
from tsforge.windowed_data import NORMALIZATIONS, OBJECTIVE, WindowedData, trial_data

__all__ = [
    "NORMALIZATIONS",
    "OBJECTIVE",
    "PLATEAU_FACTOR",
    "PLATEAU_PATIENCE",
    "STACK_MAX_BYTES",
    "Member",
    "MemberPlan",
    "WindowDataset",
    "WindowedData",
    "device",
    "early_stopping",
    "ensemble_candidates",
    "fit",
    "fit_windows",
    "member_plans",
    "refit_on_validation",
    "set_seeds",
    "stacked_bytes",
    "stacked_order",
    "stacked_windows",
    "train_best",
    "train_member",
    "trial_data",
    "validation_score",
    "with_lookback",
    "with_loss",
]


class WindowDataset(keras.utils.PyDataset):  # type: ignore[misc]
    """Batches gathered on demand from one array; no window is stored. ``weighted`` adds
    each window's weight (the weight of its last input row) as Keras sample weights."""

    def __init__(
        self,
        data: WindowedData,
        origins: np.ndarray,
        batch_size: int,
        shuffle_seed: int | None = None,
        *,
        weighted: bool = False,
    ) -> None:
        super().__init__()
        self.data, self.origins, self.batch_size = data, origins, batch_size
        self.weighted = weighted
        self._rng = np.random.default_rng(shuffle_seed) if shuffle_seed is not None else None
        self._order = self._rng.permutation(origins) if self._rng is not None else origins

    def __len__(self) -> int:
        return math.ceil(len(self.origins) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        chosen = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        x, y, weights = stacked_windows(self.data, chosen, weighted=self.weighted)
        return (x, y) if weights is None else (x, y, weights)

    def on_epoch_end(self) -> None:
        if self._rng is not None:
            self._order = self._rng.permutation(self.origins)


def device() -> str:
    """Where Keras trains: the visible GPUs (TensorFlow places work on the first by itself), or
    the CPU. Logged as the train and tune runs' ``device`` tag."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    return f"GPU x{len(gpus)}: {', '.join(names)}"


def set_seeds(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TensorFlow ops deterministic."""
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def fit(
    model: keras.Model,
    hp: Any,
    space: Mapping[str, Any],
    data: WindowedData,
    seed: int,
    **fit_kwargs: Any,
) -> keras.callbacks.History:
    """Fit ``model`` on the training windows, validating on the validation windows.

    Args:
        model: A model from :func:`tsforge.models.build_model`.
        hp: The hyperparameters it was built with (batch size is one of them).
        space: ``tune.space``.
        data: Windowed series.
        seed: Seed for the training-window shuffle.
        **fit_kwargs: Passed to ``model.fit`` (epochs, callbacks, initial_epoch, ...).

    Returns:
        The Keras history.
    """
    values = hp_values(hp, space)
    data = trial_data(data, values)
    if values["lr_schedule"] == "plateau":
        plateau = keras.callbacks.ReduceLROnPlateau(
            monitor=OBJECTIVE, factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE
        )
        fit_kwargs["callbacks"] = [*fit_kwargs.get("callbacks", []), plateau]
    weighted = values["loss"] in WEIGHTED_LOSSES
    return fit_windows(model, data, int(values["batch_size"]), seed, weighted=weighted, **fit_kwargs)


PLATEAU_FACTOR, PLATEAU_PATIENCE = 0.5, 2
"""``lr_schedule: plateau``: the learning rate is halved after 2 epochs without improvement."""


def fit_windows(
    model: keras.Model,
    data: WindowedData,
    batch_size: int,
    seed: int,
    *,
    weighted: bool,
    **fit_kwargs: Any,
) -> keras.callbacks.History:
    """``model.fit`` on the training windows of ``data``, validating on its validation windows:
    stacked arrays when they are small, batches gathered on demand otherwise.

    Args:
        model: Any Keras model taking the windows' inputs and targets.
        data: Windowed series, as the trial reads them (:func:`trial_data`).
        batch_size: Windows per batch.
        seed: Seed for the shuffle of the windows gathered on demand.
        weighted: Whether the training windows carry their MASE weights.
        **fit_kwargs: Passed to ``model.fit``.

    Returns:
        The Keras history.
    """
    if stacked_bytes(data) <= STACK_MAX_BYTES:
        # Small enough to stack: Keras's array path runs about 4 ms a batch faster than
        # gathering each batch in Python (bench/RESULTS.md, rows 1 and 6).
        x, y, weights = stacked_windows(data, data.train, weighted=weighted)
        x_val, y_val, _ = stacked_windows(data, data.val)
        return model.fit(
            x,
            y,
            sample_weight=weights,
            batch_size=batch_size,
            shuffle=True,
            validation_data=(x_val, y_val),
            verbose=0,
            **fit_kwargs,
        )
    train = WindowDataset(data, data.train, batch_size, shuffle_seed=seed, weighted=weighted)
    val = WindowDataset(data, data.val, batch_size)
    # Not shuffle=True: the windows are shuffled already (by ``seed``), and Keras would shuffle
    # the batches again with Python's global random state, which whatever ran before consumed:
    # the order would not be the seed's alone (nor could a side-by-side member match it).
    return model.fit(train, validation_data=val, shuffle=False, verbose=0, **fit_kwargs)


def stacked_order(count: int, batch_size: int, seed: int) -> np.ndarray:
    """The order in which :func:`fit_windows` feeds ``count`` stacked windows to a model whose
    seeds :func:`set_seeds` set to ``seed``: positions into the training windows, every epoch.

    Keras shuffles stacked arrays with ``tf.random.shuffle`` in a ``tf.data`` function; once
    the global seed is set, that function draws the same permutation each time it runs, so
    every epoch of a seeded fit reads the windows in this one order. It is read from Keras's
    own array adapter (not copied), so a side-by-side member batches exactly as it would alone
    (:mod:`tsforge.joint_training`; tests/unit/test_joint_training.py compares the weights).
    Resets the global seeds to ``seed``.
    """
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    set_seeds(seed)
    positions = np.arange(count, dtype=np.int64)
    adapter = ArrayDataAdapter(positions, shuffle=True, batch_size=batch_size)
    batches = [np.asarray(batch) for batch in adapter.get_tf_dataset()]
    return np.concatenate(batches) if batches else positions


STACK_MAX_BYTES = 256 * 2**20
"""Largest training + validation windows :func:`fit` stacks into arrays; above it, batches are
gathered from the one array on demand (:class:`WindowDataset`), so memory stays near the
data's size however many windows there are."""


def stacked_bytes(data: WindowedData) -> int:
    """Bytes the training and validation windows of ``data`` take when stacked."""
    steps = data.window.input_size + (data.window.horizon if data.known else 0)
    per_window = steps * data.values.shape[1] + data.window.horizon * data.n_targets
    return (len(data.train) + len(data.val)) * per_window * data.values.itemsize


def stacked_windows(
    data: WindowedData, origins: np.ndarray, *, weighted: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Every window of ``origins`` stacked (one batch, or all of them for :func:`fit`), with
    each window's weight for every horizon step (None when unweighted)."""
    x, y = data.gather(origins)
    if not weighted or data.weights is None:
        return x, y, None
    # One weight per window and horizon step (its last input row's): MAE's per-step losses.
    weights = np.asarray(data.weights[origins - 1], dtype=np.float32)
    return x, y, np.repeat(weights[:, None], data.window.horizon, axis=1)


def early_stopping(patience: int) -> keras.callbacks.Callback:
    """Stop when the objective stalls for ``patience`` epochs and keep the best weights."""
    return keras.callbacks.EarlyStopping(monitor=OBJECTIVE, patience=patience, restore_best_weights=True)


def train_best(
    hp: Any,
    space: Mapping[str, Any],
    data: WindowedData,
    *,
    epochs: int,
    patience: int,
    seed: int,
    callbacks: list[keras.callbacks.Callback] | None = None,
    name: str = "tsforge_net",
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Rebuild the tuner's winner with the shared builder and train it.

    Args:
        hp: Best hyperparameters, restored with ``HyperParameters.from_config``.
        space: ``tune.space``.
        data: Windowed series.
        epochs: Most epochs to train.
        patience: Early-stopping patience.
        seed: Seed for weights and shuffling.
        callbacks: Further Keras callbacks.
        name: The network's name (ensemble members need distinct names).

    Returns:
        The trained model (best validation weights) and its loss history.
    """
    set_seeds(seed)
    model = build_model(hp, data.model_spec, space, name=name)
    history = fit(
        model,
        hp,
        space,
        data,
        seed,
        epochs=epochs,
        callbacks=[early_stopping(patience), keras.callbacks.TerminateOnNaN(), *(callbacks or [])],
    )
    return model, {k: [float(v) for v in vals] for k, vals in history.history.items()}


def refit_on_validation(
    hp: Any, space: Mapping[str, Any], data: WindowedData, *, epochs: int, seed: int, name: str
) -> keras.Model:
    """Train a fresh network on the training and validation windows for ``epochs`` epochs.

    Early stopping on the validation windows found how long to train; this fit then learns
    from the most recent rows too, which the test forecasts start from (the statistical
    baselines are fitted on every row before each origin). Nothing is held out, so there
    is no early stopping and no weights are restored.

    Args:
        hp: The hyperparameters.
        space: ``tune.space``.
        data: Windowed series.
        epochs: Epochs to train (the early-stopped fit's best epoch).
        seed: Seed for weights and shuffling.
        name: The network's name.

    Returns:
        The trained network.
    """
    set_seeds(seed)
    model = build_model(hp, data.model_spec, space, name=name)
    both = replace(data, train=np.concatenate([data.train, data.val]))
    fit(model, hp, space, both, seed, epochs=epochs, callbacks=[keras.callbacks.TerminateOnNaN()])
    return model


def train_member(
    plan: MemberPlan,
    space: Mapping[str, Any],
    data: WindowedData,
    *,
    epochs: int,
    patience: int,
    refit: bool,
) -> Member:
    """One member trained alone (``train.ensemble_fit: separate``): early stopping, then the
    refit on the training and validation windows when ``refit``."""
    model, history = train_best(
        plan.hp, space, data, epochs=epochs, patience=patience, seed=plan.seed, name=plan.name
    )
    member = Member(plan.trial_id, plan.seed, plan.hp, model, history)
    if refit and len(data.val):
        member.early_model = model
        member.model = refit_on_validation(
            plan.hp, space, data, epochs=member.best_epoch, seed=plan.seed, name=plan.name
        )
        member.refitted = True
    return member


def validation_score(model: keras.Model, data: WindowedData, batch_size: int = 1024) -> float:
    """Mean absolute error of ``model`` on the validation windows, in model space (the objective)."""
    errors = []
    for begin in range(0, len(data.val), batch_size):
        chosen = data.val[begin : begin + batch_size]
        x, y = data.gather(chosen)
        errors.append(
            np.abs(np.asarray(model.predict(x, verbose=0)) - y).reshape(len(chosen), -1).mean(axis=1)
        )
    return float(np.concatenate(errors).mean()) if errors else math.nan


def plot_learning_curve(path: Any, curve: Any) -> None:
    """Loss and val_loss per epoch (a frame with epoch, loss, val_loss) as a PNG."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(curve["epoch"], curve["loss"], marker="o", label="loss")
    ax.plot(curve["epoch"], curve["val_loss"], marker="o", label="val_loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mse (scaled)")
    ax.set_title("learning curve (best weights restored)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
