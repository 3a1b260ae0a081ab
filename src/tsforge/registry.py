"""Model registry: new versions, the champion/challenger gate, and alias history."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from tsforge.errors import TsforgeError

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "alias_history"

log = logging.getLogger(__name__)


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


def promotion_rule(
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


def _logged_model_id(uri: str) -> str | None:
    """The logged-model id of a ``models:/<model_id>`` URI; None for any other URI, registry
    URIs (``models:/name/1``, ``models:/name@alias``) included."""
    rest = uri.removeprefix("models:/")
    return rest if rest != uri and rest and "/" not in rest and "@" not in rest else None


def _same_model(version: Any, model_uri: str, model_id: str | None, artifact_path: str | None) -> bool:
    """Whether registered ``version`` (already known to come from the same run) is ``model_uri``."""
    if version.source == model_uri or (
        model_id is not None and getattr(version, "model_id", None) == model_id
    ):
        return True
    if artifact_path is None:
        return False
    # A runs:/<run>/<path> URI is registered as the run's logged model named <path>
    # (models:/<id>, MLflow 3) or as the run's artifact folder (a model logged there, MLflow 2).
    source_id = _logged_model_id(version.source)
    if source_id is None:
        return bool(version.source.rstrip("/").endswith(f"/artifacts/{artifact_path}"))
    try:
        return bool(mlflow.MlflowClient().get_logged_model(source_id).name == artifact_path)
    except MlflowException:
        return False


def find_version(name: str, model_uri: str) -> Any | None:
    """The version of ``name`` registered from ``model_uri``, or None.

    Versions record the run that logged the model (searchable, so only that run's versions
    are read) and their source: the URI they were registered from (``models:/<model_id>``,
    what MLflow 3's ``log_model`` returns), or what a ``runs:/`` URI resolved to. Stores that
    keep the logged-model id on versions are matched on it as well.

    Args:
        name: Registered model name.
        model_uri: The URI the model was logged under.

    Returns:
        The oldest matching ModelVersion, or None.
    """
    run_id, artifact_path = None, None
    model_id = _logged_model_id(model_uri)
    if model_uri.startswith("runs:/"):
        run_id, _, artifact_path = model_uri.removeprefix("runs:/").partition("/")
        artifact_path = artifact_path.strip("/") or None
    elif model_id is not None:
        try:
            run_id = mlflow.MlflowClient().get_logged_model(model_id).source_run_id
        except MlflowException:
            pass  # not in this tracking store: match on the source alone
    query = f"name = '{name}'" + (f" and run_id = '{run_id}'" if run_id else "")
    found = mlflow.MlflowClient().search_model_versions(query)
    matches = [v for v in found if _same_model(v, model_uri, model_id, artifact_path)]
    return min(matches, key=lambda v: int(v.version)) if matches else None


def register(model_uri: str, name: str, tags: Mapping[str, str], description: str) -> tuple[Any, bool]:
    """Register ``model_uri`` as a version of ``name`` with lineage tags, once.

    Re-running only the evaluate stage re-scores the same trained model: the version already
    registered from ``model_uri`` gets the new tags and description rather than a duplicate
    version, so one trained model is one version.

    Args:
        model_uri: The logged model.
        name: Registered model name.
        tags: Lineage and test-score tags (set, or overwritten on an existing version).
        description: Version description (replaced on an existing version).

    Returns:
        The ModelVersion, and whether it was created now.
    """
    client = mlflow.MlflowClient()
    existing = find_version(name, model_uri)
    if existing is None:
        with _printed_to_log():
            version = mlflow.register_model(model_uri, name, tags=dict(tags))
        client.update_model_version(name, version.version, description=description)
        return client.get_model_version(name, version.version), True
    for key, value in tags.items():
        client.set_model_version_tag(name, existing.version, key, value)
    client.update_model_version(name, existing.version, description=description)
    log.info(
        "%s version %s already holds %s: its tags and description updated", name, existing.version, model_uri
    )
    return client.get_model_version(name, existing.version), False


_MLFLOW_NOTICES = ("Successfully registered model", "Created version", "Registered model")


@contextlib.contextmanager
def _printed_to_log() -> Iterator[None]:
    """MLflow's notices printed to stderr in the block ("Successfully registered model ...",
    "Created version ..."), logged at INFO instead: the caller reports the outcome. Anything
    else printed there is passed on to stderr as it was."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            yield
    finally:
        for line in printed.getvalue().splitlines(keepends=True):
            if line.startswith(_MLFLOW_NOTICES):
                log.info("mlflow: %s", line.rstrip())
            else:
                sys.stderr.write(line)


