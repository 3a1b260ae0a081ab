"""What every stage script shares: logging, the project it belongs to, and turning user
errors into a readable message and a non-zero exit instead of a traceback.

Where each artifact lives and how it is read and written is :mod:`tsforge.catalog`'s.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from tsforge.catalog import Project
from tsforge.errors import TsforgeError


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
    """Run a stage's ``main``: configure logging, report user errors plainly, set the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("absl", "tensorflow", "h5py", "great_expectations", "alembic", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        main()
    except TsforgeError as exc:
        sys.stderr.write(f"\nERROR: {exc}\n\n")
        sys.exit(2)


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
