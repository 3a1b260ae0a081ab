"""What every stage script shares: logging, project paths, and turning user errors
into a readable message and a non-zero exit instead of a traceback."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tsforge.errors import TsforgeError

ROOT = Path()
PARAMS = ROOT / "params.yaml"
RAW_SERIES = ROOT / "data/raw/series.parquet"
RAW_META = ROOT / "data/raw/ingest.json"
PROCESSED = ROOT / "data/processed/series.npz"
WINDOWS = ROOT / "data/processed/windows.npz"
SCALER = ROOT / "models/scaler.json"
TUNER_DIR = ROOT / "models/tuner"
BEST_HPARAMS = ROOT / "models/best_hparams.json"
NETWORK = ROOT / "models/model.keras"
FORECAST_SPEC = ROOT / "models/forecast_spec.json"
REPORTS = ROOT / "reports"


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically, so a failed stage never leaves a half-written report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """Read a JSON file written by an earlier stage."""
    return json.loads(path.read_text(encoding="utf-8"))


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


def save_arrays(path: Path, **arrays: Any) -> None:
    """Write an .npz atomically."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_windowed() -> Any:
    """The scale and window stages' outputs as a :class:`tsforge.training.WindowedData`."""
    import numpy as np

    from tsforge.training import WindowedData
    from tsforge.windowing import WindowSpec

    series, windows = np.load(PROCESSED), np.load(WINDOWS)
    spec = WindowSpec(*(int(v) for v in windows["spec"]))
    return WindowedData(
        values=series["values"],
        train=windows["train"],
        val=windows["val"],
        test=windows["test"],
        window=spec,
        n_targets=int(series["n_targets"]),
        normalize=bool(windows["normalize"]),
    )


def load_layout(series: Any) -> Any:
    """The :class:`tsforge.panel.Layout` the scale stage stored in the processed arrays."""
    from tsforge.panel import Layout

    return Layout(tuple(str(n) for n in series["series_names"]), series["bounds"])


def start_tracking(experiment: str) -> str:
    """Configure MLflow for a stage: MLFLOW_TRACKING_URI if set, else the project's mlflow.db.

    Runs of this experiment that a dead process of this host left RUNNING are ended as
    KILLED first, so the UI shows no run that never ends.

    Args:
        experiment: Experiment name (``tracking.experiment``).

    Returns:
        The experiment id.
    """
    from tsforge import tracking

    uri = tracking.resolve_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI"), ROOT)
    experiment_id = tracking.configure(uri, experiment, ROOT)
    tracking.end_dead_runs(experiment_id)
    return experiment_id
