"""MLflow set-up and the lineage tags every run carries.

Called from a stage's ``main``; nothing here runs at import time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

import mlflow
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.types import Schema

from tsforge.catalog import IngestSummary, Project
from tsforge.config import load_params
from tsforge.errors import TsforgeError

logger = logging.getLogger(__name__)

# Which process opened a run: a run left RUNNING by a process that is gone is a zombie.
PID_TAG = "tsforge.pid"
HOST_TAG = "tsforge.host"

# The only way tsforge takes credentials for a tracking server: MLflow's own variables.
USERNAME_ENV, PASSWORD_ENV = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"
AUTH_DOCS = "docs/team.md, 'Users and permissions'"

EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
"""The experiment tag MLflow 3's UI reads for the experiment's kind: model training, not GenAI
(set when tsforge creates the experiment; run_notes.RUNS_VIEW is the link that opens it so)."""

# ``scheme://userinfo@``: greedy up to the last ``@`` before the host, so a password holding
# an ``@`` is hidden whole; whitespace, quotes and ``/?#`` end a URI's authority.
_CREDENTIALS = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#'\"<>`]+@")

# What a refused request was for, by its REST endpoint (the first match wins).
_ACTIONS = (
    ("/registered-models/alias", "move the registry's aliases (such as champion)"),
    ("/model-versions/", "register or change model versions"),
    ("/registered-models/", "create or change registered models"),
    ("/runs/", "log runs"),
    ("/logged-models", "log models"),
    ("/experiments/", "create or change experiments"),
    ("/mlflow-artifacts/", "upload artifacts"),
)
_ENDPOINT = re.compile(r"request to endpoint (\S+) failed")


def redact(text: str) -> str:
    """``text`` with the user and password of every URI in it replaced by ``***``.

    ``http://user:secret@host:5000`` becomes ``http://***@host:5000``, and a PostgreSQL URI's
    password goes the same way; every message that names a tracking URI goes through here.

    Args:
        text: A URI, or a message that may hold some.

    Returns:
        The text, credentials hidden.
    """
    return _CREDENTIALS.sub(r"\g<scheme>***@", text)


def _mlflow_error(exc: BaseException) -> MlflowException | None:
    """The MlflowException ``exc`` is, or was raised from (following causes and contexts)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MlflowException):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _refused_action(message: str) -> str:
    """What the refused request was for, read from MLflow's message naming its endpoint."""
    found = _ENDPOINT.search(message)
    if found is None:
        return "do this"
    endpoint = found.group(1)
    action = next((words for key, words in _ACTIONS if key in endpoint), f"call {endpoint}")
    return f"{action} ({endpoint})"


def refusal(exc: BaseException, tracking_uri: str | None = None) -> TsforgeError | None:
    """The tracking server's refusal (HTTP 401 or 403) behind ``exc``, explained; else None.

    Names the server (its URI redacted), the user for a 403 (never the password) and what to
    do, so that a stage or command stops with it instead of a traceback.

    Args:
        exc: Any exception a stage or command raised.
        tracking_uri: The server's URI (default: the one MLflow is set to).

    Returns:
        A TsforgeError to raise or print, or None when ``exc`` is no refusal.
    """
    found = _mlflow_error(exc)
    if found is None or found.error_code not in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return None
    server = f"the MLflow server at {redact(tracking_uri or mlflow.get_tracking_uri())}"
    user = os.environ.get(USERNAME_ENV)
    if found.error_code == "UNAUTHENTICATED" and not user:
        return TsforgeError(
            f"{server} requires a login (401) and none was given: set {USERNAME_ENV} and "
            f"{PASSWORD_ENV} to a user of that server and its password ({AUTH_DOCS})."
        )
    if found.error_code == "UNAUTHENTICATED":
        return TsforgeError(
            f"{server} refused the credentials in {USERNAME_ENV}/{PASSWORD_ENV} (401): set them "
            f"to a user of that server and its password ({AUTH_DOCS})."
        )
    who = f"user '{user}'" if user else "this user"
    return TsforgeError(
        f"{who} may not {_refused_action(str(found))} on {server} (403 permission denied): ask an "
        f"admin of that server to grant {who} EDIT on the experiment and the registered model, "
        f"or set {USERNAME_ENV}/{PASSWORD_ENV} to a user who has it ({AUTH_DOCS})."
    )


