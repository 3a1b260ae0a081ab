"""What each kind of feature bought: the best trial's network fitted again without it.

``train.feature_ablation: true`` makes the train stage fit the best trial's network once with
every column and once more per kind of feature it reads, that kind's columns blanked (set to
0, their scaled training mean, in every window: the network learns it can say nothing), and
compare the validation error (the search's objective, MAE in model space) of each. One network
each, same seed and budget: an estimate of what each kind is worth, not the ensemble's score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from tsforge.covariates import Covariates
from tsforge.training import OBJECTIVE, WindowedData, train_best, validation_score

KINDS = ("past", "known_future", "static")
"""The kinds of features an ablation leaves out, one at a time: past-only features
(``data.features``), what is known ahead (``data.future_features``, the calendar and the
holidays) and series attributes (``data.static_features``)."""


def feature_columns(covariates: Covariates, n_targets: int) -> dict[str, tuple[int, ...]]:
    """The model columns of each kind the data has (kinds without columns left out).

    Args:
        covariates: The columns after the targets.
        n_targets: Target columns (first in the array).

    Returns:
        Kind -> column indices in the model-space array.
    """
    past = n_targets + len(covariates.past)
    future = past + len(covariates.future)
    statics = sum(len(s.names) for s in covariates.static)
    derived_known = covariates.n_derived - statics
    groups = {
        "past": tuple(range(n_targets, past)),
        "known_future": tuple(range(past, future + derived_known)),
        "static": tuple(range(future + derived_known, future + covariates.n_derived)),
    }
    return {kind: columns for kind, columns in groups.items() if columns}


def without(data: WindowedData, columns: tuple[int, ...]) -> WindowedData:
    """``data`` with ``columns`` blanked in every window (a copy; the original is untouched)."""
    values = np.array(data.values, copy=True)
    values[:, list(columns)] = 0.0
    return replace(data, values=values)


def ablate(
    hp: Any,
    space: Mapping[str, Any],
    data: WindowedData,
    covariates: Covariates,
    *,
    epochs: int,
    patience: int,
    seed: int,
) -> dict[str, Any]:
    """The validation error with every feature and without each kind, one network each.

    Args:
        hp: The best trial's hyperparameters.
        space: ``tune.space``.
        data: The windows the final networks train on (its own normalisation settled).
        covariates: The columns after the targets.
        epochs: Most epochs per fit (``train.epochs``).
        patience: Early-stopping patience (``train.patience``).
        seed: The seed of every fit.

    Returns:
        ``{"objective": "val_mae", "all": score, "without": {kind: score}, "change": {kind: share}}``:
        ``change`` is how much worse (positive) the error is without that kind.
    """
    groups = feature_columns(covariates, data.n_targets)

    def score(windows: WindowedData) -> float:
        model, _ = train_best(hp, space, windows, epochs=epochs, patience=patience, seed=seed)
        return float(validation_score(model, windows))

    everything = score(data)
    alone = {kind: score(without(data, columns)) for kind, columns in groups.items()}
    return {
        "objective": OBJECTIVE,
        "all": everything,
        "without": alone,
        "change": {kind: (value - everything) / everything for kind, value in alone.items()},
        "columns": {kind: len(columns) for kind, columns in groups.items()},
    }
