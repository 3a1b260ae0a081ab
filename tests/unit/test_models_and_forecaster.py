"""Tiny Keras models: shared builder, pyfunc round trip in real units, determinism."""

from pathlib import Path

import keras_tuner as kt
import mlflow
import numpy as np
import pandas as pd
import pytest

from tsforge.forecaster import ForecastSpec, forecast_frame, forecast_origins, log_forecaster, to_model_space
from tsforge.models import ModelSpec, build_model
from tsforge.scaling import AffineScaler, model_space
from tsforge.training import WindowedData, train_best
from tsforge.windowing import WindowSpec, gather_windows, window_origins

SPACE = {
    "num_layers": {"type": "int", "min": 1, "max": 3},
    "cell": {"type": "choice", "values": ["lstm", "gru"]},
    "units": 4,
    "dropout": 0.0,
    "learning_rate": 0.01,
    "optimizer": "adam",
    "batch_size": 16,
}


def test_builder_stacks_recurrent_layers_with_sequences_on_all_but_the_last():
    hp = kt.HyperParameters()
    hp.Fixed("num_layers", 3)
    hp.Fixed("cell", "gru")
    model = build_model(hp, ModelSpec(6, 2, 3, 1), SPACE)
    recurrent = [layer for layer in model.layers if isinstance(layer, __import__("keras").layers.GRU)]
    assert [layer.return_sequences for layer in recurrent] == [True, True, False]
    assert model.output_shape == (None, 3, 1)


def test_rebuilding_from_the_saved_config_gives_the_same_architecture():
    hp = kt.HyperParameters()
    first = build_model(hp, ModelSpec(6, 1, 2, 1), SPACE)
    restored = kt.HyperParameters.from_config(hp.get_config())
    second = build_model(restored, ModelSpec(6, 1, 2, 1), SPACE)
    assert [type(layer) for layer in first.layers] == [type(layer) for layer in second.layers]
    assert first.count_params() == second.count_params()


def _data(
    frame: pd.DataFrame, difference: bool, transform: str = "none", normalize: bool = False
) -> tuple[WindowedData, ForecastSpec]:
    levels = frame[["y"]].to_numpy(dtype=np.float64)
    spec_w = WindowSpec(12, 3)
    unscaled = model_space(levels, 1, difference, transform)
    scaler = AffineScaler.fit(unscaled[int(difference) : 160], ("y",), "standard")
    data = WindowedData(
        values=scaler.transform(unscaled),
        train=window_origins(0, 160, spec_w, int(difference)),
        val=window_origins(160, 200, spec_w),
        test=window_origins(200, 240, spec_w),
        window=spec_w,
        n_targets=1,
        normalize=normalize,
    )
    spec = ForecastSpec(
        "date", ("y",), (), 12, 3, difference, "W-SAT", {"": scaler}, transform=transform, normalize=normalize
    )
    return data, spec


def _fixed_hp() -> kt.HyperParameters:
    hp = kt.HyperParameters()
    hp.Fixed("num_layers", 1)
    hp.Fixed("cell", "lstm")
    return hp


