"""The columns beside the targets: past-only, known-future, calendar, holiday and static.

The model-space array holds, per row, the targets first, then in this order:

- past-only features (``data.features``): observed up to the forecast origin;
- known-future features (``data.future_features``): given for the horizon as well;
- derived columns, known ahead by construction: the calendar's cyclic encodings and the
  holiday flags (computed from timestamps), then each static feature's encoding (one-hot
  for text, standardised across series for numbers), repeated on every row of its series.

Known-future and derived columns are the trailing :attr:`Covariates.n_known` columns: the
network reads them over its input window and over the horizon (see
:func:`tsforge.windowing.gather_windows`). Derived columns are already on a network's scale
and pass the per-series scalers unchanged (:attr:`Covariates.n_derived`): a static feature
scaled within its own series would be a constant 0.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tsforge.calendar_features import calendar_columns, holiday_columns, known_ahead_matrix, resolve_calendar
from tsforge.errors import ValidationError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StaticEncoding:
    """How one static feature becomes network inputs: one-hot over ``categories`` (text), or
    ``(value - mean) / std`` (numbers; ``categories`` empty)."""

    column: str
    categories: tuple[str, ...] = ()
    mean: float = 0.0
    std: float = 1.0

    @property
    def names(self) -> tuple[str, ...]:
        """Encoded column names: ``<column>=<category>`` per category, or the column itself."""
        if self.categories:
            return tuple(f"{self.column}={c}" for c in self.categories)
        return (self.column,)

    @classmethod
    def fit(cls, column: str, per_series: pd.Series) -> StaticEncoding:
        """Learn the encoding from one value per series (text: its categories, sorted)."""
        numeric = pd.to_numeric(per_series, errors="coerce")
        if numeric.notna().all():
            std = float(numeric.std(ddof=0)) if len(numeric) > 1 else 0.0
            return cls(column, (), float(numeric.mean()), std if std > 0 else 1.0)
        return cls(column, tuple(sorted({str(v) for v in per_series})))

    def encode(self, values: pd.Series) -> np.ndarray:
        """Rows x len(names); a category unseen in training is all zeros (no category's effect)."""
        if self.categories:
            text = values.astype(str).to_numpy()
            return np.stack([(text == c).astype(np.float64) for c in self.categories], axis=1)
        numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(numeric).any():
            raise ValueError(f"static feature '{self.column}' must hold numbers, as it did in training")
        return ((numeric - self.mean) / self.std)[:, None]


@dataclass(frozen=True)
class Covariates:
    """Every non-target column the network reads, and how the derived ones are computed."""

    past: tuple[str, ...] = ()
    future: tuple[str, ...] = ()
    calendar: tuple[str, ...] = ()
    holidays: str | None = None
    freq: str | None = None
    static: tuple[StaticEncoding, ...] = field(default_factory=tuple)

    @property
    def active(self) -> bool:
        """Whether the network reads anything besides its targets."""
        return bool(self.past or self.future or self.n_derived)

    @property
    def derived_names(self) -> tuple[str, ...]:
        """Columns computed from timestamps and static features, in order."""
        return (
            calendar_columns(self.calendar)
            + holiday_columns(self.holidays, self.freq)
            + tuple(n for s in self.static for n in s.names)
        )

    @property
    def n_derived(self) -> int:
        """Trailing columns derived here (left unscaled)."""
        return len(self.derived_names)

    @property
    def n_known(self) -> int:
        """Trailing columns known for the horizon: known-future features and derived columns."""
        return len(self.future) + self.n_derived

    @property
    def static_columns(self) -> tuple[str, ...]:
        """The static features' source columns."""
        return tuple(s.column for s in self.static)

    def derive(self, times: Any, statics: pd.DataFrame | None) -> np.ndarray:
        """The derived columns of rows at ``times`` (rows x :attr:`n_derived`).

        Args:
            times: Each row's timestamp.
            statics: Each row's static feature columns (None without static features).

        Returns:
            Calendar encodings, holiday flags and static encodings, side by side.
        """
        _, known = known_ahead_matrix(times, self.freq, self.calendar, self.holidays)
        blocks = [np.asarray(known, dtype=np.float64).reshape(len(known), -1)]
        for encoding in self.static:
            if statics is None or encoding.column not in statics.columns:
                raise ValueError(f"the static feature column '{encoding.column}' is missing")
            blocks.append(encoding.encode(statics[encoding.column].reset_index(drop=True)))
        return np.hstack(blocks) if blocks else np.empty((len(known), 0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "past": list(self.past),
            "future": list(self.future),
            "calendar": list(self.calendar),
            "holidays": self.holidays,
            "freq": self.freq,
            "static": [
                {"column": s.column, "categories": list(s.categories), "mean": s.mean, "std": s.std}
                for s in self.static
            ],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None, *, past: Sequence[str] = ()) -> Covariates:
        """Read :meth:`to_dict`'s form; None (a spec from before covariates) has only ``past``."""
        if not raw:
            return cls(past=tuple(past))
        return cls(
            past=tuple(raw.get("past", past)),
            future=tuple(raw.get("future", ())),
            calendar=tuple(raw.get("calendar", ())),
            holidays=raw.get("holidays"),
            freq=raw.get("freq"),
            static=tuple(
                StaticEncoding(str(s["column"]), tuple(s["categories"]), float(s["mean"]), float(s["std"]))
                for s in raw.get("static", ())
            ),
        )


def fit(data: Any, frame: pd.DataFrame, freq: str | None) -> Covariates:
    """The covariates of a snapshot: calendar resolved at its frequency, static encodings learnt.

    Args:
        data: The data section of params (:class:`tsforge.config.DataConfig`).
        frame: The snapshot (sorted by series, then time).
        freq: The series' frequency, as ingest recorded it.

    Returns:
        The covariates.
    """
    span = longest_span(frame, data.series_id, data.time_column)
    calendar = resolve_calendar(data.calendar, freq, span)
    short = [name for name in resolve_calendar(data.calendar, freq) if name not in calendar]
    if short:
        logger.info(
            "data.calendar auto: left out %s: the data span %s, under two of their cycles",
            ", ".join(short),
            span,
        )
    static: tuple[StaticEncoding, ...] = ()
    if data.static_features:
        first = frame.groupby(data.series_id, sort=False).first()
        static = tuple(StaticEncoding.fit(c, first[c]) for c in data.static_features)
    return Covariates(
        past=tuple(data.features),
        future=tuple(data.future_features),
        calendar=calendar,
        holidays=data.holidays,
        freq=freq,
        static=static,
    )


def longest_span(frame: pd.DataFrame, series_id: str | None, time_column: str) -> pd.Timedelta | None:
    """The time the longest series of ``frame`` covers (last timestamp minus first), or None for
    an empty frame."""
    if frame.empty:
        return None
    times = pd.to_datetime(frame[time_column])
    if series_id is None:
        return pd.Timedelta(times.max() - times.min())
    grouped = times.groupby(frame[series_id], sort=False)
    return pd.Timedelta((grouped.max() - grouped.min()).max())


def check_static(frame: pd.DataFrame, series_id: str | None, columns: Sequence[str]) -> None:
    """Refuse a static feature that varies within a series, naming it and a series where it does.

    Raises:
        ValidationError: A column is missing a value, or has two values in one series.
    """
    if not columns or series_id is None:
        return
    for column in columns:
        if frame[column].isna().any():
            raise ValidationError(
                f"static feature '{column}' has {int(frame[column].isna().sum())} empty value(s); every "
                "row needs its series' value (it is constant within a series)."
            )
        counts = frame.groupby(series_id, sort=False)[column].nunique()
        varying = counts[counts > 1]
        if len(varying):
            name = varying.index[0]
            values = sorted(map(str, frame.loc[frame[series_id] == name, column].unique()))[:3]
            raise ValidationError(
                f"static feature '{column}' is not constant within a series: series '{name}' has "
                f"{values} ({len(varying)} series vary). A static feature describes what a series is; "
                "move a value that changes over time to data.features or data.future_features."
            )
