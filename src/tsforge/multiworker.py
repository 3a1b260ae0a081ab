"""Data-parallel training of the final networks on several workers: TensorFlow's
``tf.distribute.MultiWorkerMirroredStrategy``, configured by ``TF_CONFIG``.

Every worker runs the train stage with its ``TF_CONFIG``; each fit of a member runs on all of
them at once, every worker taking its share of each batch and the gradients summed over the
network (gRPC collectives) before every step, so the workers hold the same weights throughout.
The chief (task index 0, or the task of type ``chief``) is the stage: once the networks are
trained it copies them out of the strategy (:func:`local_member`) and goes on alone, exactly
as the single-process stage does (combination, calibration, files, MLflow). The other workers
train and exit: they write no file and log nothing.

On one host :func:`run_local_workers` starts the workers itself, on loopback
(``train.workers``); across hosts each host sets ``TF_CONFIG`` by hand (docs/team.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from tsforge.config import TrainConfig
from tsforge.errors import TsforgeError

ROLES = ("single", "chief", "worker")
"""A train process's role: alone, the chief of several workers, or one of the others."""


def tf_config(env: Mapping[str, str]) -> dict[str, Any] | None:
    """``TF_CONFIG`` read from ``env``: None when unset or empty.

    Raises:
        TsforgeError: It is not the JSON object TensorFlow expects (``cluster`` and ``task``).
    """
    text = env.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise TsforgeError(
            f"TF_CONFIG is not JSON ({error}); unset it to train on this process alone"
        ) from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) or "task" not in config:
        raise TsforgeError(
            'TF_CONFIG needs a "cluster" ({"worker": ["host:port", ...]}) and this process\'s '
            '"task" ({"type": "worker", "index": i}); unset it to train on this process alone'
        )
    return config


def cluster_size(env: Mapping[str, str]) -> int:
    """How many processes train together: the tasks of ``TF_CONFIG``'s cluster (1 without it)."""
    config = tf_config(env)
    if config is None:
        return 1
    return sum(len(tasks) for tasks in config["cluster"].values())


def role(env: Mapping[str, str]) -> str:
    """``single``, ``chief`` or ``worker``, from ``TF_CONFIG``.

    The chief is the task of type ``chief`` or, without one, worker 0 (TensorFlow's own rule).
    A cluster of one task is ``single``.

    Raises:
        TsforgeError: A task type MultiWorkerMirroredStrategy does not use (``ps``, ``evaluator``).
    """
    config = tf_config(env)
    if config is None or cluster_size(env) < 2:
        return "single"
    task = config["task"]
    kind, index = str(task.get("type", "")), int(task.get("index", 0))
    if kind not in ("chief", "worker") or set(config["cluster"]) - {"chief", "worker"}:
        raise TsforgeError(
            f"TF_CONFIG: the train stage trains with MultiWorkerMirroredStrategy, whose cluster has "
            f"only chief and worker tasks (this one: {sorted(config['cluster'])}, task type {kind!r})"
        )
    has_chief = "chief" in config["cluster"]
    return "chief" if kind == "chief" or (kind == "worker" and index == 0 and not has_chief) else "worker"


def strategy() -> Any:
    """The strategy of the cluster ``TF_CONFIG`` describes.

    Create it before any other TensorFlow operation of the process: TensorFlow configures its
    collective operations once, at start. It returns once every worker has started.
    """
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


@contextlib.contextmanager
def training_scope(strategy: Any) -> Iterator[None]:
    """``strategy.scope()`` in which Keras's ``fit`` works with several workers.

    Keras 3 (3.15 with TensorFlow 2.21) builds a model's loss and metrics from a first batch
    before it fits; under MultiWorkerMirroredStrategy that batch holds per-replica values, and
    Keras reduces the whole batch with ``strategy.reduce``, which takes one tensor, not a
    structure: ``fit`` fails with "Attempt to convert a value (PerReplica...)"
    (keras-team/keras#20585, open). Here it is given this worker's own part of that batch
    instead, which has the shapes the build needs. Keras then averages each step's logs (every
    worker's own loss and metrics, from inside the step) over the workers with
    ``strategy.reduce("MEAN", value, axis=0)``, which fails on a scalar ("Invalid reduction
    dimension 0"): here they are averaged with ``axis=None``, the mean over the workers.
    The fits themselves, and the epoch's figures that early stopping reads (the metrics'
    variables summed over the workers), are Keras's.
    """
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    original, reduce_logs = TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica

    def local_part(value: Any) -> Any:
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def build(self: Any, iterator: Any = None, data_batch: Any = None) -> Any:
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(local_part, next(batches))
                break
        return original(self, data_batch=data_batch)

    def mean_over_workers(values: Any, distribution: Any, reduction: str) -> Any:
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(distribution):
            return tree.map_structure(lambda value: distribution.reduce("MEAN", value, axis=None), values)
        return reduce_logs(values, distribution, reduction)

    TensorFlowTrainer._maybe_symbolic_build = build
    trainer.reduce_per_replica = mean_over_workers
    try:
        with strategy.scope():
            yield
    finally:
        TensorFlowTrainer._maybe_symbolic_build = original
        trainer.reduce_per_replica = reduce_logs


