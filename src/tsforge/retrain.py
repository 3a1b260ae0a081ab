"""The scheduled retraining job: re-ingest, skip when nothing changed, otherwise run the
pipeline and the promotion gate, push data, forecast with the champion, and leave a
decision record."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tsforge.catalog import IngestSummary, Project, read_json, write_json
from tsforge.config import load_params
from tsforge.errors import TsforgeError
from tsforge.sources import content_hash, load_source

log = logging.getLogger(__name__)

LOCK_FILE = ".tsforge-retrain.lock"
EXIT_LOCKED = 75  # EX_TEMPFAIL: try again later


class RetrainLocked(TsforgeError):
    """Another retrain job holds the project's lock."""


@dataclass
class RetrainRecord:
    """What one retraining cycle saw, did and decided."""

    started: str
    status: str = "running"  # unchanged | retrained | failed
    data_sha256: str | None = None
    rows: int | None = None
    data_end: str | None = None
    model_version: str | None = None
    promoted: bool | None = None
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    pushed: bool = False
    forecasts: str | None = None  # the file the champion's forecasts went to, under the project
    forecast_error: str | None = None
    duration_s: float = 0.0
    error: str | None = None


@contextlib.contextmanager
def project_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on the project for the job's lifetime.

    The operating system releases it when the process ends, even when killed, so a
    crashed job never leaves a stale lock behind.
    """
    path = root / LOCK_FILE
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RetrainLocked(
                f"another tsforge retrain is running in {root.resolve()} ({holder}); this run "
                "exits without doing anything. Let the scheduler try again later."
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
        handle.flush()
        yield


def job_environment() -> dict[str, str]:
    """The job's environment with this interpreter's bin folder first on PATH.

    A scheduler (cron, systemd) starts jobs with a bare PATH; the DVC stages call
    ``python`` and must get the project's virtual environment, not the system's.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _dvc(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["dvc", *args], cwd=root, env=job_environment(), capture_output=True, text=True, check=False
    )


def pipeline_up_to_date(root: Path) -> bool:
    """Whether `dvc status` has nothing to rerun."""
    result = _dvc(root, "status", "--json")
    try:
        return result.returncode == 0 and json.loads(result.stdout or "{}") == {}
    except json.JSONDecodeError:
        return False


def has_remote(root: Path) -> bool:
    """Whether a DVC remote is configured (then data is pushed after a retrain)."""
    result = _dvc(root, "remote", "list")
    return result.returncode == 0 and bool(result.stdout.strip())


def _previous_hash(root: Path) -> str | None:
    meta = Project(root).raw_meta
    return IngestSummary.load(meta).sha256 if meta.exists() else None


def write_record(root: Path, record: RetrainRecord) -> Path:
    """Write the decision record to logs/retrain/<start time>.json."""
    path = Project(root).retrain_records / f"{record.started.replace(':', '')}.json"
    write_json(path, asdict(record))
    return path


def _log_to_mlflow(root: Path, record: RetrainRecord) -> None:
    import mlflow

    _configure_tracking(root)
    with mlflow.start_run(run_name=f"retrain-{record.status}"):
        mlflow.set_tags(
            {"stage": "retrain", "status": record.status, "model_version": str(record.model_version)}
        )
        mlflow.log_dict(asdict(record), "retrain_record.json")


def _repro(root: Path, *args: str) -> None:
    log.info("running dvc repro %s", " ".join(args))
    result = _dvc(root, "repro", *args)
    log.info("dvc repro output:\n%s", result.stdout[-4000:])
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip())[-2000:]
        raise TsforgeError(f"dvc repro failed (exit {result.returncode}):\n{detail}")


def _run_pipeline(root: Path, record: RetrainRecord, source_changed: bool) -> None:
    """`dvc repro` (ingest ... evaluate, gate included), then `dvc push` to a configured remote.

    The user's file is not a DVC dependency of ingest (its path is a param), so rows
    appended to it leave the stage looking unchanged; ingest is forced when the
    source's content hash moved.
    """
    if source_changed:
        _repro(root, "--force", "--single-item", "ingest")
    _repro(root)
    project = Project(root)
    promotion = read_json(project.promotion)
    record.status, record.model_version = "retrained", str(promotion["version"])
    record.promoted, record.reason = bool(promotion["promote"]), str(promotion["reason"])
    record.metrics = read_json(project.metrics)["model"]
    if has_remote(root):
        push = _dvc(root, "push")
        if push.returncode != 0:
            if record.promoted:
                _undo_promotion(root, record)
            raise TsforgeError(f"dvc push failed: {push.stderr.strip()[-1000:]}")
        record.pushed = True


