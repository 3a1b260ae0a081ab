"""The artifacts the stages exchange, declared once: where each lives and how it is read
and written.

A :class:`Project` names every artifact's path under an explicit root, so code run from
any working directory (a stage, the CLI, the retrain job, the benchmarks, a test) finds
the same files. Typed loaders and savers keep the ``.npz`` keys and JSON layouts in this
one module, and every saver writes atomically: a temporary file beside the target,
renamed over it only once it is complete, so a failed stage never leaves a half-written
artifact and the last good one stays.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from tsforge.windowing import WindowSpec

if TYPE_CHECKING:
    import pandas as pd

    from tsforge.covariates import Covariates
    from tsforge.panel import Layout
    from tsforge.scaling import AffineScaler
    from tsforge.seasonality import Seasonality


class ArtifactPath:
    """A path relative to the project root, declared on :class:`Project`.

    Read on a project it is that project's absolute path; read on the class it is this
    declaration, whose :attr:`relative` is the path as dvc.yaml spells it.
    """

    def __init__(self, relative: str) -> None:
        self.relative = relative
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> ArtifactPath: ...

    @overload
    def __get__(self, instance: Project, owner: type) -> Path: ...

    def __get__(self, instance: Project | None, owner: type) -> ArtifactPath | Path:
        if instance is None:
            return self
        return instance.root / self.relative

    def __repr__(self) -> str:
        return f"ArtifactPath({self.relative!r})"


@dataclass(frozen=True)
class Project:
    """Every artifact of one project, as paths under ``root``.

    ``root`` is made absolute when the project is created, so a later change of working
    directory does not move the paths.
    """

    root: Path

    # Inputs and the stores beside the pipeline.
    params = ArtifactPath("params.yaml")
    tracking_db = ArtifactPath("mlflow.db")
    tracking_artifacts = ArtifactPath("mlartifacts")
    retrain_records = ArtifactPath("logs/retrain")
    # tsforge forecast and every retrain cycle write <last timestamp>.parquet here
    forecasts = ArtifactPath("forecasts")
    # ingest
    raw_series = ArtifactPath("data/raw/series.parquet")
    raw_meta = ArtifactPath("data/raw/ingest.json")
    # validate
    validation = ArtifactPath("reports/validation.json")
    eda = ArtifactPath("reports/eda.json")
    data_docs = ArtifactPath("reports/data_docs")
    eda_figures = ArtifactPath("reports/eda")
    # scale
    series = ArtifactPath("data/processed/series.npz")
    scaler = ArtifactPath("models/scaler.json")
    scale_report = ArtifactPath("reports/scale.json")
    # window
    windows = ArtifactPath("data/processed/windows.npz")
    windows_report = ArtifactPath("reports/windows.json")
    # tune (the trials table and plot are named by tsforge.search_results in ``reports``)
    tuner = ArtifactPath("models/tuner")
    best_hparams = ArtifactPath("models/best_hparams.json")
    tuning = ArtifactPath("reports/tuning.json")
    tuning_trials = ArtifactPath("reports/tuning_trials.csv")
    tuning_trials_plot = ArtifactPath("reports/tuning_trials.png")
    # train
    network = ArtifactPath("models/model.keras")
    forecast_spec = ArtifactPath("models/forecast_spec.json")
    training = ArtifactPath("reports/training.json")
    learning_curve = ArtifactPath("reports/learning_curve.csv")
    learning_curve_plot = ArtifactPath("reports/learning_curve.png")
    # evaluate (the CSVs and plots are named by tsforge.reports in ``reports``)
    metrics = ArtifactPath("reports/metrics.json")
    promotion = ArtifactPath("reports/promotion.json")
    forecast = ArtifactPath("reports/forecast.csv")
    forecast_plot = ArtifactPath("reports/forecast.png")
    residuals_plot = ArtifactPath("reports/residuals.png")
    per_step = ArtifactPath("reports/per_step.csv")
    per_step_plot = ArtifactPath("reports/per_step.png")
    # The folder the report writers of the library take.
    reports = ArtifactPath("reports")

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(os.path.abspath(self.root)))

    @classmethod
    def declared(cls) -> dict[str, str]:
        """Every declared artifact: attribute name -> path relative to the root."""
        return {
            name: value.relative
            for klass in reversed(cls.__mro__)
            for name, value in vars(klass).items()
            if isinstance(value, ArtifactPath)
        }


TEMP_MARK = ".tmp-"
"""What :func:`atomic_path` puts in a temporary file's name, before the writer's pid."""


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is :func:`atomic_path`'s temporary file, never a complete artifact.

    A process killed with SIGKILL leaves its temporary file behind; a reader that globs a
    folder (the forecasts, the retrain records) must skip it.

    Args:
        path: A file name.

    Returns:
        True for ``<stem>.tmp-<pid><suffix>``.
    """
    _, mark, rest = path.name.rpartition(TEMP_MARK)
    return bool(mark) and rest.split(".", 1)[0].isdigit()


