"""Read the configured source into one canonical frame.

The canonical frame has the time column (timezone-naive UTC ``datetime64``) followed by
the target and feature columns as float32, sorted by time. Problems a user can fix are
raised as :class:`DataSourceError` naming the file, the column and what to change.

The named datasets live in :mod:`tsforge.bundled_datasets` and :mod:`tsforge.competitions`;
their names are re-exported here, so ``from tsforge.sources import ...`` keeps working.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tsforge.bundled_datasets import BJSALES_START, BUNDLED, BUNDLED_TARGETS
from tsforge.competitions import (
    COMPETITION_START,
    COMPETITIONS,
    M3_FREQ,
    M3_SUBSETS,
    PERIOD_FREQ,
    Competition,
    competition_panel,
    competition_series,
    m3_panel,
    m3_series,
)
from tsforge.config import DataConfig
from tsforge.errors import DataSourceError

log = logging.getLogger(__name__)

__all__ = [
    "BJSALES_START",
    "BUNDLED",
    "BUNDLED_TARGETS",
    "COMPETITIONS",
    "COMPETITION_START",
    "Competition",
    "LoadedSeries",
    "M3_FREQ",
    "M3_SUBSETS",
    "PERIOD_FREQ",
    "canonicalize",
    "competition_panel",
    "competition_series",
    "content_hash",
    "infer_freq",
    "load_source",
    "m3_panel",
    "m3_series",
    "read_table",
    "source_names",
]


def source_names() -> str:
    """Every value ``data.source`` accepts, in words (for messages)."""
    bundled = ", ".join(f"{name} (target {BUNDLED_TARGETS[name]})" for name in BUNDLED)
    subsets = ", ".join(f"{prefix}:{s}" for prefix, c in COMPETITIONS.items() for s in c.subsets)
    return (
        f"'file' (with data.path), a bundled dataset: {bundled}; one competition series such as "
        f"'m3:N1402' or 'm1:MRF1' (target value); or a whole competition subset with "
        f"data.series_id: {subsets}"
    )


@dataclass(frozen=True)
class LoadedSeries:
    """The canonical frame plus what was noticed while reading it."""

    frame: pd.DataFrame
    origin: str
    notes: tuple[str, ...]


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file with errors that say what is wrong with the file.

    Args:
        path: The user's file.

    Returns:
        The file's rows as read, before any typing.
    """
    if not path.exists():
        raise DataSourceError(
            f"{path}: file not found. Set data.path in params.yaml to an existing CSV or "
            "Parquet file (relative paths are from the project root)."
        )
    if path.stat().st_size == 0:
        raise DataSourceError(
            f"{path}: the file is empty (0 bytes). Point data.path at a file with a header "
            "row and at least one data row."
        )
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(path)
        if suffix in {".csv", ".txt", ".tsv"}:
            return pd.read_csv(path, sep=None if suffix == ".tsv" else ",", engine="python")
    except UnicodeDecodeError as exc:
        raise DataSourceError(
            f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start}). Save it as "
            "UTF-8 CSV, or as Parquet with a .parquet suffix."
        ) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        raise DataSourceError(
            f"{path}: cannot be read as {suffix.lstrip('.').upper()} ({exc}). Check that the "
            "file is a well-formed CSV (comma-separated, header row) or a Parquet file."
        ) from exc
    raise DataSourceError(f"{path}: unsupported file type '{suffix}'. Use a .csv or .parquet file.")


def _require_columns(frame: pd.DataFrame, wanted: tuple[str, ...], origin: str) -> None:
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataSourceError(
            f"{origin}: column(s) {missing} not found; the file has {list(frame.columns)}. "
            "Set data.time_column, data.target and the data.*features keys in params.yaml to columns "
            "that exist."
        )