def _undo_promotion(root: Path, record: RetrainRecord) -> None:
    """Give champion back to the previous holder: a failed cycle leaves the champion as it was."""
    from tsforge import registry

    name = _configure_tracking(root)
    champion = registry.champion_version(name)
    if champion is not None and str(champion.version) == record.model_version:
        with contextlib.suppress(TsforgeError):  # no earlier champion: nothing to give back
            registry.rollback_champion(name, "retrain failed after promotion")
            record.promoted = False


def _forecast(root: Path, record: RetrainRecord, time_column: str) -> None:
    """Forecast every series with the champion, so a scheduled job ends with fresh forecasts.

    Runs after every cycle that did not fail. An unchanged cycle forecasts only when the
    champion's forecasts of this data are missing (the champion was moved by hand, or the
    last try failed); the file of the same data is replaced, never added to. A failure here
    is recorded beside the cycle's outcome; it moves no alias.
    """
    from tsforge import delivery

    project = Project(root)
    try:
        name = _configure_tracking(root)
        found = delivery.delivered(project, name, time_column) if record.status == "unchanged" else None
        path = found or delivery.deliver(project, name).path
    except Exception as exc:  # recorded; the retraining itself stands
        if not isinstance(exc, TsforgeError):
            log.exception("forecasting failed")
        record.forecast_error = str(exc)
        return
    record.forecasts = path.relative_to(project.root).as_posix()


def _configure_tracking(root: Path) -> str:
    from tsforge import tracking

    return tracking.configure_project(root, os.environ.get("MLFLOW_TRACKING_URI"))


def retrain(root: Path) -> RetrainRecord:
    """Run one retraining cycle (the caller holds :func:`project_lock`).

    Args:
        root: Project root.

    Returns:
        The decision record (also written to logs/retrain/ and MLflow).
    """
    started = time.monotonic()
    record = RetrainRecord(started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    try:
        params = load_params(Project(root).params)
        loaded = load_source(params.data, root)
        frame = loaded.frame
        record.data_sha256, record.rows = content_hash(frame), len(frame)
        record.data_end = str(frame[params.data.time_column].iloc[-1]) if len(frame) else None
        previous = _previous_hash(root)
        if record.data_sha256 == previous and pipeline_up_to_date(root):
            record.status = "unchanged"
            record.reason = "source data and pipeline unchanged; nothing retrained"
        else:
            _run_pipeline(root, record, source_changed=previous not in (None, record.data_sha256))
    except Exception as exc:  # a scheduled job always leaves a record, whatever broke
        if not isinstance(exc, TsforgeError):
            log.exception("retrain failed")
        record.status, record.error = "failed", str(exc)
    if record.status != "failed":
        _forecast(root, record, params.data.time_column)
    record.duration_s = round(time.monotonic() - started, 1)
    write_record(root, record)
    with contextlib.suppress(Exception):  # the record on disk stands even if tracking is down
        _log_to_mlflow(root, record)
    return record


def summary_line(record: RetrainRecord) -> str:
    """One line a scheduler's log shows for the cycle."""
    if record.status == "failed":
        return f"tsforge retrain FAILED: {record.error}\nThe champion alias was not touched."
    if record.status == "unchanged":
        line = f"tsforge retrain: {record.reason} (data {str(record.data_sha256)[:12]}, {record.rows} rows)."
    else:
        verdict = "promoted to champion" if record.promoted else "kept as challenger"
        line = (
            f"tsforge retrain: version {record.model_version} {verdict}: {record.reason}. "
            f"Data up to {record.data_end} ({record.rows} rows)"
            + ("; data pushed to the DVC remote." if record.pushed else ".")
        )
    if record.forecast_error is not None:
        return f"{line}\nForecasting FAILED: {record.forecast_error}"
    return f"{line}\nForecasts of the champion: {record.forecasts}"
