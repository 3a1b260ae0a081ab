"""The ensemble's members trained side by side in one Keras model (``train.ensemble_fit: joint``).

Trained one after another, every member pays for its own ``fit``: tracing the train and test
functions, setting up the data, running each small batch through Keras's loop. Side by side,
the members of one model share all of that: one ``fit`` runs a batch through every member,
one gradient tape covers them all, and each member's optimizer updates only that member's
weights, so each learns exactly as its own gradients and optimizer (Adam, RMSprop, its
learning rate and schedule) say. A member's branch never reads another's weights, so a
member's gradients are those it would have alone.

What one ``fit`` must share is its steps: members with different batch sizes (or windows
normalised differently) go in different models (:func:`fit_groups`). Each member of one model
reads its own batches, in the order its seed gives it trained alone (:func:`member_feeds`),
and keeps its seed's initial weights and dropout masks (built as
:func:`tsforge.training.train_best` builds them), its loss and its own early-stopping point
(:class:`EarlyStop`), learning-rate plateau (:class:`Plateau`) and best weights
(:class:`MemberEpochs`): a joint member is the member trained alone, up to float rounding, so
the joint ensemble is the separate one. A member whose rule is done is skipped in the steps
that follow (or leaves the fit, :data:`DROP_FINISHED`). Afterwards every member is its own ``keras.Model``
again (they always were: the side-by-side model only calls them), so combining, logging and
serving them is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import keras
import numpy as np

from tsforge.models import WEIGHTED_LOSSES, build_model, hp_values
from tsforge.training import (
    OBJECTIVE,
    PLATEAU_FACTOR,
    PLATEAU_PATIENCE,
    STACK_MAX_BYTES,
    Member,
    MemberPlan,
    WindowDataset,
    WindowedData,
    set_seeds,
    stacked_bytes,
    stacked_order,
    stacked_windows,
    trial_data,
)

STEPS_PER_EXECUTION = 1
"""Training (and validation) steps a side-by-side fit runs per call into TensorFlow (Keras's
``steps_per_execution``; the same steps either way). 1: on CO2's default ensemble on CPU, 32
saved nothing (279 s against 277 s), the steps' own work outweighing Keras's Python loop."""
DROP_FINISHED = False
"""Whether to fit the members still learning on without those whose rule is done (a fresh fit,
traced again) rather than skip the finished ones in every step. Off: on CO2's default ensemble
(bench/ensemble.py) the traces cost more than the skips, 376 s against 279 s."""

PLATEAU_MIN_DELTA = 1e-4
"""Smallest fall of the objective the plateau counts as progress (ReduceLROnPlateau's default,
which :func:`tsforge.training.fit` uses)."""


def fit_key(plan: MemberPlan, space: Mapping[str, Any]) -> tuple[int, Any]:
    """What members must share to be fitted in one model: their batches (size, and windows
    normalised alike)."""
    values = hp_values(plan.hp, space)
    return int(values["batch_size"]), values.get("normalize")


def fit_groups(plans: Sequence[MemberPlan], space: Mapping[str, Any]) -> list[list[int]]:
    """Indices of ``plans`` grouped by :func:`fit_key`, groups and members in training order."""
    groups: dict[tuple[int, Any], list[int]] = {}
    for index, plan in enumerate(plans):
        groups.setdefault(fit_key(plan, space), []).append(index)
    return list(groups.values())


@dataclass(frozen=True)
class Verdict:
    """What a member's stopping rule says after an epoch: keep these weights, stop training."""

    snapshot: bool = False
    done: bool = False


class StopRule(Protocol):
    def after_epoch(self, epoch: int, objective: float | None) -> Verdict: ...


@dataclass
class EarlyStop:
    """Keras's ``EarlyStopping(monitor=OBJECTIVE, patience, restore_best_weights=True)`` for one
    member: the same counting, so a member stops at the epoch it would stop at alone."""

    patience: int
    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0

    def after_epoch(self, epoch: int, objective: float | None) -> Verdict:
        if objective is None:  # no validation windows: nothing to judge by, train every epoch
            return Verdict()
        first = self.best_epoch is None  # Keras keeps the first epoch's weights whatever they score
        if first:
            self.best_epoch = epoch
        self.wait += 1
        # As Keras compares: a NaN is never an improvement, except as the very first value.
        if self.best is None or objective < self.best:
            self.best, self.best_epoch, self.wait = objective, epoch, 0
            return Verdict(snapshot=True)
        return Verdict(snapshot=first, done=self.wait >= self.patience and epoch > 0)