def _parse_time(raw: pd.Series, column: str, origin: str, timezone: str | None) -> pd.Series:
    try:
        parsed = pd.to_datetime(raw, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise DataSourceError(
            f"{origin}: time column '{column}' has values that are not dates ({exc}). Use ISO "
            "timestamps such as 2024-01-31 or 2024-01-31T12:00:00+01:00."
        ) from exc
    if parsed.isna().any():
        bad = int(parsed.isna().sum())
        raise DataSourceError(
            f"{origin}: time column '{column}' has {bad} empty or unparseable value(s). Every "
            "row needs a timestamp; remove those rows or fill them in."
        )
    # Timestamps with offsets become wall-clock time in ``timezone`` (UTC by default); naive
    # timestamps are taken as they are. Daily data recorded at local midnight stays regular
    # only in its own zone: across DST its UTC times move by an hour.
    if timezone is not None:
        try:
            parsed = parsed.dt.tz_convert(timezone)
        except Exception as exc:  # pytz/zoneinfo raise several types for unknown zones
            raise DataSourceError(
                f"params.yaml: data.timezone '{timezone}' is not a known time zone ({exc})."
            ) from exc
    return parsed.dt.tz_localize(None)


def _to_float(raw: pd.Series, column: str, origin: str) -> pd.Series:
    numeric = pd.to_numeric(raw, errors="coerce")
    text = raw[numeric.isna() & raw.notna() & (raw.astype(str).str.strip() != "")]
    if len(text):
        examples = ", ".join(repr(v) for v in text.astype(str).unique()[:3])
        raise DataSourceError(
            f"{origin}: column '{column}' must be numeric but has {len(text)} text value(s) "
            f"such as {examples}. Clean those cells or choose another data.target / "
            "data.features column."
        )
    return numeric.astype(np.float32)


def _static(raw: pd.Series) -> pd.Series:
    """A static feature as numbers when every value is one, else as text (a category)."""
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().sum() == raw.notna().sum():
        return numeric.astype(np.float64)
    return raw.where(raw.isna(), raw.astype(str))


def _series_ids(raw: pd.Series, column: str, origin: str) -> pd.Series:
    if raw.isna().any():
        raise DataSourceError(
            f"{origin}: series id column '{column}' (data.series_id) has {int(raw.isna().sum())} "
            "empty value(s). Every row needs the id of the series it belongs to."
        )
    return raw.astype(str)


def _is_sorted(frame: pd.DataFrame, order: list[str]) -> bool:
    if len(order) == 1:
        return bool(frame[order[0]].is_monotonic_increasing)
    ids, times = frame[order[0]], frame[order[1]]
    same = ids.to_numpy()[1:] == ids.to_numpy()[:-1]
    later = times.to_numpy()[1:] >= times.to_numpy()[:-1]
    # Grouped, each group's ids never seen before, times rising within a group.
    grouped = ids[~np.concatenate([[False], same])].is_unique
    return bool(grouped and np.all(later | ~same))


def canonicalize(raw: pd.DataFrame, cfg: DataConfig, origin: str) -> LoadedSeries:
    """Type, select and sort the configured columns.

    Args:
        raw: The rows as read.
        cfg: The data section of params.
        origin: How to name the source in messages (a path or a dataset name).

    Returns:
        The canonical frame and notes (for example that rows were re-sorted).
    """
    if raw.empty:
        raise DataSourceError(
            f"{origin}: the file has a header but no data rows. Add rows, or point data.path "
            "at the full export."
        )
    id_columns = (cfg.series_id,) if cfg.series_id else ()
    _require_columns(raw, (*id_columns, cfg.time_column, *cfg.columns, *cfg.static_features), origin)
    times = _parse_time(raw[cfg.time_column], cfg.time_column, origin, cfg.timezone)
    frame = pd.DataFrame({cfg.time_column: times})
    if cfg.series_id:
        frame.insert(0, cfg.series_id, _series_ids(raw[cfg.series_id], cfg.series_id, origin))
    for column in cfg.columns:
        frame[column] = _to_float(raw[column], column, origin)
    for column in cfg.static_features:
        frame[column] = _static(raw[column])
    notes: list[str] = []
    order = [*id_columns, cfg.time_column]
    if not _is_sorted(frame, order):
        grouping = f"grouped by '{cfg.series_id}' and " if cfg.series_id else ""
        notes.append(
            f"{origin}: rows were not {grouping}in time order; they were sorted by "
            f"{' then '.join(repr(c) for c in order)}."
        )
        log.warning(notes[-1])
        frame = frame.sort_values(order, kind="stable")
    if cfg.until is not None:
        frame = frame[frame[cfg.time_column] <= pd.Timestamp(cfg.until)]
        notes.append(f"rows after data.until={cfg.until} were left out.")
    return LoadedSeries(frame.reset_index(drop=True), origin, tuple(notes))


def load_source(cfg: DataConfig, root: Path = Path()) -> LoadedSeries:
    """Load the configured bundled dataset or file.

    Args:
        cfg: The data section of params.
        root: Directory that relative paths are resolved against.

    Returns:
        The canonical frame with notes.
    """
    name = cfg.source.lower()
    if name in BUNDLED:
        return canonicalize(BUNDLED[name](), cfg, f"bundled dataset '{cfg.source}'")
    prefix, _, rest = name.partition(":")
    competition = COMPETITIONS.get(prefix) if rest else None
    if competition is not None and rest in competition.subsets:
        if not cfg.series_id:
            raise DataSourceError(
                f"params.yaml: data.source '{cfg.source}' holds every {competition.name} {rest} series; "
                "set data.series_id: series (and data.target: [value]) to train one model on all of them."
            )
        return canonicalize(
            competition_panel(prefix, rest, cfg.series_id), cfg, f"{competition.name} {rest} series"
        )
    if competition is not None:
        series_id = cfg.source.partition(":")[2]
        return canonicalize(
            competition_series(prefix, series_id), cfg, f"{competition.name} series '{series_id}'"
        )
    if cfg.source != "file":
        raise DataSourceError(f"params.yaml: data.source is '{cfg.source}'; use {source_names()}.")
    if not cfg.path:
        raise DataSourceError("params.yaml: data.source is 'file' but data.path is empty.")
    path = Path(cfg.path)
    path = path if path.is_absolute() else root / path
    return canonicalize(read_table(path), cfg, str(cfg.path))


def content_hash(frame: pd.DataFrame) -> str:
    """A stable hash of a frame's values and column names (independent of file format)."""
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def infer_freq(times: pd.Series) -> str | None:
    """The series' regular frequency as a pandas alias, or None when irregular."""
    if len(times) < 3:
        return None
    freq = pd.infer_freq(pd.DatetimeIndex(times))
    if freq is not None:
        return freq
    # Gaps defeat infer_freq; the most common step still tells the intended frequency.
    step = pd.Series(times).diff().mode()
    if step.empty:
        return None
    offset = pd.tseries.frequencies.to_offset(step.iloc[0])
    return offset.freqstr if offset is not None else None
