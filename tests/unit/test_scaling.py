import json
from dataclasses import asdict

import numpy as np
import pytest
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from tsforge.scaling import SCALERS, AffineScaler, chronological_split, difference_targets, fill_missing

COLUMNS = ("a", "b")


@pytest.mark.parametrize("method", SCALERS)
def test_inverse_of_transform_returns_the_input(method):
    values = np.random.default_rng(0).normal(5, 3, size=(40, 2))
    scaler = AffineScaler.fit(values, COLUMNS, method)
    np.testing.assert_allclose(scaler.inverse(scaler.transform(values)), values, rtol=1e-5, atol=1e-5)
    # Inverting the target column alone (as forecasts need) matches column 0.
    np.testing.assert_allclose(
        scaler.inverse(scaler.transform(values)[:, :1], ("a",)), values[:, :1], rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    ("method", "reference"),
    [("standard", StandardScaler()), ("robust", RobustScaler()), ("minmax", MinMaxScaler())],
)
def test_scalers_agree_with_scikit_learn(method, reference):
    values = np.random.default_rng(2).gamma(2.0, 2.0, size=(60, 2))
    ours = AffineScaler.fit(values, COLUMNS, method).transform(values)
    np.testing.assert_allclose(ours, reference.fit_transform(values), rtol=1e-5, atol=1e-5)


def test_scaler_statistics_come_from_training_rows_only():
    values = np.arange(100, dtype=float).reshape(50, 2)
    split = chronological_split(50, 0.6, 0.2)
    train = values[: split.train[1]]
    fitted = AffineScaler.fit(train, COLUMNS, "standard")
    changed = values.copy()
    changed[split.train[1] :] *= 1000  # validation/test rows must not matter
    refit = AffineScaler.fit(changed[: split.train[1]], COLUMNS, "standard")
    assert fitted == refit
    assert fitted.offset[0] == pytest.approx(train[:, 0].mean())


def test_split_is_chronological_and_complete():
    split = chronological_split(100, 0.7, 0.15)
    assert split.train == (0, 70) and split.val == (70, 85) and split.test == (85, 100)


def test_scaler_survives_a_json_round_trip():
    scaler = AffineScaler.fit(np.random.default_rng(3).normal(size=(10, 2)), COLUMNS, "robust")
    assert AffineScaler.from_dict(json.loads(json.dumps(asdict(scaler)))) == scaler


def test_constant_column_does_not_divide_by_zero():
    values = np.column_stack([np.ones(10), np.arange(10.0)])
    scaled = AffineScaler.fit(values, COLUMNS, "standard").transform(values)
    assert np.isfinite(scaled).all()


def test_differencing_is_row_aligned_and_leaves_features_alone():
    levels = np.array([[1.0, 10.0], [3.0, 11.0], [6.0, 12.0]])
    out = difference_targets(levels, n_targets=1)
    assert np.isnan(out[0, 0])
    np.testing.assert_array_equal(out[1:, 0], [2.0, 3.0])
    np.testing.assert_array_equal(out[:, 1], levels[:, 1])


def test_fill_policies(seasonal_frame):
    frame = seasonal_frame.copy()
    frame.loc[[3, 4], "y"] = np.nan
    filled, count = fill_missing(frame, ["y"], "interpolate")
    assert count == 2 and filled["y"].notna().all()
    assert filled.loc[3, "y"] == pytest.approx(
        frame.loc[2, "y"] + (frame.loc[5, "y"] - frame.loc[2, "y"]) / 3
    )
    dropped, removed = fill_missing(frame, ["y"], "drop")
    assert removed == 2 and len(dropped) == len(frame) - 2
    from tsforge.errors import ValidationError

    with pytest.raises(ValidationError, match="scale.fill is 'fail'"):
        fill_missing(frame, ["y"], "fail")
