"""`python -m bench.compare`: runs of the accuracy suite side by side, seeds averaged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench import compare


def _results(path: Path, **mase: float) -> Path:
    datasets = {
        name: {
            "scores": {"model": {"mase": value, "smape": 10 * value}, "theta": {"mase": 1.0}},
            "best_baseline": "theta",
        }
        for name, value in mase.items()
    }
    path.mkdir()
    (path / "accuracy.json").write_text(json.dumps({"datasets": datasets}))
    return path


def test_seeds_of_one_setting_are_averaged_and_missing_runs_left_out(tmp_path: Path) -> None:
    runs = compare.load_runs(
        [
            f"off@1={_results(tmp_path / 'a', yearly=2.0, monthly=1.0)}",
            f"off@2={_results(tmp_path / 'b', yearly=3.0)}",
            f"pad@1={_results(tmp_path / 'c', yearly=2.2, monthly=0.8)}",
        ]
    )
    assert compare.setting_means(runs, "yearly", "mase") == {"off": (2.5, 2), "pad": (2.2, 1)}
    # monthly was not rerun with seed 2: its mean is the one run that has it, and says so.
    assert compare.setting_means(runs, "monthly", "mase") == {"off": (1.0, 1), "pad": (0.8, 1)}
    rendered = compare.table(runs)
    assert (
        "| yearly | 2.000 / 20.00 | 3.000 / 30.00 | 2.200 / 22.00 "
        "| 2.500 / 25.00 (n=2) | 2.200 / 22.00 (n=1) | theta 1.000 |" in rendered
    )
    assert "| monthly | 1.000 / 10.00 | — |" in rendered


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no accuracy.json at"):
        compare.load_runs([f"x={tmp_path}"])
    with pytest.raises(SystemExit, match="expected LABEL=PATH"):
        compare.load_runs([str(tmp_path)])
    run = _results(tmp_path / "a", yearly=2.0)
    with pytest.raises(SystemExit, match="'pad@7' is given twice"):
        compare.load_runs([f"pad@7={run}", f"pad@7={run}"])
