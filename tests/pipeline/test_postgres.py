"""A team's tracking server for real: PostgreSQL in a temporary folder, `mlflow server` with
logins on it (its users in the same PostgreSQL), and the pipeline with a chief and two tuning
workers writing to it at once as the `pipeline` user; then who may do what.

The commands are docs/team.md's team set-up ("Beyond one machine"), run as they are written
with its variables set to a temporary folder, free ports and a random password;
``test_the_readme_team_set_up_is_what_the_postgres_test_runs`` (default run) keeps the two
the same. The PostgreSQL test itself is the ``postgres`` tier: ``pytest -m postgres`` or
``make test-all``. It finds PostgreSQL's server binaries or, as root, installs them
(Debian's ``postgresql`` package); otherwise it is skipped with what to install.
"""

from __future__ import annotations

import json
import math
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest

from tests.pipeline.conftest import (
    BIN,
    ROOT,
    WORKER_SEARCH,
    Login,
    check_access,
    free_port,
    make_project,
    pipeline_env,
    run,
    wait_for_http,
)

MODEL = "tsforge-forecaster"
README = ROOT / "docs" / "team.md"

# The README's team set-up, line for line. The variables come from the README's settings
# line; the test sets them to its own folder, ports and password (TeamServer.env).
INSTALL = "apt-get update && apt-get install -y postgresql"
"""As root, where PostgreSQL's server binaries are missing."""
AS_ROOT = ['install -d -o "$PGOWNER" -m 700 "$PGDATA"']
"""As root (here: as whoever runs the test): the database's folder, owned by PGOWNER."""
AS_OWNER = [
    '"$PGBIN/initdb" -D "$PGDATA" -U mlflow --auth=scram-sha-256 --pwfile=<(printf \'%s\\n\' "$PGPASSWORD")',
    '"$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" '
    '-o "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$PGDATA" -w start',
    '"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U mlflow mlflow',
    '"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U mlflow mlflow_auth',
]
"""As PGOWNER, never root (PostgreSQL refuses to run as root): cluster, start, databases."""
AUTH_SETTINGS = (
    "(umask 077 && printf '[mlflow]\\ndefault_permission = READ\\n"
    "database_uri = postgresql+psycopg2://mlflow:%s@127.0.0.1:%s/mlflow_auth\\n"
    "admin_username = admin\\nadmin_password = %s\\nauth_cache_ttl_seconds = 60\\n' "
    '"$PGPASSWORD" "$PGPORT" "$ADMIN_PASSWORD" > "$AUTH_CONFIG")'
)
"""The logins' settings: users in the second database, READ for all, the first admin."""
SERVE = (
    'MLFLOW_AUTH_CONFIG_PATH="$AUTH_CONFIG" MLFLOW_FLASK_SERVER_SECRET_KEY="$SECRET_KEY" '
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false .venv/bin/mlflow server --app-name basic-auth "
    '--backend-store-uri "postgresql+psycopg2://mlflow:$PGPASSWORD@127.0.0.1:$PGPORT/mlflow" '
    '--artifacts-destination "$ARTIFACTS" --host 0.0.0.0 --port "$TRACKING_PORT" '
    '--allowed-hosts "$TRACKING_HOST:$TRACKING_PORT"'
)
"""In the project's folder: the tracking server with logins, in the foreground."""
USERS = (
    'MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD="$ADMIN_PASSWORD" .venv/bin/python -c '
    "'import os, sys; from mlflow.server.auth.client import AuthServiceClient; "
    "users = AuthServiceClient(sys.argv[1]); "
    'users.create_user("pipeline", os.environ["PIPELINE_PASSWORD"]); '
    'users.create_user("viewer", os.environ["VIEWER_PASSWORD"])\' '
    '"http://$TRACKING_HOST:$TRACKING_PORT"'
)
"""In the project's folder, once the server is up: the admin creates `pipeline` and `viewer`."""
CLIENT = (
    'export MLFLOW_TRACKING_URI="http://$TRACKING_HOST:$TRACKING_PORT" MLFLOW_TRACKING_USERNAME=pipeline '
    'MLFLOW_TRACKING_PASSWORD="$PIPELINE_PASSWORD"'
)
"""On each machine that runs the pipeline: the server and the `pipeline` login."""
STOP = '"$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop'
"""As PGOWNER, once the tracking server is stopped."""
COMMANDS = [INSTALL, *AS_ROOT, *AS_OWNER, AUTH_SETTINGS, SERVE, USERS, CLIENT, STOP]
USER_NAMES = ("admin", "pipeline", "viewer")

