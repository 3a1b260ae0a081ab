"""The Theta and ETS fits on a real Dask cluster (TSFORGE_CLUSTER): a ``dask scheduler`` and
two ``dask worker`` processes on loopback, started from the venv as docs/team.md says. The
forecasts, and the evaluate stage's scores, are the ones computed on this machine, value for
value, and both workers fit some of them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tests.pipeline.conftest import BIN, free_port, pipeline_env
from tests.unit.test_assessment import PERIOD, LineWithOffset, _catalog_inputs, _spec
from tsforge import cluster
from tsforge import statistical as st
from tsforge import statistical_runs as runs
from tsforge.assessment import Assessment
from tsforge.config import EvaluateConfig
from tsforge.stages import evaluate

pytestmark = pytest.mark.pipeline

SERIES, ROWS, HORIZON, SEASON = 20, 60, 6, 4


@contextmanager
def _started(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` in its own process group (a worker's nanny starts a child), stopped on exit."""
    env = {k: v for k, v in pipeline_env().items() if k != cluster.CLUSTER_ENV}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def _scheduler(folder: Path) -> Iterator[str]:
    """A ``dask scheduler`` on a free loopback port, once it accepts connections."""
    port = free_port()
    command = [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    log = folder / "scheduler.log"
    with _started(command, log) as process:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"dask scheduler did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield f"tcp://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two single-threaded workers; yields the scheduler's address."""
    from dask.distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    with _scheduler(folder) as address:
        worker = [str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1"]
        worker += ["--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(folder)]
        with (
            _started([*worker, "--name", "w1"], folder / "w1.log"),
            _started([*worker, "--name", "w2"], folder / "w2.log"),
        ):
            with Client(address, timeout=30, set_as_default=False) as client:
                try:
                    client.wait_for_workers(2, timeout=120)
                except TimeoutError:
                    logs = "\n".join((folder / f"{w}.log").read_text()[-2000:] for w in ("w1", "w2"))
                    pytest.fail(f"the two dask workers did not join:\n{logs}")
                client.get_task_stream(count=1)  # from now on the scheduler records every task
            yield address


def _workers_that_fitted(address: str) -> set[str]:
    from dask.distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:
        return {r["worker"] for r in client.get_task_stream() if "fit_chunk" in str(r.get("key"))}


def _panel() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """20 series of 60 rows, two targets (seasonal, trending, one of them negative at times),
    three test origins each; the first series also forecast from its sixth row (too short for
    ETS: a fallback)."""
    rng = np.random.default_rng(26)
    t = np.arange(ROWS, dtype=np.float64)
    blocks = []
    for k in range(SERIES):
        season = (1 + k % 5) * np.sin(2 * np.pi * t / SEASON + k)
        a = 50 + 0.3 * k * t + season + rng.normal(0, 0.5, ROWS)
        b = season + 0.05 * t + rng.normal(0, 1.0, ROWS)
        blocks.append(np.column_stack([a, b]))
    starts = np.arange(SERIES) * ROWS
    origins = np.concatenate(
        [[s + ROWS - HORIZON - 12, s + ROWS - HORIZON - 6, s + ROWS - HORIZON] for s in starts]
    )
    origin_starts = np.repeat(starts, 3)
    origins = np.concatenate([[5], origins])
    origin_starts = np.concatenate([[0], origin_starts])
    return np.vstack(blocks), origins, origin_starts


def test_the_cluster_fits_are_the_local_fits_value_for_value(
    dask_cluster: str, monkeypatch: pytest.MonkeyPatch
):
    levels, origins, starts = _panel()
    kwargs = {"period": SEASON, "history": 30, "starts": starts}
    monkeypatch.setenv(runs.JOBS_ENV, "1")
    monkeypatch.delenv(cluster.CLUSTER_ENV, raising=False)
    local = st.statistical_forecasts(("theta", "ets"), levels, origins, HORIZON, 2, **kwargs)

    monkeypatch.setenv(cluster.CLUSTER_ENV, dask_cluster)
    remote = st.statistical_forecasts(("theta", "ets"), levels, origins, HORIZON, 2, **kwargs)

    for method in ("theta", "ets"):
        assert remote[method].shape == (len(origins), HORIZON, 2)
        np.testing.assert_array_equal(remote[method], local[method])
    assert _workers_that_fitted(dask_cluster) == set(_worker_addresses(dask_cluster))


def _worker_addresses(address: str) -> list[str]:
    from dask.distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:
        return list(client.scheduler_info()["workers"])


def test_the_evaluate_stage_scores_the_same_through_the_cluster(
    dask_cluster: str, monkeypatch: pytest.MonkeyPatch
):
    series, windows = _catalog_inputs()

    def assess() -> Assessment:
        return evaluate.assess(
            series, windows, LineWithOffset(), _spec(), period=PERIOD, config=EvaluateConfig()
        )

    monkeypatch.setenv(runs.JOBS_ENV, "1")
    monkeypatch.delenv(cluster.CLUSTER_ENV, raising=False)
    local = assess()
    monkeypatch.setenv(cluster.CLUSTER_ENV, dask_cluster)
    remote = assess()

    assert remote.metrics == local.metrics
    assert set(remote.forecasts) == set(local.forecasts) >= {"theta", "ets", "theta_ets"}
    for method, forecasts in local.forecasts.items():
        np.testing.assert_array_equal(remote.forecasts[method], forecasts)


def test_a_scheduler_without_workers_is_refused_with_what_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    levels, origins, starts = _panel()
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    with _scheduler(tmp_path) as address:
        monkeypatch.setenv(cluster.CLUSTER_ENV, address)
        with pytest.raises(cluster.ClusterError, match=rf"has no worker after 1 s.*dask worker {address}"):
            st.theta(levels, origins, HORIZON, 2, period=SEASON, history=30, starts=starts)