@dataclass
class FixedEpochs:
    """Train exactly ``epochs`` epochs and keep the weights then (the refit's rule)."""

    epochs: int

    def after_epoch(self, epoch: int, objective: float | None) -> Verdict:
        reached = epoch + 1 >= self.epochs
        return Verdict(snapshot=reached, done=reached)


@dataclass
class Plateau:
    """Keras's ``ReduceLROnPlateau(monitor=OBJECTIVE, factor, patience)`` for one member
    (``lr_schedule: plateau``): returns the learning rate to train the next epoch with."""

    factor: float = PLATEAU_FACTOR
    patience: int = PLATEAU_PATIENCE
    best: float | None = None
    wait: int = 0

    def after_epoch(self, objective: float | None, rate: float) -> float:
        if objective is None:
            return rate
        if self.best is None or objective + PLATEAU_MIN_DELTA < self.best:
            self.best, self.wait = objective, 0
            return rate
        self.wait += 1
        if self.wait < self.patience or rate <= 0:
            return rate
        self.wait = 0
        return rate * self.factor


@dataclass
class MemberEpochs:
    """One member's epochs in a side-by-side fit: its history, stopping rule, plateau and the
    weights it will keep."""

    rule: StopRule
    plateau: Plateau | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    kept: list[np.ndarray] | None = None
    done: bool = False


