"""The ensemble's members trained and combined into the network that is served: one network
after another (:func:`tsforge.training.train_member`) or side by side in one model
(:mod:`tsforge.joint_training`), as ``train.ensemble_fit`` says.

Its own module because it chooses between the two ways: :mod:`tsforge.joint_training`
builds on :mod:`tsforge.training`, so the choice cannot live there without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras

from tsforge.config import DEFAULT_SPACE, ENSEMBLE_FITS
from tsforge.joint_training import train_side_by_side
from tsforge.models import combine
from tsforge.multiworker import fits_done, local_member, training_scope
from tsforge.training import (
    OBJECTIVE,
    Member,
    WindowedData,
    member_plans,
    train_member,
    trial_data,
    validation_score,
)


def train_members(
    candidates: list[tuple[str, Any]],
    space: Mapping[str, Any],
    data: WindowedData,
    *,
    seeds: int,
    epochs: int,
    patience: int,
    seed: int,
    refit: bool = False,
    lookbacks: Sequence[float] = (1.0,),
    losses: Sequence[str] | None = None,
    on_member: Callable[[Member], None] | None = None,
    ensemble_fit: str = "separate",
    strategy: Any | None = None,
) -> list[Member]:
    """Train every candidate's hyperparameters with ``seeds`` seeds per lookback and loss:
    the ensemble's members.

    Args:
        candidates: ``(trial_id, HyperParameters)`` of the trials to use, best first.
        space: ``tune.space``.
        data: Windowed series.
        seeds: Seeds per candidate and lookback (``seed``, ``seed + 1``, ...).
        epochs: Most epochs per member.
        patience: Early-stopping patience.
        seed: First seed.
        refit: Retrain each member on the training and validation windows for its best
            epoch count (see :func:`refit_on_validation`).
        lookbacks: Fractions of the steps each trial reads; every trial trains ``seeds``
            networks reading each (``train.ensemble_lookbacks``), seeds counting on.
        losses: Training losses; every trial trains ``seeds`` networks per lookback with
            each (``train.ensemble_losses``); None: the trial's own loss.
        on_member: Called with each member as soon as it is trained (to log it).
        ensemble_fit: ``separate``: one network after another; ``joint``: the members side by
            side in one model per batch size (:mod:`tsforge.joint_training`).
        strategy: A ``tf.distribute`` strategy (:mod:`tsforge.multiworker`): each member is
            built and fitted under it, then copied out of it; ``separate`` only. None: this
            process alone.

    Returns:
        The members, in training order.
    """
    plans = member_plans(candidates, data, seeds=seeds, seed=seed, lookbacks=lookbacks, losses=losses)
    if ensemble_fit not in ENSEMBLE_FITS:
        raise ValueError(f"unknown ensemble_fit {ensemble_fit!r}; use one of {ENSEMBLE_FITS}")
    if ensemble_fit == "joint":
        if strategy is not None:
            raise ValueError(
                "joint training runs on one process; fit the members separately under a strategy"
            )
        return train_side_by_side(
            plans, space, data, epochs=epochs, patience=patience, refit=refit, on_member=on_member
        )
    members = []
    for plan in plans:
        if strategy is None:
            member = train_member(plan, space, data, epochs=epochs, patience=patience, refit=refit)
        else:
            with training_scope(strategy):
                member = train_member(plan, space, data, epochs=epochs, patience=patience, refit=refit)
            member = local_member(member, space, data)
        if on_member is not None:
            on_member(member)
        members.append(member)
    if strategy is not None:
        fits_done(strategy)
    return members


def fit_members(
    candidates: list[tuple[str, Any]],
    space: Mapping[str, Any],
    data: WindowedData,
    cfg: Any,
    on_member: Callable[[Member], None] | None = None,
    *,
    strategy: Any | None = None,
) -> list[Member]:
    """:func:`train_members` as the train section ``cfg`` (:class:`tsforge.config.TrainConfig`)
    says: the fits every worker of several runs in step (:func:`train_final`'s first part)."""
    return train_members(
        candidates,
        space,
        trial_data(data, candidates[0][1].values),
        seeds=cfg.ensemble_seeds,
        epochs=cfg.epochs,
        patience=cfg.patience,
        seed=cfg.seed,
        refit=cfg.refit,
        lookbacks=cfg.ensemble_lookbacks,
        losses=cfg.ensemble_losses,
        on_member=on_member,
        ensemble_fit=cfg.ensemble_fit,
        strategy=strategy,
    )


@dataclass(frozen=True)
class FinalModel:
    """The train stage's result: the network served (one member or their combination), its
    members, and what the run reports."""

    model: keras.Model
    members: list[Member]
    fit_seconds: float
    samples_per_second: float
    val_score: float | None
    combine: str
    refit: bool

    def curve(self) -> dict[str, list[float]]:
        """The first member's learning curve: epoch, loss, val_loss and the objective."""
        history = self.members[0].history
        return {
            "epoch": [float(e) for e in range(1, len(history["loss"]) + 1)],
            "loss": history["loss"],
            "val_loss": history["val_loss"],
            OBJECTIVE: history[OBJECTIVE],
        }

    def held_out_network(self) -> tuple[keras.Model, str]:
        """The network whose validation errors are out of sample, and what it is.

        Without refit that is the served network itself; with it, the early-stopped members
        combined as the served ones are (the refitted ones have learnt the validation windows).
        """
        early = [m.early_model for m in self.members]
        if not self.refit or any(e is None for e in early):
            return self.model, "the served network on the validation windows"
        return (
            combine([e for e in early if e is not None], self.combine),
            "the early-stopped networks before refit, combined as served, on the validation windows",
        )

    def summary(self) -> dict[str, Any]:
        """What reports/training.json says about the ensemble."""
        return {
            "members": [
                {
                    "trial_id": m.trial_id,
                    "family": m.hp.values.get("family", "rnn"),
                    "seed": m.seed,
                    "input_size": int(m.hp.values.get("input_size") or 0),  # 0: the whole window
                    "loss": m.hp.values.get("loss", DEFAULT_SPACE["loss"]),
                    f"best_{OBJECTIVE}": m.val_score,
                }
                for m in self.members
            ],
            "combine": self.combine if len(self.members) > 1 else "single network",
            "refit_on_validation": self.refit,
            OBJECTIVE: self.val_score,
        }


def train_final(
    candidates: list[tuple[str, Any]],
    space: Mapping[str, Any],
    data: WindowedData,
    cfg: Any,
    on_member: Callable[[Member], None] | None = None,
    *,
    strategy: Any | None = None,
) -> FinalModel:
    """Train the ensemble's members and combine them into the network that is served.

    Args:
        candidates: From :func:`ensemble_candidates`.
        space: ``tune.space``.
        data: Windowed series.
        cfg: The train section (:class:`tsforge.config.TrainConfig`).
        on_member: Called with each member once it is trained (to log it).
        strategy: The chief's ``tf.distribute`` strategy when several workers train
            (:mod:`tsforge.multiworker`); None: this process alone.

    Returns:
        The final model and its figures.
    """
    import time

    data = trial_data(data, candidates[0][1].values)
    started = time.perf_counter()
    members = fit_members(candidates, space, data, cfg, on_member, strategy=strategy)
    seconds = time.perf_counter() - started
    model = combine([m.model for m in members], cfg.ensemble_combine)
    epochs = sum(len(m.history["loss"]) for m in members)
    return FinalModel(
        model=model,
        members=members,
        fit_seconds=seconds,
        samples_per_second=len(data.train) * epochs / seconds,
        # A refitted model has learnt the validation windows: it has no held-out score.
        val_score=None if cfg.refit else validation_score(model, data),
        combine=cfg.ensemble_combine,
        refit=cfg.refit,
    )