def test_same_data_code_and_params_give_the_same_weights(seasonal_frame):
    data, _ = _data(seasonal_frame, difference=False)
    first, _ = train_best(_fixed_hp(), SPACE, data, epochs=2, patience=2, seed=7)
    second, _ = train_best(_fixed_hp(), SPACE, data, epochs=2, patience=2, seed=7)
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("difference", "transform", "normalize"),
    [
        (False, "none", False),
        (True, "none", False),
        (False, "log", True),
        (True, "log", False),
        (False, "none", True),
        (False, "log1p", True),
        (True, "log1p", False),
    ],
)
def test_forecasts_are_in_original_units_and_undo_every_transform(
    seasonal_frame, difference, transform, normalize
):
    """A network that outputs exactly the model-space truth must reproduce the true levels,
    whatever the transform (differences, logarithms, window-relative targets)."""
    data, spec = _data(seasonal_frame, difference, transform, normalize)
    levels = seasonal_frame[["y"]].to_numpy()
    truth = to_model_space(levels, spec)

    class Oracle:
        """Stands in for the network: returns the true next steps as the training data has them."""

        origins: np.ndarray

        def predict(self, x: np.ndarray, verbose: int = 0) -> np.ndarray:
            return gather_windows(truth, self.origins, data.window, 1, normalize)[1]

    oracle = Oracle()
    oracle.origins = data.test
    got = forecast_origins(oracle, levels, data.test, spec)
    expected = np.stack([levels[o : o + 3, :1] for o in data.test])
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_pyfunc_takes_raw_history_and_returns_dated_forecasts(seasonal_frame, mlflow_store, tmp_path: Path):
    data, spec = _data(seasonal_frame, difference=True)
    model, _ = train_best(_fixed_hp(), SPACE, data, epochs=1, patience=1, seed=1)
    model.save(tmp_path / "model.keras")
    spec.save(tmp_path / "spec.json")
    history = seasonal_frame.tail(30).reset_index(drop=True)
    with mlflow.start_run():
        uri = log_forecaster(
            tmp_path / "model.keras", tmp_path / "spec.json", history.copy(), model, spec, with_example=True
        )
    assert mlflow.models.get_model_info(uri).saved_input_example_info is not None
    loaded = mlflow.pyfunc.load_model(uri)
    as_text = history.assign(date=history["date"].dt.strftime("%Y-%m-%d"))
    out = loaded.predict(as_text)
    assert list(out.columns) == ["date", "y"] and len(out) == 3
    assert list(out["date"]) == list(pd.date_range(history["date"].iloc[-1], periods=4, freq="W-SAT")[1:])
    np.testing.assert_allclose(
        out["y"].to_numpy(), forecast_frame(model, history, spec)["y"].to_numpy(), rtol=1e-5
    )
    # Real units: near the recent level, not near the scaled differences (~0).
    assert abs(out["y"].iloc[0] - history["y"].iloc[-1]) < 5
    with pytest.raises(Exception, match="at least 13"):
        loaded.predict(as_text.tail(5))


def test_mc_dropout_samples_spread_only_when_the_model_has_dropout(seasonal_frame):
    from tsforge.forecaster import forecast_samples

    data, spec = _data(seasonal_frame, difference=False)
    levels = seasonal_frame[["y"]].to_numpy()
    spreads = {}
    for rate in (0.0, 0.3):
        hp = _fixed_hp()
        hp.Fixed("dropout", rate)
        model = build_model(hp, data.model_spec, SPACE)
        samples = forecast_samples(model, levels, data.test[:5], spec, samples=8, seed=0)
        assert samples.shape == (8, 5, 3, 1)
        spreads[rate] = float(samples.std(axis=0).mean())
    assert spreads[0.0] < 1e-9 and spreads[0.3] > 1e-3


@pytest.mark.parametrize("schedule", ["none", "exponential", "plateau"])
def test_every_learning_rate_schedule_trains(seasonal_frame, schedule):
    data, _ = _data(seasonal_frame, difference=False)
    hp = _fixed_hp()
    hp.Fixed("lr_schedule", schedule)
    _, history = train_best(hp, SPACE, data, epochs=3, patience=3, seed=0)
    assert len(history["loss"]) == 3 and all(np.isfinite(history["val_loss"]))
    if schedule == "plateau":
        assert "learning_rate" in history  # ReduceLROnPlateau reports the rate it used


def _hp(**values: object) -> kt.HyperParameters:
    hp = kt.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def test_mlp_family_and_a_shorter_input_size_read_only_the_last_steps():
    import keras

    model = build_model(_hp(family="mlp", input_size=4, num_layers=2), ModelSpec(12, 1, 3, 1), SPACE)
    assert model.output_shape == (None, 3, 1)
    assert not any(isinstance(layer, keras.layers.LSTM | keras.layers.GRU) for layer in model.layers)
    x = np.random.default_rng(0).normal(size=(5, 12, 1)).astype("float32")
    changed_early = x.copy()
    changed_early[:, :8] += 10.0  # steps the network must not read
    np.testing.assert_allclose(
        model.predict(x, verbose=0), model.predict(changed_early, verbose=0), rtol=1e-6
    )
    with pytest.raises(ValueError, match="longer than the windows"):
        build_model(_hp(input_size=20), ModelSpec(12, 1, 3, 1), SPACE)