MISSING = (
    "PostgreSQL's server binaries (initdb, pg_ctl) are not in /usr/lib/postgresql/*/bin nor on "
    "PATH, and this test installs them only as root. Install them with "
    "`sudo apt-get install -y postgresql` (Debian/Ubuntu; elsewhere, put the folder of initdb "
    "and pg_ctl on PATH), then rerun `pytest -m postgres`."
)

# A search big enough for both workers to run trials while the chief serves the oracle.
SEARCH = {"tune": {**WORKER_SEARCH["tune"], "workers": 2}}


def _version(name: str) -> tuple[int, ...]:
    """``"15"`` -> ``(15,)``, ``"9.6"`` -> ``(9, 6)``: the order of ``sort -V``."""
    return tuple(int(part) for part in re.findall(r"\d+", name))


def server_binaries() -> Path | None:
    """The folder of initdb, pg_ctl and createdb: Debian's newest, else the one on PATH."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: _version(p.parts[-3]))
    if debian:
        return debian[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def ensure_server_binaries() -> Path:
    """Find PostgreSQL's server binaries; as root, install Debian's package when missing.

    Skips the test (with what to install) when they are missing and this is not root.
    """
    found = server_binaries()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        result = subprocess.run(["bash", "-c", INSTALL], env=env, capture_output=True, text=True, check=False)
        found = server_binaries()
        if found is None:
            pytest.fail(
                f"`{INSTALL}` did not install initdb:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            )
    if found is None:
        pytest.skip(MISSING)
    return found


def database_owner() -> str | None:
    """The account that runs PostgreSQL: ``postgres`` (created if missing) when this is root,
    else None (this user runs it)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "postgres"], check=True)
    return "postgres"


