"""Many series in one array: the row layout, per-series scalers and per-series splits.

Series are stored one after another in one model-space array (sorted by series, then
time), so windows stay index arithmetic over a single array. The layout records where
each series starts and ends; every window, scaler, split and metric respects those
boundaries. A single series is the layout with one unnamed series spanning every row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tsforge.errors import ConfigError
from tsforge.scaling import AffineScaler, Split, model_space
from tsforge.windowing import WindowSpec, window_origins

SINGLE = ""
"""The series name of a project without ``data.series_id``."""


@dataclass(frozen=True)
class Layout:
    """Series names and their row ranges ``[bounds[i], bounds[i+1])`` in the stacked array."""

    names: tuple[str, ...]
    bounds: np.ndarray

    @classmethod
    def single(cls, rows: int) -> Layout:
        """One series over ``rows`` rows."""
        return cls((SINGLE,), np.array([0, rows], dtype=np.int64))

    @classmethod
    def from_ids(cls, ids: Any) -> Layout:
        """The layout of a column of series ids already grouped (sorted by series, then time).

        Args:
            ids: The series id of every row (a column, list or array).

        Returns:
            The layout, series in order of first appearance.
        """
        values = np.asarray([str(v) for v in ids])
        if len(values) == 0:
            return cls((), np.zeros(1, dtype=np.int64))
        change = np.flatnonzero(values[1:] != values[:-1]) + 1
        starts = np.concatenate([[0], change])
        names = tuple(str(values[i]) for i in starts)
        if len(set(names)) != len(names):
            raise ValueError("rows of a series must be contiguous (sort by series, then time)")
        return cls(names, np.concatenate([starts, [len(values)]]).astype(np.int64))

    @classmethod
    def of_frame(cls, frame: Any, series_id: str | None) -> Layout:
        """The layout of a canonical frame: by its ``series_id`` column, or one series."""
        return cls.from_ids(frame[series_id]) if series_id else cls.single(len(frame))

    @property
    def lengths(self) -> np.ndarray:
        """Rows of each series."""
        return np.diff(self.bounds)

    def spans(self) -> Iterator[tuple[str, int, int]]:
        """``(name, start, stop)`` of each series."""
        for i, name in enumerate(self.names):
            yield name, int(self.bounds[i]), int(self.bounds[i + 1])

    def series_of(self, rows: np.ndarray) -> np.ndarray:
        """Index of the series each row belongs to."""
        return np.searchsorted(self.bounds, np.asarray(rows), side="right") - 1

    def starts_of(self, rows: np.ndarray) -> np.ndarray:
        """First row of the series each row belongs to."""
        return np.asarray(self.bounds[self.series_of(rows)], dtype=np.int64)


def splits(layout: Layout, split_of: Any) -> np.ndarray:
    """Absolute row ranges of every series' splits, shape (series, 3, 2).

    Args:
        layout: The row layout.
        split_of: ``rows -> Split`` for one series (such as :func:`tsforge.scaling.series_split`).

    Returns:
        ``[series, (train, val, test), (start, stop)]``.
    """
    out = np.zeros((len(layout.names), 3, 2), dtype=np.int64)
    for i, (_, start, stop) in enumerate(layout.spans()):
        split: Split = split_of(stop - start)
        out[i] = np.array([split.train, split.val, split.test]) + start
    return out


PADDED_SPLITS = ("train", "test")
"""The splits in which a series too short for a complete window gets padded ones."""


def origins(
    layout: Layout, split_rows: np.ndarray, spec: WindowSpec, lost_rows: int, min_history: int | None = None
) -> dict[str, np.ndarray]:
    """Forecast origins of each split over every series; no window crosses a series boundary.

    Args:
        layout: The row layout.
        split_rows: From :func:`splits`.
        spec: Window geometry.
        lost_rows: Leading rows of each series without usable inputs (1 when differencing).
        min_history: Fewest real input rows of a training or test window of a series too
            short for a complete one in that split (default None: no padding). Such a series
            gets padded windows there, as it is served: a history shorter than ``input_size``
            is padded with its first value (:func:`tsforge.forecast_requests.forecast_frame`). A
            series with a complete window in a split keeps only complete ones there.
            Validation windows are always complete: the scores that pick a model and stop its
            training are those of full histories (padding them too cost M3 monthly 1 % of
            MASE, bench/EXPERIMENTS.md E12).

    Returns:
        ``{"train": ..., "val": ..., "test": ...}`` origin arrays (rows of the stacked array).
    """
    out: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for i, (_, start, _) in enumerate(layout.spans()):
        for k, name in enumerate(out):
            begin, stop = split_rows[i, k]
            found = window_origins(int(begin), int(stop), spec, start + lost_rows)
            if name in PADDED_SPLITS and min_history is not None and len(found) == 0:
                # Only a series without one complete window in the split gets padded ones: on
                # the accuracy suite padding every series' first windows won as often as it lost.
                found = window_origins(int(begin), int(stop), spec, start + lost_rows, min_history)
            out[name].append(found)
    return {k: np.concatenate(v) if v else np.empty(0, dtype=np.int64) for k, v in out.items()}


def stacked_model_space(
    levels: np.ndarray,
    layout: Layout,
    n_targets: int,
    difference: bool,
    transform: str = "none",
    *,
    seasonal: np.ndarray | None = None,
) -> np.ndarray:
    """Unscaled model-space values, differenced within each series only; ``seasonal`` is the
    row-aligned seasonal component to remove (see :mod:`tsforge.seasonality`)."""
    out = np.empty_like(np.asarray(levels, dtype=np.float64))
    for _, start, stop in layout.spans():
        part = None if seasonal is None else seasonal[start:stop]
        out[start:stop] = model_space(levels[start:stop], n_targets, difference, transform, part)
    return out


def fit_stops(layout: Layout, split_rows: np.ndarray, lost_rows: int, min_rows: int) -> np.ndarray:
    """One past the last row each series' statistics (scaler, seasonal indices) are fitted on.

    Its training rows; a series of a panel with fewer than ``min_rows`` of them (it may only
    give test windows) uses every row before its test split instead, never the test.
    """
    stops = split_rows[:, 0, 1].copy()
    short = stops - (layout.bounds[:-1] + lost_rows) < min_rows
    stops[short] = split_rows[short, 2, 0]
    return np.asarray(stops, dtype=np.int64)


def fit_scalers(
    unscaled: np.ndarray,
    layout: Layout,
    split_rows: np.ndarray,
    columns: tuple[str, ...],
    *,
    method: str,
    lost_rows: int,
    passed: int = 0,
) -> dict[str, AffineScaler]:
    """One scaler per series, fitted on that series' training rows only.

    Args:
        unscaled: Model-space values (see :func:`stacked_model_space`).
        layout: The row layout.
        split_rows: From :func:`splits`.
        columns: Column names.
        method: standard, robust or minmax (each series its own), or global (one shared).
        lost_rows: Leading rows of each series without values (1 when differencing).
        passed: Trailing columns left unscaled (:attr:`tsforge.covariates.Covariates.n_derived`).

    Returns:
        Series name -> its scaler.
    """
    stops = fit_stops(layout, split_rows, lost_rows, MIN_SCALER_ROWS)
    rows = {
        name: unscaled[start + lost_rows : int(stops[i])] for i, (name, start, _) in enumerate(layout.spans())
    }
    if method == GLOBAL:
        shared = AffineScaler.fit(np.concatenate(list(rows.values())), columns, "standard").passing(passed)
        return dict.fromkeys(rows, shared)
    return {name: AffineScaler.fit(values, columns, method).passing(passed) for name, values in rows.items()}


GLOBAL = "global"
"""One standard scaler fitted on the training rows of every series pooled, shared by all.