def _history(name: str) -> list[dict[str, Any]]:
    raw = mlflow.MlflowClient().get_registered_model(name).tags.get(HISTORY_TAG, "[]")
    try:
        loaded = json.loads(raw)
    except json.JSONDecodeError:
        return []
    return loaded if isinstance(loaded, list) else []


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


def ensure_alias(name: str, alias: str, version: str, reason: str) -> bool:
    """Point ``alias`` at ``version`` unless it already points there.

    A re-evaluation of the version that already holds an alias leaves the alias and its
    history alone: the history records moves, not confirmations. One exception: a process
    killed between moving the alias and recording the move left the history without it;
    the move is recorded now (:func:`_record_unrecorded_move`).

    Args:
        name: Registered model name.
        alias: Alias to move.
        version: Target version.
        reason: Why, as recorded in the alias history when it moves.

    Returns:
        Whether the alias moved.
    """
    try:
        if str(mlflow.MlflowClient().get_model_version_by_alias(name, alias).version) == str(version):
            _record_unrecorded_move(name, alias, str(version), reason)
            return False
    except MlflowException:
        pass  # the alias is not set yet
    move_alias(name, alias, version, reason)
    return True


def _record_unrecorded_move(name: str, alias: str, version: str, reason: str) -> bool:
    """Append the move of ``alias`` to ``version`` when the history's last move of that alias
    is to another version (or there is none): the alias was moved and the process stopped
    before it wrote the history.

    Returns:
        Whether an entry was appended.
    """
    history = _history(name)
    moves = [m for m in history if m.get("alias") == alias]
    if moves and str(moves[-1].get("version")) == version:
        return False
    entry = {
        "alias": alias,
        "version": version,
        "previous": str(moves[-1]["version"]) if moves else None,
        "reason": f"{reason} (recorded on a rerun: the move was not recorded when it was made)",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    mlflow.MlflowClient().set_registered_model_tag(name, HISTORY_TAG, json.dumps((history + [entry])[-50:]))
    log.warning("%s: %s -> version %s was not in the alias history; recorded now", name, alias, version)
    return True


def publish(
    model_uri: str, name: str, tags: Mapping[str, str], description: str, decision: Decision
) -> dict[str, Any]:
    """Register an evaluated model (once per ``model_uri``) and apply the gate's decision.

    The version becomes ``challenger``, and ``champion`` when the decision promotes it;
    an alias it already holds is not moved again.

    Args:
        model_uri: The logged model.
        name: Registered model name.
        tags: Lineage and test-score tags of the version.
        description: Version description.
        decision: The promotion gate's decision.

    Returns:
        The decision record (reports/promotion.json), with ``new_version`` false when the
        version already existed and was only re-tagged, and ``champion_after`` the version
        that holds ``champion`` once the decision is applied.
    """
    version, created = register(model_uri, name, tags, description)
    number = str(version.version)
    why = "new version from evaluate" if created else "re-evaluated by evaluate"
    ensure_alias(name, CHALLENGER, number, why)
    if decision.promote:
        ensure_alias(name, CHAMPION, number, decision.reason)
    # A re-evaluated champion is compared with itself and "not promoted", yet stays champion:
    # the record says who holds the alias afterwards, so nobody reads that as a demotion.
    holder = champion_version(name)
    if holder is not None and str(holder.version) == number:
        # Re-gated against itself after a killed run moved champion here: record that move.
        _record_unrecorded_move(name, CHAMPION, number, "moved by an evaluate of this version")
    return {
        **decision_record(decision, number),
        "new_version": created,
        "champion_after": None if holder is None else str(holder.version),
    }


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


def version_metric(name: str, version: str, tag: str) -> float | None:
    """A number a version carries as a tag (such as ``test.mase``), or None when it has no such
    tag, it is not a number, or the version does not exist.

    Args:
        name: Registered model name.
        version: The version.
        tag: The tag's key.

    Returns:
        The value.
    """
    try:
        raw = mlflow.MlflowClient().get_model_version(name, str(version)).tags.get(tag)
        return float(raw) if raw is not None else None
    except (MlflowException, ValueError):
        return None


def set_version_tags(name: str, version: str, tags: Mapping[str, str]) -> None:
    """Set (or overwrite) tags on one version, such as the live accuracy a retrain cycle measured.

    Args:
        name: Registered model name.
        version: The version.
        tags: Key -> value.
    """
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
