"""Forecast combination: the network's forecast blended with statistical ones (Theta, ETS,
CES, DOT).

Averaging forecasts whose errors differ is the oldest dependable gain in forecasting (the
M3 competition's combination of ETS, ARIMA and Theta beat each of them). The train stage
decides by evidence how the network is served: every candidate is scored on the validation
windows, forecast by the network that has not learnt them. By default (``auto``) the
candidates are the network alone and its equal-weight means with each subset of the methods.
``weighted`` chooses weights by ensemble selection (Caruana et al., 2004, as AutoGluon's
weighted ensembles): greedy forward selection with replacement, keeping the round that scored
best, where there are enough independent windows; weights fitted to a handful of windows
chase their noise, and on M3 they lost to the subsets even on hundreds. The served
forecaster refits only the methods with a weight, on each history it is given, so what is
scored is what is served.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from tsforge import metrics as mt
from tsforge.config import COMBINABLE_METHODS

NETWORK = "network"
"""The network's name among a combination's members."""

SELECTION_ROUNDS = 20
"""Rounds of ensemble selection: weights are multiples of 1/20 at most."""

MIN_SELECTION_WINDOWS = 60
"""Fewest independent validation windows (per series, its windows ÷ the horizon, rounded
up) for weights chosen by ensemble selection (``train.combine: weighted``); below it only
equal-weight subsets are tried. ``python -m bench.combination_guard`` measures it on M3
(bench/EXPERIMENTS.md, E-combination): on M3 other selection won from 5 series on and in
98 % of draws at 60; on quarterly and yearly it never won on average."""


@dataclass(frozen=True)
class Combination:
    """The statistical methods blended with the network, their weights, and how they are fitted.

    Attributes:
        methods: Names from :data:`tsforge.config.COMBINABLE_METHODS`; empty: the network alone.
        period: Seasonal period the methods are fitted with (the gate's MASE period).
        history: Rows before each origin every fit reads (``evaluate.theta_history``); None:
            each series' whole history before the origin.
        weights: The network's weight, then each method's, summing to 1; empty: equal weights.
    """

    methods: tuple[str, ...] = ()
    period: int = 1
    history: int | None = None
    weights: tuple[float, ...] = ()

    @property
    def active(self) -> bool:
        """Whether the network is combined with anything."""
        return bool(self.methods)

    @property
    def shares(self) -> dict[str, float]:
        """Member (``network`` and each method) -> its weight."""
        names = (NETWORK, *self.methods)
        weights = self.weights or (1 / len(names),) * len(names)
        return dict(zip(names, weights, strict=True))

    @property
    def label(self) -> str:
        """``network``, ``network+theta+ets`` (equal weights) or ``network*0.6+theta*0.4``:
        how reports and MLflow name it."""
        shares = self.shares
        if len(set(shares.values())) == 1:
            return "+".join(shares)
        return "+".join(f"{name}*{weight:.2g}" for name, weight in shares.items())

    def blend(self, network: np.ndarray, statistical: Sequence[np.ndarray]) -> np.ndarray:
        """The weighted mean of the network's forecast and the methods' (in :attr:`methods` order)."""
        if not self.active:
            return network
        weights = list(self.shares.values())
        return np.asarray(sum(w * f for w, f in zip(weights, (network, *statistical), strict=True)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the forecast spec stores it)."""
        return {
            "methods": list(self.methods),
            "period": self.period,
            "history": self.history,
            "weights": dict(self.shares) if self.weights else {},  # empty: equal weights
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Combination:
        """Read :meth:`to_dict`'s form; None (a spec from before combinations): the network alone.
        A spec from before weights has equal ones."""
        if not raw:
            return cls()
        methods = tuple(str(m) for m in raw["methods"])
        shares = raw.get("weights") or {}
        weights = tuple(float(shares[name]) for name in (NETWORK, *methods)) if shares else ()
        history = raw.get("history")
        return cls(methods, int(raw["period"]), None if history is None else int(history), weights)


def candidates(methods: Sequence[str] = COMBINABLE_METHODS) -> list[tuple[str, ...]]:
    """Every subset of ``methods``, the network alone first, then by size."""
    return [c for size in range(len(methods) + 1) for c in combinations(methods, size)]


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


def sampled_origins(
    origins: np.ndarray, of_series: np.ndarray, most_series: int | None, seed: int
) -> np.ndarray:
    """The validation origins that choose the combination and calibrate the intervals: all of
    them, or, in a panel of more than ``most_series`` series, those of a seeded random sample
    of that many series (every origin of a sampled series is kept).

    At scale the statistical fits at every series' validation origin are most of the train
    stage (10,000 series: 678 s choosing on all, 170 s on 2,000, bench/RESULTS.md); on M3
    yearly and quarterly a 500-series sample chose as all did in every one of 200 draws
    (bench/EXPERIMENTS.md, E21), and pooled conformal scores need far fewer.

    Args:
        origins: The validation windows' origins.
        of_series: Each origin's series index.
        most_series: ``train.combine_series``; None: no cap.
        seed: ``train.seed``: the same sample in every run with the same params.

    Returns:
        The kept origins, in their order.
    """
    of_series = np.asarray(of_series, dtype=np.int64)
    present = np.unique(of_series)
    if most_series is None or len(present) <= most_series:
        return np.asarray(origins)
    chosen = np.random.default_rng(seed).choice(present, size=most_series, replace=False)
    return np.asarray(origins)[np.isin(of_series, chosen)]


def independent_windows(of_series: np.ndarray, horizon: int) -> int:
    """Windows that do not overlap: per series, its windows ÷ ``horizon``, rounded up.

    Consecutive origins share all but one of their target steps, so 300 windows of one series
    at horizon 4 are worth about 75 independent ones, not 300.
    """
    counts = np.bincount(np.asarray(of_series, dtype=np.int64))
    return int(np.ceil(counts[counts > 0] / max(horizon, 1)).sum())


def ensemble_selection(
    members: Mapping[str, np.ndarray],
    score: Callable[[np.ndarray], float],
    rounds: int,
    start: Sequence[str] = (),
) -> dict[str, int]:
    """Caruana's ensemble selection: greedy forward selection with replacement.

    Each round adds to the bag the member whose addition gives the mean forecast that scores
    lowest (the earlier member on a tie); the bag of the best-scoring round (the earliest on a
    tie, so the smallest) is returned.

    Args:
        members: Name -> forecasts of the same windows.
        score: Lower-is-better score of a forecast of those windows.
        rounds: Members added in all.
        start: Members in the bag before the first round (Caruana's sorted initialisation).

    Returns:
        Name -> times it is in the chosen bag (its weight is that count over the bag's size).
    """
    counts = dict.fromkeys(members, 0)
    for name in start:
        counts[name] += 1
    total: np.ndarray | None = np.sum([members[name] for name in start], axis=0) if start else None
    best = dict(counts)
    best_score = _finite(score(total / len(start))) if total is not None else np.inf
    for size in range(len(start) + 1, len(start) + rounds + 1):
        trials = {
            name: _finite(score(forecast if total is None else (total + forecast) / size))
            for name, forecast in members.items()
        }
        pick = min(trials, key=lambda name: trials[name])  # min keeps the first of equals
        counts[pick] += 1
        total = members[pick] if total is None else total + members[pick]
        if trials[pick] < best_score:
            best, best_score = dict(counts), trials[pick]
    return best


def _finite(score: float) -> float:
    return score if np.isfinite(score) else np.inf


def choose(
    actual: np.ndarray,
    network: np.ndarray,
    statistical: Mapping[str, np.ndarray],
    of_series: np.ndarray,
    scales: np.ndarray,
    *,
    metric: str,
    base: Combination,
    weighted: bool = False,
) -> Choice:
    """How the network is served, chosen on held-out windows: the best of the network alone and
    its equal-weight means with each subset of ``statistical`` (the fewest methods on a tie);
    with ``weighted`` and at least :data:`MIN_SELECTION_WINDOWS` independent windows, the
    weights ensemble selection picks over the network and ``statistical`` instead.

    Args:
        actual: True values of the windows, (n, horizon, targets).
        network: The network's out-of-sample forecasts of them.
        statistical: Method -> its forecasts of the same windows.
        of_series: Series index of each window.
        scales: MASE scale of each series and target.
        metric: Lower-is-better metric of :func:`tsforge.metrics.score_series` to compare.
        base: The period and history the methods were fitted with (its methods are ignored).
        weighted: Choose weights by ensemble selection (``train.combine: weighted``). Not the
            default: on M3's statistical methods (``python -m bench.combination_guard``) the
            selected weights scored worse on the test windows than the best equal-weight
            subset on quarterly and yearly series at every number of windows measured (5 to
            600 series), better only on "other".

    Returns:
        The choice, the scores it rests on and the reason.
    """

    def score(forecast: np.ndarray) -> float:
        return float(mt.score_series(actual, forecast, of_series, scales)[metric])

    windows = independent_windows(of_series, actual.shape[1])
    described = f"the {len(actual)} validation windows ({windows} independent)"
    chooser = _selected if weighted and windows >= MIN_SELECTION_WINDOWS else _best_subset
    if weighted and chooser is _best_subset:
        described += f", too few for weights (under {MIN_SELECTION_WINDOWS})"
    return chooser(network, statistical, score=score, metric=metric, base=base, described=described)


def _best_subset(
    network: np.ndarray,
    statistical: Mapping[str, np.ndarray],
    *,
    score: Callable[[np.ndarray], float],
    metric: str,
    base: Combination,
    described: str,
) -> Choice:
    """The network alone or its equal-weight mean with the subset of ``statistical`` that
    scores best; on a tie the one with fewer methods."""
    scores: dict[str, float] = {}
    best, best_score = Combination(), np.inf
    for candidate in candidates(tuple(statistical)):
        combination = Combination(candidate, base.period, base.history)
        value = score(combination.blend(network, [statistical[m] for m in candidate]))
        scores[combination.label] = value
        # Strictly lower wins, so a tie keeps the earlier candidate, the one with fewer methods.
        if _finite(value) < best_score:
            best, best_score = combination, value
    alone = scores[NETWORK]
    reason = (
        f"auto: {best.label} scored best of the equal-weight subsets on {described} "
        f"({metric} {best_score:.4g} against {alone:.4g} for the network alone)"
        if best.active
        else f"auto: the network alone scored best on {described} ({metric} {alone:.4g})"
    )
    return Choice(best, reason, scores, metric)


def _selected(
    network: np.ndarray,
    statistical: Mapping[str, np.ndarray],
    *,
    score: Callable[[np.ndarray], float],
    metric: str,
    base: Combination,
    described: str,
    start: Sequence[str] = (),
) -> Choice:
    """The weights :func:`ensemble_selection` picks over the network and ``statistical``."""
    members = {NETWORK: network, **statistical}
    counts = ensemble_selection(members, score, SELECTION_ROUNDS, start)
    bag = sum(counts.values())
    methods = tuple(m for m in statistical if counts[m])
    weights = tuple(counts[name] / bag for name in (NETWORK, *methods)) if methods else ()
    chosen = Combination(methods, base.period, base.history, weights)
    scores = {name: score(forecast) for name, forecast in members.items()}
    everything = Combination(tuple(statistical), base.period, base.history)
    scores[everything.label] = score(everything.blend(network, list(statistical.values())))
    scores[chosen.label] = score(chosen.blend(network, [statistical[m] for m in methods]))
    reason = (
        f"weighted: ensemble selection ({SELECTION_ROUNDS} rounds) on {described} weighted "
        f"{chosen.label} ({metric} {scores[chosen.label]:.4g} against {scores[NETWORK]:.4g} for the "
        f"network alone, {scores[everything.label]:.4g} for the equal-weight mean of all)"
        if chosen.active
        else f"weighted: ensemble selection on {described} kept the network alone "
        f"({metric} {scores[NETWORK]:.4g})"
    )
    return Choice(chosen, reason, scores, metric)