For logarithms with window-relative windows the per-series level is already gone and a
change is a ratio, comparable across series as it is; dividing each series by its own
spread would weight the loss towards the calmest series, while the metrics (sMAPE, MASE per
series) weigh every series' relative error alike."""


MIN_SCALER_ROWS = 8
"""Fewest training rows a per-series scaler is fitted on; with fewer (a mean and spread of a
handful of values are noise) it uses every row before the series' test split."""


def first_usable_rows(layout: Layout, lost_rows: int) -> np.ndarray:
    """The first row with usable inputs of each series (sorted), for padded windows."""
    return np.asarray(layout.bounds[:-1] + lost_rows, dtype=np.int64)


def require_windows(origins: Mapping[str, np.ndarray]) -> None:
    """Refuse a windowing that leaves a split without windows, saying what to change."""
    empty = [name for name in ("train", "val", "test") if len(origins.get(name, ())) == 0]
    if empty:
        raise ConfigError(
            f"no {' or '.join(empty)} windows: no series is long enough for window.input_size + "
            "window.horizon rows inside those splits. Shorten window.input_size (or scale.val_size / "
            "scale.test_size), or add history."
        )


def require_scalers(scalers: Mapping[str, AffineScaler], names: Sequence[str]) -> None:
    """Refuse series the model has no scaler for, naming them."""
    missing = [n for n in names if n not in scalers]
    if missing:
        shown = ", ".join(repr(n) for n in missing[:5])
        raise ValueError(
            f"no scaler for series {shown} ({len(missing)} unknown): the model was trained without "
            "them; retrain on data that includes them"
        )


def scale_stacked(unscaled: np.ndarray, layout: Layout, scalers: Mapping[str, AffineScaler]) -> np.ndarray:
    """Apply each series' own scaler to its rows."""
    require_scalers(scalers, layout.names)
    out = np.empty(unscaled.shape, dtype=np.float32)
    for name, start, stop in layout.spans():
        out[start:stop] = scalers[name].transform(unscaled[start:stop])
    return out


def scalers_to_dict(scalers: Mapping[str, AffineScaler]) -> dict[str, Any]:
    """JSON-ready form: ``{"series": {name: scaler}}``."""
    from dataclasses import asdict

    return {"series": {name: asdict(s) for name, s in scalers.items()}}


def scalers_from_dict(raw: Mapping[str, Any]) -> dict[str, AffineScaler]:
    """Read :func:`scalers_to_dict`'s form, or one bare scaler (specs from before many series)."""
    if "series" not in raw:
        return {SINGLE: AffineScaler.from_dict(raw)}
    return {str(name): AffineScaler.from_dict(s) for name, s in raw["series"].items()}
