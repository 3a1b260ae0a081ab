"""Several networks fitted as one Keras model (:class:`SideBySide`: one batch per member in every
step, one gradient tape, each member's own loss and optimizer) and the callback that applies each
member's stopping rule after every epoch (:class:`MemberProgress`). How the members are grouped,
fed and fitted is :mod:`tsforge.joint_training`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras

from tsforge.member_stopping import MemberEpochs
from tsforge.training import OBJECTIVE


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
