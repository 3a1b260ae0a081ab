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

The stopping rules live in :mod:`tsforge.member_stopping` and the side-by-side Keras model with
its epoch callback in :mod:`tsforge.side_by_side`; this module groups, feeds and fits the
members, and re-exports those names, so ``from tsforge.joint_training import ...`` keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import keras
import numpy as np

from tsforge.member_stopping import (
    PLATEAU_MIN_DELTA,
    EarlyStop,
    FixedEpochs,
    MemberEpochs,
    Plateau,
    StopRule,
    Verdict,
)
from tsforge.models import WEIGHTED_LOSSES, build_model, hp_values
from tsforge.side_by_side import MemberProgress, SideBySide
from tsforge.training import (
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

__all__ = [
    "DROP_FINISHED",
    "PLATEAU_MIN_DELTA",
    "STEPS_PER_EXECUTION",
    "EarlyStop",
    "FixedEpochs",
    "MemberEpochs",
    "MemberProgress",
    "MemberWindows",
    "Plateau",
    "SideBySide",
    "StopRule",
    "Verdict",
    "build_networks",
    "fit_groups",
    "fit_key",
    "fit_side_by_side",
    "member_feeds",
    "stacked_feed",
    "train_group",
    "train_side_by_side",
]

STEPS_PER_EXECUTION = 1
"""Training (and validation) steps a side-by-side fit runs per call into TensorFlow (Keras's
``steps_per_execution``; the same steps either way). 1: on CO2's default ensemble on CPU, 32
saved nothing (279 s against 277 s), the steps' own work outweighing Keras's Python loop."""
DROP_FINISHED = False
"""Whether to fit the members still learning on without those whose rule is done (a fresh fit,
traced again) rather than skip the finished ones in every step. Off: on CO2's default ensemble
(bench/ensemble.py) the traces cost more than the skips, 376 s against 279 s."""


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
