"""The scheduled retraining job: re-ingest, score the forecasts of earlier cycles against
the actuals that arrived, skip when nothing changed (or, with ``retrain.when: degraded``,
when the champion still forecasts as well as it tested), otherwise run the pipeline and the
promotion gate, push data, forecast with the champion, and leave a decision record."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tsforge import monitoring
from tsforge.catalog import IngestSummary, Project, is_temporary, load_frame, read_json, write_json
from tsforge.config import Params, load_params, mase_period
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
    status: str = "running"  # unchanged | skipped (retrain.when: degraded) | retrained | failed
    cycle: int = 0  # earlier decision records in logs/retrain: the MLflow step of the live metrics
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
    trigger: dict[str, Any] | None = None  # the retrain.when rule that decided, and its numbers
    live_accuracy: dict[str, Any] | None = None  # earlier forecasts against the actuals (monitoring)
    live_error: str | None = None  # why they could not be scored or published (never fatal)
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

    from tsforge.tracking import process_tags

    _configure_tracking(root)
    with mlflow.start_run(run_name=f"retrain-{record.status}"):
        mlflow.set_tags(
            {
                **process_tags(),  # a job killed here leaves a run the next stage can end
                "stage": "retrain",
                "status": record.status,
                "model_version": str(record.model_version),
                "cycle": str(record.cycle),
            }
        )
        mlflow.log_dict(asdict(record), "retrain_record.json")


def _repro(root: Path, *args: str) -> None:
    log.info("running dvc repro %s", " ".join(args))
    result = _dvc(root, "repro", *args)
    log.info("dvc repro output:\n%s", result.stdout[-4000:])
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip())[-2000:]
        raise TsforgeError(f"dvc repro failed (exit {result.returncode}):\n{detail}")


def _ingest(root: Path, source_changed: bool) -> None:
    """`dvc repro` of ingest alone, so the new actuals are in the snapshot before the earlier
    forecasts are scored and the retrain rule reads the score.

    The user's file is not a DVC dependency of ingest (its path is a param), so rows
    appended to it leave the stage looking unchanged; ingest is forced when the
    source's content hash moved.
    """
    _repro(root, *(["--force"] if source_changed else []), "--single-item", "ingest")


def _run_pipeline(root: Path, record: RetrainRecord) -> None:
    """`dvc repro` (validate ... evaluate, gate included; ingest already ran), then `dvc push`
    to a configured remote."""
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


def recorded_error(exc: BaseException, what: str) -> str:
    """What the decision record and the job's log say about ``exc``.

    A refusal by the tracking server (401/403) is explained as the stages explain it, with no
    traceback (it is a permission, not a bug); anything else not already a
    :class:`~tsforge.errors.TsforgeError` is logged with its traceback. Either way the text has
    every URI's credentials hidden: MLflow's REST errors quote the request URL.

    Args:
        exc: What broke.
        what: What was being done, for the log ("retrain failed").

    Returns:
        The message, credentials redacted.
    """
    from tsforge import tracking

    explained = exc if isinstance(exc, TsforgeError) else tracking.refusal(exc)
    if explained is None:
        # The traceback as text, redacted: logging's own exc_info would print the raw message.
        trace = "".join(traceback.format_exception(exc)).rstrip()
        log.error("%s\n%s", what, tracking.redact(trace))
        return tracking.redact(f"{type(exc).__name__}: {exc}")
    return tracking.redact(str(explained))


def _forecast(root: Path, record: RetrainRecord, time_column: str) -> None:
    """Forecast every series with the champion, so a scheduled job ends with fresh forecasts.

    Runs after every cycle that did not fail. An unchanged or skipped cycle forecasts only when
    the champion's forecasts of this data are missing (the champion was moved by hand, or the
    last try failed); the file of the same data is replaced, never added to. A failure here
    is recorded beside the cycle's outcome; it moves no alias.
    """
    from tsforge import delivery

    project = Project(root)
    try:
        name = _configure_tracking(root)
        delivery.end_dead_runs(project)
        kept = record.status in ("unchanged", "skipped")
        found = delivery.delivered(project, name, time_column) if kept else None
        path = found or delivery.deliver(project, name).path
    except Exception as exc:  # recorded; the retraining itself stands
        record.forecast_error = recorded_error(exc, "forecasting failed")
        return
    record.forecasts = path.relative_to(project.root).as_posix()


def cycle_number(root: Path) -> int:
    """This cycle's number: the decision records already in logs/retrain.

    It is the step of the live-accuracy metrics in MLflow: one step per cycle, dense and
    increasing, so the chart spaces cycles evenly and a record file maps to its point (the
    data's timestamp would not do: a cycle without new data would land on the last one's step).
    """
    folder = Project(root).retrain_records
    # A record a killed job left half-written is its temporary file: not a cycle.
    return len([p for p in folder.glob("*.json") if not is_temporary(p)]) if folder.is_dir() else 0


def season_period(project: Project, params: Params) -> int:
    """The period evaluate scales MASE with: ``evaluate.season_period`` or the EDA's (1 before
    the first `dvc repro`)."""
    eda_period = int(read_json(project.eda)["season_period"]) if project.eda.is_file() else 1
    return mase_period(params.evaluate.season_period, eda_period)


def score_forecasts(project: Project, params: Params) -> monitoring.LiveAccuracy | None:
    """Every earlier forecasts file scored against the snapshot's actuals (None: no snapshot)."""
    if not project.raw_series.is_file():
        return None
    data = params.data
    actuals = monitoring.actuals_table(
        load_frame(project.raw_series), data.time_column, data.target, data.series_id
    )
    forecasts, errors = monitoring.read_forecasts(project.forecasts, data.target)
    return monitoring.live_accuracy(forecasts, actuals, season_period(project, params), errors)


