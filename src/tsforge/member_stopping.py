"""Each member's own epochs in a side-by-side fit (:mod:`tsforge.joint_training`): when it stops
(early stopping, or a fixed count for the refit), when its learning rate falls (the plateau) and
which weights it keeps, counted exactly as Keras's callbacks count for the member fitted alone.
Plain Python on the scores Keras logs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from tsforge.training import PLATEAU_FACTOR, PLATEAU_PATIENCE

PLATEAU_MIN_DELTA = 1e-4
"""Smallest fall of the objective the plateau counts as progress (ReduceLROnPlateau's default,
which :func:`tsforge.training.fit` uses)."""


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
