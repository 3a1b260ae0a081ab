"""Chronological splits, gap filling, differencing and affine scalers fit on train only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tsforge.config import ScaleConfig
from tsforge.errors import ValidationError

SCALERS = ("standard", "robust", "minmax")


@dataclass(frozen=True)
class Split:
    """Row ranges [start, stop) of the three chronological splits."""

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]


def chronological_split(n_rows: int, train_fraction: float, val_fraction: float) -> Split:
    """Cut ``n_rows`` into train, validation and test blocks in time order.

    Args:
        n_rows: Number of rows in the series.
        train_fraction: Share of rows for training.
        val_fraction: Share of rows for validation; the rest is test.

    Returns:
        The three row ranges.
    """
    train_end = int(round(n_rows * train_fraction))
    val_end = int(round(n_rows * (train_fraction + val_fraction)))
    return Split((0, train_end), (train_end, val_end), (val_end, n_rows))


def series_split(n_rows: int, cfg: ScaleConfig) -> Split:
    """The split of one series: the last ``val_size``/``test_size`` rows when set, else fractions.

    Args:
        n_rows: Rows of the series.
        cfg: The scale section of params.

    Returns:
        The three row ranges, relative to the series' first row.
    """
    if cfg.test_size is None or cfg.val_size is None:
        return chronological_split(n_rows, cfg.train_fraction, cfg.val_fraction)
    test_start = max(n_rows - int(cfg.test_size), 0)
    val_start = max(test_start - int(cfg.val_size), 0)
    return Split((0, val_start), (val_start, test_start), (test_start, n_rows))


def fill_missing(
    frame: pd.DataFrame, columns: list[str], policy: str, series_id: str | None = None
) -> tuple[pd.DataFrame, int]:
    """Fill or drop missing values in ``columns`` by ``policy``.

    Interpolation and forward fill only use values at or before each gap's far edge, so a
    filled value never depends on data from later splits beyond the next observation.
    With ``series_id`` each series is filled from its own values only.

    Args:
        frame: Canonical frame.
        columns: Value columns to fill.
        policy: interpolate, ffill, drop or fail.
        series_id: Column naming the series of each row (None: one series).

    Returns:
        The filled frame and the number of cells filled (or rows dropped).
    """
    missing = int(frame[columns].isna().sum().sum())
    if missing == 0:
        return frame, 0
    if policy == "fail":
        per_column = {c: int(n) for c, n in frame[columns].isna().sum().items() if n}
        raise ValidationError(
            f"missing values {per_column} and scale.fill is 'fail'. Fill them in the source, "
            "or set scale.fill to interpolate, ffill or drop."
        )
    out = frame.copy()
    if policy == "drop":
        before = len(out)
        out = out.dropna(subset=columns).reset_index(drop=True)
        return out, before - len(out)

    def fill(part: pd.DataFrame) -> pd.DataFrame:
        if policy == "interpolate":
            return part.interpolate(method="linear", limit_direction="both")
        return part.ffill().bfill()

    if series_id is None:
        out[columns] = fill(out[columns])
    else:
        out[columns] = out.groupby(series_id, sort=False)[columns].transform(fill)
    return out, missing


@dataclass(frozen=True)
class AffineScaler:
    """``scaled = (x - offset) / scale`` per column; JSON-serialisable.

    Standard, robust and min-max scaling are all of this form, so one class covers them,
    and its inverse works on any subset of columns (the targets alone, for forecasts).
    """

    method: str
    columns: tuple[str, ...]
    offset: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, values: np.ndarray, columns: tuple[str, ...], method: str) -> AffineScaler:
        """Fit on the training rows only.

        Args:
            values: Training rows, shape (n, len(columns)).
            columns: Column names, in order.
            method: standard, robust or minmax.

        Returns:
            The fitted scaler.
        """
        values = np.asarray(values, dtype=np.float64)
        if method == "standard":
            offset, scale = values.mean(axis=0), values.std(axis=0)
        elif method == "robust":
            q25, median, q75 = np.percentile(values, [25, 50, 75], axis=0)
            offset, scale = median, q75 - q25
        elif method == "minmax":
            offset, scale = values.min(axis=0), values.max(axis=0) - values.min(axis=0)
        else:
            raise ValueError(f"unknown scaler '{method}'; use one of {SCALERS}")
        # A constant column would divide by zero; leave it centred but unscaled.
        scale = np.where(scale > 0, scale, 1.0)
        return cls(method, tuple(columns), tuple(map(float, offset)), tuple(map(float, scale)))

    def passing(self, count: int) -> AffineScaler:
        """This scaler with its last ``count`` columns passed through unchanged (columns already
        on a network's scale, such as calendar encodings and static features)."""
        if count <= 0:
            return self
        keep = len(self.columns) - count
        return AffineScaler(
            self.method,
            self.columns,
            (*self.offset[:keep], *(0.0,) * count),
            (*self.scale[:keep], *(1.0,) * count),
        )

    def _params(self, columns: tuple[str, ...] | None) -> tuple[np.ndarray, np.ndarray]:
        idx = [self.columns.index(c) for c in (columns or self.columns)]
        return np.asarray(self.offset)[idx], np.asarray(self.scale)[idx]

    def transform(self, values: np.ndarray, columns: tuple[str, ...] | None = None) -> np.ndarray:
        """Scale ``values`` whose last axis holds ``columns`` (all columns by default)."""
        offset, scale = self._params(columns)
        return ((np.asarray(values, dtype=np.float64) - offset) / scale).astype(np.float32)

    def inverse(self, values: np.ndarray, columns: tuple[str, ...] | None = None) -> np.ndarray:
        """Undo :meth:`transform` for ``columns`` (all columns by default)."""
        offset, scale = self._params(columns)
        return np.asarray(values, dtype=np.float64) * scale + offset

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AffineScaler:
        """Rebuild from the dictionary form, ``dataclasses.asdict(scaler)``."""
        return cls(
            str(raw["method"]),
            tuple(raw["columns"]),
            tuple(map(float, raw["offset"])),
            tuple(map(float, raw["scale"])),
        )


def difference_targets(levels: np.ndarray, n_targets: int) -> np.ndarray:
    """First differences of the first ``n_targets`` columns, row-aligned with ``levels``.

    Row ``i`` holds ``levels[i] - levels[i-1]`` for the targets (row 0 is NaN, having no
    predecessor); feature columns stay as levels. Keeping rows aligned means windows use
    the same row indices with and without differencing.
    """
    out = np.array(levels, dtype=np.float64)
    out[1:, :n_targets] = np.diff(out[:, :n_targets], axis=0)
    out[0, :n_targets] = np.nan
    return out


def _identity(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


TRANSFORMS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "none": (_identity, _identity),
    "log": (np.log, np.exp),
    "log1p": (np.log1p, np.expm1),
}
"""Value transforms of the targets and their inverses: none, log (every value > 0) or
log1p (every value >= 0)."""


def _transform_pair(
    transform: str,
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform '{transform}'; use one of {tuple(TRANSFORMS)}")
    return TRANSFORMS[transform]


def forward_transform(values: np.ndarray, transform: str) -> np.ndarray:
    """Apply ``transform`` (none, log or log1p) to target values."""
    return _transform_pair(transform)[0](values)


def inverse_transform(values: np.ndarray, transform: str) -> np.ndarray:
    """Undo :func:`forward_transform`."""
    return _transform_pair(transform)[1](values)


def model_space(
    levels: np.ndarray,
    n_targets: int,
    difference: bool,
    transform: str = "none",
    seasonal: np.ndarray | None = None,
) -> np.ndarray:
    """Unscaled model-space values: the targets under ``transform`` (none, log, log1p), less
    their ``seasonal`` component (rows x targets, in transformed units) when given, then
    their first differences when ``difference``; features stay as they are."""
    out = np.array(levels, dtype=np.float64)
    out[:, :n_targets] = forward_transform(out[:, :n_targets], transform)
    if seasonal is not None:
        out[:, :n_targets] -= seasonal
    return difference_targets(out, n_targets) if difference else out
