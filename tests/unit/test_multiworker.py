"""Several workers training the final networks (tsforge.multiworker): roles from TF_CONFIG, the
loopback cluster's configs, and members copied out of the strategy. The two-process run itself
is tests/pipeline/test_multiworker_train.py."""

from __future__ import annotations

import json

import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf

from tests.unit.test_models_and_forecaster import _data
from tsforge import multiworker
from tsforge.config import TrainConfig
from tsforge.ensemble import train_members
from tsforge.errors import ConfigError, TsforgeError
from tsforge.training import member_plans

SPACE = {"units": 4, "learning_rate": 0.01, "batch_size": 32, "loss": "mae", "cell": "lstm"}


def _config(task: dict[str, object], cluster: dict[str, list[str]] | None = None) -> dict[str, str]:
    cluster = cluster or {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": task})}


def test_the_role_follows_tf_config_worker_0_or_the_chief_task_leading():
    assert multiworker.role({}) == multiworker.role({"TF_CONFIG": " "}) == "single"
    assert multiworker.role(_config({"type": "worker", "index": 0})) == "chief"
    assert multiworker.role(_config({"type": "worker", "index": 1})) == "worker"
    with_chief = {"chief": ["127.0.0.1:3"], "worker": ["127.0.0.1:1"]}
    assert multiworker.role(_config({"type": "chief", "index": 0}, with_chief)) == "chief"
    assert multiworker.role(_config({"type": "worker", "index": 0}, with_chief)) == "worker"
    # A cluster of one process trains alone.
    assert multiworker.role(_config({"type": "worker", "index": 0}, {"worker": ["h:1"]})) == "single"
    assert multiworker.cluster_size(_config({"type": "chief", "index": 0}, with_chief)) == 2


def test_a_malformed_tf_config_or_a_parameter_server_is_refused_plainly():
    with pytest.raises(TsforgeError, match="TF_CONFIG is not JSON"):
        multiworker.role({"TF_CONFIG": "{worker"})
    with pytest.raises(TsforgeError, match='needs a "cluster"'):
        multiworker.role({"TF_CONFIG": json.dumps({"task": {"type": "worker", "index": 0}})})
    ps = {"worker": ["h:1"], "ps": ["h:2"]}
    with pytest.raises(TsforgeError, match="only chief and worker tasks"):
        multiworker.role(_config({"type": "worker", "index": 0}, ps))


def test_local_workers_share_one_loopback_cluster_each_with_its_index():
    configs = [json.loads(c) for c in multiworker.local_tf_configs(3)]
    addresses = configs[0]["cluster"]["worker"]
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert all(c["cluster"]["worker"] == addresses for c in configs)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]


def test_joint_fits_as_separate_under_a_strategy_and_workers_below_one_are_refused():
    assert multiworker.fit_config(TrainConfig(ensemble_fit="joint")).ensemble_fit == "separate"
    separate = TrainConfig(ensemble_fit="separate")
    assert multiworker.fit_config(separate) == separate
    with pytest.raises(ConfigError, match="train.workers"):
        TrainConfig(workers=0)


def test_members_fitted_under_a_strategy_are_copied_out_of_it_with_their_weights(seasonal_frame):
    """The default strategy stands in for the multi-worker one (same scope, one process): the
    members come back as networks built outside it, with the weights the fits gave."""
    data, _ = _data(seasonal_frame, difference=False)
    hp = kt.HyperParameters()
    hp.Fixed("num_layers", 1)
    candidates = [("t0", hp)]
    kwargs = {"seeds": 1, "epochs": 2, "patience": 2, "seed": 3, "refit": True}
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    (copied,) = train_members(candidates, SPACE, data, **kwargs, strategy=strategy)  # type: ignore[arg-type]
    (alone,) = train_members(candidates, SPACE, data, **kwargs)  # type: ignore[arg-type]
    assert copied.refitted and copied.early_model is not None
    for network in (copied.model, copied.early_model):
        assert network.distribute_strategy is tf.distribute.get_strategy()  # the default: local
    for mine, theirs in zip(copied.model.get_weights(), alone.model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    for key, values in alone.history.items():
        assert copied.history[key] == pytest.approx(values, rel=1e-5)
    with pytest.raises(ValueError, match="joint training runs on one process"):
        train_members(candidates, SPACE, data, **kwargs, ensemble_fit="joint", strategy=strategy)  # type: ignore[arg-type]
    assert member_plans(candidates, data, seeds=1, seed=3)[0].name == copied.model.name