class SideBySide(keras.Model):  # type: ignore[misc]
    """Several networks fitted as one: each trains on its own batches (one per member in every
    training step) and validates on the shared ones, with its own loss, optimizer and metrics.
    The forecast of a window is the list of the members' forecasts.

    With ``skippable``, a member marked finished (:meth:`finish`) is skipped by the training
    and test steps: its early stopping has kept its weights, and training it on would cost as
    much as training a member that still learns. The skip (a ``tf.cond`` per member) costs
    every step about a fifth more than the members alone; :func:`fit_side_by_side` skips only
    where it cannot instead refit the members still learning without the finished ones.
    """

    def __init__(
        self,
        members: Sequence[keras.Model],
        weighted: Sequence[bool],
        *,
        skippable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.members = list(members)
        self.weighted = list(weighted)
        self.skippable = skippable
        self.loss_trackers = [keras.metrics.Mean(name=f"loss_{i}") for i in range(len(members))]
        self.mae_trackers = [keras.metrics.MeanAbsoluteError(name=f"mae_{i}") for i in range(len(members))]
        self.active = self.add_weight(
            shape=(len(members),), initializer="ones", trainable=False, name="active"
        )
        for member in self.members:
            # Built now, outside the traced step: a tf.function may not create variables later.
            # Once only: a member refitted without the finished ones keeps its optimizer's state.
            if not member.optimizer.built:
                member.optimizer.build(member.trainable_variables)
        # Its members are built; Keras must not build it from a training batch, which holds
        # one batch per member rather than the model's input.
        self.built = True

    def finish(self, index: int) -> None:
        """Stop training (and validating) member ``index``."""
        active = keras.ops.convert_to_numpy(self.active).copy()
        active[index] = 0.0
        self.active.assign(active)

    def call(self, inputs: Any, training: bool | None = None) -> list[Any]:
        return [member(inputs, training=training) for member in self.members]

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [*self.loss_trackers, *self.mae_trackers]

    def _forecast_and_loss(
        self, i: int, x: Any, y: Any, sample_weight: Any, training: bool
    ) -> tuple[Any, Any]:
        """Member ``i``'s forecast and its own compiled loss (its training loss, with the MASE
        weights where it uses them); zeros for a finished member, at no cost."""
        import tensorflow as tf

        member, weighted = self.members[i], self.weighted[i]

        def run() -> tuple[Any, Any]:
            forecast = member(x, training=training)
            weights = sample_weight if weighted else None
            loss = member.compute_loss(x=x, y=y, y_pred=forecast, sample_weight=weights, training=training)
            return forecast, tf.cast(loss, "float32")

        def skip() -> tuple[Any, Any]:
            return tf.zeros_like(y, dtype="float32"), tf.constant(0.0)

        if not self.skippable:
            return run()
        result: tuple[Any, Any] = tf.cond(self.active[i] > 0.5, run, skip)
        return result

    def _update_metrics(self, i: int, y: Any, forecast: Any, loss: Any) -> None:
        # As a lone member's loss tracker (weighted by the batch's size) and compiled metric
        # (unweighted: Keras applies sample weights to ``weighted_metrics`` only).
        self.loss_trackers[i].update_state(loss, sample_weight=keras.ops.shape(y)[0])
        self.mae_trackers[i].update_state(y, forecast)

    def train_step(self, data: Any) -> dict[str, Any]:
        """``data``: ``(batches,)``, one batch per member, ``(x, y)`` or ``(x, y, sample_weight)``,
        each gathered in that member's own order (:func:`member_feeds`)."""
        import tensorflow as tf

        batches = [keras.utils.unpack_x_y_sample_weight(batch) for batch in data[0]]
        with tf.GradientTape() as tape:
            results = [
                self._forecast_and_loss(i, x, y, w, training=True) for i, (x, y, w) in enumerate(batches)
            ]
            # The branches share no weights: the sum's gradient for a member's weights is
            # its own loss's gradient (zero for a finished member).
            total = tf.add_n([loss for _, loss in results])
        variables = [member.trainable_variables for member in self.members]
        gradients = tape.gradient(total, [v for own in variables for v in own])
        start = 0
        for member, own in zip(self.members, variables, strict=True):
            member.optimizer.apply(gradients[start : start + len(own)], own)
            start += len(own)
        for i, ((_, y, _), (forecast, loss)) in enumerate(zip(batches, results, strict=True)):
            self._update_metrics(i, y, forecast, loss)
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data: Any) -> dict[str, Any]:
        """``data``: the validation batch every member reads (validation is never shuffled)."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        for i in range(len(self.members)):
            forecast, loss = self._forecast_and_loss(i, x, y, None, training=False)
            self._update_metrics(i, y, forecast, loss)
        return {metric.name: metric.result() for metric in self.metrics}


class MemberProgress(keras.callbacks.Callback):  # type: ignore[misc]
    """After each epoch of a side-by-side fit: every member's history, plateau and stopping
    rule, each on its own scores; the fit stops once every member is done, and each member
    ends with the weights its rule kept.

    With ``pause``, the fit also stops (:attr:`paused`) after an epoch in which some member
    finished and others train on, so they can go on without it; only the finished members
    take their kept weights then.
    """

    def __init__(
        self, members: Sequence[keras.Model], epochs: Sequence[MemberEpochs], *, pause: bool = False
    ) -> None:
        super().__init__()
        self.members, self.epochs, self.pause = list(members), list(epochs), pause
        self.paused = False
        self.last_epoch = -1

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        logs = logs or {}
        self.last_epoch = epoch
        finished = False
        for i, (member, state) in enumerate(zip(self.members, self.epochs, strict=True)):
            if not state.done:
                self._member_epoch_end(i, member, state, epoch, logs)
                finished = finished or state.done
                if state.done and isinstance(self.model, SideBySide) and self.model.skippable:
                    self.model.finish(i)
        if all(state.done for state in self.epochs):
            self.model.stop_training = True
        elif self.pause and finished and epoch + 1 < self.params.get("epochs", math.inf):
            self.model.stop_training = self.paused = True

    @staticmethod
    def _member_epoch_end(
        i: int, member: keras.Model, state: MemberEpochs, epoch: int, logs: Mapping[str, Any]
    ) -> None:
        for key in ("loss", "mae", "val_loss", "val_mae"):
            if f"{key}_{i}" in logs:
                state.history.setdefault(key, []).append(float(logs[f"{key}_{i}"]))
        objective = logs.get(f"{OBJECTIVE}_{i}")
        objective = None if objective is None else float(objective)
        if state.plateau is not None:
            rate = float(keras.ops.convert_to_numpy(member.optimizer.learning_rate))
            state.history.setdefault("learning_rate", []).append(rate)  # as ReduceLROnPlateau logs it
            reduced = state.plateau.after_epoch(objective, rate)
            if reduced != rate:
                member.optimizer.learning_rate = reduced
        verdict = state.rule.after_epoch(epoch, objective)
        if verdict.snapshot:
            state.kept = member.get_weights()
        # As TerminateOnNaN: a member whose training loss is no longer finite trains no further.
        diverged = not math.isfinite(state.history["loss"][-1])
        state.done = verdict.done or diverged
        if state.done and state.kept is None:
            state.kept = member.get_weights()

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        for member, state in zip(self.members, self.epochs, strict=True):
            if state.kept is not None and (state.done or not self.paused):
                member.set_weights(state.kept)


def build_networks(
    plans: Sequence[MemberPlan], space: Mapping[str, Any], data: WindowedData
) -> list[keras.Model]:
    """Each member's network, initialised from its own seed as :func:`tsforge.training.train_best`
    initialises it (same seed, same initial weights)."""
    networks = []
    for plan in plans:
        set_seeds(plan.seed)
        networks.append(build_model(plan.hp, data.model_spec, space, name=plan.name))
    return networks


class MemberWindows(keras.utils.PyDataset):  # type: ignore[misc]
    """Batches gathered on demand for several members at once: batch ``index`` of each member's
    own :class:`tsforge.training.WindowDataset` (its seed's shuffle, reshuffled each epoch as
    when it trains alone)."""

    def __init__(self, datasets: Sequence[WindowDataset]) -> None:
        super().__init__()
        self.datasets = list(datasets)

    def __len__(self) -> int:
        return len(self.datasets[0])

    def __getitem__(self, index: int) -> tuple[tuple[tuple[np.ndarray, ...], ...]]:
        # One input, as Keras wants a batch: (x,), x being the members' batches.
        return (tuple(dataset[index] for dataset in self.datasets),)

    def on_epoch_end(self) -> None:
        for dataset in self.datasets:
            dataset.on_epoch_end()


def stacked_feed(data: WindowedData, batch_size: int, seeds: Sequence[int], weighted: Sequence[bool]) -> Any:
    """Each member's batches of the stacked training windows, in the order a lone fit with its
    seed reads them (:func:`tsforge.training.stacked_order`): a ``tf.data`` pipeline whose
    element is ``(batches,)``, one ``(x, y[, sample_weight])`` per member."""
    import tensorflow as tf

    x, y, weights = stacked_windows(data, data.train, weighted=any(weighted))
    orders = np.stack([stacked_order(len(data.train), batch_size, seed) for seed in seeds], axis=1)
    x_all, y_all = tf.constant(x), tf.constant(y)
    w_all = None if weights is None else tf.constant(weights)
    own_weights = [w_all is not None and w for w in weighted]

    def gather(positions: Any) -> tuple[tuple[tuple[Any, ...], ...]]:
        batches = []
        for i, own in enumerate(own_weights):
            chosen = positions[:, i]
            batch = (tf.gather(x_all, chosen), tf.gather(y_all, chosen))
            batches.append((*batch, tf.gather(w_all, chosen)) if own else batch)
        return (tuple(batches),)  # one input, as MemberWindows's batches

    return (
        tf.data.Dataset.from_tensor_slices(orders)
        .batch(batch_size)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def member_feeds(
    data: WindowedData, batch_size: int, seeds: Sequence[int], weighted: Sequence[bool]
) -> dict[str, Any]:
    """``fit``'s training and validation arguments for members sharing ``batch_size``: each
    member's training batches in its own order, as :func:`tsforge.training.fit_windows` feeds
    a lone member (stacked when small, gathered on demand otherwise); the validation batches
    shared, as every member reads them alike."""
    if stacked_bytes(data) <= STACK_MAX_BYTES:
        x_val, y_val, _ = stacked_windows(data, data.val)
        return {
            "x": stacked_feed(data, batch_size, seeds, weighted),
            "validation_data": (x_val, y_val),
            "validation_batch_size": batch_size,  # as a lone fit validates: in its batch size
        }
    datasets = [
        WindowDataset(data, data.train, batch_size, shuffle_seed=seed, weighted=own)
        for seed, own in zip(seeds, weighted, strict=True)
    ]
    return {"x": MemberWindows(datasets), "validation_data": WindowDataset(data, data.val, batch_size)}


def fit_side_by_side(
    networks: Sequence[keras.Model],
    plans: Sequence[MemberPlan],
    space: Mapping[str, Any],
    data: WindowedData,
    *,
    epochs: int,
    rules: Sequence[StopRule],
) -> list[dict[str, list[float]]]:
    """Fit ``networks`` (members sharing a :func:`fit_key`) in one ``fit``, each under its rule
    and on its own batch order (its seed's, as alone).

    Args:
        networks: Compiled members, from :func:`build_networks`.
        plans: Their plans.
        space: ``tune.space``.
        data: Windowed series.
        epochs: Most epochs.
        rules: Each member's stopping rule (:class:`EarlyStop`, :class:`FixedEpochs`).

    Returns:
        Each member's history (loss, mae, val_loss, val_mae per epoch it trained), as a lone
        fit's history reads. Each network ends with the weights its rule kept.
    """
    values = [hp_values(plan.hp, space) for plan in plans]
    weighted = [v["loss"] in WEIGHTED_LOSSES for v in values]
    states = [
        MemberEpochs(rule, Plateau() if v["lr_schedule"] == "plateau" else None)
        for rule, v in zip(rules, values, strict=True)
    ]
    data = trial_data(data, values[0])
    # With DROP_FINISHED, finished members are dropped (the rest fitted on without them) where
    # each member's order is the same every epoch (stacked windows); gathered on demand, the
    # order moves on with Keras's calls to the dataset, which a fresh fit would repeat.
    drop = DROP_FINISHED and stacked_bytes(data) <= STACK_MAX_BYTES
    learning, epoch = list(range(len(plans))), 0
    while learning and epoch < epochs:
        feeds = member_feeds(
            data,
            int(values[0]["batch_size"]),
            [plans[i].seed for i in learning],
            [weighted[i] for i in learning],
        )
        joint = SideBySide(
            [networks[i] for i in learning],
            [weighted[i] for i in learning],
            skippable=not drop,
            name="side_by_side",
        )
        # As the members compile: no XLA (op determinism, which set_seeds enables, rules it out).
        joint.compile(jit_compile=False, steps_per_execution=STEPS_PER_EXECUTION)
        progress = MemberProgress([networks[i] for i in learning], [states[i] for i in learning], pause=drop)
        # shuffle=False: each member's feed is in its own order already.
        joint.fit(**feeds, initial_epoch=epoch, epochs=epochs, shuffle=False, callbacks=[progress], verbose=0)
        if not progress.paused:
            break
        learning, epoch = [i for i in learning if not states[i].done], progress.last_epoch + 1
    return [state.history for state in states]


def train_group(
    plans: Sequence[MemberPlan],
    space: Mapping[str, Any],
    data: WindowedData,
    *,
    epochs: int,
    patience: int,
    refit: bool,
) -> list[Member]:
    """Members sharing a :func:`fit_key`: early-stopped side by side, then, with ``refit``,
    refitted side by side on the training and validation windows, each for its best epoch count
    (one fit of the longest; each member's weights are kept at its own count)."""
    networks = build_networks(plans, space, data)
    histories = fit_side_by_side(
        networks, plans, space, data, epochs=epochs, rules=[EarlyStop(patience) for _ in plans]
    )
    members = [
        Member(plan.trial_id, plan.seed, plan.hp, network, history)
        for plan, network, history in zip(plans, networks, histories, strict=True)
    ]
    if not refit or not len(data.val):
        return members
    refitted = build_networks(plans, space, data)
    both = replace(data, train=np.concatenate([data.train, data.val]))
    counts = [member.best_epoch for member in members]
    fit_side_by_side(refitted, plans, space, both, epochs=max(counts), rules=[FixedEpochs(n) for n in counts])
    for member, network in zip(members, refitted, strict=True):
        member.early_model, member.model, member.refitted = member.model, network, True
    return members


def train_side_by_side(
    plans: Sequence[MemberPlan],
    space: Mapping[str, Any],
    data: WindowedData,
    *,
    epochs: int,
    patience: int,
    refit: bool,
    on_member: Callable[[Member], None] | None = None,
) -> list[Member]:
    """Every member of ``plans``, trained side by side in one model per :func:`fit_key`.

    Args:
        plans: The members (:func:`tsforge.training.member_plans`).
        space: ``tune.space``.
        data: Windowed series.
        epochs: Most epochs per member.
        patience: Early-stopping patience, each member counting on its own scores.
        refit: Refit each member on the training and validation windows for its best epoch count.
        on_member: Called with each member once its model is trained.

    Returns:
        The members, in the order of ``plans``.
    """
    members: dict[int, Member] = {}
    for group in fit_groups(plans, space):
        trained = train_group(
            [plans[i] for i in group], space, data, epochs=epochs, patience=patience, refit=refit
        )
        for index, member in zip(group, trained, strict=True):
            members[index] = member
            if on_member is not None:
                on_member(member)
    return [members[i] for i in range(len(plans))]
