"""What every stage script shares: the console and logging, the project it belongs to, and
turning user errors into a readable message and a non-zero exit instead of a traceback.

Importing this module prepares the console (:func:`tsforge.console.prepare`: TensorFlow's C++
log and other third-party noise off unless ``TSFORGE_VERBOSE=1``). That must happen before
TensorFlow is imported, so every stage script imports this module before anything else of
tsforge's that could import TensorFlow.

Where each artifact lives and how it is read and written is :mod:`tsforge.catalog`'s.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import gc
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from tsforge import console
from tsforge.catalog import Project
from tsforge.errors import TsforgeError

CONSOLE = console.prepare()
"""This process's console settings (quiet unless ``TSFORGE_VERBOSE=1``)."""


def project(script: str | Path) -> Project:
    """The project a stage script belongs to: the folder above its ``pipelines/``.

    Derived from the script's own location (symbolic links kept as they are), so the stage
    finds its artifacts whatever the working directory it was started from.

    Args:
        script: The stage script's ``__file__``.

    Returns:
        The project.
    """
    return Project(Path(os.path.abspath(script)).parents[1])


def run(main: Callable[[], None]) -> None:
    """Run a stage's ``main``: configure logging, report user errors plainly, set the exit code.

    Logging shows warnings and errors, or with ``TSFORGE_VERBOSE=1`` every INFO line too
    (:func:`tsforge.console.configure_logging`).

    The garbage collector is kept off what lives as long as the process: the objects that
    exist when ``main`` starts (the modules imported, TensorFlow's and MLflow's half a million
    objects) are frozen out of its passes, and so is everything at exit, before the
    interpreter's teardown (:func:`exit_without_gc`). Each full pass otherwise walks them all:
    0.3 s each after TensorFlow's import, 2.0 s of the train stage's exit (0.15 s frozen).
    """
    gc.freeze()
    atexit.register(exit_without_gc)
    console.configure_logging(CONSOLE)
    try:
        main()
    except TsforgeError as exc:
        sys.stderr.write(f"\nERROR: {exc}\n\n")
        sys.exit(2)
    except Exception as exc:
        explained = tracking_refusal(exc) or tracking_lost(exc) or disk_full(exc)
        if explained is None:
            raise
        sys.stderr.write(f"\nERROR: {explained}\n\n")
        sys.exit(2)


def tracking_refusal(exc: Exception) -> TsforgeError | None:
    """The tracking server's 401/403 behind ``exc``, explained (:func:`tsforge.tracking.refusal`);
    None for any other failure. MLflow is imported only if it already was: otherwise ``exc``
    cannot be MLflow's."""
    if "mlflow" not in sys.modules:
        return None
    from tsforge import tracking

    return tracking.refusal(exc)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from (causes and contexts), each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def tracking_lost(exc: Exception) -> TsforgeError | None:
    """A tracking server that stopped answering part way through a stage (MLflow's HTTP
    retries spent: the server down or restarting), explained; None for any other failure."""
    if "mlflow" not in sys.modules or "requests" not in sys.modules:
        return None
    import mlflow
    import requests

    from tsforge import tracking

    chain = list(_chain(exc))
    lost = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)
    cause = next((e for e in chain if isinstance(e, lost)), None)
    if cause is None or not any(isinstance(e, mlflow.exceptions.MlflowException) for e in chain):
        return None
    return TsforgeError(
        f"cannot reach the MLflow tracking store at {tracking.redact(mlflow.get_tracking_uri())} "
        f"part way through the stage ({tracking.redact(str(cause))}). Once the server answers "
        "again, rerun: the next stage run ends this stage's run as KILLED should it still show "
        "RUNNING, and DVC recorded none of this stage's outputs. MLFLOW_HTTP_REQUEST_MAX_RETRIES "
        "and MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR set how long a stage waits for a restarting server."
    )


def disk_full(exc: Exception) -> TsforgeError | None:
    """A write that found the disk (or the user's quota) full, explained; None otherwise."""
    full = next(
        (e for e in _chain(exc) if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)),
        None,
    )
    if full is None:
        return None
    assert isinstance(full, OSError)
    # A copy (shutil's, as MLflow logs a local artifact) names its source first, the file written second.
    written = full.filename2 or full.filename
    where = f" writing {written}" if written else ""
    return TsforgeError(
        f"the disk is full: {full.strerror or 'no space left on device'}{where}. The stage stopped "
        "and DVC recorded none of its outputs. Free space on the disk of the project or of the "
        "MLflow artifact store (the experiment's artifact location), then rerun."
    )


def exit_without_gc() -> None:
    """Freeze the garbage collector for the interpreter's teardown (an exit handler).

    Freezing changes nothing but what the collector looks at: every object existing now is
    left out of its passes. Objects are still freed when their last reference goes; garbage
    held in reference cycles is left to the operating system with the rest of the process.
    What the stages write is closed when written (context managers, atomic writes), so no
    output waits on a finaliser.
    """
    gc.freeze()


def start_tracking(project: Project, experiment: str) -> str:
    """Configure MLflow for a stage: MLFLOW_TRACKING_URI if set, else the project's mlflow.db.

    Runs of this experiment that a dead process of this host left RUNNING are ended as
    KILLED first, so the UI shows no run that never ends.

    Args:
        project: The project the stage runs in.
        experiment: Experiment name (``tracking.experiment``).

    Returns:
        The experiment id.
    """
    from tsforge import tracking

    uri = tracking.resolve_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI"), project.root)
    experiment_id = tracking.configure(uri, experiment, project.root)
    tracking.end_dead_runs(experiment_id)
    return experiment_id


class StageRun(NamedTuple):
    """The MLflow run a stage opened with :func:`tracked_run`."""

    run_id: str
    lineage: dict[str, str]


@contextlib.contextmanager
def tracked_run(
    project: Project, name: str, inputs: Mapping[str, Path], tags: Mapping[str, str] | None = None
) -> Iterator[StageRun]:
    """The MLflow run of stage ``name``, traced to the code, data and params it came from.

    Every stage that logs opens its run the same way (lineage tags, the ``stage`` tag, the
    snapshot as the run's dataset input), so no stage can forget one of them. Call
    :func:`start_tracking` first.

    Args:
        project: The project the stage runs in.
        name: The stage: the run's name, its ``stage`` tag and the dataset input's context.
        inputs: Name -> input file the stage read; each gets a ``data.<name>.md5`` tag.
        tags: The stage's own tags (the runs it follows from, its advice, ...).

    Yields:
        The run's id and its lineage tags (which a registered version carries too).
    """
    import mlflow

    from tsforge import tracking

    with mlflow.start_run(run_name=name) as run:
        lineage = tracking.lineage_tags(project.root, inputs, project.params)
        mlflow.set_tags({**lineage, **(tags or {}), "stage": name})
        tracking.log_snapshot_input(project, name)
        yield StageRun(run.info.run_id, lineage)
