"""The windows a network is fitted and judged on: the model-space series with the forecast
origins of each split (:class:`WindowedData`), as a trial reads them (:func:`trial_data`), and
the score every fit is judged by (:data:`OBJECTIVE`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tsforge.config import SPACE_CHOICES
from tsforge.models import ModelSpec
from tsforge.panel import first_usable_rows
from tsforge.windowing import WindowSpec, gather_windows

OBJECTIVE = "val_mae"
"""What trials, early stopping and ensemble members are judged by: the mean absolute error
of the validation windows in model space. Unlike ``val_loss`` it does not depend on the
training loss, so trials that train with different losses compare fairly."""


@dataclass(frozen=True)
class WindowedData:
    """The model-space series and the forecast origins of each split."""

    values: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    window: WindowSpec
    n_targets: int
    normalize: bool = False
    weights: np.ndarray | None = None
    series_starts: np.ndarray | None = None
    """First usable row of each series, sorted; windows reaching before theirs are padded
    (``window.min_history``). None: every window is complete."""
    known: int = 0
    """Trailing columns known for the horizon (:attr:`tsforge.covariates.Covariates.n_known`)."""

    @property
    def model_spec(self) -> ModelSpec:
        """The shapes a model for this data must have."""
        ahead = self.window.horizon if self.known else 0
        return ModelSpec(
            self.window.input_size, self.values.shape[1], self.window.horizon, self.n_targets, ahead
        )

    @classmethod
    def of(cls, series: Any, windows: Any) -> WindowedData:
        """From the scale and window stages' outputs (:class:`tsforge.catalog.ProcessedSeries`
        and :class:`tsforge.catalog.Windows`)."""
        return cls(
            series.values,
            windows.train,
            windows.val,
            windows.test,
            windows.spec,
            series.n_targets,
            windows.normalize,
            series.weights,
            first_usable_rows(series.layout, series.lost_rows),
            series.known,
        )

    def first_rows(self, origins: np.ndarray) -> np.ndarray | None:
        """The first usable row of each origin's series (None: no series layout known)."""
        if self.series_starts is None:
            return None
        return np.asarray(self.series_starts[np.searchsorted(self.series_starts, origins, side="right") - 1])

    def complete(self, origins: np.ndarray) -> np.ndarray:
        """The origins among ``origins`` whose inputs are all real rows (none padded)."""
        first_rows = self.first_rows(origins)
        return origins if first_rows is None else origins[origins - self.window.input_size >= first_rows]

    def gather(self, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The inputs and targets of ``origins``, padded where a training window is short."""
        first_rows = self.first_rows(origins)
        return gather_windows(
            self.values,
            origins,
            self.window,
            self.n_targets,
            self.normalize,
            first_rows=first_rows,
            known=self.known,
        )


NORMALIZATIONS = SPACE_CHOICES["normalize"]
"""Values of ``tune.space.normalize``: windows in the scale stage's levels, or relative to
their last input value (see :func:`tsforge.windowing.gather_windows`)."""


def trial_data(data: WindowedData, values: Mapping[str, Any]) -> WindowedData:
    """The windows as a trial reads them: a searched ``normalize`` (none or last) overrides the
    ``window.normalize`` the scale stage settled, for that trial only.

    Args:
        data: Windowed series.
        values: The trial's hyperparameter values.

    Returns:
        ``data``, with ``normalize`` set by the trial when it chose one.
    """
    chosen = values.get("normalize")
    if chosen is None:
        return data
    if chosen not in NORMALIZATIONS:
        raise ValueError(f"tune.space.normalize: unknown value {chosen!r}; use one of {NORMALIZATIONS}")
    return replace(data, normalize=chosen == "last")