def test_trials_with_different_losses_are_compared_on_validation_mae(seasonal_frame):
    from tsforge.training import OBJECTIVE

    data, _ = _data(seasonal_frame, difference=False)
    for loss in ("mse", "mae", "huber"):
        _, history = train_best(
            _hp(loss=loss, num_layers=1, cell="gru"), SPACE, data, epochs=1, patience=1, seed=1
        )
        assert OBJECTIVE == "val_mae" and np.isfinite(history[OBJECTIVE][0])


def test_an_ensemble_is_the_median_of_its_members_and_is_served_as_one_model(
    seasonal_frame, mlflow_store, tmp_path: Path
):
    from tsforge.ensemble import train_members
    from tsforge.forecaster import load_network
    from tsforge.models import combine

    data, spec = _data(seasonal_frame, difference=False, transform="log1p", normalize=True)
    candidates = [("0", _hp(family="mlp", num_layers=1)), ("1", _hp(num_layers=1, cell="gru"))]
    members = train_members(candidates, SPACE, data, seeds=2, epochs=1, patience=1, seed=3)
    assert [(m.trial_id, m.seed) for m in members] == [("0", 3), ("0", 4), ("1", 3), ("1", 4)]
    ensemble = combine([m.model for m in members], "median")
    x, _ = gather_windows(data.values, data.test[:7], data.window, 1, True)
    each = np.stack([m.model.predict(x, verbose=0) for m in members])
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), np.median(each, axis=0), rtol=1e-5, atol=1e-6)
    ensemble.save(tmp_path / "model.keras")
    spec.save(tmp_path / "spec.json")
    reloaded = load_network(tmp_path / "model.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), ensemble.predict(x, verbose=0), rtol=1e-5)
    history = seasonal_frame.tail(20).reset_index(drop=True)
    with mlflow.start_run():
        uri = log_forecaster(tmp_path / "model.keras", tmp_path / "spec.json", history.copy(), ensemble, spec)
    assert mlflow.models.get_model_info(uri).saved_input_example_info is None  # not asked for
    # Dates as ISO text: the JSON route of `mlflow models serve` sends them so.
    served = mlflow.pyfunc.load_model(uri).predict(
        history.assign(date=history["date"].dt.strftime("%Y-%m-%d"))
    )
    np.testing.assert_allclose(
        served["y"].to_numpy(), forecast_frame(ensemble, history, spec)["y"].to_numpy(), rtol=1e-5
    )


def test_log1p_forecasts_of_a_series_with_zeros_come_back_in_its_units(seasonal_frame):
    """An oracle network through log1p + window-relative targets returns the exact levels,
    zeros included; log on the same history is refused in words."""
    frame = seasonal_frame.assign(y=np.maximum(seasonal_frame["y"] - seasonal_frame["y"].median(), 0.0))
    assert (frame["y"] == 0).any()
    data, spec = _data(frame, difference=False, transform="log1p", normalize=True)
    levels = frame[["y"]].to_numpy()
    truth = to_model_space(levels, spec)

    class Oracle:
        def predict(self, x: np.ndarray, verbose: int = 0) -> np.ndarray:
            return gather_windows(truth, data.test, data.window, 1, True)[1]

    got = forecast_origins(Oracle(), levels, data.test, spec)
    np.testing.assert_allclose(got, np.stack([levels[o : o + 3, :1] for o in data.test]), atol=1e-6)
    log_spec = ForecastSpec("date", ("y",), (), 12, 3, False, "W-SAT", spec.scalers, transform="log")
    with pytest.raises(ValueError, match="needs every value above 0"):
        forecast_frame(Oracle(), frame.tail(20).assign(y=0.0), log_spec)


def test_attention_family_trains_and_survives_a_save_and_load(seasonal_frame, tmp_path: Path):
    import keras

    from tsforge.forecaster import load_network

    data, _ = _data(seasonal_frame, difference=False, normalize=True)
    hp = _hp(family="attention", num_layers=1, units=8)
    model, history = train_best(hp, SPACE, data, epochs=1, patience=1, seed=2)
    assert any(isinstance(layer, keras.layers.MultiHeadAttention) for layer in model.layers)
    assert np.isfinite(history["val_mae"][0])
    model.save(tmp_path / "attention.keras")
    x, _ = gather_windows(data.values, data.test[:5], data.window, 1, True)
    np.testing.assert_allclose(
        load_network(tmp_path / "attention.keras").predict(x, verbose=0),
        model.predict(x, verbose=0),
        rtol=1e-5,
    )


def test_a_refitted_member_trains_on_validation_windows_for_its_best_epoch_count(seasonal_frame):
    from tsforge.ensemble import train_members

    data, _ = _data(seasonal_frame, difference=False, normalize=True)
    hp = _hp(family="mlp", num_layers=1)
    (plain,) = train_members([("0", hp)], SPACE, data, seeds=1, epochs=4, patience=2, seed=5)
    (refitted,) = train_members([("0", hp)], SPACE, data, seeds=1, epochs=4, patience=2, seed=5, refit=True)
    assert refitted.refitted and not plain.refitted
    assert refitted.best_epoch == plain.best_epoch and refitted.val_score == plain.val_score
    x, _ = gather_windows(data.values, data.test[:5], data.window, 1, True)
    # Same seed and epochs, more windows: a different network than the early-stopped one.
    assert not np.allclose(refitted.model.predict(x, verbose=0), plain.model.predict(x, verbose=0))


def test_final_training_combines_the_recorded_best_trials_and_reports_them(seasonal_frame):
    from tsforge.config import TrainConfig
    from tsforge.ensemble import train_final
    from tsforge.training import ensemble_candidates

    data, _ = _data(seasonal_frame, difference=False, normalize=True)
    trials = [_hp(family="mlp", num_layers=1, width=8), _hp(family="rnn", num_layers=1, cell="gru")]
    best = {"top": [{"trial_id": f"000{i}", "config": hp.get_config()} for i, hp in enumerate(trials)]}
    candidates = ensemble_candidates(best, 5)
    assert [c[0] for c in candidates] == ["0000", "0001"]
    cfg = TrainConfig(epochs=2, patience=1, ensemble_trials=2, ensemble_seeds=1, refit=False)
    final = train_final(candidates, SPACE, data, cfg)
    summary = final.summary()
    assert [m["trial_id"] for m in summary["members"]] == ["0000", "0001"]
    assert summary["combine"] == "median" and summary["val_mae"] == final.val_score
    assert final.val_score is not None and np.isfinite(final.val_score)
    assert len(final.curve()["loss"]) == len(final.members[0].history["loss"])


def test_a_searched_normalize_sets_how_each_trial_and_the_ensemble_read_windows(seasonal_frame):
    from tsforge.training import ensemble_candidates, trial_data

    data, _ = _data(seasonal_frame, difference=False, normalize=False)
    relative = _hp(family="mlp", num_layers=1, width=8)
    relative.Choice("normalize", ["none", "last"], default="last")
    absolute = _hp(family="mlp", num_layers=1, width=8)
    absolute.Choice("normalize", ["none", "last"], default="none")
    assert trial_data(data, relative.values).normalize and not trial_data(data, absolute.values).normalize
    assert trial_data(data, {}) is data, "no searched normalize: the scale stage's choice stands"
    # Members must read windows as the best trial does: the served network normalises once.
    best = {
        "top": [
            {"trial_id": t, "config": hp.get_config()}
            for t, hp in (("a", relative), ("b", absolute), ("c", relative))
        ]
    }
    assert [c[0] for c in ensemble_candidates(best, 3)] == ["a", "c"]


def test_a_normalize_outside_none_and_last_is_refused_in_words():
    from tsforge.config import parse_params
    from tsforge.errors import ConfigError

    with pytest.raises(ConfigError, match=r"tune.space.normalize offers \['none', 'relative'\]"):
        parse_params({"tune": {"space": {"normalize": {"type": "choice", "values": ["none", "relative"]}}}})


def test_lookback_members_read_shorter_histories_and_serve_as_one_model(seasonal_frame):
    """train.ensemble_lookbacks [1.0, 0.5]: per trial one network reads the whole window, one
    the last half; the combined model takes the whole window and forecasts like its members."""
    from tsforge.config import TrainConfig
    from tsforge.ensemble import train_final
    from tsforge.training import ensemble_candidates

    data, _ = _data(seasonal_frame, difference=False, normalize=True)
    best = {"top": [{"trial_id": "0000", "config": _hp(family="mlp", num_layers=1, width=8).get_config()}]}
    cfg = TrainConfig(epochs=1, patience=1, ensemble_lookbacks=[1.0, 0.5], refit=False)
    final = train_final(ensemble_candidates(best, 1), SPACE, data, cfg)
    window = data.window.input_size
    assert [m["input_size"] for m in final.summary()["members"]] == [0, window // 2]
    assert [m.seed for m in final.members] == [cfg.seed, cfg.seed + 1]
    assert final.members[0].hp.values["input_size"] == 0  # the trial's own values are not changed
    x, _ = gather_windows(data.values, data.test[:4], data.window, 1, True)
    short = final.members[1].model
    # The short member ignores what lies before its last half: changing it changes nothing.
    changed = x.copy()
    changed[:, : window - window // 2] += 5.0
    np.testing.assert_allclose(short.predict(changed, verbose=0), short.predict(x, verbose=0), rtol=1e-5)
    each = np.stack([m.model.predict(x, verbose=0) for m in final.members])
    np.testing.assert_allclose(
        final.model.predict(x, verbose=0), np.median(each, axis=0), rtol=1e-5, atol=1e-6
    )


def test_loss_members_train_with_each_loss_and_keep_the_trials_own_values(seasonal_frame):
    """train.ensemble_losses [mase, mae]: per trial one network fits each loss, seeds
    counting on; the report names each member's loss and the trial's record is untouched."""
    from tsforge.config import TrainConfig
    from tsforge.ensemble import train_final
    from tsforge.training import ensemble_candidates

    data, _ = _data(seasonal_frame, difference=False, normalize=True)
    trial = _hp(family="mlp", num_layers=1, width=8, loss="mase")
    best = {"top": [{"trial_id": "0000", "config": trial.get_config()}]}
    cfg = TrainConfig(epochs=1, patience=1, ensemble_losses=["mase", "mae"], refit=False)
    final = train_final(ensemble_candidates(best, 1), SPACE, data, cfg)
    assert [m["loss"] for m in final.summary()["members"]] == ["mase", "mae"]
    assert [m.seed for m in final.members] == [cfg.seed, cfg.seed + 1]
    assert final.members[0].hp.values["loss"] == "mase", "the trial's own values are not changed"


def test_ensemble_losses_must_name_training_losses():
    from tsforge.config import parse_params
    from tsforge.errors import ConfigError

    assert parse_params({"train": {"ensemble_losses": None}}).train.ensemble_losses is None
    with pytest.raises(
        ConfigError, match=r"train.ensemble_losses is \['mase', 'smape'\]; give a list of training losses"
    ):
        parse_params({"train": {"ensemble_losses": ["mase", "smape"]}})
    with pytest.raises(ConfigError, match="train.ensemble_losses is 'mae'"):
        parse_params({"train": {"ensemble_losses": "mae"}})


def test_config_and_models_name_the_same_training_losses():
    from tsforge.config import TRAINING_LOSSES
    from tsforge.models import LOSSES

    assert set(TRAINING_LOSSES) == set(LOSSES)


def test_ensemble_lookbacks_must_be_fractions():
    from tsforge.config import parse_params
    from tsforge.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"train.ensemble_lookbacks is \[1.0, 2\]; give a list of fractions"
    ):
        parse_params({"train": {"ensemble_lookbacks": [1.0, 2]}})
    with pytest.raises(ConfigError, match="train.ensemble_lookbacks is 0.5"):
        parse_params({"train": {"ensemble_lookbacks": 0.5}})
