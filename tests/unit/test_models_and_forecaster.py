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
    frame: pd.DataFrame, difference: bool, log: bool = False, normalize: bool = False
) -> tuple[WindowedData, ForecastSpec]:
    levels = frame[["y"]].to_numpy(dtype=np.float64)
    spec_w = WindowSpec(12, 3)
    unscaled = model_space(levels, 1, difference, log)
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
        "date", ("y",), (), 12, 3, difference, "W-SAT", {"": scaler}, log=log, normalize=normalize
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
    ("difference", "log", "normalize"),
    [
        (False, False, False),
        (True, False, False),
        (False, True, True),
        (True, True, False),
        (False, False, True),
    ],
)
def test_forecasts_are_in_original_units_and_undo_every_transform(seasonal_frame, difference, log, normalize):
    """A network that outputs exactly the model-space truth must reproduce the true levels,
    whatever the transform (differences, logarithms, window-relative targets)."""
    data, spec = _data(seasonal_frame, difference, log, normalize)
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
        uri = log_forecaster(tmp_path / "model.keras", tmp_path / "spec.json", history.copy(), model, spec)
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
