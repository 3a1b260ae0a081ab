"""The checks of parsed params across keys and sections: every value a stage could not use is
refused when params.yaml is parsed, with its key and the fix, rather than mid-search hours later."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tsforge.config_sections import (
    COMBINABLE_METHODS,
    DEFAULT_SPACE,
    SPACE_CHOICES,
    TRAINING_LOSSES,
    DataConfig,
    Params,
    ScaleConfig,
    TrainConfig,
    WindowConfig,
)
from tsforge.errors import ConfigError


def _check_choices(params: Params) -> None:
    if params.scale.transform not in {"auto", "none", "log", "log1p"}:
        raise ConfigError(
            f"params.yaml: scale.transform is '{params.scale.transform}'; use auto, none, log or log1p."
        )
    for dimension, allowed in SPACE_CHOICES.items():
        searched = params.tune.space.get(dimension)
        if searched is None:
            continue
        fixed = not isinstance(searched, Mapping)
        options = [searched] if fixed else searched.get("values", [searched.get("value")])
        if not set(options) <= set(allowed):
            raise ConfigError(
                f"params.yaml: tune.space.{dimension} offers {options}; its values are {', '.join(allowed)}."
            )
    if params.window.normalize not in {"auto", *SPACE_CHOICES["normalize"]}:
        raise ConfigError(
            f"params.yaml: window.normalize is '{params.window.normalize}'; use auto, none or last."
        )


def _check_train(train: TrainConfig) -> None:
    if train.ensemble_trials < 1 or train.ensemble_seeds < 1:
        raise ConfigError("params.yaml: train.ensemble_trials and train.ensemble_seeds must be >= 1.")
    lookbacks = train.ensemble_lookbacks
    if (
        not isinstance(lookbacks, list | tuple)
        or not lookbacks
        or not all(isinstance(f, int | float) and not isinstance(f, bool) and 0 < f <= 1 for f in lookbacks)
    ):
        raise ConfigError(
            f"params.yaml: train.ensemble_lookbacks is {lookbacks!r}; give a list of fractions in (0, 1] of "
            "the steps each trial reads, e.g. [1.0, 0.5]."
        )
    losses = train.ensemble_losses
    if losses is not None and (
        not isinstance(losses, list | tuple)
        or not losses
        or not all(isinstance(loss, str) and loss in TRAINING_LOSSES for loss in losses)
    ):
        raise ConfigError(
            f"params.yaml: train.ensemble_losses is {losses!r}; give a list of training losses "
            f"({', '.join(TRAINING_LOSSES)}), e.g. [mase, mae], or null for each trial's own."
        )
    combine = train.combine
    if combine not in ("auto", "weighted", "none", None) and (
        not isinstance(combine, list | tuple)
        or not all(isinstance(m, str) and m in COMBINABLE_METHODS for m in combine)
        or len(set(combine)) != len(combine)
    ):
        raise ConfigError(
            f"params.yaml: train.combine is {combine!r}; use auto (an equal-weight mean chosen on the "
            "validation windows), weighted (weights chosen there by ensemble selection), none (the "
            f"network alone) or a list of {', '.join(COMBINABLE_METHODS)} to average the network's "
            "forecast with, e.g. [theta, ets]."
        )
    if train.ensemble_combine not in {"median", "mean"}:
        raise ConfigError(
            f"params.yaml: train.ensemble_combine is '{train.ensemble_combine}'; use median or mean."
        )


def _check_min_history(window: WindowConfig) -> None:
    least = window.min_history
    whole = isinstance(least, int) and not isinstance(least, bool)
    if least is not None and least != "auto" and not (whole and 1 <= int(least) <= window.input_size):
        raise ConfigError(
            f"params.yaml: window.min_history is {least!r}; use null (no padding), auto or a whole "
            f"number of rows from 1 to window.input_size ({window.input_size})."
        )


def _check_space(space: Mapping[str, Any]) -> None:
    # A misspelt dimension would be a value nothing reads: hours of search that change nothing.
    known = {*DEFAULT_SPACE, "normalize"}
    unknown = sorted(set(space) - known)
    if unknown:
        raise ConfigError(
            f"params.yaml: tune.space has unknown dimension(s) {unknown}; the dimensions it "
            f"accepts are {sorted(known)}."
        )


def _check_features(data: DataConfig) -> None:
    named = {
        "data.target": data.target,
        "data.features": data.features,
        "data.future_features": data.future_features,
        "data.static_features": data.static_features,
    }
    seen: dict[str, str] = {}
    for key, columns in named.items():
        for column in columns:
            if column in seen:
                raise ConfigError(
                    f"params.yaml: column '{column}' is in both {seen[column]} and {key}; a column is a "
                    "target, a past feature (observed up to the forecast origin), a known-future feature "
                    "or a static (per-series) feature: name it once."
                )
            seen[column] = key
    if data.static_features and not data.series_id:
        raise ConfigError(
            "params.yaml: data.static_features describe each series of a panel and need data.series_id; "
            "a single series has nothing to tell apart (remove them, or name the series id column)."
        )
    from tsforge.calendar_features import check_country, resolve_calendar

    resolve_calendar(data.calendar, None)  # names checked now; auto is resolved at the data's frequency
    if data.holidays is not None:
        check_country(str(data.holidays))


def _check_split_sizes(scale: ScaleConfig, window: WindowConfig) -> None:
    if (scale.val_size is None) != (scale.test_size is None):
        raise ConfigError(
            "params.yaml: set scale.val_size and scale.test_size together (rows at the end of "
            "every series), or leave both null to split by scale.train_fraction/val_fraction."
        )
    if scale.test_size is None:
        return
    if int(scale.test_size) < 1 or int(scale.val_size or 0) < 1:
        raise ConfigError("params.yaml: scale.val_size and scale.test_size must be >= 1 rows.")
    if min(int(scale.val_size or 0), int(scale.test_size)) < window.horizon:
        # Neither split could ever hold a whole window: the search for a usable series
        # length would never end, and no series could be validated or scored.
        raise ConfigError(
            f"params.yaml: scale.val_size ({scale.val_size}) and scale.test_size ({scale.test_size}) "
            f"must each be at least window.horizon ({window.horizon}) rows, so that every series' "
            "validation and test splits hold a whole forecast; raise them or lower the horizon."
        )


def check_params(params: Params) -> None:
    """Check the parsed sections against each other and against the choices they accept.

    Raises:
        ConfigError: A value no stage could use, named with its key and the fix.
    """
    scale, window = params.scale, params.window
    if not 0 < scale.train_fraction < 1 or not 0 < scale.val_fraction < 1:
        raise ConfigError("params.yaml: scale.train_fraction and scale.val_fraction must be in (0, 1).")
    if scale.train_fraction + scale.val_fraction >= 1:
        raise ConfigError(
            "params.yaml: scale.train_fraction + scale.val_fraction must be below 1 "
            "so that a test split remains."
        )
    _check_split_sizes(scale, window)
    if scale.method not in {"auto", "standard", "robust", "minmax", "global"}:
        raise ConfigError(
            f"params.yaml: scale.method is '{scale.method}'; use auto, standard, robust, minmax or global."
        )
    if scale.fill not in {"interpolate", "ffill", "drop", "fail"}:
        raise ConfigError(f"params.yaml: scale.fill is '{scale.fill}'; use interpolate, ffill, drop or fail.")
    if str(scale.difference).lower() not in {"auto", "true", "false"}:
        raise ConfigError(f"params.yaml: scale.difference is '{scale.difference}'; use auto, true or false.")
    if str(scale.deseasonalize).lower() not in {"auto", "true", "false"}:
        raise ConfigError(
            f"params.yaml: scale.deseasonalize is '{scale.deseasonalize}'; use auto, true or false."
        )
    _check_choices(params)
    if window.input_size < 1 or window.horizon < 1 or window.step < 1:
        raise ConfigError("params.yaml: window.input_size, horizon and step must all be >= 1.")
    _check_min_history(window)
    _check_space(params.tune.space)
    if not params.data.target:
        raise ConfigError("params.yaml: data.target must name at least one column to forecast.")
    _check_features(params.data)
    _check_train(params.train)
    if params.tune.folds < 1 or params.tune.workers < 1:
        raise ConfigError("params.yaml: tune.folds and tune.workers must be >= 1.")
    if params.tune.strategy not in {"hyperband", "random", "bayesian", "grid"}:
        raise ConfigError(
            f"params.yaml: tune.strategy is '{params.tune.strategy}'; "
            "use hyperband, random, bayesian or grid."
        )
