"""`make bench-accuracy ARGS='--set ... --out ...'`: an experiment is one command, and its
figures never land in the committed bench/accuracy.json."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from bench import accuracy

from tsforge.config import parse_params

RAW = yaml.safe_load(Path(__file__).resolve().parents[2].joinpath("params.yaml").read_text())


def test_set_changes_one_key_and_leaves_the_rest_and_the_input() -> None:
    changed = accuracy.with_assignments(RAW, ["window.min_history=5", "train.ensemble_lookbacks=[1.0, 0.5]"])
    params = parse_params(changed)
    assert params.window.min_history == 5
    assert list(params.train.ensemble_lookbacks) == [1.0, 0.5]
    assert changed["window"]["input_size"] == RAW["window"]["input_size"]
    assert RAW["window"]["min_history"] != 5  # the caller's mapping is not modified


def test_set_within_the_search_space_changes_one_dimension() -> None:
    # An override mapping replaces tune.space whole; --set must not drop the other dimensions.
    changed = accuracy.with_assignments(RAW, ["tune.space.family=rnn"])
    assert changed["tune"]["space"]["family"] == "rnn"
    assert set(changed["tune"]["space"]) == set(RAW["tune"]["space"])


@pytest.mark.parametrize(
    ("assignment", "message"),
    [("window=1", "expected section.key=value"), ("seed=7", "expected section.key=value"),
     ("nosection.key=1", "no section 'nosection'")],
)  # fmt: skip
def test_a_malformed_set_is_refused_with_the_expected_form(assignment: str, message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        accuracy.with_assignments(RAW, [assignment])


def test_set_wins_over_the_datasets_own_settings_and_is_reported() -> None:
    override, settings = accuracy.plan(
        accuracy.BY_NAME["airpassengers"], quick=True, assignments=["window.input_size=10"]
    )
    assert override["window"]["input_size"] == 10 and override["window"]["horizon"] == 12
    assert settings["input_size"] == 10 and settings["input_size_rule"] == "--set"
    assert settings["overrides"] == ["window.input_size=10"]
    entry = {"settings": settings, "scores": {}, "series": 1}
    assert "Params changed by --set: `window.input_size=10`" in accuracy.report(
        {"datasets": {"airpassengers": entry}}
    )


def test_an_experiment_needs_its_own_results_folder() -> None:
    with pytest.raises(SystemExit, match="give --out FOLDER"):
        accuracy.main(["--datasets", "airpassengers", "--set", "train.seed=7"])


def test_an_unknown_key_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="section 'window' has unknown key"):
        accuracy.main(["--datasets", "airpassengers", "--set", "window.bogus=1", "--out", str(tmp_path)])
    assert not list(tmp_path.iterdir())


def test_the_headline_shows_how_far_the_model_is_from_the_best_baseline() -> None:
    entry = {
        "settings": {"horizon": 6},
        "series": 3,
        "scores": {"model": {"mase": 2.7, "smape": 16.0}, "drift": {"mase": 2.666, "smape": 16.5}},
        "best_baseline": "drift",
        "model_beats_best_baseline": False,
        "best_baseline_smape": "drift",
        "model_beats_best_baseline_smape": True,
    }
    row = next(
        line
        for line in accuracy.report({"datasets": {"m3-yearly": entry}}).splitlines()
        if "| m3-yearly |" in line
    )
    assert "| no (+1.3 %) |" in row and "| **yes** (−3.0 %) |" in row
    assert accuracy.margin(None, 1.0) == "" and accuracy.margin(1.0, 0.0) == ""


def test_a_set_horizon_and_split_reach_the_input_size_rule_and_the_report() -> None:
    override, settings = accuracy.plan(
        accuracy.BY_NAME["airpassengers"],
        quick=True,
        assignments=["window.horizon=24", "scale.val_size=24", "scale.test_size=24"],
    )
    assert override["window"]["horizon"] == 24 and override["scale"]["test_size"] == 24
    assert settings["horizon"] == 24
    assert settings["input_size_rule"].startswith("max(2·24, 2·12, 8) = 48")
    assert settings["split"] == "each series' last 24 rows test, the 24 before validate (--set)"
