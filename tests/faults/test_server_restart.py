"""The tracking server stopped while the train stage logs, twice: once for longer than MLflow's
HTTP retries wait (the stage must stop with tsforge's "cannot reach" message), once restarted
within them (the stage must ride over the gap and finish).

A tiny project tracks to a real `mlflow server` (SQLite backend, proxied artifact store) on
loopback. The train stage is paused by ``hook/sitecustomize.py`` (``TSFORGE_FAULT_PAUSE``) just
before it logs the forecaster, the server is stopped, and the stage goes on. After each rerun:
no run RUNNING, exactly one version per completed train+evaluate, the champion alias where the
gate's record and the alias history say.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.entities import ViewType

from tests.faults.conftest import HOOK, LOG, MODEL, Fault, dvc_status, temporaries
from tests.pipeline.conftest import (
    BIN,
    free_port,
    make_project,
    mlflow_server_command,
    pipeline_env,
    set_params,
    wait_for_http,
)

pytestmark = pytest.mark.faults

AT = Fault("pipelines/train.py", "tsforge.stages.train:log_model:before")
"""The train stage, its networks trained, before it uploads the forecaster."""

GIVE_UP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
"""Retries spent in about a second a request: the stage gives up while the server is down."""

RIDE_OVER = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
"""Retries after 0, 2, 4, 8 and 16 s (urllib3's backoff): 30 s for the server to come back."""


class Server:
    """`mlflow server` on 127.0.0.1 with its stores in a folder; stopped and started again on
    the same port."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start it; returns the seconds until it answered."""
        began = time.monotonic()
        command = mlflow_server_command(self.folder, self.port)
        log = (self.folder / "server.log").open("ab")
        env = pipeline_env({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
        if not wait_for_http(f"{self.uri}/health"):
            raise AssertionError(f"mlflow server did not start:\n{(self.folder / 'server.log').read_text()}")
        return time.monotonic() - began

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def client(self) -> mlflow.MlflowClient:
        return mlflow.MlflowClient(tracking_uri=self.uri)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    started = Server(tmp_path / "server")
    started.start()
    yield started
    started.stop()


def _stop_at(project: Path, server: Server, env: dict[str, str], restart: bool) -> subprocess.Popen[str]:
    """Start `dvc repro` with ``env``; at :data:`AT` stop the server, let the stage go on, and
    (``restart``) start the server again at once. Returns the job, still running."""
    folder = project.parent
    log, go = folder / "pause.log", folder / "go"
    go.unlink(missing_ok=True)
    seen = len(log.read_text().splitlines()) if log.exists() else 0
    hook = {
        "PYTHONPATH": str(HOOK),
        "TSFORGE_FAULT_AT": AT.at,
        "TSFORGE_FAULT_IN": AT.process,
        "TSFORGE_FAULT_LOG": str(log),
        "TSFORGE_FAULT_PAUSE": str(go),
    }
    job = subprocess.Popen(
        [str(BIN / "dvc"), "repro"],
        cwd=project,
        env=pipeline_env({**env, **hook}),
        stdout=(folder / "repro.out").open("w"),
        stderr=(folder / "repro.err").open("w"),
        text=True,
    )
    deadline = time.monotonic() + 300
    while not (log.exists() and len(log.read_text().splitlines()) > seen):
        if job.poll() is not None or time.monotonic() > deadline:
            job.kill()
            raise AssertionError(
                f"the stage never reached {AT}:\n{(folder / 'repro.err').read_text()[-3000:]}"
            )
        time.sleep(0.2)
    server.stop()
    LOG.warning("server stopped at %s", AT)
    go.touch()
    if restart:
        LOG.warning("server back after %.1f s", server.start())
    return job


def _finish(project: Path, job: subprocess.Popen[str]) -> tuple[int, str]:
    code = job.wait(timeout=300)
    return code, (project.parent / "repro.err").read_text()


def _runs(server: Server, query: str) -> list[mlflow.entities.Run]:
    store = server.client()
    ids = [e.experiment_id for e in store.search_experiments(view_type=ViewType.ALL)]
    return list(store.search_runs(ids, query, run_view_type=ViewType.ALL, max_results=1000))


def _versions(server: Server) -> list[mlflow.entities.model_registry.ModelVersion]:
    return sorted(server.client().search_model_versions(f"name = '{MODEL}'"), key=lambda v: int(v.version))


def _champion(server: Server) -> str:
    return str(server.client().get_model_version_by_alias(MODEL, "champion").version)


def _assert_consistent(project: Path, server: Server, completed: int) -> None:
    """No run RUNNING; one version per completed train+evaluate, each from its own finished
    train run; champion where the gate's record and the alias history put it."""
    assert _runs(server, "attributes.status = 'RUNNING'") == []
    found = _versions(server)
    assert [v.version for v in found] == [str(n) for n in range(1, completed + 1)]
    trains = [v.tags["train_run_id"] for v in found]
    assert len(set(trains)) == completed
    assert all(server.client().get_run(r).info.status == "FINISHED" for r in trains)
    record = json.loads((project / "reports/promotion.json").read_text())
    history = json.loads(server.client().get_registered_model(MODEL).tags.get("alias_history", "[]"))
    moves = [m["version"] for m in history if m["alias"] == "champion"]
    assert _champion(server) == record["champion_after"] == moves[-1]
    assert temporaries(project) == [] and dvc_status(project) == {}


def test_tracking_server_stopped_mid_stage_then_restarted(server: Server, tmp_path: Path) -> None:
    tracked = {"MLFLOW_TRACKING_URI": server.uri, "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
    project = make_project(tmp_path / "project", env=tracked)
    assert not (project / "mlflow.db").exists(), "nothing may fall back to the local store"
    _assert_consistent(project, server, completed=1)
    set_params(project, {"train": {"epochs": 3}})  # train and evaluate have work to do

    # Down for longer than the retries wait: the stage stops, saying why.
    began = time.monotonic()
    code, stderr = _finish(project, _stop_at(project, server, {**tracked, **GIVE_UP}, restart=False))
    LOG.warning("server down: the stage gave up after %.0f s", time.monotonic() - began)
    assert code != 0
    message = f"ERROR: cannot reach the MLflow tracking store at {server.uri} part way through the stage"
    assert message in stderr, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    LOG.warning("server down: %s", next(line for line in stderr.splitlines() if "cannot reach" in line))
    server.start()
    (left,) = [r for r in _runs(server, "tags.stage = 'train'") if r.info.status != "FINISHED"]
    LOG.warning("server down: the stage's run was left %s", left.info.status)
    assert [v.version for v in _versions(server)] == ["1"] and _champion(server) == "1"
    assert not (project / "reports/training.json").exists()

    # The rerun, the server stopped at the same point and started again at once: ridden over.
    began = time.monotonic()
    code, stderr = _finish(project, _stop_at(project, server, {**tracked, **RIDE_OVER}, restart=True))
    LOG.warning("server restarted: the rerun finished in %.0f s", time.monotonic() - began)
    assert code == 0, stderr[-3000:]
    # A run left RUNNING is ended by the rerun's start, as a killed stage's is.
    ended = "KILLED" if left.info.status == "RUNNING" else left.info.status
    assert server.client().get_run(left.info.run_id).info.status == ended
    training = json.loads((project / "reports/training.json").read_text())
    assert _versions(server)[-1].tags["train_run_id"] == training["run_id"] != left.info.run_id
    _assert_consistent(project, server, completed=2)
