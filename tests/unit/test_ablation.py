"""Feature ablation: which model columns each kind of feature owns, and blanking them."""

import numpy as np

from tsforge.ablation import feature_columns, without
from tsforge.covariates import Covariates, StaticEncoding
from tsforge.training import WindowedData
from tsforge.windowing import WindowSpec


def test_each_kind_owns_its_columns_in_the_model_array():
    covariates = Covariates(
        past=("temperature",),
        future=("promo", "price"),
        calendar=("day_of_week",),
        holidays="US",
        freq="D",
        static=(StaticEncoding("store_type", ("big", "small")),),
    )
    # targets | past | future | calendar (2) | holidays (3) | static (2)
    assert feature_columns(covariates, 1) == {
        "past": (1,),
        "known_future": (2, 3, 4, 5, 6, 7, 8),
        "static": (9, 10),
    }
    assert feature_columns(Covariates(past=("x",)), 2) == {"past": (2,)}


def test_blanking_a_kind_leaves_the_targets_and_the_original_alone():
    values = np.arange(30, dtype=np.float32).reshape(10, 3)
    data = WindowedData(values, np.array([4]), np.array([6]), np.array([8]), WindowSpec(2, 1), 1)
    blank = without(data, (2,))
    assert (blank.values[:, 2] == 0).all() and (blank.values[:, :2] == values[:, :2]).all()
    assert (data.values[:, 2] != 0).any()