def resolve_tracking_uri(env_uri: str | None, root: Path) -> str:
    """The tracking URI: ``MLFLOW_TRACKING_URI`` when set, else ``mlflow.db`` in the project.

    Args:
        env_uri: The value of MLFLOW_TRACKING_URI, if any.
        root: Project root.

    Returns:
        A tracking URI.
    """
    return env_uri or f"sqlite:///{Project(root).tracking_db.resolve()}"


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
    if redact(tracking_uri) != tracking_uri:  # MLflow would print it, credentials and all, per run
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        found = mlflow.get_experiment_by_name(experiment)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            location = (
                Project(root).tracking_artifacts.resolve().as_uri()
                if tracking_uri.startswith("sqlite")
                else None
            )
            # The kind tag: MLflow 3's UI shows a model-training experiment, not a GenAI one.
            kind = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
            experiment_id = mlflow.create_experiment(experiment, artifact_location=location, tags=kind)
    except Exception as exc:  # MLflow raises many types for an unreachable store
        refused = refusal(exc, tracking_uri)
        if refused is not None:
            raise refused from exc
        raise TsforgeError(
            f"cannot reach the MLflow tracking store at {redact(tracking_uri)} ({redact(str(exc))}). "
            "Start the server or unset MLFLOW_TRACKING_URI to use the local mlflow.db."
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
    params = load_params(Project(root).params)
    configure(resolve_tracking_uri(env_uri, root), params.tracking.experiment, root)
    return params.registry.model_name


def file_md5(path: Path) -> str:
    """MD5 of a file's bytes: the hash DVC records for a file output."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class SnapshotDataset(MetaDataset):
    """A metadata-only MLflow dataset with a row count for its profile (the UI shows it)."""

    def __init__(self, source: DatasetSource, name: str, digest: str, schema: Schema, rows: int) -> None:
        super().__init__(source, name=name, digest=digest, schema=schema)
        self._rows = rows

    @property
    def profile(self) -> dict[str, int]:
        """``{"num_rows": ...}``, as MLflow's pandas datasets report it."""
        return {"num_rows": self._rows}

    def to_dict(self) -> dict[str, str]:
        """MetaDataset's fields and the profile."""
        return {**super().to_dict(), "profile": json.dumps(self.profile)}


def snapshot_dataset(project: Project) -> SnapshotDataset:
    """The ingest stage's snapshot as an MLflow dataset: its source's name, DVC (md5) digest, path.

    Only metadata: the schema and row count come from the Parquet footer, so no stage loads
    the rows again just to name its data.

    Args:
        project: The project whose snapshot it is.

    Returns:
        The dataset; its digest is the md5 DVC records for the file in dvc.lock.
    """
    import pyarrow.parquet as pq
    from mlflow.data.sources import LocalArtifactDatasetSource  # type: ignore[attr-defined]
    from mlflow.models import infer_signature

    path, meta = project.raw_series, project.raw_meta
    name = IngestSummary.load(meta).source if meta.is_file() else path.stem
    schema = infer_signature(pq.read_schema(path).empty_table().to_pandas()).inputs
    source = LocalArtifactDatasetSource(str(path))
    return SnapshotDataset(source, name, file_md5(path), schema, pq.read_metadata(path).num_rows)


def log_snapshot_input(project: Project, context: str) -> None:
    """Log the snapshot as a dataset input of the active run (the UI's Dataset column).

    Every stage that opens a run calls this, so each run names the data version it came from
    the way the MLflow UI and model lineage look for it, beside the ``data.*.md5`` tags.

    Args:
        project: The project.
        context: How the run used the data (the stage's name).
    """
    if project.raw_series.is_file():  # nothing ingested yet: nothing to name
        mlflow.log_input(snapshot_dataset(project), context=context)


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
        ``git_commit``, ``git_dirty``, ``params_md5``, ``data.<name>.md5`` and the
        :func:`process_tags`.
    """
    commit, dirty = git_state(root)
    tags = {
        "git_commit": commit,
        "git_dirty": str(dirty).lower(),
        "params_md5": file_md5(params_file),
        **process_tags(),
    }
    for name, path in inputs.items():
        if path.is_file():
            tags[f"data.{name}.md5"] = file_md5(path)
    return tags


def process_tags() -> dict[str, str]:
    """Tags naming the process that opens a run, so that a run it leaves behind can be ended.

    Returns:
        ``tsforge.pid`` and ``tsforge.host``.
    """
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def process_gone(pid: int) -> bool:
    """Whether no process ``pid`` exists on this host (True only when that is certain).

    Args:
        pid: A process id.

    Returns:
        True if the process does not exist.
    """
    if pid <= 0:  # os.kill would address a process group, not one process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, owned by another user
        return False
    return False


def _dead_pid(run: Run) -> int | None:
    """The run's pid if it names a process of this host that is gone, else None."""
    try:
        pid = int(run.data.tags.get(PID_TAG, ""))
    except ValueError:
        return None
    return pid if process_gone(pid) else None


def _zombie_candidates(client: mlflow.MlflowClient, experiment_id: str, host: str) -> list[Run]:
    """Runs of the experiment that are RUNNING, tagged with ``host`` and a pid that is gone."""
    query = f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'"
    found: list[Run] = []
    token: str | None = None
    while True:
        page = client.search_runs([experiment_id], filter_string=query, page_token=token)
        found.extend(run for run in page if _dead_pid(run) is not None)
        token = page.token
        if not token:
            return found


def end_dead_runs(experiment_id: str) -> list[str]:
    """End as KILLED the runs of an experiment that a dead process of this host left RUNNING.

    A stage killed by SIGKILL, the OOM killer or a power cut cannot end its run. Runs of
    live processes, of other hosts and without the :func:`process_tags` are left alone.

    Args:
        experiment_id: The experiment to clean.

    Returns:
        The ids of the runs ended.
    """
    client = mlflow.MlflowClient()
    host = socket.gethostname()
    ended: list[str] = []
    try:
        candidates = _zombie_candidates(client, experiment_id, host)
    except MlflowException as exc:  # housekeeping must not stop the stage
        logger.warning("could not look for runs left RUNNING by dead processes: %s", redact(str(exc)))
        return ended
    for run in candidates:
        run_id = run.info.run_id
        try:
            # Read again: a resumed run (tune) is RUNNING again and re-tagged by its new process.
            fresh = client.get_run(run_id)
            pid = _dead_pid(fresh)
            if fresh.info.status != "RUNNING" or pid is None:
                continue
            client.set_terminated(run_id, "KILLED")
        except MlflowException as exc:
            logger.warning(
                "could not end run %s left RUNNING by a dead process: %s", run_id, redact(str(exc))
            )
            continue
        logger.warning(
            "ended MLflow run %s (%s) as KILLED: process %d on %s that ran it is gone",
            run_id,
            fresh.data.tags.get("stage", fresh.info.run_name),
            pid,
            host,
        )
        ended.append(run_id)
    return ended
