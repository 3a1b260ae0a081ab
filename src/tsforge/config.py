"""Typed view of ``params.yaml``: one frozen dataclass per section, parsed and checked once at the edge.

params.yaml is parsed once, in a stage's ``main``, and the sections are passed down as
values. No other module opens the file. The sections live in :mod:`tsforge.config_sections`
and the checks across them in :mod:`tsforge.config_checks`; this module reads and parses the
file and re-exports the sections, so ``from tsforge.config import ...`` keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tsforge.config_checks import check_params
from tsforge.config_sections import (
    COMBINABLE_METHODS,
    DEFAULT_SPACE,
    ENSEMBLE_FITS,
    INTERVAL_METHODS,
    RETRAIN_RULES,
    SPACE_CHOICES,
    TRAINING_LOSSES,
    DataConfig,
    EvaluateConfig,
    Params,
    RegistryConfig,
    RetrainConfig,
    ScaleConfig,
    TrackingConfig,
    TrainConfig,
    TuneConfig,
    ValidateConfig,
    WindowConfig,
    mase_period,
)
from tsforge.errors import ConfigError

__all__ = [
    "COMBINABLE_METHODS",
    "DEFAULT_SPACE",
    "DataConfig",
    "ENSEMBLE_FITS",
    "EvaluateConfig",
    "INTERVAL_METHODS",
    "Params",
    "RETRAIN_RULES",
    "RegistryConfig",
    "RetrainConfig",
    "SPACE_CHOICES",
    "ScaleConfig",
    "TRAINING_LOSSES",
    "TrackingConfig",
    "TrainConfig",
    "TuneConfig",
    "ValidateConfig",
    "WindowConfig",
    "load_evaluate",
    "load_params",
    "mase_period",
    "merge_sections",
    "parse_params",
]


T = TypeVar("T")


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


_TUPLE_FIELDS = {"target", "features", "future_features", "static_features"}


def _section(cls: type[T], raw: Any, name: str) -> T:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"params.yaml: section '{name}' must be a mapping, got {raw!r}.")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"params.yaml: section '{name}' has unknown key(s) {unknown}; "
            f"the keys it accepts are {sorted(known)}."
        )
    values = {k: (_as_tuple(v) if k in _TUPLE_FIELDS else v) for k, v in raw.items()}
    try:
        return cls(**values)
    except TypeError as exc:  # pragma: no cover - guarded by the unknown-key check
        raise ConfigError(f"params.yaml: section '{name}': {exc}") from exc


_SECTIONS: dict[str, type[Any]] = {
    "data": DataConfig,
    "validate": ValidateConfig,
    "scale": ScaleConfig,
    "window": WindowConfig,
    "tune": TuneConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "registry": RegistryConfig,
    "tracking": TrackingConfig,
    "retrain": RetrainConfig,
}


def parse_params(raw: Mapping[str, Any]) -> Params:
    """Turn the loaded YAML mapping into typed, checked sections.

    Args:
        raw: The mapping read from params.yaml.

    Returns:
        The parsed parameters.
    """
    sections = {name: _section(cls, raw.get(name), name) for name, cls in _SECTIONS.items()}
    params = Params(**sections)
    check_params(params)
    return params


def merge_sections(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge raw params mappings, ``override`` winning.

    A ``space`` mapping is replaced whole: a search space is one value, and merging two
    would leave dimensions nobody asked for.

    Args:
        base: Raw params (as read from params.yaml).
        override: Sections or keys to change.

    Returns:
        The merged mapping (inputs are not modified).
    """
    out = dict(base)
    for key, value in override.items():
        nested = isinstance(value, Mapping) and key != "space" and isinstance(base.get(key), Mapping)
        out[key] = merge_sections(base[key], value) if nested else value
    return out


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and parse params.yaml.

    Args:
        path: Location of the params file.

    Returns:
        The parsed parameters.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} not found: run the stage from the project root.")
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    return parse_params(raw)


def load_evaluate(path: str | Path) -> EvaluateConfig:
    """Only the ``evaluate`` section of a params file (defaults when the file or section is absent).

    ``tsforge forecast`` takes its interval level from it without requiring the other sections
    to be complete.
    """
    path = Path(path)
    raw = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}
    return _section(EvaluateConfig, raw.get("evaluate") if isinstance(raw, Mapping) else None, "evaluate")
