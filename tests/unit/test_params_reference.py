"""docs/params.md is generated from params.yaml and dvc.yaml (:mod:`tsforge.params_reference`)."""

from pathlib import Path

import yaml

from tsforge import params_reference as ref
from tsforge.config import parse_params

ROOT = Path(__file__).resolve().parents[2]


def test_docs_params_md_is_what_params_yaml_makes_it():
    assert (ROOT / "docs/params.md").read_text() == ref.current(ROOT), (
        "docs/params.md is stale: run .venv/bin/python -m tsforge.params_reference"
    )


def test_every_documented_key_is_read_by_the_config():
    # A key documented but unknown to config.py would be a rule written nowhere else.
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    parse_params(raw)  # unknown keys are refused here
    leaves = {e.path for e in ref.parse((ROOT / "params.yaml").read_text())}
    assert {"data.calendar", "train.combine", "evaluate.theta_history", "tune.space.family"} <= leaves


def test_comments_continue_only_in_their_own_column_and_stages_are_matched_by_path():
    text = "a:\n  b: 1   # first\n         #   more\n  # c: 2  (an option left commented out)\n  d: x\n"
    entries = ref.parse(text)
    assert [(e.path, e.value, e.comment) for e in entries] == [
        ("a", "", ""),
        ("a.b", "1", "first more"),
        ("a.d", "x", ""),
    ]
    listed = {"one": ["a"], "two": ["a.b"], "three": ["z"]}
    assert ref.stages_reading("a.b", listed) == ["one", "two"]
    assert ref.stages_reading("a.d", listed) == ["one"]
