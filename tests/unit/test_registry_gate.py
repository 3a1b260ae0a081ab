from tsforge.assessment import gate
from tsforge.config import RegistryConfig
from tsforge.registry import promotion_rule

BASELINES = {"naive": 1.0, "seasonal_naive": 1.5}


def test_first_model_is_promoted_only_if_it_beats_every_baseline():
    assert promotion_rule("mase", 0.8, None, BASELINES, 0.0).promote
    refused = promotion_rule("mase", 1.2, None, BASELINES, 0.0)
    assert not refused.promote and "naive" in refused.reason


def test_worse_challenger_is_not_promoted_and_better_one_is():
    assert not promotion_rule("mase", 0.7, 0.6, BASELINES, 0.0).promote
    assert promotion_rule("mase", 0.5, 0.6, BASELINES, 0.0).promote


def test_min_improvement_is_a_relative_margin_over_the_champion():
    # 0.59 is better than 0.6 but not by 5%.
    assert not promotion_rule("mase", 0.59, 0.6, BASELINES, 0.05).promote
    assert promotion_rule("mase", 0.56, 0.6, BASELINES, 0.05).promote


def test_beating_the_champion_is_not_enough_when_a_baseline_is_better():
    decision = promotion_rule("mase", 1.1, 2.0, BASELINES, 0.0)
    assert not decision.promote and decision.best_baseline == "naive"


def test_gate_reads_the_configured_metric_and_compares_with_the_champion():
    metrics = {
        "model": {"mase": 0.5, "mae": 9.0},
        "naive": {"mase": 1.0, "mae": 2.0},
        "theta": {"mase": 0.8, "mae": 3.0},
    }
    first = gate(metrics, None, RegistryConfig(metric="mase"))
    assert first.promote and first.best_baseline == "theta"
    assert not gate(metrics, None, RegistryConfig(metric="mae")).promote
    assert not gate(metrics, 0.5, RegistryConfig(metric="mase")).promote  # no improvement
    assert gate(metrics, 0.6, RegistryConfig(metric="mase", min_improvement=0.1)).promote
    assert not gate(metrics, 0.55, RegistryConfig(metric="mase", min_improvement=0.1)).promote