def fits_done(strategy: Any) -> None:
    """Stop watching the other workers once the last fit is done (on every worker).

    During the fits the strategy checks every 30 s that its peers answer, and when one does
    not it aborts the collectives (so a dead worker stops the others rather than hanging
    them). Once the fits are done the other workers exit while the chief goes on: left
    watching, it would abort and log an error about a peer that merely finished.
    """
    stop = getattr(strategy.extended, "_stop_check_health_thread", None)  # TensorFlow's own
    if stop is not None:
        stop()


LINGER_S = 5.0
"""How long a worker stays after its last fit: TensorFlow's collectives pull each tensor from
the worker that holds it, so a worker that exited the moment its last step ended could leave
the chief's last read unanswered."""


def leave(linger_s: float = LINGER_S) -> None:
    """A worker's last act once its fits are done: wait :data:`LINGER_S`, serving the chief."""
    time.sleep(linger_s)


def fit_config(config: TrainConfig) -> TrainConfig:
    """The train section as several workers fit it: ``joint`` becomes ``separate``.

    Joint training is tsforge's own loop (:mod:`tsforge.joint_training`), which the strategy
    does not drive; separately, each member is a Keras ``fit``, which it does. The members are
    the same networks either way (joint only trains them side by side).
    """
    return replace(config, ensemble_fit="separate") if config.ensemble_fit == "joint" else config


def local_member(member: Any, space: Mapping[str, Any], data: Any) -> Any:
    """``member`` (:class:`tsforge.training.Member`) with its networks copied out of the strategy.

    A network built under the strategy runs every ``predict`` on all workers at once; the chief
    goes on alone once the fits are done, so it keeps copies built outside it (same
    architecture, same weights).
    """
    from tsforge.models import build_model

    def copy(model: Any) -> Any:
        local = build_model(member.hp, data.model_spec, space, name=model.name)
        local.set_weights(model.get_weights())
        return local

    early = None if member.early_model is None else copy(member.early_model)
    return replace(member, model=copy(member.model), early_model=early)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def local_tf_configs(workers: int) -> list[str]:
    """``TF_CONFIG`` of each of ``workers`` processes on this host, worker 0 the chief."""
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(workers)]
    return [
        json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})
        for index in range(workers)
    ]


def run_local_workers(
    command: Sequence[str], workers: int, env: Mapping[str, str], poll_s: float = 0.5
) -> None:
    """Train on ``workers`` processes of this host, each ``command`` with its ``TF_CONFIG``.

    They talk gRPC over loopback; worker 0 is the chief. If any process fails, the others are
    stopped: a worker that died mid-fit would leave the rest waiting for it at the next step.
    GPU memory grows as needed (``TF_FORCE_GPU_ALLOW_GROWTH``), so processes can share a GPU.

    Args:
        command: The stage command, such as ``[python, "pipelines/train.py"]``.
        workers: Number of processes (the chief included).
        env: Environment to start them with.
        poll_s: How often to look at the processes.
    """
    base = {**env, "TF_FORCE_GPU_ALLOW_GROWTH": env.get("TF_FORCE_GPU_ALLOW_GROWTH", "true")}
    processes = [
        subprocess.Popen(list(command), env={**base, "TF_CONFIG": config})
        for config in local_tf_configs(workers)
    ]
    try:
        while True:
            codes = [process.poll() for process in processes]
            failed = {f"worker {i}": code for i, code in enumerate(codes) if code not in (None, 0)}
            if failed:
                raise TsforgeError(
                    f"training on {workers} workers: {failed} (process: exit status) failed; the "
                    "other processes were stopped. Rerun the stage, or set train.workers: 1."
                )
            if all(code == 0 for code in codes):
                return
            time.sleep(poll_s)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            process.wait()


def environment() -> dict[str, str]:
    """This process's environment without ``TF_CONFIG`` (what local workers start from)."""
    return {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
