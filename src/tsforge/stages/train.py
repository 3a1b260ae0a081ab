"""The train stage: rebuild the best trials with the tuner's builder, train them (one network
or an ensemble of the best trials x seeds), decide on held-out windows whether its forecast is
served alone or averaged with Theta and ETS (:mod:`tsforge.combination`), calibrate the
intervals on the same windows and make the spec the forecaster is served with.

:func:`train` needs neither MLflow nor files: its hooks are where the stage logs. The MLflow
wrappers are :func:`train_logged` (:func:`train` with :func:`log_params` and :func:`log_member`
as hooks, then the run's figures) and :func:`log_model`, once the stage has written its files.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from tsforge import conformal
from tsforge import metrics as mt
from tsforge import statistical as st
from tsforge.catalog import ProcessedSeries, Project, Windows
from tsforge.combination import Choice, Combination, choose, sampled_origins
from tsforge.config import COMBINABLE_METHODS, TrainConfig
from tsforge.conformal import Calibration
from tsforge.ensemble import FinalModel, fit_members, train_final
from tsforge.forecast_spec import ForecastSpec
from tsforge.forecaster import log_forecaster
from tsforge.models import model_values
from tsforge.origin_forecasts import forecast_origins
from tsforge.training import (
    OBJECTIVE,
    Member,
    WindowedData,
    device,
    ensemble_candidates,
    trial_data,
    with_lookback,
    with_loss,
)


@dataclass(frozen=True)
class Trained:
    """What the train stage made.

    Attributes:
        final: The network served (one member or their combination) and its members.
        spec: The forecast spec it is served with, its conformal calibration included.
        hyperparameters: The best trial's model hyperparameters (the run's params).
        choice: Whether the network is served alone or combined, and the evidence.
    """

    final: FinalModel
    spec: ForecastSpec
    hyperparameters: dict[str, Any]
    choice: Choice
    ablation: dict[str, Any] | None = None
    """What each kind of feature bought (``train.feature_ablation``), or None."""

    @property
    def curve(self) -> pd.DataFrame:
        """The first member's learning curve: epoch, loss, val_loss and the objective."""
        return pd.DataFrame(self.final.curve())

    def metrics(self) -> dict[str, float]:
        """The run's metrics: fit time and speed, the members and, without refit, the
        ensemble's held-out objective."""
        final = self.final
        figures = {"fit_seconds": final.fit_seconds, "train_samples_per_second": final.samples_per_second}
        held_out = {} if final.val_score is None else {f"ensemble_{OBJECTIVE}": final.val_score}
        metric = self.choice.metric
        # MLflow's metric names allow neither + nor *: network*0.6+theta*0.4 -> network:0.6_theta:0.4
        combinations = {
            f"combination_val_{metric}/{label.replace('+', '_').replace('*', ':')}": score
            for label, score in self.choice.scores.items()
        }
        combination = self.choice.combination
        weights = (
            {f"combination_weight/{name}": w for name, w in combination.shares.items()}
            if combination.active
            else {}
        )
        ablation = {}
        if self.ablation is not None:
            without = self.ablation["without"].items()
            ablation = {f"ablation_{OBJECTIVE}/all": self.ablation["all"]} | {
                f"ablation_{OBJECTIVE}/without_{kind}": value for kind, value in without
            }
        return {**figures, **held_out, "members": len(final.members), **combinations, **weights, **ablation}

    def report(self, run_id: str, model_uri: str) -> dict[str, Any]:
        """The content of reports/training.json.

        Args:
            run_id: The train run.
            model_uri: The forecaster logged to it.

        Returns:
            The run and model, the first member's epochs and best objective, the fit's
            figures, the hyperparameters and the ensemble's summary.
        """
        curve = self.curve
        return {
            "run_id": run_id,
            "model_uri": model_uri,
            "epochs": len(curve),
            f"best_{OBJECTIVE}": float(curve[OBJECTIVE].min()),
            "fit_seconds": round(self.final.fit_seconds, 3),
            "train_samples_per_second": round(self.final.samples_per_second, 1),
            "hyperparameters": self.hyperparameters,
            "ensemble": self.final.summary(),
            "combination": self.choice.report(),
            "feature_ablation": self.ablation,
        }


