"""The pipeline against a real `mlflow server` with basic auth (SQLite backend and auth store,
proxied artifact store) on loopback, run as the `pipeline` user and checked through the REST
API; then who may do what, wrong credentials, and the server down between runs."""

from __future__ import annotations

import secrets
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.conftest import (
    BIN,
    Login,
    check_access,
    free_port,
    make_project,
    mlflow_server_command,
    pipeline_env,
    rest,
    run,
    set_params,
    wait_for_http,
)

pytestmark = pytest.mark.pipeline

MODEL = "tsforge-forecaster"
USERS = ("admin", "pipeline", "viewer")


class Server:
    """`mlflow server --app-name basic-auth` on 127.0.0.1 with its stores in a folder: users
    `admin`, `pipeline` and `viewer` (MLflow's default READ for everyone logged in); can be
    stopped and restarted."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.logins: dict[str, Login] = {user: (user, secrets.token_hex(8)) for user in USERS}
        (folder / "auth.ini").write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = sqlite:///{folder / 'auth.db'}\n"
            f"admin_username = admin\nadmin_password = {self.logins['admin'][1]}\n"
            "auth_cache_ttl_seconds = 60\n"
        )

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, user: str, password: str | None = None) -> dict[str, str]:
        """A client's variables to work as ``user`` (with ``password`` instead of its own)."""
        return {
            "MLFLOW_TRACKING_URI": self.uri,
            "MLFLOW_TRACKING_USERNAME": user,
            "MLFLOW_TRACKING_PASSWORD": password or self.logins[user][1],
        }

    def start(self) -> None:
        command = mlflow_server_command(self.folder, self.port, "--app-name", "basic-auth")
        log = (self.folder / "server.log").open("ab")
        # The server's background job runners (for GenAI features) are not needed here.
        env = pipeline_env(
            {
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                "MLFLOW_AUTH_CONFIG_PATH": str(self.folder / "auth.ini"),
                "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
            }
        )
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        if not wait_for_http(f"{self.uri}/health"):
            raise AssertionError(f"mlflow server did not start:\n{(self.folder / 'server.log').read_text()}")

    def add_users(self) -> None:
        """The admin creates `pipeline` and `viewer` (MLflow's REST API for users)."""
        for user in ("pipeline", "viewer"):
            username, password = self.logins[user]
            created = rest(
                f"{self.uri}/api/2.0/mlflow/users/create",
                {"username": username, "password": password},
                self.logins["admin"],
            )
            assert created[0] == 200, created

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def get(self, endpoint: str, **query: Any) -> dict[str, Any]:
        """A read, as the admin."""
        url = f"{self.uri}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(query)}"
        status, answer = rest(url, login=self.logins["admin"])
        assert status == 200, f"{endpoint}: {status}"
        return answer

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """A search (POST), as the admin."""
        status, answer = rest(f"{self.uri}/api/2.0/mlflow/{endpoint}", body, self.logins["admin"])
        assert status == 200, f"{endpoint}: {status}"
        return answer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = Server(tmp_path_factory.mktemp("mlflow-server"))
    started.start()
    started.add_users()
    yield started
    started.stop()


def test_the_pipeline_tracks_and_registers_through_a_real_server(server: Server, tmp_path: Path):
    env = server.env("pipeline")  # the pipeline logs in as `pipeline`, through MLflow's variables
    project = make_project(tmp_path, env=env)
    assert not (project / "mlflow.db").exists(), "nothing may fall back to the local store"
    assert server.logins["pipeline"][1] not in (project / "first_repro.log").read_text()

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

    # Make version 1 champion; nobody else may register or move it (REST, then tsforge).
    run(project, str(BIN / "tsforge"), "promote", "1", "--reason", "test setup", env=env)
    check_access(server.uri, server.logins["admin"], server.logins["viewer"], MODEL)
    refused = run(project, str(BIN / "tsforge"), "promote", "1", check=False, env=server.env("viewer"))
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        f"ERROR: user 'viewer' may not move the registry's aliases (such as champion) "
        f"(/api/2.0/mlflow/registered-models/alias) on the MLflow server at {server.uri} (403"
    ), refused.stderr

    # Wrong credentials stop the stage that would promote, with what to set; nothing moves.
    set_params(project, {"registry": {"min_improvement": -1.0}})  # would promote anything
    wrong = run(project, str(BIN / "dvc"), "repro", check=False, env=server.env("pipeline", "wrong-password"))
    assert wrong.returncode != 0
    assert (
        f"the MLflow server at {server.uri} refused the credentials in "
        "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (401)"
    ) in wrong.stderr
    assert "wrong-password" not in wrong.stdout + wrong.stderr

    # Then lose the server before the next run; a URI with credentials is shown without them.
    server.stop()
    secret = server.logins["pipeline"][1]
    down = {
        "MLFLOW_TRACKING_URI": f"http://pipeline:{secret}@127.0.0.1:{server.port}",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }
    failed = run(project, str(BIN / "dvc"), "repro", check=False, env=down)
    assert failed.returncode != 0
    assert f"cannot reach the MLflow tracking store at http://***@127.0.0.1:{server.port}" in failed.stderr
    assert secret not in failed.stdout + failed.stderr

    server.start()
    alias = server.get("registered-models/alias", name=MODEL, alias="champion")["model_version"]
    assert alias["version"] == "1"
    assert len(server.get("model-versions/search", filter=f"name='{MODEL}'")["model_versions"]) == 1
