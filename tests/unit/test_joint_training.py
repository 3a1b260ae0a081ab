"""The ensemble trained side by side in one model (train.ensemble_fit: joint): tiny networks."""

from __future__ import annotations

from dataclasses import replace

import keras
import keras_tuner as kt
import numpy as np
import pytest

from tests.unit.test_models_and_forecaster import _data
from tsforge import joint_training as joint
from tsforge import training
from tsforge.config import parse_params
from tsforge.ensemble import train_members
from tsforge.errors import ConfigError
from tsforge.models import build_model, combine
from tsforge.training import (
    OBJECTIVE,
    MemberPlan,
    WindowedData,
    member_plans,
    set_seeds,
    train_member,
    validation_score,
)

SPACE = {"units": 4, "width": 8, "learning_rate": 0.01, "batch_size": 32, "loss": "mae"}


def _hp(**values: object) -> kt.HyperParameters:
    hp = kt.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def _plans(data: WindowedData) -> list[MemberPlan]:
    """Two trials of different families, optimizers and losses, two seeds each: one model."""
    candidates = [
        ("t0", _hp(family="rnn", cell="gru", num_layers=1)),
        ("t1", _hp(family="mlp", num_layers=2, optimizer="rmsprop", loss="huber", dropout=0.1)),
    ]
    return member_plans(candidates, data, seeds=2, seed=5)