def _pid_gone(pid: int) -> bool:
    """Whether no process ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by another user
        return False
    return pid > 0


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files of ``path`` that dead writers (killed mid-write) left.

    Args:
        path: The artifact.

    Returns:
        The files removed.
    """
    removed = []
    for found in path.parent.glob(f"{path.stem}{TEMP_MARK}*{path.suffix}"):
        pid = found.name.removeprefix(f"{path.stem}{TEMP_MARK}").removesuffix(path.suffix)
        if pid.isdigit() and _pid_gone(int(pid)):
            with contextlib.suppress(OSError):  # another writer removed it first
                if found.is_dir():  # Keras and some savers write a folder
                    shutil.rmtree(found)
                else:
                    found.unlink()
                removed.append(found)
    return removed


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``: write it in the block; it replaces ``path`` on success.

    The temporary name keeps the suffix (``np.savez`` and Keras insist on theirs). If the
    block raises, the temporary file is removed and ``path`` keeps its old content; ones
    that killed writers left are removed first (:func:`remove_stale_temporaries`).

    Args:
        path: The artifact to write.

    Yields:
        The path to write instead.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = path.with_name(f"{path.stem}{TEMP_MARK}{os.getpid()}{path.suffix}")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, payload: Any) -> None:
    """Write a JSON report atomically (indented, values it cannot encode as strings)."""
    write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON artifact written by an earlier stage."""
    return json.loads(path.read_text(encoding="utf-8"))


def save_frame(path: Path, frame: pd.DataFrame) -> None:
    """Write a frame as Parquet atomically (without its index)."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def load_frame(path: Path) -> pd.DataFrame:
    """Read a Parquet frame written by :func:`save_frame`."""
    import pandas as pd

    return pd.read_parquet(path)


def save_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a frame as CSV atomically (without its index)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_network(path: Path, model: Any) -> None:
    """Save a Keras model atomically (load it with :func:`tsforge.forecaster.load_network`)."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def save_scalers(path: Path, scalers: Mapping[str, AffineScaler]) -> None:
    """Write the fitted scalers of every series atomically, ``{"series": {name: scaler}}``."""
    from tsforge.panel import scalers_to_dict

    write_text(path, json.dumps(scalers_to_dict(scalers), indent=2))


def load_scalers(path: Path) -> dict[str, AffineScaler]:
    """Read the scalers written by :func:`save_scalers`."""
    from tsforge.panel import scalers_from_dict

    return scalers_from_dict(read_json(path))


@dataclass(frozen=True)
class IngestSummary:
    """``data/raw/ingest.json``: what the ingest stage read, and the snapshot's content hash."""

    source: str
    rows: int
    series: int
    start: str | None
    end: str | None
    columns: list[str]
    freq: str | None
    sha256: str
    notes: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        """Write as JSON, atomically."""
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> IngestSummary:
        """Read a summary written by :meth:`save`."""
        raw = read_json(path)
        return cls(
            source=str(raw["source"]),
            rows=int(raw["rows"]),
            series=int(raw.get("series", 1)),
            start=raw["start"],
            end=raw["end"],
            columns=list(raw["columns"]),
            freq=raw["freq"],
            sha256=str(raw["sha256"]),
            notes=list(raw.get("notes", [])),
        )


def _no_seasonality() -> Seasonality:
    from tsforge.seasonality import Seasonality

    return Seasonality()


def _no_covariates() -> Covariates:
    from tsforge.covariates import Covariates

    return Covariates()


def _covariates_of(raw: Any) -> Covariates:
    from tsforge.covariates import Covariates

    # Arrays written before covariates: nothing known ahead (past features were not recorded).
    return Covariates.from_dict(json.loads(str(raw["covariates"])) if "covariates" in raw else None)


def _seasonality_of(raw: Any) -> Seasonality:
    from tsforge.seasonality import Seasonality

    # Arrays written before deseasonalisation existed carry none.
    return Seasonality.from_dict(json.loads(str(raw["seasonality"])) if "seasonality" in raw else None)


