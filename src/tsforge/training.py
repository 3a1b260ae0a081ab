"""Feeding windows to Keras and fitting, shared by tuning trials and final training."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np

from tsforge.config import SPACE_CHOICES
from tsforge.models import WEIGHTED_LOSSES, ModelSpec, build_model, hp_values, reads_steps
from tsforge.panel import first_usable_rows
from tsforge.plotting import pyplot
from tsforge.windowing import WindowSpec, gather_windows

OBJECTIVE = "val_mae"
"""What trials, early stopping and ensemble members are judged by: the mean absolute error
of the validation windows in model space. Unlike ``val_loss`` it does not depend on the
training loss, so trials that train with different losses compare fairly."""


@dataclass(frozen=True)
class WindowedData:
    """The model-space series and the forecast origins of each split."""

    values: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    window: WindowSpec
    n_targets: int
    normalize: bool = False
    weights: np.ndarray | None = None
    series_starts: np.ndarray | None = None
    """First usable row of each series, sorted; windows reaching before theirs are padded
    (``window.min_history``). None: every window is complete."""
    known: int = 0
    """Trailing columns known for the horizon (:attr:`tsforge.covariates.Covariates.n_known`)."""

    @property
    def model_spec(self) -> ModelSpec:
        """The shapes a model for this data must have."""
        ahead = self.window.horizon if self.known else 0
        return ModelSpec(
            self.window.input_size, self.values.shape[1], self.window.horizon, self.n_targets, ahead
        )

    @classmethod
    def of(cls, series: Any, windows: Any) -> WindowedData:
        """From the scale and window stages' outputs (:class:`tsforge.catalog.ProcessedSeries`
        and :class:`tsforge.catalog.Windows`)."""
        return cls(
            series.values,
            windows.train,
            windows.val,
            windows.test,
            windows.spec,
            series.n_targets,
            windows.normalize,
            series.weights,
            first_usable_rows(series.layout, series.lost_rows),
            series.known,
        )

    def first_rows(self, origins: np.ndarray) -> np.ndarray | None:
        """The first usable row of each origin's series (None: no series layout known)."""
        if self.series_starts is None:
            return None
        return np.asarray(self.series_starts[np.searchsorted(self.series_starts, origins, side="right") - 1])

    def complete(self, origins: np.ndarray) -> np.ndarray:
        """The origins among ``origins`` whose inputs are all real rows (none padded)."""
        first_rows = self.first_rows(origins)
        return origins if first_rows is None else origins[origins - self.window.input_size >= first_rows]

    def gather(self, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The inputs and targets of ``origins``, padded where a training window is short."""
        first_rows = self.first_rows(origins)
        return gather_windows(
            self.values,
            origins,
            self.window,
            self.n_targets,
            self.normalize,
            first_rows=first_rows,
            known=self.known,
        )


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


NORMALIZATIONS = SPACE_CHOICES["normalize"]
"""Values of ``tune.space.normalize``: windows in the scale stage's levels, or relative to
their last input value (see :func:`tsforge.windowing.gather_windows`)."""


def trial_data(data: WindowedData, values: Mapping[str, Any]) -> WindowedData:
    """The windows as a trial reads them: a searched ``normalize`` (none or last) overrides the
    ``window.normalize`` the scale stage settled, for that trial only.

    Args:
        data: Windowed series.
        values: The trial's hyperparameter values.

    Returns:
        ``data``, with ``normalize`` set by the trial when it chose one.
    """
    chosen = values.get("normalize")
    if chosen is None:
        return data
    if chosen not in NORMALIZATIONS:
        raise ValueError(f"tune.space.normalize: unknown value {chosen!r}; use one of {NORMALIZATIONS}")
    return replace(data, normalize=chosen == "last")


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


@dataclass
class Member:
    """One trained network of the final model: which trial's hyperparameters, which seed.

    ``early_model`` is the early-stopped network a refit replaced: it never trained on the
    validation windows, so its errors there calibrate prediction intervals honestly.
    """

    trial_id: str
    seed: int
    hp: Any
    model: keras.Model
    history: dict[str, list[float]]
    refitted: bool = False
    early_model: keras.Model | None = None

    @property
    def val_score(self) -> float:
        """Its best validation objective (of the early-stopped fit, before any refit)."""
        finite = [v for v in self.history.get(OBJECTIVE, []) if math.isfinite(v)]
        return min(finite, default=math.inf)

    @property
    def best_epoch(self) -> int:
        """The epoch (from 1) whose weights early stopping kept."""
        scores = [v if math.isfinite(v) else math.inf for v in self.history.get(OBJECTIVE, [])]
        return int(np.argmin(scores)) + 1 if scores else 1


@dataclass(frozen=True)
class MemberPlan:
    """One network of the ensemble before it is trained: its trial, hyperparameters (lookback
    and loss applied), seed and name."""

    trial_id: str
    hp: Any
    seed: int
    name: str


def member_plans(
    candidates: list[tuple[str, Any]],
    data: WindowedData,
    *,
    seeds: int,
    seed: int,
    lookbacks: Sequence[float] = (1.0,),
    losses: Sequence[str] | None = None,
) -> list[MemberPlan]:
    """The ensemble's members in training order: every candidate with ``seeds`` seeds per
    lookback and loss (see :func:`tsforge.ensemble.train_members`)."""
    variants = [(lookback, loss) for loss in (losses or (None,)) for lookback in lookbacks]
    plans = []
    for rank, (trial_id, trial_hp) in enumerate(candidates):
        for offset in range(seeds * len(variants)):  # seeds count on across variants
            lookback, loss = variants[offset % len(variants)]
            hp = with_loss(with_lookback(trial_hp, lookback, data.window.input_size), loss)
            plans.append(MemberPlan(trial_id, hp, seed + offset, f"member_{rank}_{offset}"))
    return plans


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


def with_lookback(hp: Any, fraction: float, window: int) -> Any:
    """``hp`` reading ``fraction`` of the steps it reads (at least one); ``hp`` itself at 1.

    Networks that read different lengths of history err differently, so their median is
    steadier than seeds alone give (the lookback ensembles of N-BEATS).
    """
    if fraction >= 1:
        return hp
    steps = reads_steps(hp.values, window)
    shorter = hp.copy()
    shorter.values["input_size"] = max(1, round(steps * fraction))
    return shorter


def with_loss(hp: Any, loss: str | None) -> Any:
    """``hp`` trained with ``loss`` instead of its own; ``hp`` itself for None or its own.

    Networks fitted to different losses err differently (N-BEATS' ensembles mix sMAPE, MASE
    and MAPE losses); trials are still compared on validation MAE whatever their loss.
    """
    if loss is None or hp.values.get("loss") == loss:
        return hp
    changed = hp.copy()
    changed.values["loss"] = loss
    return changed


def ensemble_candidates(best_hparams: Mapping[str, Any], count: int) -> list[tuple[str, Any]]:
    """``(trial_id, HyperParameters)`` of the best ``count`` distinct trials the tune stage
    recorded in best_hparams.json (its ``top`` list; the single best for older files)."""
    import keras_tuner as kt

    ranked = best_hparams.get("top") or [best_hparams]
    chosen = [(str(t["trial_id"]), kt.HyperParameters.from_config(t["config"])) for t in ranked]
    # The served network normalises its windows once for all members: keep the trials that
    # read windows as the best one does (a searched tune.space.normalize may differ).
    best = chosen[0][1].values.get("normalize")
    return [c for c in chosen if c[1].values.get("normalize") == best][:count]


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
