"""Model registry: new versions, the champion/challenger gate, and alias history."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from tsforge.errors import TsforgeError

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "alias_history"


@dataclass(frozen=True)
class Decision:
    """Whether the challenger is promoted, and the numbers behind it."""

    promote: bool
    reason: str
    metric: str
    challenger: float
    champion: float | None
    best_baseline: str
    best_baseline_score: float
    min_improvement: float


def decide(
    metric: str,
    challenger: float,
    champion: float | None,
    baselines: Mapping[str, float],
    min_improvement: float,
) -> Decision:
    """The promotion gate (lower metric is better).

    The challenger must beat the best baseline on the same windows and, when a champion
    exists, beat the champion re-scored on those windows by at least ``min_improvement``
    (a fraction: 0.02 means 2% lower).

    Args:
        metric: Name of the metric compared.
        challenger: The new model's score.
        champion: The current champion's score on the same windows, or None.
        baselines: Baseline name -> score.
        min_improvement: Required relative improvement over the champion.

    Returns:
        The decision.
    """
    best_name = min(baselines, key=lambda k: baselines[k])
    best = baselines[best_name]
    bar = None if champion is None else champion * (1 - min_improvement)
    if not challenger < best:
        promote = False
        reason = f"{metric} {challenger:.4g} does not beat the best baseline {best_name} ({best:.4g})"
    elif champion is None or bar is None:
        promote = True
        reason = (
            f"no champion yet; {metric} {challenger:.4g} beats the best baseline {best_name} ({best:.4g})"
        )
    elif challenger < bar:
        promote = True
        reason = (
            f"{metric} {challenger:.4g} beats champion {champion:.4g} by more than "
            f"{min_improvement:.1%} and baseline {best_name} ({best:.4g})"
        )
    else:
        promote = False
        reason = (
            f"{metric} {challenger:.4g} does not beat champion {champion:.4g} "
            f"by {min_improvement:.1%} (needs < {bar:.4g})"
        )
    return Decision(promote, reason, metric, challenger, champion, best_name, best, min_improvement)


def champion_version(name: str) -> Any | None:
    """The model version holding the champion alias, or None."""
    client = mlflow.MlflowClient()
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def register(model_uri: str, name: str, tags: Mapping[str, str], description: str) -> Any:
    """Register ``model_uri`` as a new version of ``name`` with lineage tags.

    Returns:
        The new ModelVersion.
    """
    version = mlflow.register_model(model_uri, name, tags=dict(tags))
    mlflow.MlflowClient().update_model_version(name, version.version, description=description)
    return version


def _history(name: str) -> list[dict[str, Any]]:
    raw = mlflow.MlflowClient().get_registered_model(name).tags.get(HISTORY_TAG, "[]")
    try:
        loaded = json.loads(raw)
    except json.JSONDecodeError:
        return []
    return loaded if isinstance(loaded, list) else []


def alias_history(name: str) -> list[dict[str, Any]]:
    """Every alias move recorded on the registered model, oldest first."""
    return _history(name)


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3, 5"``: a registry retrained nightly holds hundreds."""
    parts: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


def versions(name: str) -> list[int]:
    """The version numbers of registered model ``name``, ascending (empty if it has none).

    Args:
        name: Registered model name.

    Returns:
        Version numbers.
    """
    found = mlflow.MlflowClient().search_model_versions(f"name = '{name}'")
    return sorted(int(v.version) for v in found)


def require_version(name: str, version: str) -> None:
    """Check that ``version`` of ``name`` exists, naming the versions that do if it does not.

    Args:
        name: Registered model name.
        version: The version asked for, as typed.

    Raises:
        TsforgeError: ``version`` is not a version of ``name``.
    """
    try:
        mlflow.MlflowClient().get_model_version(name, str(version))
        return
    except MlflowException:
        pass  # not found, or not a number: say which versions exist instead
    existing = versions(name)
    if not existing:
        raise TsforgeError(f"{name} has no registered versions yet; `dvc repro` registers one.")
    raise TsforgeError(f"{name} has no version {version}; existing versions: {_ranges(existing)}.")


def move_alias(name: str, alias: str, version: str, reason: str) -> None:
    """Point ``alias`` at ``version`` and append the move to the alias history.

    Args:
        name: Registered model name.
        alias: Alias to move (``champion`` / ``challenger``).
        version: Target version.
        reason: Why, as recorded in the alias history.

    Raises:
        TsforgeError: ``version`` does not exist.
    """
    require_version(name, version)
    client = mlflow.MlflowClient()
    previous = None
    try:
        previous = client.get_model_version_by_alias(name, alias).version
    except MlflowException:
        pass
    client.set_registered_model_alias(name, alias, version)
    entry = {
        "alias": alias,
        "version": str(version),
        "previous": previous,
        "reason": reason,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # Tag values are capped in size; keep the most recent moves.
    history = (_history(name) + [entry])[-50:]
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))


def rollback_champion(name: str, reason: str) -> tuple[str, str]:
    """Give ``champion`` back to the version that held it before the current holder.

    Args:
        name: Registered model name.
        reason: Why, as recorded in the alias history.

    Returns:
        The versions it moved from and to.
    """
    moves = [m for m in _history(name) if m["alias"] == CHAMPION]
    if not moves or not moves[-1].get("previous"):
        raise TsforgeError(f"{name}: no earlier champion recorded; nothing to roll back to.")
    current, target = str(moves[-1]["version"]), str(moves[-1]["previous"])
    move_alias(name, CHAMPION, target, reason)
    return current, target


def decision_record(decision: Decision, version: str) -> dict[str, Any]:
    """The decision as written to reports/promotion.json."""
    return {"version": str(version), **asdict(decision)}