@dataclass(frozen=True)
class ProcessedSeries:
    """``data/processed/series.npz``: every series stacked in one array, scaled for the model.

    Attributes:
        times: Timestamp of every row (stored as ``datetime64[ns]``).
        levels: The target and feature columns in original units, rows x columns (float32).
        values: The same in model space (transformed, differenced, scaled; float32).
        n_targets: The first ``n_targets`` columns are forecast.
        split: Absolute row ranges ``[series, (train, val, test), (start, stop)]``.
        bounds: Row ``bounds[i]`` to ``bounds[i + 1]`` belong to series ``i``.
        series_names: One name per series (``""`` for a project without ``data.series_id``).
        lost_rows: Leading rows of each series without usable inputs (1 when differencing).
        difference: Whether the model sees first differences.
        transform: ``none``, ``log`` or ``log1p``, applied before differencing.
        normalize: Whether windows are made relative to their last input (window.normalize).
        seasonality: The seasonal indices removed after the transform (scale.deseasonalize).
        weights: Row-aligned weight of a window whose inputs end at each row, for the ``mase``
            loss (:func:`tsforge.representation.mase_weights`); None in older arrays.
        covariates: The columns after the targets (:mod:`tsforge.covariates`); the trailing
            ``covariates.n_known`` are known for the horizon.
    """

    times: np.ndarray
    levels: np.ndarray
    values: np.ndarray
    n_targets: int
    split: np.ndarray
    bounds: np.ndarray
    series_names: tuple[str, ...]
    lost_rows: int
    difference: bool
    transform: str
    normalize: bool
    seasonality: Seasonality = field(default_factory=_no_seasonality)
    weights: np.ndarray | None = None
    covariates: Covariates = field(default_factory=_no_covariates)

    @property
    def known(self) -> int:
        """Trailing columns known for the horizon."""
        return self.covariates.n_known

    @property
    def layout(self) -> Layout:
        """The series and their rows, as :class:`tsforge.panel.Layout`."""
        from tsforge.panel import Layout

        return Layout(self.series_names, self.bounds)

    def save(self, path: Path) -> None:
        """Write as ``.npz``, atomically."""
        with atomic_path(path) as tmp:
            np.savez(
                tmp,
                times=np.asarray(self.times, dtype="datetime64[ns]"),
                levels=np.asarray(self.levels, dtype=np.float32),
                values=np.asarray(self.values, dtype=np.float32),
                n_targets=np.int64(self.n_targets),
                split=np.asarray(self.split, dtype=np.int64),
                bounds=np.asarray(self.bounds, dtype=np.int64),
                series_names=np.array(self.series_names, dtype=str),
                lost_rows=np.int64(self.lost_rows),
                difference=np.bool_(self.difference),
                transform=np.str_(self.transform),
                normalize=np.bool_(self.normalize),
                seasonality=np.str_(json.dumps(self.seasonality.to_dict())),
                covariates=np.str_(json.dumps(self.covariates.to_dict())),
                weights=np.asarray(
                    self.weights if self.weights is not None else np.ones(len(self.levels)), dtype=np.float32
                ),
            )

    @classmethod
    def load(cls, path: Path) -> ProcessedSeries:
        """Read arrays written by :meth:`save`."""
        with np.load(path) as raw:
            return cls(
                times=raw["times"],
                levels=raw["levels"],
                values=raw["values"],
                n_targets=int(raw["n_targets"]),
                split=raw["split"],
                bounds=raw["bounds"],
                series_names=tuple(str(n) for n in raw["series_names"]),
                lost_rows=int(raw["lost_rows"]),
                difference=bool(raw["difference"]),
                transform=str(raw["transform"]),
                normalize=bool(raw["normalize"]),
                seasonality=_seasonality_of(raw),
                weights=raw["weights"] if "weights" in raw else None,
                covariates=_covariates_of(raw),
            )


@dataclass(frozen=True)
class Windows:
    """``data/processed/windows.npz``: the window geometry and the forecast origins of each split.

    Origins are rows of :attr:`ProcessedSeries.values`; ``normalize`` repeats the scale
    stage's resolved ``window.normalize`` so that training needs only this and the series.
    """

    spec: WindowSpec
    normalize: bool
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    @property
    def origins(self) -> dict[str, np.ndarray]:
        """``{"train": ..., "val": ..., "test": ...}``."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def save(self, path: Path) -> None:
        """Write as ``.npz``, atomically."""
        spec = self.spec
        with atomic_path(path) as tmp:
            np.savez(
                tmp,
                spec=np.array([spec.input_size, spec.horizon, spec.step], dtype=np.int64),
                normalize=np.bool_(self.normalize),
                train=np.asarray(self.train, dtype=np.int64),
                val=np.asarray(self.val, dtype=np.int64),
                test=np.asarray(self.test, dtype=np.int64),
            )

    @classmethod
    def load(cls, path: Path) -> Windows:
        """Read arrays written by :meth:`save`."""
        with np.load(path) as raw:
            return cls(
                spec=WindowSpec(*(int(v) for v in raw["spec"])),
                normalize=bool(raw["normalize"]),
                train=raw["train"],
                val=raw["val"],
                test=raw["test"],
            )
