"""Sliding windows as index arithmetic over one array, never as stacked copies.

A window is identified by its forecast origin ``t``: inputs are rows ``[t - input_size, t)``
and targets rows ``[t, t + horizon)``. For a split ``[start, stop)`` the origins are those
whose targets lie wholly inside it; the inputs may reach back into earlier splits (data
that was observed before the origin) but never forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class WindowSpec:
    """Window geometry: ``input_size`` past steps predict the next ``horizon`` steps."""

    input_size: int
    horizon: int
    step: int = 1


def window_origins(
    start: int, stop: int, spec: WindowSpec, first_row: int = 0, min_history: int | None = None
) -> np.ndarray:
    """Forecast origins for a split whose rows are ``[start, stop)``.

    Args:
        start: First row of the split.
        stop: One past the last row of the split.
        spec: Window geometry.
        first_row: First row with usable inputs (1 when differencing leaves row 0 empty).
        min_history: Fewest real input rows a window may have (default ``input_size``);
            fewer than ``input_size`` makes padded windows (see :func:`gather_windows`).

    Returns:
        Origins ``t`` with ``t - min_history >= first_row``, ``t >= start`` and
        ``t + horizon <= stop``, every ``step`` rows.
    """
    first = max(start, (spec.input_size if min_history is None else min_history) + first_row)
    last = stop - spec.horizon
    if last < first:
        return np.empty(0, dtype=np.int64)
    return np.arange(first, last + 1, spec.step, dtype=np.int64)


def gather_windows(
    values: np.ndarray,
    origins: np.ndarray,
    spec: WindowSpec,
    n_targets: int,
    normalize: bool = False,
    *,
    first_rows: np.ndarray | None = None,
    known: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Materialise the inputs and targets for ``origins`` (use per batch, not for all).

    Args:
        values: Model-space series, shape (rows, columns); targets are the first columns.
        origins: Forecast origins to gather.
        spec: Window geometry.
        n_targets: Number of target columns.
        normalize: Subtract each window's last input value of the targets from its target
            inputs and its targets, so the network learns moves relative to where the
            series stands (``window.normalize: last``); :func:`last_inputs` undoes it.
        first_rows: Each origin's first usable row (its series' first). A window reaching
            before it is padded: its missing rows repeat that first row, as if the series had
            stood still before it began (``window.min_history``). Without it every window
            must be complete (one that starts before row 0 is refused).
        known: Trailing columns of ``values`` known for the horizon (known-future features,
            calendar, static encodings). With any, each window gains ``horizon`` rows after its
            inputs holding those columns' values at the forecast steps, every other column
            zero: the network reads what is known ahead where it belongs in time.

    Returns:
        ``x`` of shape (n, input_size (+ horizon with ``known``), columns) and ``y`` of shape
        (n, horizon, n_targets).
    """
    begins = origins - spec.input_size
    if first_rows is None and len(begins) and begins.min() < 0:
        raise ValueError("a window starts before the first row: padded origins need first_rows")
    if first_rows is not None and np.any(begins < first_rows):
        rows = np.maximum(begins[:, None] + np.arange(spec.input_size), np.asarray(first_rows)[:, None])
        x = np.array(values[rows])  # an array shorter than the input (one short history) included
    else:
        # Views over the one array: building them copies nothing.
        inputs = sliding_window_view(values, spec.input_size, axis=0)  # (rows-in+1, cols, in)
        x = np.ascontiguousarray(inputs[begins].transpose(0, 2, 1))
    targets = sliding_window_view(values[:, :n_targets], spec.horizon, axis=0)
    y = np.ascontiguousarray(targets[origins].transpose(0, 2, 1))
    if normalize:
        base = last_inputs(values, origins, n_targets)[:, None, :]
        x[:, :, :n_targets] -= base
        y -= base
    if known:
        ahead = np.zeros((len(origins), spec.horizon, values.shape[1]), dtype=x.dtype)
        rows = origins[:, None] + np.arange(spec.horizon)
        ahead[:, :, values.shape[1] - known :] = values[rows, values.shape[1] - known :]
        x = np.concatenate([x, ahead], axis=1)
    return x, y


def last_inputs(values: np.ndarray, origins: np.ndarray, n_targets: int) -> np.ndarray:
    """The targets' last input value of each window, shape (len(origins), n_targets)."""
    return np.asarray(values[origins - 1, :n_targets])