def train(
    best_hparams: Mapping[str, Any],
    series: ProcessedSeries,
    windows: Windows,
    spec: ForecastSpec,
    *,
    config: TrainConfig,
    space: Mapping[str, Any],
    period: int,
    statistical_history: int | None = None,
    metric: str = "mase",
    on_start: Callable[[dict[str, Any]], None] | None = None,
    on_member: Callable[[Member], None] | None = None,
    on_trained: Callable[[Member], None] | None = None,
    strategy: Any | None = None,
) -> Trained:
    """Train the final forecaster from the tune stage's best trials.

    Args:
        best_hparams: The tune stage's best_hparams.json (its ``top`` trials).
        series: The scale stage's series.
        windows: The window stage's origins.
        spec: The spec of the pipeline's data (:meth:`tsforge.forecast_spec.ForecastSpec.of_pipeline`);
            the trials' window normalisation and the calibration are settled here.
        config: The ``train`` params section.
        space: ``tune.space`` (what the trials' hyperparameters were drawn from).
        period: The gate's MASE period: the intervals' scales are its MASE scales, and Theta
            and ETS are fitted with it when combined.
        statistical_history: ``evaluate.theta_history``: rows each statistical fit reads, as
            the gate's baselines (None: each series' whole history before the origin).
        metric: The gate's metric: combinations are compared by it on the validation windows.
        on_start: Called with the best trial's hyperparameters before training starts (to
            log them: a run that fails still says what it trained).
        on_member: Called with each member once it is trained, when there are several (a
            single network is the run itself).
        on_trained: Called with every network once it is trained, one or several (to say so).
        strategy: The chief's ``tf.distribute`` strategy when several workers train the
            networks (:mod:`tsforge.multiworker`; the others run :func:`train_replica`); what
            follows the fits runs here alone. None: this process alone.

    Returns:
        The network, its spec with the conformal calibration, and its hyperparameters.
    """
    candidates, windowed = _inputs(best_hparams, series, windows, config)
    # What the first network reads and fits (a lookback below 1 or another loss changes even a
    # single network).
    losses = config.ensemble_losses or (None,)
    first = with_loss(
        with_lookback(candidates[0][1], config.ensemble_lookbacks[0], windows.spec.input_size), losses[0]
    )
    hyperparameters = model_values(first.values)
    if on_start is not None:
        on_start(hyperparameters)
    variants = len(config.ensemble_lookbacks) * len(losses)
    several = len(candidates) * config.ensemble_seeds * variants > 1
    hooks = [hook for hook in (on_member if several else None, on_trained) if hook is not None]
    final = train_final(
        candidates, space, windowed, config, _each(hooks) if hooks else None, strategy=strategy
    )
    spec = replace(spec, normalize=windowed.normalize)
    base = Combination((), period, statistical_history)
    # The same windows choose the blend and calibrate its intervals; in a big panel, a sample's.
    deciding = sampled_origins(
        windows.val, series.layout.series_of(windows.val), config.combine_series, config.seed
    )
    choice, validation = choose_combination(
        final,
        spec,
        series,
        deciding,
        requested=config.combine_with,
        base=base,
        metric=metric,
        weighted=config.combine == "weighted",
    )
    sampled, total = (len(np.unique(series.layout.series_of(o))) for o in (deciding, windows.val))
    if sampled < total:
        where = f"on the validation windows of {sampled} of {total} series (train.combine_series)"
        choice = replace(choice, reason=f"{choice.reason}; {where}")
    # Calibrated after the choice: the intervals are those of the forecast that is served.
    spec = replace(spec, combination=choice.combination)
    calibration = calibrate_final(final, spec, series, deciding, period, forecast=validation)
    ablation = None
    if config.feature_ablation and series.covariates.active:
        from tsforge.ablation import ablate

        ablation = ablate(
            candidates[0][1],
            space,
            windowed,
            series.covariates,
            epochs=config.epochs,
            patience=config.patience,
            seed=config.seed,
        )
    return Trained(final, replace(spec, conformal=calibration), hyperparameters, choice, ablation)


