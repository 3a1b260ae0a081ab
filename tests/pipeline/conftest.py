"""Helpers for running the real pipeline in a temporary git + DVC copy of the project."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tsforge.config import merge_sections

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

TINY: dict[str, Any] = {
    "data": {"until": "1967-12-31"},
    "validate": {"max_missing_fraction": 0.15},  # the early CO2 record is 10% missing
    "window": {"input_size": 8, "horizon": 2},
    "tune": {
        "strategy": "random",
        "max_trials": 2,
        "max_epochs": 2,
        "patience": 1,
        "space": {
            "num_layers": {"type": "int", "min": 1, "max": 2},
            "units": {"type": "choice", "values": [4, 8]},
            "cell": "lstm",
            "learning_rate": 0.01,
            "batch_size": 32,
        },
    },
    # The median of both trials' networks: the served champion is an ensemble.
    "train": {"epochs": 2, "patience": 1, "ensemble_trials": 2, "ensemble_seeds": 1},
    # Two years of rows per statistical fit, not the whole history (the default, unit-tested):
    # every repro here fits four methods at ~80 origins twice.
    "evaluate": {"theta_history": 104},
}
"""Tiny profile: ten years of weekly CO2, 2 trials of 2 epochs, tiny networks."""

WORKER_SEARCH: dict[str, Any] = {
    "tune": {
        "strategy": "random",
        "max_trials": 4,
        "max_epochs": 2,
        "space": {
            "units": {"type": "choice", "values": [4, 8, 12, 16, 20, 24, 28, 32]},
            "num_layers": 1,
            "batch_size": 32,
        },
    }
}
"""A random search with enough distinct trials for a chief's workers to each run some."""


def pipeline_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a user's shell would have: the venv on PATH, no MLflow override
    unless ``extra`` sets one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return {**env, **(extra or {})}


def run(
    project: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command in ``project`` (``env``: extra variables); on failure show its output."""
    result = subprocess.run(
        args, cwd=project, env=pipeline_env(env), capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def free_port() -> int:
    """A TCP port on loopback that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_http(url: str, timeout_s: float = 120) -> bool:
    """Poll ``url`` until it answers; False when it never did within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except OSError:
            time.sleep(0.5)
    return False


def mlflow_server_command(folder: Path, port: int, *extra: str) -> list[str]:
    """`mlflow server` on loopback: SQLite backend and proxied artifacts under ``folder``, one
    worker, ``extra`` options (such as ``--app-name basic-auth``) first."""
    return [
        str(BIN / "mlflow"),
        "server",
        *extra,
        "--backend-store-uri",
        f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


Login = tuple[str, str]
"""A user of a tracking server with basic auth, and its password."""


def rest(
    url: str, body: dict[str, Any] | None = None, login: Login | None = None, method: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Call a REST endpoint (GET, or POST with ``body``) as ``login`` (default: nobody).

    Returns:
        The HTTP status and the JSON answer (empty for an error).
    """
    headers = {"Content-Type": "application/json"}
    if login is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(login).encode()).decode()
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status), dict(json.loads(answer.read() or b"{}"))
    except urllib.error.HTTPError as error:
        return int(error.code), {}


def check_access(uri: str, admin: Login, viewer: Login, model: str, experiment: str = "tsforge") -> None:
    """The basic-auth server at ``uri`` lets nobody in without a login, lets ``viewer`` read
    runs and the registry but neither register a version of ``model`` nor move its aliases."""
    api = f"{uri}/api/2.0/mlflow"
    found = f"{api}/experiments/get-by-name?experiment_name={experiment}"
    assert rest(found)[0] == 401, "a request without credentials was let in"
    assert rest(found, login=(viewer[0], "not-" + viewer[1]))[0] == 401, "a wrong password was let in"
    status, answer = rest(found, login=viewer)
    assert status == 200
    query = {"experiment_ids": [answer["experiment"]["experiment_id"]], "max_results": 5}
    status, runs = rest(f"{api}/runs/search", query, viewer)
    assert status == 200 and runs["runs"], "viewer cannot read the runs"

    def registry() -> tuple[dict[str, str], int]:
        held = rest(f"{api}/registered-models/get?name={model}", login=admin)[1]["registered_model"]
        versions = rest(f"{api}/model-versions/search?filter=name%3D%27{model}%27", login=admin)[1]
        return {a["alias"]: a["version"] for a in held.get("aliases", [])}, len(versions["model_versions"])

    before = registry()
    status, answer = rest(f"{api}/model-versions/get?name={model}&version=1", login=viewer)
    assert status == 200, "viewer cannot read the registry"
    source = answer["model_version"]
    version = {"name": model, "source": source["source"], "run_id": source["run_id"]}
    assert rest(f"{api}/model-versions/create", version, viewer)[0] == 403
    alias = {"name": model, "alias": "champion", "version": "1"}
    assert rest(f"{api}/registered-models/alias", alias, viewer)[0] == 403
    assert rest(f"{api}/registered-models/alias", alias, viewer, method="DELETE")[0] == 403
    assert rest(f"{api}/registered-models/alias", {**alias, "alias": "challenger"}, viewer)[0] == 403
    assert registry() == before, "a refused request changed the registry"


def set_params(project: Path, override: dict[str, Any]) -> None:
    """Merge ``override`` into the project's params.yaml."""
    path = project / "params.yaml"
    path.write_text(
        yaml.safe_dump(merge_sections(yaml.safe_load(path.read_text()), override), sort_keys=False)
    )


def make_project(
    dest: Path,
    override: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
    until_stage: str | None = None,
    env: dict[str, str] | None = None,
) -> Path:
    """Copy the tracked project into ``dest``, apply TINY then ``override``, commit, `dvc repro`.

    Args:
        dest: Empty folder.
        override: Params on top of the tiny profile.
        files: Extra files (relative path -> text) such as a user's CSV.
        until_stage: Reproduce only up to this stage (default: the whole pipeline).
        env: Extra environment variables for `dvc repro` (such as MLFLOW_TRACKING_URI).

    Returns:
        ``dest``, reproduced; its first `dvc repro` output is in ``first_repro.log``.
    """
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        if (ROOT / name).is_file() and not name.startswith("tests/") and name != "dvc.lock":
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    for name, text in (files or {}).items():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text(text)
    set_params(dest, merge_sections(TINY, override or {}))
    run(dest, "git", "init", "-q")
    run(dest, "git", "add", "-A")
    run(dest, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny")
    result = run(dest, str(BIN / "dvc"), "repro", *([until_stage] if until_stage else []), env=env)
    (dest / "first_repro.log").write_text(result.stdout)
    return dest
