"""The ensemble's members: the tuner's best trials as candidates (:func:`ensemble_candidates`),
each planned with its seeds, lookbacks and losses (:func:`member_plans`, :class:`MemberPlan`),
and a trained network with its history (:class:`Member`). Training them is
:func:`tsforge.training.train_member` (one alone) or :mod:`tsforge.joint_training` (side by side)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from tsforge.models import reads_steps
from tsforge.windowed_data import OBJECTIVE, WindowedData


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
