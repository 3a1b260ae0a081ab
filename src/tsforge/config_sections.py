"""The sections of ``params.yaml`` as typed values: one frozen dataclass per section, with the
choices each key accepts and the checks a single section can make of itself.

Parsed and checked once at the edge (:mod:`tsforge.config`), then passed down as values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