def _publish_live(root: Path, live: monitoring.LiveAccuracy, cycle: int, experiment_name: str) -> None:
    """Each scored version's live accuracy as registry tags (``live.*``) and as metrics at step
    ``cycle`` on the version's own ``live-v<N>`` run, found again every cycle, so its metric
    history is one line per version in the MLflow chart."""
    import mlflow
    from mlflow.entities import Metric

    from tsforge import registry
    from tsforge.tracking import process_tags

    name = _configure_tracking(root)
    client = mlflow.MlflowClient()
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise TsforgeError("the MLflow experiment does not exist yet; run `dvc repro` first")
    now, stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), int(time.time() * 1000)
    for version, accuracy in live.versions.items():
        with contextlib.suppress(Exception):  # a version deleted from the registry keeps its run
            registry.set_version_tags(name, version, monitoring.version_tags(accuracy, now))
        tags = {"stage": "live", "model_name": name, "model_version": version}
        query = " and ".join(f"tags.{key} = '{value}'" for key, value in tags.items())
        found = client.search_runs([experiment.experiment_id], query, max_results=1)
        if found:
            run_id = found[0].info.run_id
        else:
            run_id = client.create_run(  # process tags: killed before it ends, a stage ends it
                experiment.experiment_id, tags={**tags, **process_tags()}, run_name=f"live-v{version}"
            ).info.run_id
            client.set_terminated(run_id)
        metrics = monitoring.run_metrics(accuracy)
        client.log_batch(run_id, metrics=[Metric(k, v, stamp, cycle) for k, v in metrics.items()])


