"""Typed view of ``params.yaml``: one frozen dataclass per section, parsed and checked once at the edge.

params.yaml is parsed once, in a stage's ``main``, and the sections are passed down as
values. No other module opens the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tsforge.errors import ConfigError

DEFAULT_SPACE: dict[str, Any] = {
    "family": "rnn",
    "input_size": 0,
    "loss": "mse",
    "num_layers": 1,
    "cell": "lstm",
    "units": 32,
    "width": 256,
    "dropout": 0.0,
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "lr_schedule": "none",
    "batch_size": 64,
}
"""Values used for any search dimension that params.yaml leaves out.

``family`` is rnn (stacked LSTM/GRU, ``cell`` picks which), mlp (dense layers over the
flattened window, in the spirit of N-BEATS) or attention (a small transformer encoder over
the window's steps); ``input_size`` 0 means the whole window, and
``units`` sizes recurrent cells and attention, ``width`` the dense layers of the mlp family
(dense layers want more width than cells for the same job, and a shared dimension would
starve one family or make the other slow); a smaller ``input_size`` value makes the network
read only the window's last ``input_size`` steps, so the
input size can be searched (and ensemble members can differ in it) while the windows stay
one set of indices into one array."""

TRAINING_LOSSES = ("mse", "mae", "huber", "mase")
"""Names of the training losses (tsforge.models.LOSSES), checked here without importing Keras."""

COMBINABLE_METHODS = ("theta", "ets", "ces", "dot")
"""Statistical methods ``train.combine`` may average the network with (tsforge.combination)."""

SPACE_CHOICES: dict[str, tuple[str, ...]] = {
    "family": ("rnn", "mlp", "attention"),
    "cell": ("lstm", "gru"),
    "loss": TRAINING_LOSSES,
    "optimizer": ("adam", "rmsprop", "sgd", "nadam", "adamw"),
    "lr_schedule": ("none", "exponential", "plateau"),
    "normalize": ("none", "last"),
}
"""The values each named search dimension accepts (tsforge.models builds from these), checked
when params are parsed: a misspelt family would otherwise fail mid-search, after hours."""

T = TypeVar("T")


@dataclass(frozen=True)
class DataConfig:
    """Where the series comes from and which columns matter.

    With ``series_id`` the source holds many series in long format (one row per series
    and timestamp); one global model learns from the windows of all of them.

    Three kinds of features, as the field names them (neuralforecast's ``hist_exog`` /
    ``futr_exog`` / ``stat_exog``): ``features`` are observed only up to the forecast origin
    (the network reads them over its input window); ``future_features`` are known for the
    horizon too (promotions, planned prices, weather forecasts: read over the input window and
    the horizon, and given beside the history when forecasting); ``static_features`` are
    constant within a series (a store's type, a product's category; text is one-hot encoded,
    numbers standardised across series). ``calendar`` (auto, none or a list of
    :data:`tsforge.calendar_features.CALENDAR_FEATURES`) and ``holidays`` (a country code of
    the ``holidays`` package) are derived from the timestamps, known ahead by construction:
    the forecaster computes them itself, so no caller supplies them.
    """

    source: str = "co2"
    path: str | None = None
    time_column: str = "date"
    target: tuple[str, ...] = ("co2",)
    features: tuple[str, ...] = ()
    freq: str | None = None
    timezone: str | None = None
    until: str | None = None
    series_id: str | None = None
    future_features: tuple[str, ...] = ()
    static_features: tuple[str, ...] = ()
    calendar: str | Sequence[str] | None = "none"
    holidays: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Numeric columns read from the source: the targets first, then past-only features,
        then known-future features."""
        return self.target + self.features + self.future_features


@dataclass(frozen=True)
class ValidateConfig:
    """Bounds of the data contract."""

    max_missing_fraction: float = 0.05
    max_gaps: int = 0
    outlier_iqr_factor: float = 1.5
    robust_outlier_fraction: float = 0.01
    bounds: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScaleConfig:
    """Chronological split, gap filling and scaling.

    ``val_size``/``test_size`` (rows at the end of every series) replace the fractions:
    competitions such as M3 define the test split as each series' last ``h`` rows.
    """

    train_fraction: float = 0.7
    val_fraction: float = 0.15
    method: str = "auto"
    fill: str = "interpolate"
    difference: str = "auto"
    val_size: int | None = None
    test_size: int | None = None
    transform: str = "auto"
    deseasonalize: str = "auto"


@dataclass(frozen=True)
class WindowConfig:
    """Sliding-window geometry, in time steps."""

    input_size: int = 52
    horizon: int = 4
    step: int = 1
    normalize: str = "auto"
    min_history: int | str | None = None

    @property
    def training_history(self) -> int:
        """Fewest real input rows a window of a short series may have.

        A series too short for one complete training or test window gets windows there
        padded with its first value, each with at least this many real rows; series with a
        complete window in a split are not padded there, and validation windows are always
        complete (the scores that pick a model are those of full histories). The served
        forecaster pads a short history the same way, so it forecasts a series from as few
        as this many rows (one more when differencing).
        None pads nothing; ``auto`` is a third of ``input_size``, so every window keeps most
        of the context the network reads (params.yaml's default; over three seeds of the
        accuracy suite it beat no padding on 3 of the 4 panels it changes, E9). Padding every
        series' first windows instead won as often as it lost (bench/EXPERIMENTS.md, E7).
        """
        if self.min_history is None:
            return self.input_size
        if self.min_history == "auto":
            return max(1, self.input_size // 3)
        return int(self.min_history)


@dataclass(frozen=True)
class TuneConfig:
    """The hyperparameter search: strategy, budget and the space itself."""

    strategy: str = "hyperband"
    max_epochs: int = 9
    factor: int = 3
    hyperband_iterations: int = 1
    max_trials: int = 6
    patience: int = 3
    seed: int = 42
    folds: int = 1
    workers: int = 1
    worker_wait_s: float = 300.0
    space: Mapping[str, Any] = field(default_factory=dict)


ENSEMBLE_FITS = ("joint", "separate")
"""``train.ensemble_fit``: the members side by side in one Keras model per batch size, or one
network after another (:func:`tsforge.ensemble.train_members`)."""


@dataclass(frozen=True)
class TrainConfig:
    """Final training: the best trials' hyperparameters, one network or an ensemble.

    The model is the median (or mean) of ``ensemble_trials`` × ``ensemble_seeds`` ×
    ``len(ensemble_lookbacks)`` × ``len(ensemble_losses)`` networks: the best
    ``ensemble_trials`` trials of the search, each trained with ``ensemble_seeds`` seeds per
    lookback (a fraction of the steps the trial reads) and training loss (``ensemble_losses``
    None: the trial's own, one). 1 × 1 × [1.0] × None is the single best trial. With ``refit``
    each network, once early stopping on the validation windows has found its epoch count,
    is trained afresh on the training
    and validation windows for that many epochs. ``input_example`` stores an example history
    with the logged model (MLflow then serves it once to check it, which costs a second or two).
    ``combine`` averages the network's forecast with statistical ones: ``auto`` keeps whichever
    of the network alone or averaged with Theta, ETS or both scores best on the validation
    windows; a list (``[theta, ets]``) fixes it; ``none`` serves the network alone.
    ``combine_series`` caps the series whose validation windows choose the combination and
    calibrate the intervals: a larger panel uses a seeded random sample of that many (null: all;
    :func:`tsforge.combination.sampled_origins`).
    ``feature_ablation`` fits the best trial's network once more with every feature and once
    per kind of feature without it, and records the validation errors (:mod:`tsforge.ablation`).
    ``ensemble_fit`` trains the members ``joint``ly: side by side in one Keras model per batch
    size, one ``fit`` for all (each member keeps its seed's initial weights and batch order, its
    loss, optimizer and early-stopping point, so it ends as it would alone,
    :mod:`tsforge.joint_training`), or ``separate``ly, one network after another.
    ``workers`` above 1 trains the networks data-parallel on that many processes of this host
    (TensorFlow's MultiWorkerMirroredStrategy over loopback, :mod:`tsforge.multiworker`;
    ``joint`` then fits as ``separate``); ``TF_CONFIG`` set by hand spans hosts instead.
    """

    epochs: int = 40
    patience: int = 6
    seed: int = 42
    ensemble_trials: int = 1
    ensemble_seeds: int = 1
    ensemble_lookbacks: Sequence[float] = (1.0,)
    ensemble_losses: Sequence[str] | None = None
    ensemble_combine: str = "median"
    refit: bool = True
    input_example: bool = False
    combine: str | Sequence[str] | None = "auto"
    combine_series: int | None = 2000
    feature_ablation: bool = False
    ensemble_fit: str = "joint"
    workers: int = 1

    def __post_init__(self) -> None:
        if self.combine_series is not None and self.combine_series < 1:
            raise ConfigError(
                f"params.yaml: train.combine_series is {self.combine_series}; use a number of series "
                "(1 or more) or null (every series)."
            )
        if self.workers < 1:
            raise ConfigError(f"params.yaml: train.workers is {self.workers}; use 1 (this process) or more.")
        if self.ensemble_fit not in ENSEMBLE_FITS:
            raise ConfigError(
                f"params.yaml: train.ensemble_fit is {self.ensemble_fit!r}; use joint (the members side "
                "by side in one model) or separate (one network after another)."
            )

    @property
    def combine_with(self) -> tuple[str, ...] | None:
        """``combine`` as methods to average with: None for ``auto`` or ``weighted`` (chosen on
        validation)."""
        if self.combine in ("auto", "weighted"):
            return None
        if self.combine is None or self.combine == "none":
            return ()
        return tuple(self.combine)


INTERVAL_METHODS = ("conformal", "dropout", "both", "none")
"""``evaluate.intervals``: which prediction intervals the evaluate stage measures."""


def mase_period(season_period: int | None, eda_period: int) -> int:
    """The seasonal period MASE is scaled with: ``evaluate.season_period``, else the EDA's.
    The gate, the ``mase`` loss's weights, the conformal scales and live accuracy all use it."""
    return int(season_period or eda_period)


@dataclass(frozen=True)
class EvaluateConfig:
    """Test-split scoring, baselines and plots.

    ``intervals`` picks the prediction intervals measured on the test split: ``conformal``
    (the default: calibrated on validation errors, stored in the forecaster, served and
    written by ``tsforge forecast``), ``dropout`` (Monte Carlo dropout, needs dropout > 0),
    ``both`` or ``none`` (``tsforge forecast`` then leaves lower/upper empty). The old
    boolean still parses: it switched Monte Carlo dropout on or off, so ``true`` is ``both``
    and ``false`` is ``conformal``. ``interval_level`` is the nominal coverage of either.

    ``arima`` adds statsforecast's AutoARIMA to the gate's baselines and to its
    ``stat_ensemble`` (then statsforecast's StatisticalEnsemble: the mean of AutoARIMA, ETS,
    CES and DOT; without it, the mean of the other three). Off by default for its cost: per
    origin it took 8.7 times AutoETS's time on 50 M3 monthly series (42.7 s against 4.9 s,
    horizon 18, one core) and about 11 times on 100 synthetic monthly series of 120 rows
    (108 s against 9.9 s); on a 366-series monthly panel at horizon 24 it had not finished in
    19 minutes (:func:`tsforge.baselines.baselines`).

    ``theta_history`` caps the rows each statistical fit reads (the gate's baselines, the
    combination, the served forecaster); None, the default, fits each series' whole history
    before the origin, as competitions and forecasters do. It is not capped by default: the
    cost is linear in the rows and is felt only on long series. On co2 (weekly, period 52,
    one core) a fit on the whole history (~1,950 rows) took theta 0.074 s, ETS 0.159 s, CES
    0.104 s, DOT 0.104 s, against 0.003-0.012 s each on 156 rows: about 75 s more per stage
    on 2 cores for the ~340 validation and ~340 test origins, 8 min 9 s for the whole
    ``dvc repro``. The whole history also scored worse there (CES test MASE 0.382 against
    0.312 on 156 rows; co2's trend steepens), so a long series whose recent past matters
    most may set a cap.
    """

    season_period: int | None = None
    intervals: str = "conformal"
    interval_level: float = 0.9
    interval_samples: int = 50
    theta_history: int | None = None
    arima: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.intervals, bool):  # params written before conformal intervals
            object.__setattr__(self, "intervals", "both" if self.intervals else "conformal")
        if self.intervals not in INTERVAL_METHODS:
            raise ConfigError(
                f"params.yaml: evaluate.intervals is {self.intervals!r}; "
                "use conformal, dropout, both or none."
            )
        level = self.interval_level
        if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < float(level) < 1:
            raise ConfigError(
                f"params.yaml: evaluate.interval_level is {level!r}; give a coverage strictly between "
                "0 and 1, such as 0.9."
            )
        if not isinstance(self.arima, bool):
            raise ConfigError(f"params.yaml: evaluate.arima is {self.arima!r}; give true or false.")

    @property
    def conformal(self) -> bool:
        """Whether conformal intervals are measured (and written by ``tsforge forecast``)."""
        return self.intervals in ("conformal", "both")

    @property
    def dropout(self) -> bool:
        """Whether Monte Carlo dropout intervals are measured."""
        return self.intervals in ("dropout", "both")


@dataclass(frozen=True)
class RegistryConfig:
    """Model registry name and the promotion gate."""

    model_name: str = "tsforge-forecaster"
    metric: str = "mase"
    min_improvement: float = 0.0


RETRAIN_RULES = ("data_changed", "degraded")
"""``retrain.when``: what makes ``tsforge retrain`` run the pipeline."""


@dataclass(frozen=True)
class RetrainConfig:
    """When ``tsforge retrain`` retrains (it is not a DVC stage: no stage reads this section).

    ``when: data_changed`` retrains whenever the data or the pipeline changed. ``degraded``
    retrains only when, as well, the champion's live error (its past forecasts scored against
    the actuals that arrived, :mod:`tsforge.monitoring`) exceeds its test error by more than
    ``degraded_fraction`` (0.2: 20% worse), on ``registry.metric``.
    """

    when: str = "data_changed"
    degraded_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.when not in RETRAIN_RULES:
            raise ConfigError(
                f"params.yaml: retrain.when is {self.when!r}; use data_changed (retrain whenever "
                "the data changed) or degraded (only when the champion's live error also exceeds "
                "its test error by retrain.degraded_fraction)."
            )
        fraction = self.degraded_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not float(fraction) >= 0:
            raise ConfigError(
                f"params.yaml: retrain.degraded_fraction is {fraction!r}; give a fraction of at least "
                "0, such as 0.2 (retrain once the live error is 20% above the test error)."
            )


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow experiment; the URI comes from MLFLOW_TRACKING_URI or the local default."""

    experiment: str = "tsforge"


@dataclass(frozen=True)
class Params:
    """All sections of params.yaml."""

    data: DataConfig
    validate: ValidateConfig
    scale: ScaleConfig
    window: WindowConfig
    tune: TuneConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    registry: RegistryConfig
    tracking: TrackingConfig
    retrain: RetrainConfig = field(default_factory=RetrainConfig)


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
    _check(params)
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
                f"params.yaml: tune.space.{dimension} offers {options}; "
                f"its values are {', '.join(allowed)}."
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


def _check(params: Params) -> None:
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
