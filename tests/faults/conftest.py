"""Kill a tsforge process with SIGKILL at a named point, then look at what it left.

The point is set through ``hook/sitecustomize.py`` (first on PYTHONPATH of the command), so
the code under test runs unchanged: the kill lands exactly where the test says, every time,
and the test logs where that was.
"""

from __future__ import annotations

import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import ViewType

from tests.pipeline.conftest import BIN, pipeline_env, run
from tsforge.catalog import is_temporary

HOOK = Path(__file__).parent / "hook"
MODEL = "tsforge-forecaster"
LOG = logging.getLogger("tsforge.faults")


@dataclass(frozen=True)
class Fault:
    """Where to kill: the process (a substring of its command line) and the point in it."""

    process: str
    at: str  # replace:<file name> | <module>:<attr.path>:<before|after>
    arg: str = ""  # only a call with this in its arguments kills

    def __str__(self) -> str:
        return f"{self.process} at {self.at}" + (f" ({self.arg})" if self.arg else "")


def kill_during(project: Path, args: list[str], fault: Fault) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in ``project`` in a process group of its own and SIGKILL the whole group
    (the job, `dvc repro` and the stage, as a crash or an OOM kill of the job would) at ``fault``.

    Raises:
        AssertionError: The command ended without reaching the point.
    """
    log = project.parent / f"{project.name}-faults.log"
    seen = log.read_text().splitlines() if log.exists() else []
    env = {
        "PYTHONPATH": str(HOOK),
        "TSFORGE_FAULT_AT": fault.at,
        "TSFORGE_FAULT_IN": fault.process,
        "TSFORGE_FAULT_ARG": fault.arg,
        "TSFORGE_FAULT_LOG": str(log),
        "TSFORGE_FAULT_GROUP": "1",
    }
    result = subprocess.run(
        args,
        cwd=project,
        env=pipeline_env(env),
        capture_output=True,
        text=True,
        check=False,
        start_new_session=True,
        timeout=600,
    )
    fired = (log.read_text().splitlines() if log.exists() else [])[len(seen) :]
    assert fired and result.returncode == -9, (
        f"{args} was not killed at {fault} (exit {result.returncode}):\n"
        f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    )
    LOG.warning("killed `%s`: %s", " ".join(Path(a).name for a in args), fired[0])
    return result


def rerun(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command again, without a fault; it must succeed."""
    return run(project, *args)


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(project, str(BIN / "dvc"), *args, check=False)


def dvc_status(project: Path, *targets: str) -> dict[str, Any]:
    """`dvc status --json` of ``targets`` (and what they depend on): {} when up to date."""
    result = dvc(project, "status", "--json", *targets)
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout or "{}"))


def client(project: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def running_runs(project: Path) -> list[str]:
    """``<stage tag>:<run id>`` of every run still RUNNING in the project's store."""
    store = client(project)
    ids = [e.experiment_id for e in store.search_experiments(view_type=ViewType.ALL)]
    runs = store.search_runs(ids, "attributes.status = 'RUNNING'", run_view_type=ViewType.ALL)
    return [f"{r.data.tags.get('stage')}:{r.info.run_id}" for r in runs]


def temporaries(project: Path) -> list[str]:
    """Temporary files of killed writers anywhere in the project (git and DVC internals aside)."""
    return sorted(
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if is_temporary(p) and not {".git", ".dvc"} & set(p.relative_to(project).parts)
    )


def versions(project: Path) -> list[str]:
    found = client(project).search_model_versions(f"name = '{MODEL}'")
    return sorted((str(v.version) for v in found), key=int)


def alias(project: Path, name: str) -> str | None:
    try:
        return str(client(project).get_model_version_by_alias(MODEL, name).version)
    except mlflow.exceptions.MlflowException:
        return None


def champion_moves(project: Path) -> list[str]:
    """The versions champion moved to, in the alias history's order."""
    tags = client(project).get_registered_model(MODEL).tags
    return [m["version"] for m in json.loads(tags.get("alias_history", "[]")) if m["alias"] == "champion"]


def assert_clean(project: Path, *targets: str) -> None:
    """After a rerun: nothing RUNNING, no temporary file left, DVC's outs match dvc.lock."""
    assert running_runs(project) == []
    assert temporaries(project) == []
    assert dvc_status(project, *targets) == {}
