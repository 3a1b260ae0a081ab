"""keras-tuner's distributed mode: a chief (the oracle, over gRPC) and workers that run trials.

A process's role comes from keras-tuner's ``KERASTUNER_*`` variables. Workers find the
chief's MLflow run through the tracking server, so a search can span hosts; on one host
:func:`run_local_cluster` starts the chief and the workers itself.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Mapping

import mlflow

from tsforge.errors import TsforgeError


def distributed_role(env: Mapping[str, str]) -> str:
    """``single``, ``chief`` or ``worker``, from keras-tuner's KERASTUNER_* variables."""
    if not env.get("KERASTUNER_ORACLE_IP") or not env.get("KERASTUNER_TUNER_ID"):
        return "single"
    return "chief" if env["KERASTUNER_TUNER_ID"] == "chief" else "worker"


def wait_for_parent_run(key: str, timeout_s: float, poll_s: float = 1.0) -> str:
    """A worker's wait for the chief's running tuning run of search ``key``.

    Workers find the run through MLflow, not a local file, so the same works across hosts
    that share a tracking server.
    """
    query = f"tags.search_key = '{key}' and tags.stage = 'tune' and attributes.status = 'RUNNING'"
    deadline = time.monotonic() + timeout_s
    while True:
        runs = mlflow.search_runs(filter_string=query, output_format="list", search_all_experiments=True)
        if runs:
            return str(runs[0].info.run_id)
        if time.monotonic() > deadline:
            raise TsforgeError(
                f"no running tuning run for search {key} appeared in MLflow within {timeout_s:.0f}s. "
                "Start the chief first (KERASTUNER_TUNER_ID=chief), with the same params.yaml, "
                "data and MLFLOW_TRACKING_URI as this worker."
            )
        time.sleep(poll_s)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_local_cluster(command: list[str], workers: int, env: Mapping[str, str], poll_s: float = 0.5) -> None:
    """Run keras-tuner's distributed mode on this host: a chief and ``workers`` workers.

    Each process runs ``command`` (the tune stage) with the KERASTUNER_* variables that
    give it its role; they talk gRPC over loopback. If any process fails, the others are
    stopped: a worker that died mid-trial would otherwise leave the chief waiting for it.

    Args:
        command: The stage command, such as ``[python, "pipelines/tune.py"]``.
        workers: Number of worker processes that run trials.
        env: Environment to start them with.
        poll_s: How often to look at the processes.
    """
    base = {**env, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(_free_port())}
    roles = ["chief", *(f"tuner{i}" for i in range(workers))]
    processes = {role: subprocess.Popen(command, env={**base, "KERASTUNER_TUNER_ID": role}) for role in roles}
    try:
        while True:
            codes = {role: process.poll() for role, process in processes.items()}
            failed = {role: code for role, code in codes.items() if code not in (None, 0)}
            if failed:
                raise TsforgeError(
                    f"distributed search: {failed} (process: exit status) failed; the other "
                    "processes were stopped. Rerun the stage to resume: finished trials are kept."
                )
            if all(code == 0 for code in codes.values()):
                return
            time.sleep(poll_s)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            process.wait()