@dataclass
class TeamServer:
    """The README's tracking server: a PostgreSQL cluster and `mlflow server` on it."""

    folder: Path
    pgbin: Path
    owner: str | None
    password: str = field(default_factory=lambda: secrets.token_hex(12))
    logins: dict[str, Login] = field(
        default_factory=lambda: {user: (user, secrets.token_hex(12)) for user in USER_NAMES}
    )
    pg_port: int = field(default_factory=free_port)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The README's settings line, for this test."""
        return {
            "PGBIN": str(self.pgbin),
            "PGOWNER": self.owner or pwd.getpwuid(os.geteuid()).pw_name,
            "PGDATA": str(self.folder / "pg"),
            "ARTIFACTS": str(self.folder / "artifacts"),
            "PGPORT": str(self.pg_port),
            "PGPASSWORD": self.password,
            "TRACKING_HOST": "127.0.0.1",
            "TRACKING_PORT": str(self.port),
            "AUTH_CONFIG": str(self.folder / "auth.ini"),
            "ADMIN_PASSWORD": self.logins["admin"][1],
            "PIPELINE_PASSWORD": self.logins["pipeline"][1],
            "VIEWER_PASSWORD": self.logins["viewer"][1],
            "SECRET_KEY": self.password + "-key",
        }

    @property
    def client_env(self) -> dict[str, str]:
        """MLFLOW_TRACKING_URI and the `pipeline` login, from the README's client line."""
        names = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
        shown = self.shell(f"{CLIENT}; printf '%s\\n' " + " ".join(f'"${n}"' for n in names)).stdout
        return dict(zip(names, shown.splitlines(), strict=True))

    def shell(
        self, line: str, as_owner: bool = False, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run one README line with bash (as PGOWNER when ``as_owner`` and this is root), in
        ``cwd`` (default: the server's folder)."""
        command = ["bash", "-c", line]
        if as_owner and self.owner is not None:
            command = ["runuser", "-u", self.owner, "--", *command]
        result = subprocess.run(
            command,
            cwd=cwd or self.folder,
            env=pipeline_env(self.env),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            log = self.folder / "pg" / "server.log"
            raise AssertionError(
                f"{line} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
                + (f"\nPostgreSQL's log:\n{log.read_text()[-2000:]}" if log.is_file() else "")
            )
        return result

    def start(self) -> None:
        """The databases (as PGOWNER), then the tracking server with logins in the project's
        folder, then its users."""
        for line in AS_ROOT:
            self.shell(line)
        for line in AS_OWNER:
            self.shell(line, as_owner=True)
        self.shell(AUTH_SETTINGS)
        log = (self.folder / "mlflow-server.log").open("ab")
        # Its own session, so that stopping it reaches the uvicorn workers too.
        self.process = subprocess.Popen(
            ["bash", "-c", SERVE],
            cwd=ROOT,
            env=pipeline_env(self.env),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        if not wait_for_http(f"http://127.0.0.1:{self.port}/health", timeout_s=180):
            raise AssertionError(f"mlflow server did not start:\n{self.server_log()}")
        self.shell(USERS, cwd=ROOT)

    def server_log(self) -> str:
        """The end of the tracking server's output."""
        path = self.folder / "mlflow-server.log"
        return path.read_text(errors="replace")[-4000:] if path.is_file() else ""

    def stop(self) -> None:
        """Stop the tracking server, then PostgreSQL (the README's stop line); kill what stays up."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
            except ProcessLookupError:
                pass
            self.process = None
        pid_file = self.folder / "pg" / "postmaster.pid"
        if pid_file.is_file():
            try:
                self.shell(STOP, as_owner=True)
            except AssertionError:
                # An immediate shutdown: the postmaster takes its children down with it.
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)

    def query(self, sql: str, database: str = "mlflow") -> list[tuple[Any, ...]]:
        """Rows of ``sql`` straight from the tracking server's PostgreSQL (``mlflow_auth``: its users)."""
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1", port=self.pg_port, user="mlflow", password=self.password, dbname=database
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            connection.close()


@pytest.fixture
def team_server() -> Iterator[TeamServer]:
    """The README's team tracking server, started in a temporary folder; always torn down."""
    pgbin = ensure_server_binaries()
    owner = database_owner()
    # Not pytest's tmp_path: root's is private (0700), and PGOWNER must reach its folder.
    folder = Path(tempfile.mkdtemp(prefix="tsforge-postgres-"))
    folder.chmod(0o755)
    server = TeamServer(folder, pgbin, owner)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _readme_block() -> str:
    """The README's team set-up block, one logical line per line, comments dropped."""
    text = README.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    (block,) = [b for b in blocks if "initdb" in b]
    lines = re.sub(r"\\\n\s*", " ", block).splitlines()
    return "\n".join(" ".join(re.sub(r"\s+#\s.*$", "", line).split()) for line in lines)


def test_the_readme_team_set_up_is_what_the_postgres_test_runs() -> None:
    """Every line the test runs is in the README's block, in the same order."""
    lines = _readme_block().splitlines()
    positions = []
    for command in COMMANDS:
        wanted = " ".join(command.split())
        assert wanted in lines, f"README's team set-up lacks the test's line:\n{wanted}"
        positions.append(lines.index(wanted))
    assert positions == sorted(positions), "the README's lines are not in the test's order"
    assert "pytest -m postgres" in README.read_text()


@pytest.mark.postgres
@pytest.mark.pipeline
def test_a_chief_and_two_workers_track_everything_in_postgres(
    team_server: TeamServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    env = team_server.client_env
    uri = env["MLFLOW_TRACKING_URI"]
    assert (uri, env["MLFLOW_TRACKING_USERNAME"]) == (f"http://127.0.0.1:{team_server.port}", "pipeline")
    project = make_project(tmp_path, SEARCH, env=env)
    assert not (project / "mlflow.db").exists(), "nothing may fall back to the local store"

    # Read everything back as `viewer`: a login with no permission of its own reads.
    client = client_as(team_server.logins["viewer"], uri, monkeypatch)
    experiment = client.get_experiment_by_name("tsforge")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    by_stage = Counter(r.data.tags.get("stage") for r in runs)
    assert by_stage == {
        "validate": 1,
        "tune": 1,
        "tune-trial": 4,
        "train": 1,
        "train-member": 2,  # the tiny profile's two-network ensemble
        "evaluate": 1,
    }, by_stage
    # Nothing lost: every run finished, with its metrics.
    assert {r.info.status for r in runs} == {"FINISHED"}, [(r.info.run_name, r.info.status) for r in runs]
    assert all(r.data.metrics for r in runs), [r.info.run_name for r in runs if not r.data.metrics]

    # Every trial the tuner reports has its run, from both workers, with its score.
    (parent,) = [r for r in runs if r.data.tags.get("stage") == "tune"]
    summary = json.loads((project / "reports/tuning.json").read_text())
    table = pd.read_csv(project / "reports/tuning_trials.csv", dtype={"trial_id": str})
    assert summary["trials"] == len(table) == parent.data.metrics["trials"] == 4
    assert summary["workers"] == 2 and summary["failed_trials"] == 0
    assert set(table["status"]) == {"COMPLETED"}
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(trials) == len(table), "a trial has no run, or a run no trial"
    by_trial = {r.data.tags["kt_trial_id"]: r for r in trials}
    assert set(by_trial) == set(table["trial_id"]), "a trial ran twice or lost its run"
    workers = Counter(r.data.tags["kt_tuner_id"] for r in trials)
    assert set(workers) == {"tuner0", "tuner1"}, f"the trials were not shared: {workers}"
    for row in table.itertuples():
        trial = by_trial[str(row.trial_id)]
        assert math.isclose(trial.data.metrics["best_val_mae"], float(row.score), rel_tol=1e-6)
        assert int(trial.data.params["units"]) == row.units
        assert {"duration_s", "val_loss"} <= set(trial.data.metrics)
        epochs = sorted(m.step for m in client.get_metric_history(trial.info.run_id, "val_loss"))
        assert epochs in ([0], [0, 1]), f"trial {row.trial_id} logged epochs {epochs}"
        assert trial.data.tags["trial_status"] in {"completed", "stopped_early"}
    best = json.loads((project / "models/best_hparams.json").read_text())
    assert [t for t, r in by_trial.items() if r.data.tags.get("best_trial") == "true"] == [best["trial_id"]]
    assert best["tuning_run_id"] == parent.info.run_id

    # The registry: one version, the train run's, and a champion.
    (train,) = [r for r in runs if r.data.tags.get("stage") == "train"]
    (version,) = client.search_model_versions(f"name='{MODEL}'")
    assert (version.version, version.status) == ("1", "READY")
    assert version.tags["train_run_id"] == train.info.run_id
    promotion = json.loads((project / "reports/promotion.json").read_text())
    if not promotion["promote"]:  # the tiny model need not beat the baselines
        run(
            project,
            str(BIN / "tsforge"),
            "promote",
            "1",
            "--reason",
            "postgres test",
            env=env,
        )
    assert client.get_model_version_by_alias(MODEL, "champion").version == "1"
    aliases = {alias: int(number) for alias, number in client.get_registered_model(MODEL).aliases.items()}
    assert any((team_server.folder / "artifacts").rglob("MLmodel")), "the forecaster went to the served store"

    # The same, straight from PostgreSQL: it is the store, and it holds every run.
    assert team_server.query("SELECT status, count(*) FROM runs GROUP BY status") == [("FINISHED", len(runs))]
    assert team_server.query("SELECT name, version FROM model_versions") == [(MODEL, 1)]
    assert dict(team_server.query("SELECT alias, version FROM registered_model_aliases")) == aliases
    check_who_may_do_what(team_server, project, env)
    assert {a: int(v) for a, v in client.get_registered_model(MODEL).aliases.items()} == aliases


def client_as(login: Login, uri: str, monkeypatch: pytest.MonkeyPatch) -> mlflow.MlflowClient:
    """An MLflow client of ``uri`` that logs in as ``login`` (MLflow's variables, this test only)."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", login[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", login[1])
    return mlflow.MlflowClient(tracking_uri=uri)


def check_who_may_do_what(team_server: TeamServer, project: Path, env: dict[str, str]) -> None:
    """The users are in PostgreSQL; no login, a wrong password, `viewer` registering or moving
    champion: all refused, and `tsforge promote` with a wrong password says what to set."""
    users = team_server.query("SELECT username FROM users", database="mlflow_auth")
    assert sorted(name for (name,) in users) == list(USER_NAMES)
    uri = env["MLFLOW_TRACKING_URI"]
    check_access(uri, team_server.logins["admin"], team_server.logins["viewer"], MODEL)
    wrong = {**env, "MLFLOW_TRACKING_PASSWORD": "wrong-password"}
    refused = run(project, str(BIN / "tsforge"), "promote", "1", check=False, env=wrong)
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        f"ERROR: the MLflow server at {uri} refused the credentials in "
        "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (401)"
    ), refused.stderr
    assert "wrong-password" not in refused.stdout + refused.stderr