def _inputs(
    best_hparams: Mapping[str, Any], series: ProcessedSeries, windows: Windows, config: TrainConfig
) -> tuple[list[tuple[str, Any]], WindowedData]:
    """The trials the ensemble is made of and the windows as they read them."""
    candidates = ensemble_candidates(best_hparams, config.ensemble_trials)
    return candidates, trial_data(WindowedData.of(series, windows), candidates[0][1].values)


def train_replica(
    best_hparams: Mapping[str, Any],
    series: ProcessedSeries,
    windows: Windows,
    *,
    config: TrainConfig,
    space: Mapping[str, Any],
    strategy: Any,
) -> int:
    """A worker's part when several train (not the chief's): the same fits as the chief's
    :func:`train`, in step with it, under ``strategy``; nothing is kept, written or logged.

    Returns:
        How many networks it helped train.
    """
    candidates, windowed = _inputs(best_hparams, series, windows, config)
    return len(fit_members(candidates, space, windowed, config, strategy=strategy))


def _each(hooks: list[Callable[[Member], None]]) -> Callable[[Member], None]:
    def call(member: Member) -> None:
        for hook in hooks:
            hook(member)

    return call


def calibrate_final(
    final: Any,
    spec: Any,
    series: Any,
    origins: np.ndarray,
    period: int,
    *,
    forecast: np.ndarray | None = None,
) -> Calibration | None:
    """Conformal calibration of the final model from held-out validation errors.

    Args:
        final: The train stage's :class:`tsforge.ensemble.FinalModel` (its held-out network
            forecasts the validation windows).
        spec: The :class:`tsforge.forecast_spec.ForecastSpec` it is served with.
        series: The scale stage's :class:`tsforge.catalog.ProcessedSeries`.
        origins: The validation windows' origins.
        period: The gate's MASE period (the intervals' scales are its MASE scales).
        forecast: The served forecast of those windows by the held-out network, when the caller
            has it already (the train stage's combination choice); None: computed here.

    Returns:
        The calibration, or None without validation windows.
    """
    if not len(origins):
        return None
    network, source = final.held_out_network()
    levels, layout = series.levels.astype(np.float64), series.layout
    if forecast is None:
        forecast = forecast_origins(network, levels, origins, spec, layout=layout)
    actual = mt.actuals(levels, origins, spec.horizon, len(spec.targets))
    scales = conformal.series_scales(levels, layout.bounds, series.split[:, 2, 0], period, len(spec.targets))
    return conformal.calibrate(
        actual, forecast, layout.series_of(origins), scales, layout.names, source=source, period=period
    )


def choose_combination(
    final: FinalModel,
    spec: ForecastSpec,
    series: ProcessedSeries,
    origins: np.ndarray,
    *,
    requested: tuple[str, ...] | None,
    base: Combination,
    metric: str,
    weighted: bool = False,
) -> tuple[Choice, np.ndarray | None]:
    """The network alone or averaged with Theta and/or ETS: as ``train.combine`` asks, or for
    ``auto`` whichever scores best on the validation windows.

    The network's forecasts there come from :meth:`FinalModel.held_out_network` (the refitted
    networks have learnt those windows); MASE scales use the rows before each series'
    validation split.

    Args:
        final: The trained networks.
        spec: The spec they are served with (its combination is ignored).
        series: The scale stage's series.
        origins: The validation windows' origins.
        requested: ``train.combine_with``: the methods, or None for auto.
        base: The period and history Theta and ETS are fitted with.
        metric: The lower-is-better metric compared (the gate's).
        weighted: ``train.combine: weighted``: weights by ensemble selection where the
            windows allow (:func:`tsforge.combination.choose`).

    Returns:
        The choice (for auto, with every candidate's validation score) and, when it was scored,
        the chosen forecast of the validation windows (the calibration's; None otherwise).
    """
    if requested is not None:
        fixed = Combination(requested, base.period, base.history)
        return Choice(fixed, f"train.combine in params.yaml: {fixed.label}", {}, metric), None
    if not len(origins):
        reason = "auto: no validation windows to compare on; the network alone"
        return Choice(Combination(), reason, {}, metric), None
    network, _ = final.held_out_network()
    levels, layout = series.levels.astype(np.float64), series.layout
    n_targets = len(spec.targets)
    alone_spec = replace(spec, combination=Combination())
    alone = forecast_origins(network, levels, origins, alone_spec, layout=layout)
    statistical = st.statistical_forecasts(
        COMBINABLE_METHODS,
        levels,
        origins,
        spec.horizon,
        n_targets,
        period=base.period,
        history=base.history,
        starts=layout.starts_of(origins),
    )
    actual = mt.actuals(levels, origins, spec.horizon, n_targets)
    scales = mt.mase_scales(levels, layout.bounds[:-1], series.split[:, 1, 0], base.period, n_targets)
    of_series = layout.series_of(origins)
    choice = choose(
        actual, alone, statistical, of_series, scales, metric=metric, base=base, weighted=weighted
    )
    return choice, choice.combination.blend(alone, [statistical[m] for m in choice.combination.methods])