def _watch(root: Path, record: RetrainRecord, params: Params) -> monitoring.LiveAccuracy | None:
    """Score the earlier forecasts and publish the result; a failure is recorded, never fatal."""
    try:
        live = score_forecasts(Project(root), params)
    except Exception as exc:  # recorded; the cycle goes on
        record.live_error = f"scoring failed: {recorded_error(exc, 'scoring earlier forecasts failed')}"
        return None
    if live is None:
        return None
    record.live_accuracy = monitoring.as_record(live)
    for file, why in live.errors.items():
        log.warning("forecasts/%s could not be read and was not scored: %s", file, why)
    if live.versions:
        try:
            _publish_live(root, live, record.cycle, params.tracking.experiment)
        except Exception as exc:  # the record on disk still holds the scores
            why = recorded_error(exc, "publishing the live accuracy failed")
            record.live_error = f"publishing failed: {why}"
    return live


def _trigger(
    root: Path, params: Params, changed: bool, live: monitoring.LiveAccuracy | None
) -> monitoring.Trigger:
    """The ``retrain.when`` decision; ``degraded`` reads the champion's live and test scores."""
    rule, metric = params.retrain, params.registry.metric
    if not changed or rule.when == "data_changed":
        return monitoring.retrain_trigger(
            rule.when,
            changed,
            champion=None,
            live=None,
            test=None,
            metric=metric,
            fraction=rule.degraded_fraction,
        )
    from tsforge import registry

    name = _configure_tracking(root)
    holder = registry.champion_version(name)
    champion = None if holder is None else str(holder.version)
    scored = live.versions.get(champion) if live is not None and champion is not None else None
    return monitoring.retrain_trigger(
        rule.when,
        changed,
        champion=champion,
        live=None if scored is None else scored.metrics.get(metric),
        test=None if champion is None else registry.version_metric(name, champion, f"test.{metric}"),
        metric=metric,
        fraction=rule.degraded_fraction,
    )


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
        record.cycle = cycle_number(root)
        loaded = load_source(params.data, root)
        frame = loaded.frame
        record.data_sha256, record.rows = content_hash(frame), len(frame)
        record.data_end = str(frame[params.data.time_column].iloc[-1]) if len(frame) else None
        previous = _previous_hash(root)
        changed = not (record.data_sha256 == previous and pipeline_up_to_date(root))
        if changed:
            _ingest(root, source_changed=previous not in (None, record.data_sha256))
        trigger = _trigger(root, params, changed, _watch(root, record, params))
        record.trigger = asdict(trigger)
        if not changed:
            record.status, record.reason = "unchanged", trigger.reason
        elif not trigger.retrain:
            record.status, record.reason = "skipped", trigger.reason
        else:
            _run_pipeline(root, record)
    except Exception as exc:  # a scheduled job always leaves a record, whatever broke
        record.status, record.error = "failed", recorded_error(exc, "retrain failed")
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
    if record.status in ("unchanged", "skipped"):
        line = f"tsforge retrain: {record.reason} (data {str(record.data_sha256)[:12]}, {record.rows} rows)."
    else:
        verdict = "promoted to champion" if record.promoted else "kept as challenger"
        line = (
            f"tsforge retrain: version {record.model_version} {verdict}: {record.reason}. "
            f"Data up to {record.data_end} ({record.rows} rows)"
            + ("; data pushed to the DVC remote." if record.pushed else ".")
        )
    line += live_line(record)
    if record.forecast_error is not None:
        return f"{line}\nForecasting FAILED: {record.forecast_error}"
    return f"{line}\nForecasts of the champion: {record.forecasts}"


def live_line(record: RetrainRecord) -> str:
    """The live accuracy of each scored version, as lines for the scheduler's log ("" if none)."""
    live = record.live_accuracy or {}
    lines = [
        f"\nLive accuracy of version {version}: mase {_shown(scored['metrics'].get('mase'))}, "
        f"mae {_shown(scored['metrics'].get('mae'))} over {scored['scored_rows']} arrived rows "
        f"of {scored['series']} series"
        for version, scored in live.get("versions", {}).items()
    ]
    lines += [
        f"\nforecasts/{file} could not be scored: {why}" for file, why in live.get("errors", {}).items()
    ]
    if record.live_error:
        lines.append(f"\nLive accuracy: {record.live_error}")
    return "".join(lines)


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
