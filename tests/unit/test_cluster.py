"""TSFORGE_CLUSTER: unset, the Theta and ETS fits stay on this machine and Dask is never
imported; set, every fit goes to the cluster; an unreachable scheduler stops at once with
a message naming the address and what to do. (A real scheduler and workers:
tests/pipeline/test_cluster.py.)"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from tsforge import cluster
from tsforge import statistical as st


def _panel() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three seasonal series of 24 rows stacked, two origins each (fewer than the probe's)."""
    t = np.arange(24.0)
    series = [10 + k + 3 * np.sin(2 * np.pi * t / 4) + 0.2 * k * t for k in range(3)]
    starts = np.array([0, 24, 48])
    levels = np.concatenate(series)[:, None]
    origins = np.concatenate([[s + 18, s + 20] for s in starts])
    return levels, origins, np.repeat(starts, 2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_without_the_variable_the_fits_stay_here_and_dask_is_never_imported(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv(cluster.CLUSTER_ENV, raising=False)
    for module in ("dask", "distributed", "dask.distributed"):
        monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ImportError

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the cluster was used without TSFORGE_CLUSTER")

    monkeypatch.setattr(cluster, "connect", refuse)
    levels, origins, starts = _panel()
    out = st.theta(levels, origins, 3, 1, period=4, history=100, starts=starts, n_jobs=1)
    assert out.shape == (6, 3, 1) and np.isfinite(out).all()
    for empty in ("", "  "):
        monkeypatch.setenv(cluster.CLUSTER_ENV, empty)
        assert cluster.address() is None
    st.ets(levels, origins, 3, 1, period=4, history=100, starts=starts, n_jobs=1)


def test_with_the_variable_every_fit_goes_to_the_cluster_with_the_local_results(
    monkeypatch: pytest.MonkeyPatch,
):
    levels, origins, starts = _panel()
    kwargs = {"period": 4, "history": 100, "starts": starts}
    monkeypatch.delenv(cluster.CLUSTER_ENV, raising=False)
    local = st.statistical_forecasts(("theta", "ets"), levels, origins, 3, 1, n_jobs=1, **kwargs)

    connected: list[str] = []
    sent: list[int] = []

    @contextmanager
    def connect(scheduler: str, timeout: float | None = None) -> Iterator[str]:
        connected.append(scheduler)
        yield "client"

    def run(client: Any, function: Any, arguments: list[tuple[Any, ...]]) -> list[Any]:
        assert client == "client"
        sent.extend(len(args[1]) for args in arguments)
        return [function(*args) for args in arguments]

    monkeypatch.setattr(cluster, "connect", connect)
    monkeypatch.setattr(cluster, "threads", lambda client: 2)
    monkeypatch.setattr(cluster, "run", run)
    monkeypatch.setenv(cluster.CLUSTER_ENV, " tcp://scheduler:8786 ")
    # TSFORGE_JOBS=1 and six quick fits: the local pool would not start; the cluster is used.
    remote = st.statistical_forecasts(("theta", "ets"), levels, origins, 3, 1, n_jobs=1, **kwargs)

    assert connected == ["tcp://scheduler:8786"] * 2  # theta, then ets
    # Per method, the three series' first origins are fitted, then their second origins reuse
    # those fits (runs.reuse_anchors): each in 2 threads x CHUNKS_PER_JOB chunks of one origin.
    assert sent == [1] * 12
    for method in ("theta", "ets"):
        np.testing.assert_array_equal(remote[method], local[method])


def test_an_unreachable_scheduler_stops_at_once_naming_the_address_and_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
):
    address = f"tcp://127.0.0.1:{_free_port()}"
    monkeypatch.setenv(cluster.CLUSTER_ENV, address)
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1.0)
    levels, origins, starts = _panel()
    started = time.monotonic()
    with pytest.raises(cluster.ClusterError) as raised:
        st.theta(levels, origins, 3, 1, period=4, history=100, starts=starts)
    assert time.monotonic() - started < 8
    message = str(raised.value)
    assert message.startswith(f"TSFORGE_CLUSTER={address}: no Dask scheduler answered within 1 s")
    assert "`dask scheduler`" in message and "unset TSFORGE_CLUSTER" in message


def test_an_address_dask_cannot_read_is_refused_with_the_form_it_takes(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(cluster.CLUSTER_ENV, "http://scheduler:8786")
    levels, origins, starts = _panel()
    with pytest.raises(cluster.ClusterError, match=r"not a Dask scheduler address .*tcp://host:8786"):
        st.ets(levels, origins, 3, 1, period=4, history=100, starts=starts)


class _Client:
    """Answers ``get_versions`` as a scheduler would, for two workers."""

    def __init__(self, second: dict[str, str | None]) -> None:
        self.second = second

    def get_versions(self, packages: list[str]) -> dict[str, Any]:
        ours = {name: cluster._version(name) for name in packages}
        return {
            "workers": {
                "tcp://10.0.0.1:4000": {"packages": ours},
                "tcp://10.0.0.2:4000": {"packages": {**ours, **self.second}},
            }
        }


def test_workers_with_other_package_versions_are_refused_by_name():
    cluster._check_packages(_Client({}), "TSFORGE_CLUSTER=tcp://s:8786")  # same versions: fine
    with pytest.raises(cluster.ClusterError) as raised:
        cluster._check_packages(_Client({"statsforecast": "0.0.1", "tsforge": None}), "TSFORGE_CLUSTER=x")
    message = str(raised.value)
    assert "tcp://10.0.0.2:4000: statsforecast 0.0.1 (here " in message
    assert "tcp://10.0.0.2:4000: tsforge missing (here 0.1.0)" in message
    assert "10.0.0.1" not in message