def train_logged(
    best_hparams: Mapping[str, Any],
    series: ProcessedSeries,
    windows: Windows,
    spec: ForecastSpec,
    *,
    config: TrainConfig,
    space: Mapping[str, Any],
    period: int,
    statistical_history: int | None = None,
    metric: str = "mase",
    on_trained: Callable[[Member], None] | None = None,
    strategy: Any | None = None,
    workers: int = 1,
) -> Trained:
    """:func:`train` inside the active run: the hyperparameters as its params before training,
    each member of an ensemble as a child run, then the run's metrics, learning curve and
    combination (param ``combination``, tag ``combination_reason``), and the tag ``workers``
    (the processes that trained the networks). ``on_trained`` and ``strategy`` are
    :func:`train`'s."""
    trained = train(
        best_hparams,
        series,
        windows,
        spec,
        config=config,
        space=space,
        period=period,
        statistical_history=statistical_history,
        metric=metric,
        on_start=log_params,
        on_member=log_member,
        on_trained=on_trained,
        strategy=strategy,
    )
    log_metrics(trained)
    mlflow.set_tags({"device": device(), "workers": str(workers)})
    mlflow.log_param("combination", trained.choice.combination.label)
    mlflow.set_tag("combination_reason", trained.choice.reason)
    return trained


def log_metrics(trained: Trained) -> None:
    """The run's figures, its learning curve (one step per epoch) and the calibration's size,
    to the active run in one batch (one write, not one per epoch)."""
    from mlflow.entities import Metric

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_metrics needs an active MLflow run")
    now = int(time.time() * 1000)
    figures = dict(trained.metrics())
    if trained.spec.conformal is not None:
        figures["conformal_calibration_windows"] = trained.spec.conformal.count
    metrics = [Metric(key, float(value), now, 0) for key, value in figures.items()]
    for row in trained.curve.to_dict("records"):
        step = int(row["epoch"])
        metrics += [Metric(str(k), float(v), now, step) for k, v in row.items() if k != "epoch"]
    mlflow.MlflowClient().log_batch(run.info.run_id, metrics=metrics)


def log_params(hyperparameters: dict[str, Any]) -> None:
    """The trained hyperparameters, as the active run's params."""
    mlflow.log_params(hyperparameters)


def log_member(member: Member) -> None:
    """Each member is a child run of the train run, with its hyperparameters and score."""
    with mlflow.start_run(run_name=member.model.name, nested=True):
        mlflow.set_tags({"stage": "train-member", "kt_trial_id": member.trial_id})
        mlflow.log_params({**model_values(member.hp.values), "seed": member.seed})
        scores = {f"best_{OBJECTIVE}": member.val_score, "best_epoch": member.best_epoch}
        mlflow.log_metrics({**scores, "epochs": len(member.history["loss"]), "refitted": member.refitted})


def log_model(trained: Trained, project: Project, example: pd.DataFrame, config: TrainConfig) -> str:
    """The learning curve files and the pyfunc forecaster, to the active run.

    Args:
        trained: What :func:`train` made, its network and spec saved in ``project`` already.
        project: The project (the saved network, spec and learning curve).
        example: A raw history the forecaster's signature is inferred from.
        config: The ``train`` params section (``input_example``).

    Returns:
        The logged model's URI.
    """
    for path in (project.learning_curve, project.learning_curve_plot):
        mlflow.log_artifact(str(path))
    return log_forecaster(
        project.network,
        project.forecast_spec,
        example,
        trained.final.model,
        trained.spec,
        with_example=config.input_example,
    )
