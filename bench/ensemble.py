"""Train stage: the ensemble trained as one model (``train.ensemble_fit: joint``) against member
by member (``separate``), the same members and epochs limits, on the bundled CO2 data.

`python -m bench.run ensemble`: a project copy tunes a small random search over the default
space (5 trials of 3 epochs: five distinct trials for the default ensemble), then each way
trains the default ensemble (train.ensemble_trials 5 x ensemble_seeds 2, 40 epochs, patience
6, refit) in its own process, so neither inherits the other's warm TensorFlow.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PARAMS: dict[str, Any] = {
    "tune": {"strategy": "random", "max_trials": 5, "max_epochs": 3},
    "train": {"ensemble_trials": 5, "ensemble_seeds": 2},
}
WAYS = ("separate", "joint")


def train_one_way(project: Path, way: str) -> dict[str, Any]:
    """Train the project's default ensemble ``way`` in this process; its seconds and scores."""
    from tsforge.catalog import ProcessedSeries, Project, Windows, read_json
    from tsforge.config import load_params
    from tsforge.ensemble import train_members
    from tsforge.models import combine
    from tsforge.training import (
        OBJECTIVE,
        WindowedData,
        ensemble_candidates,
        trial_data,
        validation_score,
    )

    files = Project(project)
    params = load_params(files.params)
    cfg = params.train
    data = WindowedData.of(ProcessedSeries.load(files.series), Windows.load(files.windows))
    candidates = ensemble_candidates(read_json(files.best_hparams), cfg.ensemble_trials)
    data = trial_data(data, candidates[0][1].values)
    started = time.perf_counter()
    members = train_members(
        candidates,
        params.tune.space,
        data,
        seeds=cfg.ensemble_seeds,
        epochs=cfg.epochs,
        patience=cfg.patience,
        seed=cfg.seed,
        refit=cfg.refit,
        ensemble_fit=way,
    )
    seconds = time.perf_counter() - started
    early = [m.early_model or m.model for m in members]
    return {
        "seconds": seconds,
        "members": [
            {
                "trial_id": m.trial_id,
                "seed": m.seed,
                "batch_size": int(m.hp.values["batch_size"]),
                "epochs": len(m.history["loss"]),
                f"best_{OBJECTIVE}": m.val_score,
            }
            for m in members
        ],
        # The early-stopped members combined as served: the held-out objective of the ensemble.
        f"ensemble_{OBJECTIVE}": validation_score(combine(early, cfg.ensemble_combine), data),
    }


def run(project: Path, python: str = sys.executable) -> dict[str, Any]:
    """Both ways, each in a fresh process, and the ratio of their seconds."""
    ways = {}
    for way in WAYS:
        out = subprocess.run(
            [python, "-m", "bench.ensemble", str(project), way],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            check=True,
        )
        ways[way] = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        **ways,
        "ratio": ways["joint"]["seconds"] / ways["separate"]["seconds"],
        "largest_member_difference": member_difference(ways["joint"], ways["separate"]),
    }


def member_difference(joint: dict[str, Any], separate: dict[str, Any]) -> float:
    """The largest relative difference of a member's best objective between the ways: a joint
    member is the member trained alone, so only float rounding separates them."""
    key = next(k for k in joint["members"][0] if k.startswith("best_"))
    return max(
        abs(a[key] - b[key]) / abs(b[key]) for a, b in zip(joint["members"], separate["members"], strict=True)
    )


def report(result: dict[str, Any]) -> list[str]:
    """The row of bench/RESULTS.md's table and a line on the members' scores."""
    joint, separate = result["joint"], result["separate"]
    objective = next(k for k in joint if k.startswith("ensemble_"))
    members = len(joint["members"])
    mark = "met" if result["ratio"] <= 0.4 else "NOT met"

    def scores(way: dict[str, Any]) -> str:
        best = [m[f"best_{objective.removeprefix('ensemble_')}"] for m in way["members"]]
        return f"members' best {min(best):.4g} to {max(best):.4g}, ensemble {way[objective]:.4g}"

    return [
        f"| 7 | train stage: ensemble as one model ÷ member by member ({members} networks, bundled CO2, "
        f"refit) | {joint['seconds']:.1f} s | {separate['seconds']:.1f} s | {result['ratio']:.2f} "
        f"| ≤ 0.4: {mark} |",
        "",
        f"Row 7, validation {objective.removeprefix('ensemble_')}: joint {scores(joint)}; "
        f"separate {scores(separate)}; epochs joint {[m['epochs'] for m in joint['members']]}, "
        f"separate {[m['epochs'] for m in separate['members']]}; members' best objectives differ "
        f"by at most {result['largest_member_difference']:.2g} (relative) between the ways.",
    ]


if __name__ == "__main__":
    sys.stdout.write(json.dumps(train_one_way(Path(sys.argv[1]), sys.argv[2])) + "\n")