def test_the_one_model_ensemble_forecasts_the_median_of_its_members_alone(seasonal_frame):
    data, _ = _data(seasonal_frame, difference=False)
    members = train_members(
        [(p.trial_id, p.hp) for p in _plans(data)[::2]] + [("t2", _hp(family="mlp", num_layers=1))],
        SPACE,
        data,
        seeds=1,
        epochs=3,
        patience=3,
        seed=5,
        ensemble_fit="joint",
    )
    networks = [m.model for m in members]
    stacked = joint.SideBySide(networks, [False] * len(networks))
    x, _ = data.gather(data.test)
    branches = [np.asarray(f) for f in stacked.predict(x, verbose=0)]
    # Split out, each member predicts exactly what its branch of the stacked model predicts...
    for network, branch in zip(networks, branches, strict=True):
        np.testing.assert_array_equal(np.asarray(network.predict(x, verbose=0)), branch)
    # ...and the served ensemble of them is the stacked model's median.
    served = np.asarray(combine(networks, "median").predict(x, verbose=0))
    np.testing.assert_allclose(served, np.median(np.stack(branches), axis=0), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("stacked", [True, False], ids=["stacked", "gathered-on-demand"])
def test_a_joint_member_is_the_member_trained_alone(seasonal_frame, monkeypatch, stacked):
    """Same seed, same initial weights, same batch order: each member of a joint fit (early
    stopping, then the refit) ends with the weights it ends with trained alone, up to rounding."""
    data, _ = _data(seasonal_frame, difference=False)
    # MASE weights, so the weighted member's sample weights must follow its own order too.
    data = replace(data, weights=np.linspace(0.5, 2.0, len(data.values)))
    if not stacked:  # the windows gathered batch by batch, as for data too large to stack
        monkeypatch.setattr(training, "STACK_MAX_BYTES", 0)
        monkeypatch.setattr(joint, "STACK_MAX_BYTES", 0)
    # Stacked, finished members leave the fit; on demand (and by default) they are skipped.
    monkeypatch.setattr(joint, "DROP_FINISHED", True)
    candidates = [
        ("t0", _hp(family="mlp", num_layers=1, loss="mase", lr_schedule="plateau")),
        ("t1", _hp(family="mlp", num_layers=2, optimizer="rmsprop", loss="huber", dropout=0.1)),
    ]
    # Two seeds of each (one trial only on demand, the slower way): four lone fits each.
    plans = member_plans(candidates if stacked else candidates[:1], data, seeds=2, seed=5)
    assert len(joint.fit_groups(plans, SPACE)) == 1
    fits: list[int] = []

    class Counted(joint.SideBySide):  # counts the fits: finished members dropped take more
        def fit(self, *args, **kwargs):
            fits.append(len(self.members))
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(joint, "SideBySide", Counted)
    together = joint.train_side_by_side(plans, SPACE, data, epochs=4, patience=1, refit=True)
    # Dropped: fits of fewer members.
    assert (min(fits) < len(plans)) == stacked, fits
    x, _ = data.gather(data.test)
    for plan, member in zip(plans, together, strict=True):
        alone = train_member(plan, SPACE, data, epochs=4, patience=1, refit=True)
        assert member.history.keys() == alone.history.keys()
        for key, values in alone.history.items():
            np.testing.assert_allclose(member.history[key], values, rtol=1e-4, err_msg=key)
        for mine, theirs in ((member.model, alone.model), (member.early_model, alone.early_model)):
            assert mine is not None and theirs is not None
            for a, b in zip(mine.get_weights(), theirs.get_weights(), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(
                mine.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-5
            )


def test_each_member_keeps_its_own_early_stopping_point(seasonal_frame):
    data, _ = _data(seasonal_frame, difference=False)
    # A learning rate of 0 never improves on its first epoch: that member must stop after
    # `patience` more epochs with its first epoch's weights while the other trains on.
    frozen = ("frozen", _hp(family="mlp", num_layers=1, optimizer="sgd", learning_rate=0.0))
    learning = ("learning", _hp(family="mlp", num_layers=1, optimizer="adam", learning_rate=0.01))
    patience = 2
    stuck, learnt = train_members(
        [frozen, learning], SPACE, data, seeds=1, epochs=8, patience=patience, seed=3, ensemble_fit="joint"
    )
    assert stuck.best_epoch == 1 and len(stuck.history[OBJECTIVE]) == 1 + patience
    assert len(learnt.history[OBJECTIVE]) > len(stuck.history[OBJECTIVE]) and learnt.best_epoch > 1
    set_seeds(stuck.seed)  # the frozen member's weights are still its seed's initial ones
    initial = build_model(stuck.hp, data.model_spec, SPACE, name="again")
    for kept, start in zip(stuck.model.get_weights(), initial.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, start)
    # Each ends with the weights of its own best epoch: they score its best objective.
    for member in (stuck, learnt):
        assert validation_score(member.model, data) == pytest.approx(member.val_score, rel=1e-5)


def test_each_member_keeps_the_weights_of_its_own_rule(seasonal_frame):
    """Refit: each member kept at its own epoch count in one fit of the longest; early stopping:
    at its own best epoch. The fit stops once every member is done."""
    data, _ = _data(seasonal_frame, difference=False)
    plans = _plans(data)[:3]
    networks = joint.build_networks(plans, SPACE, data)
    states = [
        joint.MemberEpochs(joint.FixedEpochs(1)),
        joint.MemberEpochs(joint.FixedEpochs(3)),
        joint.MemberEpochs(joint.EarlyStop(patience=1)),
    ]
    stacked = joint.SideBySide(networks, [False] * 3)
    progress = joint.MemberProgress(networks, states)
    progress.set_model(stacked)
    objectives = [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [3.0, 2.0, 2.5]]  # the last is best at epoch 2
    for epoch in range(3):
        for network in networks:  # weights that say which epoch they are from
            network.set_weights([np.full_like(w, epoch) for w in network.get_weights()])
        logs = {f"loss_{i}": 0.5 for i in range(3)} | {
            f"{OBJECTIVE}_{i}": objectives[i][epoch] for i in range(3)
        }
        progress.on_epoch_end(epoch, logs)
        if epoch == 0:  # the first member is done: the stacked model skips it from now on
            assert keras.ops.convert_to_numpy(stacked.active).tolist() == [0.0, 1.0, 1.0]
    assert stacked.stop_training
    progress.on_train_end()
    for network, epoch in zip(networks, (0, 2, 1), strict=True):
        assert all(np.all(w == epoch) for w in network.get_weights())
    assert [len(s.history[OBJECTIVE]) for s in states] == [1, 3, 3]


def test_a_joint_member_starts_from_the_weights_its_seed_gives_alone(seasonal_frame):
    data, _ = _data(seasonal_frame, difference=False)
    plans = _plans(data)
    for plan, network in zip(plans, joint.build_networks(plans, SPACE, data), strict=True):
        set_seeds(plan.seed)  # as train_best builds a member
        alone = build_model(plan.hp, data.model_spec, SPACE, name=plan.name)
        for a, b in zip(network.get_weights(), alone.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "scores",
    [
        [5.0, 4.0, 4.5, 4.2, 4.1, 3.0, 3.5, 3.6, 3.7],
        [1.0, 1.0, 1.0, 1.0],
        [float("nan"), 1.0, 2.0, 3.0],
        [3.0, float("nan"), 2.0, 2.5, 2.6, 2.7],
    ],
)
def test_early_stop_counts_as_keras_early_stopping(scores):
    """Same stop epoch and kept epoch as keras.callbacks.EarlyStopping on the same scores."""
    reference = keras.callbacks.EarlyStopping(
        monitor=OBJECTIVE, patience=2, restore_best_weights=True, mode="min"
    )
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    reference.set_model(model)
    reference.on_train_begin()
    model.stop_training = False
    rule, kept, stopped = joint.EarlyStop(patience=2), None, None
    for epoch, score in enumerate(scores):
        if model.stop_training:
            break
        reference.on_epoch_end(epoch, {OBJECTIVE: score})
        verdict = rule.after_epoch(epoch, score)
        kept = epoch if verdict.snapshot else kept
        if verdict.done and stopped is None:
            stopped = epoch
    assert stopped == (reference.stopped_epoch or None)
    assert kept == reference.best_epoch


def test_members_are_grouped_by_what_one_fit_shares(seasonal_frame):
    data, _ = _data(seasonal_frame, difference=False)
    candidates = [
        ("a", _hp(batch_size=64)),
        ("b", _hp(batch_size=256, optimizer="rmsprop")),
        ("c", _hp(batch_size=64, loss="mase", learning_rate=0.002)),
    ]
    plans = member_plans(candidates, data, seeds=2, seed=0)
    assert joint.fit_groups(plans, SPACE) == [[0, 1, 4, 5], [2, 3]]


def test_a_bad_ensemble_fit_is_refused_naming_the_key_and_the_choices():
    assert parse_params({}).train.ensemble_fit == "joint"
    assert parse_params({"train": {"ensemble_fit": "separate"}}).train.ensemble_fit == "separate"
    with pytest.raises(ConfigError, match=r"train\.ensemble_fit is 'parallel'; use joint .* or separate"):
        parse_params({"train": {"ensemble_fit": "parallel"}})
