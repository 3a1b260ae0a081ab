"""The disk full while the train stage writes its MLflow artifacts, then space freed and a rerun.

The project's artifact store (``mlartifacts/``, the experiment's artifact location with the
local ``mlflow.db``) is moved onto a tmpfs with room for what it holds and 256 KB more: the
learning curve fits, the forecaster (about 900 KB, its code mostly) does not. The stage must
stop with a message that says so, leave no run RUNNING and every earlier output, version and
alias as it was; once the tmpfs is remounted bigger, `dvc repro` completes and the
half-written model is never read as complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.entities import LoggedModelStatus, ViewType

from tests.faults.conftest import (
    LOG,
    MODEL,
    alias,
    assert_clean,
    client,
    dvc,
    dvc_status,
    rerun,
    running_runs,
    versions,
)
from tests.pipeline.conftest import BIN, make_project, set_params

pytestmark = pytest.mark.faults

SLACK_KB = 256
"""Room left on the artifact store: the learning curve (~50 KB) fits, the forecaster does not."""


def _mount(folder: Path, size_kb: int, remount: bool = False) -> None:
    if remount:  # tmpfs keeps its files when resized
        command = ["mount", "-o", f"remount,size={size_kb}k", str(folder)]
    else:
        command = ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)]
    subprocess.run(command, check=True, capture_output=True, text=True)


def _unmount(folder: Path) -> None:
    if subprocess.run(["umount", str(folder)], check=False, capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def _used_kb(folder: Path) -> int:
    stats = os.statvfs(folder)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize // 1024


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes(), usedforsecurity=False).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.fixture
def full_store(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A tiny project reproduced once (version 1, champion), its ``mlartifacts/`` then on a tmpfs
    with SLACK_KB free; yields the project and a copy of the store as it was. Unmounted after."""
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        _mount(probe, 64)
    except (OSError, subprocess.CalledProcessError) as exc:
        reason = getattr(exc, "stderr", "") or str(exc)
        pytest.skip(f"cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): {reason.strip()}")
    _unmount(probe)
    project = make_project(tmp_path / "project")
    store, before = project / "mlartifacts", tmp_path / "mlartifacts-before"
    store.rename(before)
    store.mkdir()
    _mount(store, 64 * 1024)
    try:
        shutil.copytree(before, store, dirs_exist_ok=True)
        _mount(store, _used_kb(store) + SLACK_KB, remount=True)
        yield project, before
    finally:
        _unmount(store)


def _last_train_run(project: Path) -> mlflow.entities.Run:
    store = client(project)
    ids = [e.experiment_id for e in store.search_experiments(view_type=ViewType.ALL)]
    (found,) = store.search_runs(
        ids, "tags.stage = 'train'", order_by=["attributes.start_time DESC"], max_results=1
    )
    return found


def _models_of(project: Path, run_id: str) -> list[mlflow.entities.LoggedModel]:
    store = client(project)
    ids = [e.experiment_id for e in store.search_experiments(view_type=ViewType.ALL)]
    return [m for m in store.search_logged_models(ids) if m.source_run_id == run_id]


def test_disk_full_while_logging_the_forecaster_then_space_freed(full_store: tuple[Path, Path]) -> None:
    project, before = full_store
    store = project / "mlartifacts"
    promotion = project / "reports/promotion.json"
    assert versions(project) == ["1"] and alias(project, "champion") == "1"
    recorded = promotion.read_bytes()
    set_params(project, {"train": {"epochs": 3}})  # train and evaluate have work to do

    began = time.monotonic()
    failed = dvc(project, "repro")
    LOG.warning("disk full: `dvc repro` failed after %.0f s", time.monotonic() - began)
    assert failed.returncode != 0
    # The stage's own message, naming the file it could not write, not a traceback.
    message = f"ERROR: the disk is full: No space left on device writing {store.resolve()}/models/"
    assert message in failed.stderr, failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr
    LOG.warning("disk full: %s", next(line for line in failed.stderr.splitlines() if "disk is full" in line))

    # What held: the run ended FAILED, its half-written model FAILED and unregistered.
    killed = _last_train_run(project)
    assert killed.info.status == "FAILED"
    (half,) = _models_of(project, killed.info.run_id)
    assert half.status == LoggedModelStatus.FAILED
    assert running_runs(project) == []  # not even until the next stage start
    # Versions, champion, the gate's record and every artifact written before: as they were.
    assert versions(project) == ["1"] and alias(project, "champion") == "1"
    assert promotion.read_bytes() == recorded
    now = _digests(store)
    assert {name: now.get(name) for name in _digests(before)} == _digests(before)
    assert not (project / "reports/training.json").exists()  # no record names the half model
    assert dvc_status(project, "tune") == {}  # the stages before train: as dvc.lock has them
    assert "train" in dvc_status(project, "train")

    _mount(store, 64 * 1024, remount=True)  # space freed
    began = time.monotonic()
    rerun(project, str(BIN / "dvc"), "repro")
    LOG.warning("disk full: the rerun after freeing space took %.0f s", time.monotonic() - began)
    training = json.loads((project / "reports/training.json").read_text())
    assert training["run_id"] != killed.info.run_id
    (logged,) = _models_of(project, training["run_id"])
    assert logged.status == LoggedModelStatus.READY
    assert versions(project) == ["1", "2"]
    sources = [client(project).get_model_version(MODEL, v).source for v in ("1", "2")]
    assert sources[1] == f"models:/{logged.model_id}" and f"models:/{half.model_id}" not in sources
    assert _models_of(project, killed.info.run_id)[0].status == LoggedModelStatus.FAILED
    record = json.loads(promotion.read_text())
    assert record["version"] == "2" and alias(project, "champion") == record["champion_after"]
    assert_clean(project)
