"""The forecast spec: everything besides the network that a forecast needs, saved as JSON.

What the pipeline trained (columns, window, differencing, transform, per-series scalers,
seasonal indices, the intervals' calibration, the combined statistical methods and the
covariates), read back by the evaluate stage and by the served model
(:mod:`tsforge.forecaster`). A spec written by an older version loads with its defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tsforge.catalog import write_text
from tsforge.combination import Combination
from tsforge.conformal import Calibration
from tsforge.covariates import Covariates
from tsforge.panel import scalers_from_dict, scalers_to_dict
from tsforge.scaling import AffineScaler
from tsforge.seasonality import Seasonality


@dataclass(frozen=True)
class ForecastSpec:
    """Everything besides the network that a forecast needs.

    ``scalers`` holds one scaler per series (the single series of a project without
    ``data.series_id`` is named ``""``); ``series_id`` names the id column of the input.
    ``conformal`` is the prediction intervals' calibration (:mod:`tsforge.conformal`), None
    for a model saved before intervals (or calibrated on no validation window).
    """

    time_column: str
    targets: tuple[str, ...]
    features: tuple[str, ...]
    input_size: int
    horizon: int
    difference: bool
    freq: str | None
    scalers: Mapping[str, AffineScaler]
    series_id: str | None = None
    transform: str = "none"
    normalize: bool = False
    seasonality: Seasonality = Seasonality()
    conformal: Calibration | None = None
    min_history: int | None = None
    """Fewest real rows a window may hold (``window.min_history``); a shorter history than
    ``input_size`` is padded with its first value. None: ``input_size`` (no padding)."""
    combination: Combination = Combination()
    """Statistical methods the network's forecast is averaged with (``train.combine``)."""
    covariates: Covariates = Covariates()
    """Known-future, calendar, holiday and static columns (:mod:`tsforge.covariates`)."""

    @property
    def columns(self) -> tuple[str, ...]:
        """Numeric columns a request carries: targets, past-only then known-future features."""
        return self.targets + self.features + self.covariates.future

    @property
    def known(self) -> int:
        """Trailing model columns known for the horizon (0: the network reads the past only)."""
        return self.covariates.n_known

    @property
    def request_columns(self) -> tuple[str, ...]:
        """Every column a request carries besides the time and series id: the numeric ones,
        then the static features."""
        return self.columns + self.covariates.static_columns

    @property
    def history_needed(self) -> int | None:
        """Rows of history one forecast reads: ``input_size``, one more when differencing, or
        more when a combined statistical method fits on a longer history; None when it fits
        on the whole history it is sent."""
        network = self.input_size + int(self.difference)
        if not self.combination.active:
            return network
        statistical = self.combination.history
        return None if statistical is None else max(network, statistical)

    @property
    def least_history(self) -> int:
        """Fewest rows of history a forecast accepts (shorter than :attr:`history_needed` is padded)."""
        least = self.input_size if self.min_history is None else min(self.min_history, self.input_size)
        return least + int(self.difference)

    @classmethod
    def of_pipeline(
        cls,
        data: Any,
        series: Any,
        windows: Any,
        freq: str | None,
        scalers: Mapping[str, AffineScaler],
        *,
        min_history: int | None = None,
    ) -> ForecastSpec:
        """The spec of a model trained by the pipeline.

        Args:
            data: The data section of params (:class:`tsforge.config.DataConfig`).
            series: The scale stage's :class:`tsforge.catalog.ProcessedSeries`.
            windows: The window stage's :class:`tsforge.catalog.Windows`.
            freq: The series' frequency, as ingest recorded it.
            scalers: The scale stage's per-series scalers.
            min_history: ``window.min_history`` as resolved (the fewest real rows of a window).

        Returns:
            The spec.
        """
        return cls(
            time_column=data.time_column,
            targets=data.target,
            features=data.features,
            input_size=windows.spec.input_size,
            horizon=windows.spec.horizon,
            difference=series.difference,
            freq=freq,
            scalers=scalers,
            series_id=data.series_id,
            transform=series.transform,
            normalize=windows.normalize,
            seasonality=series.seasonality,
            min_history=min_history,
            covariates=series.covariates,
        )

    def save(self, path: Path) -> None:
        """Write as JSON, atomically."""
        skip = ("scalers", "seasonality", "conformal", "combination", "covariates")
        raw = {k: v for k, v in asdict(self).items() if k not in skip}
        raw["scalers"] = scalers_to_dict(self.scalers)
        raw["seasonality"] = self.seasonality.to_dict()
        if self.conformal is not None:
            raw["conformal"] = self.conformal.to_dict()
        if self.combination.active:
            raw["combination"] = self.combination.to_dict()
        raw["covariates"] = self.covariates.to_dict()
        write_text(path, json.dumps(raw, indent=2))

    @classmethod
    def load(cls, path: Path) -> ForecastSpec:
        """Read a spec written by :meth:`save` (or by a version with one ``scaler``)."""
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            time_column=raw["time_column"],
            targets=tuple(raw["targets"]),
            features=tuple(raw["features"]),
            input_size=int(raw["input_size"]),
            horizon=int(raw["horizon"]),
            difference=bool(raw["difference"]),
            freq=raw["freq"],
            scalers=scalers_from_dict(raw["scalers"] if "scalers" in raw else raw["scaler"]),
            series_id=raw.get("series_id"),
            # Specs from before log1p stored a flag ``log``.
            transform=str(raw.get("transform") or ("log" if raw.get("log") else "none")),
            normalize=bool(raw.get("normalize", False)),
            seasonality=Seasonality.from_dict(raw.get("seasonality")),
            conformal=Calibration.from_dict(raw.get("conformal")),
            min_history=None if raw.get("min_history") is None else int(raw["min_history"]),
            combination=Combination.from_dict(raw.get("combination")),
            # Specs from before covariates read their past features only.
            covariates=Covariates.from_dict(raw.get("covariates"), past=tuple(raw["features"])),
        )
