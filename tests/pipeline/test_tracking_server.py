"""The pipeline against a real `mlflow server` (SQLite backend, proxied artifact store) on
loopback, checked through the REST API; then the server goes down between runs."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.conftest import BIN, free_port, make_project, pipeline_env, run, set_params, wait_for_http

pytestmark = pytest.mark.pipeline

MODEL = "tsforge-forecaster"


class Server:
    """`mlflow server` on 127.0.0.1 with its store in a folder; can be stopped and restarted."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.folder / 'server.db'}",
            "--artifacts-destination",
            str(self.folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        log = (self.folder / "server.log").open("ab")
        # The server's background job runners (for GenAI features) are not needed here.
        env = pipeline_env({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        if not wait_for_http(f"{self.uri}/health"):
            raise AssertionError(f"mlflow server did not start:\n{(self.folder / 'server.log').read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def get(self, endpoint: str, **query: Any) -> dict[str, Any]:
        url = f"{self.uri}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(query)}"
        return dict(json.loads(urllib.request.urlopen(url, timeout=30).read()))

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.uri}/api/2.0/mlflow/{endpoint}",
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )
        return dict(json.loads(urllib.request.urlopen(request, timeout=30).read()))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = Server(tmp_path_factory.mktemp("mlflow-server"))
    started.start()
    yield started
    started.stop()


def test_the_pipeline_tracks_and_registers_through_a_real_server(server: Server, tmp_path: Path):
    env = {"MLFLOW_TRACKING_URI": server.uri}
    project = make_project(tmp_path, env=env)
    assert not (project / "mlflow.db").exists(), "nothing may fall back to the local store"

    experiment = server.get("experiments/get-by-name", experiment_name="tsforge")["experiment"]
    runs = server.post("runs/search", {"experiment_ids": [experiment["experiment_id"]], "max_results": 100})
    stages = sorted(
        {tag["value"] for r in runs["runs"] for tag in r["data"]["tags"] if tag["key"] == "stage"}
    )
    # train-member: one child run per network of the tiny profile's two-member ensemble.
    assert stages == ["evaluate", "train", "train-member", "tune", "tune-trial", "validate"]

    evaluate = next(r for r in runs["runs"] if {"key": "stage", "value": "evaluate"} in r["data"]["tags"])
    artifacts = server.get("artifacts/list", run_id=evaluate["info"]["run_id"])
    assert {"forecast.png", "metrics.json", "promotion.json"} <= {f["path"] for f in artifacts["files"]}
    assert any((server.folder / "artifacts").rglob("MLmodel")), "the forecaster went to the served store"

    versions = server.get("registered-models/search")["registered_models"]
    assert [m["name"] for m in versions] == [MODEL]
    version = server.get("model-versions/get", name=MODEL, version="1")["model_version"]
    assert {t["key"] for t in version["tags"]} >= {"git_commit", "data.raw.md5", "train_run_id"}

    # Make version 1 champion, then lose the server before the next run.
    run(project, str(BIN / "tsforge"), "promote", "1", "--reason", "test setup", env=env)
    server.stop()
    set_params(project, {"registry": {"min_improvement": -1.0}})  # would promote anything
    down = {**env, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    failed = run(project, str(BIN / "dvc"), "repro", check=False, env=down)
    assert failed.returncode != 0
    assert f"cannot reach the MLflow tracking store at {server.uri}" in failed.stderr

    server.start()
    alias = server.get("registered-models/alias", name=MODEL, alias="champion")["model_version"]
    assert alias["version"] == "1"
    assert len(server.get("model-versions/search", filter=f"name='{MODEL}'")["model_versions"]) == 1
