"""`make bench` keeps every step's figures: a partial run merges into bench/work/results.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from bench import run


def test_a_partial_run_replaces_only_its_steps() -> None:
    full = {"date": "d1", "total_s": 900.0, "overhead": {"ratio": 1.4}, "windowing": {"sizes": {24: {}}}}
    partial = {"date": "d2", "total_s": 60.0, "overhead": {"ratio": 1.1}}
    merged = run.merge_results(full, partial, partial=True)
    assert merged["overhead"] == {"ratio": 1.1} and merged["windowing"] == full["windowing"]
    # The date and total time stay those of the run the other rows come from.
    assert merged["date"] == "d1" and merged["total_s"] == 900.0
    assert merged["updated"] == {"overhead": "d2"}
    later = {"date": "d3", "total_s": 5.0, "windowing": {"sizes": {}}}
    again = run.merge_results(merged, later, partial=True)
    assert again["updated"] == {"overhead": "d2", "windowing": "d3"} and again["overhead"] == {"ratio": 1.1}
    assert run.merge_results(again, full, partial=False) == full


def test_a_partial_run_without_an_earlier_one_keeps_its_own_date() -> None:
    merged = run.merge_results({}, {"date": "d2", "total_s": 60.0, "m3": {}}, partial=True)
    assert merged["date"] == "d2" and merged["m3"] == {}


def test_report_names_the_steps_it_has_no_figures_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps({"date": "d", "windowing": {"sizes": {"24": {}}}}))
    monkeypatch.setattr(run, "RESULTS_JSON", saved)
    monkeypatch.setattr(run, "RESULTS", tmp_path / "RESULTS.md")
    monkeypatch.setattr(sys, "argv", ["bench.run", "--report"])
    assert run.read_results()["windowing"]["sizes"] == {24: {}}
    with pytest.raises(SystemExit, match="no figures for overhead, incremental, bookkeeping, efficiency"):
        run.main()
    assert not (tmp_path / "RESULTS.md").exists()
