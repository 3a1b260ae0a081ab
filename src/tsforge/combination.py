"""Forecast combination: the network's forecast averaged with statistical ones (Theta, ETS).

Averaging forecasts whose errors differ is the oldest dependable gain in forecasting (the
M3 competition's combination of ETS, ARIMA and Theta beat each of them). The train stage
decides by evidence whether the network is served alone or combined: every candidate is
scored on the validation windows, forecast by the network that has not learnt them, and the
best one (the fewest methods on a tie) is kept. The served forecaster refits the statistical
methods on each history it is given, so what is scored is what is served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from tsforge import evaluation as ev
from tsforge.config import COMBINABLE_METHODS


@dataclass(frozen=True)
class Combination:
    """The statistical methods averaged with the network, and how they are fitted.

    Attributes:
        methods: Names from :data:`tsforge.config.COMBINABLE_METHODS`; empty: the network alone.
        period: Seasonal period the methods are fitted with (the gate's MASE period).
        history: Rows before each origin every fit reads (``evaluate.theta_history``).
    """

    methods: tuple[str, ...] = ()
    period: int = 1
    history: int = 0

    @property
    def active(self) -> bool:
        """Whether the network is combined with anything."""
        return bool(self.methods)

    @property
    def label(self) -> str:
        """``network``, or ``network+theta+ets``: how reports and MLflow name it."""
        return "+".join(("network", *self.methods))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the forecast spec stores it)."""
        return {"methods": list(self.methods), "period": self.period, "history": self.history}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Combination:
        """Read :meth:`to_dict`'s form; None (a spec from before combinations): the network alone."""
        if not raw:
            return cls()
        return cls(tuple(str(m) for m in raw["methods"]), int(raw["period"]), int(raw["history"]))


def candidates(methods: Sequence[str] = COMBINABLE_METHODS) -> list[tuple[str, ...]]:
    """Every subset of ``methods``, the network alone first, then by size."""
    return [c for size in range(len(methods) + 1) for c in combinations(methods, size)]


def average(network: np.ndarray, others: Sequence[np.ndarray]) -> np.ndarray:
    """The equal-weight mean of the network's forecast and the others'."""
    return np.mean(np.stack([network, *others]), axis=0) if others else network


@dataclass(frozen=True)
class Choice:
    """The combination the train stage chose, and the evidence.

    Attributes:
        combination: What the network is served with.
        reason: Why, in words.
        scores: Candidate label -> validation score (``metric``); empty when nothing was scored.
        metric: The score's name (the gate's metric).
    """

    combination: Combination
    reason: str
    scores: dict[str, float]
    metric: str

    def report(self) -> dict[str, Any]:
        """What reports/training.json says about it."""
        return {
            "served": self.combination.label,
            **self.combination.to_dict(),
            "reason": self.reason,
            "metric": self.metric,
            "validation": {k: round(v, 6) for k, v in self.scores.items()},
        }


def choose(
    actual: np.ndarray,
    network: np.ndarray,
    statistical: Mapping[str, np.ndarray],
    of_series: np.ndarray,
    scales: np.ndarray,
    *,
    metric: str,
    base: Combination,
) -> Choice:
    """The candidate (the network alone, or averaged with a subset of ``statistical``) that
    scores best on held-out windows; on a tie the one with fewer methods.

    Args:
        actual: True values of the windows, (n, horizon, targets).
        network: The network's out-of-sample forecasts of them.
        statistical: Method -> its forecasts of the same windows.
        of_series: Series index of each window.
        scales: MASE scale of each series and target.
        metric: Lower-is-better metric of :func:`tsforge.evaluation.score_series` to compare.
        base: The period and history the methods were fitted with (its methods are ignored).

    Returns:
        The choice, every candidate's score and the reason.
    """
    scores: dict[str, float] = {}
    best: tuple[str, ...] = ()
    best_score = np.nan
    for candidate in candidates(tuple(statistical)):
        forecast = average(network, [statistical[m] for m in candidate])
        score = float(ev.score_series(actual, forecast, of_series, scales)[metric])
        scores[Combination(candidate).label] = score
        # Strictly lower wins, so a tie keeps the earlier candidate, the one with fewer methods.
        if not np.isnan(score) and (np.isnan(best_score) or score < best_score):
            best, best_score = candidate, score
    chosen = Combination(best, base.period, base.history)
    alone = scores[Combination().label]
    windows = f"the {len(actual)} validation windows"
    reason = (
        f"auto: {chosen.label} scored best on {windows} "
        f"({metric} {scores[chosen.label]:.4g} against {alone:.4g} for the network alone)"
        if chosen.active
        else f"auto: the network alone scored best on {windows} ({metric} {alone:.4g})"
    )
    return Choice(chosen, reason, scores, metric)
