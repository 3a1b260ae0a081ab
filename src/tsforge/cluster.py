"""The Theta and ETS fits on a Dask cluster: ``TSFORGE_CLUSTER`` names its scheduler.

Past one machine, the per-origin fits of :mod:`tsforge.statistical` (the evaluate stage's
baselines, the train stage's combination choice, the served forecaster combined with Theta
or ETS) go to an existing engine, Dask's distributed scheduler, through joblib's ``dask``
backend. The fits are deterministic and each origin's fit reads only its own history, so
the forecasts are the local pool's, value for value: only where they are computed changes.

Dask is imported only here, and only when ``TSFORGE_CLUSTER`` is set.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from tsforge.errors import TsforgeError

CLUSTER_ENV = "TSFORGE_CLUSTER"
"""Environment variable: the address of a Dask scheduler (``tcp://host:8786``) the Theta and
ETS fits are sent to (unset or empty: this machine, in :data:`tsforge.statistical_runs.JOBS_ENV`
processes). Not a param: it changes where the fits run, never what they give."""

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for the scheduler to answer, and then for at least one worker."""

MATCHED_PACKAGES = ("tsforge", "statsforecast", "statsmodels", "numba", "numpy")
"""Packages every worker must have at this process's versions: the ones the fits run on, so
that the cluster's forecasts are this machine's."""

T = TypeVar("T")

log = logging.getLogger(__name__)


class ClusterError(TsforgeError):
    """The Dask cluster named by ``TSFORGE_CLUSTER`` cannot run the fits."""


def address() -> str | None:
    """The scheduler :data:`CLUSTER_ENV` names, or None to fit on this machine."""
    value = os.environ.get(CLUSTER_ENV, "").strip()
    return value or None


def _unset() -> str:
    return f"or unset {CLUSTER_ENV} to fit on this machine"


@contextmanager
def connect(scheduler: str, timeout: float | None = None) -> Iterator[Any]:
    """A ``dask.distributed.Client`` of ``scheduler`` with at least one worker whose packages
    match this process's (:data:`MATCHED_PACKAGES`); closed on exit.

    Args:
        scheduler: The scheduler's address (``tcp://host:8786``).
        timeout: Seconds to wait for it to answer and for a worker (None: :data:`CONNECT_TIMEOUT`).

    Raises:
        ClusterError: The address is not one, no scheduler answers in time, it has no worker,
            or a worker's packages differ from this process's.
    """
    from dask.distributed import Client

    wait = CONNECT_TIMEOUT if timeout is None else timeout
    where = f"{CLUSTER_ENV}={scheduler}"
    try:
        client = Client(scheduler, timeout=wait, set_as_default=False)
    except ValueError as exc:
        raise ClusterError(
            f"{where}: not a Dask scheduler address ({exc}); give one like tcp://host:8786, {_unset()}"
        ) from exc
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"{where}: no Dask scheduler answered within {wait:g} s; start one (`dask scheduler`, "
            f"then `dask worker {scheduler}` on each machine), {_unset()}"
        ) from exc
    try:
        try:
            client.wait_for_workers(1, timeout=wait)
        except TimeoutError as exc:
            raise ClusterError(
                f"{where}: the scheduler has no worker after {wait:g} s; start some "
                f"(`dask worker {scheduler}` on each machine, in tsforge's environment), {_unset()}"
            ) from exc
        _check_packages(client, where)
        yield client
    finally:
        client.close()


def _check_packages(client: Any, where: str) -> None:
    """Refuse workers whose fitting packages are missing or at other versions than here."""
    ours = {name: _version(name) for name in MATCHED_PACKAGES}
    workers = client.get_versions(packages=list(MATCHED_PACKAGES))["workers"]
    wrong = [
        f"{worker}: {name} {found.get(name) or 'missing'} (here {ours[name] or 'missing'})"
        for worker, info in sorted(workers.items())
        for name in MATCHED_PACKAGES
        if (found := info.get("packages", {})).get(name) != ours[name]
    ]
    if wrong:
        raise ClusterError(
            f"{where}: workers run other versions of the packages the fits use, so their forecasts "
            f"could differ from this machine's: {'; '.join(wrong)}. Start the workers from "
            f"tsforge's environment (its .venv/bin/dask worker), {_unset()}"
        )


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def threads(client: Any) -> int:
    """Worker threads of the cluster ``client`` is connected to (at least 1)."""
    return max(sum(client.nthreads().values()), 1)


def run(client: Any, function: Callable[..., T], arguments: Sequence[tuple[Any, ...]]) -> list[T]:
    """``function(*args)`` for every tuple of ``arguments`` on the cluster, results in order
    (joblib's ``dask`` backend)."""
    from joblib import Parallel, delayed, parallel_backend

    with parallel_backend("dask", client=client):
        return list(Parallel(n_jobs=-1)(delayed(function)(*args) for args in arguments))
