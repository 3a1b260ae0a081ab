"""MLflow set-up and the lineage tags every run carries.

Called from a stage's ``main``; nothing here runs at import time.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from pathlib import Path

import mlflow

from tsforge.config import load_params
from tsforge.errors import TsforgeError


def resolve_tracking_uri(env_uri: str | None, root: Path) -> str:
    """The tracking URI: ``MLFLOW_TRACKING_URI`` when set, else ``mlflow.db`` in the project.

    Args:
        env_uri: The value of MLFLOW_TRACKING_URI, if any.
        root: Project root.

    Returns:
        A tracking URI.
    """
    return env_uri or f"sqlite:///{(root / 'mlflow.db').resolve()}"


def configure(tracking_uri: str, experiment: str, root: Path) -> str:
    """Point MLflow at ``tracking_uri`` and select (creating if needed) ``experiment``.

    With the embedded SQLite default, artifacts go to ``mlartifacts/`` in the project.

    Args:
        tracking_uri: From :func:`resolve_tracking_uri`.
        experiment: Experiment name.
        root: Project root.

    Returns:
        The experiment id.
    """
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        found = mlflow.get_experiment_by_name(experiment)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            location = (
                (root / "mlartifacts").resolve().as_uri() if tracking_uri.startswith("sqlite") else None
            )
            experiment_id = mlflow.create_experiment(experiment, artifact_location=location)
    except Exception as exc:  # MLflow raises many types for an unreachable store
        raise TsforgeError(
            f"cannot reach the MLflow tracking store at {tracking_uri} ({exc}). Start the "
            "server or unset MLFLOW_TRACKING_URI to use the local mlflow.db."
        ) from exc
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


def configure_project(root: Path, env_uri: str | None) -> str:
    """Point MLflow at the project's store as params.yaml configures it (for commands run
    outside the DVC stages: promote, rollback, retrain).

    Args:
        root: Project root.
        env_uri: The value of MLFLOW_TRACKING_URI, if any.

    Returns:
        The registered model name (``registry.model_name``).
    """
    params = load_params(root / "params.yaml")
    configure(resolve_tracking_uri(env_uri, root), params.tracking.experiment, root)
    return params.registry.model_name


def file_md5(path: Path) -> str:
    """MD5 of a file's bytes: the hash DVC records for a file output."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_state(root: Path) -> tuple[str, bool]:
    """The current commit and whether the work tree has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown", True
    return commit, bool(dirty)


def lineage_tags(root: Path, inputs: Mapping[str, Path], params_file: Path) -> dict[str, str]:
    """Tags that trace a run back to code, data and params.

    Args:
        root: Project root (a git work tree).
        inputs: Name -> input file the stage read; each gets its DVC (md5) hash.
        params_file: params.yaml, hashed as a whole.

    Returns:
        ``git_commit``, ``git_dirty``, ``params_md5`` and ``data.<name>.md5`` tags.
    """
    commit, dirty = git_state(root)
    tags = {"git_commit": commit, "git_dirty": str(dirty).lower(), "params_md5": file_md5(params_file)}
    for name, path in inputs.items():
        if path.is_file():
            tags[f"data.{name}.md5"] = file_md5(path)
    return tags
