"""DVC experiments in the template as cloned: `dvc exp run -S`, then `dvc exp show`,
`dvc metrics diff` and `dvc plots diff` read every experiment's params and metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.conftest import BIN, make_project, run

pytestmark = pytest.mark.pipeline

LEVELS = ("0.8", "0.95")


@pytest.fixture(scope="module")
def experiments(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The tiny project, reproduced, then one experiment per interval level (only evaluate
    reruns: its params changed, nothing else did)."""
    project = make_project(tmp_path_factory.mktemp("experiments"))
    names = []
    for level in LEVELS:
        out = run(project, str(BIN / "dvc"), "exp", "run", "-S", f"evaluate.interval_level={level}").stdout
        assert "Running stage 'evaluate'" in out and "Running stage 'train'" not in out
        names.append(out.split("Ran experiment(s):")[1].split()[0])
    return project, names


def _experiments(shown: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Experiment name -> its data, from `dvc exp show --json`."""
    found = {}
    for commit in shown:
        for experiment in commit.get("experiments") or []:
            for rev in experiment["revs"]:
                found[rev["name"]] = rev["data"]
    return found


def test_exp_show_lists_each_experiment_with_its_params_and_numeric_metrics(experiments):
    project, names = experiments
    shown = _experiments(json.loads(run(project, str(BIN / "dvc"), "exp", "show", "--json").stdout))
    assert set(names) <= set(shown)
    for name, level in zip(names, LEVELS, strict=True):
        params = shown[name]["params"]["params.yaml"]["data"]
        assert params["evaluate"]["interval_level"] == float(level)
        metrics = shown[name]["metrics"]["reports/metrics.json"]["data"]
        assert math.isfinite(metrics["model"]["mase"]) and math.isfinite(metrics["ets"]["mase"])
        # Numbers only: `dvc exp show --csv` gets one column per metric.
        assert all(isinstance(v, int | float) for v in metrics["model"].values())


def test_metrics_and_plots_diff_between_experiments(experiments, tmp_path: Path):
    project, (first, second) = experiments
    # --all: the two experiments differ in a setting the metrics do not depend on.
    diff = run(project, str(BIN / "dvc"), "metrics", "diff", first, second, "--all", "--json").stdout
    assert "reports/metrics.json" in json.loads(diff)
    out = run(project, str(BIN / "dvc"), "plots", "diff", first, second, "-o", str(tmp_path / "plots"))
    assert "failed to load" not in out.stdout + out.stderr
    assert (tmp_path / "plots" / "index.html").exists()
