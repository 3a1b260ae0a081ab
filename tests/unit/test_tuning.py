"""The search: its size, rolling-origin folds, failed trials, roles in distributed mode."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras_tuner as kt
import mlflow
import numpy as np
import pytest

from tsforge.config import TuneConfig
from tsforge.console import SearchProgress
from tsforge.distributed_search import distributed_role
from tsforge.errors import ConfigError
from tsforge.search import (
    ForecastHyperModel,
    make_tuner,
    planned_trials,
    rolling_folds,
    search,
    search_key,
    space_size,
)
from tsforge.search_results import best_trial
from tsforge.training import WindowedData
from tsforge.trial_tracking import best_objective
from tsforge.windowing import WindowSpec, window_origins


def test_space_size_counts_discrete_dimensions_and_names_continuous_ones():
    space = {
        "num_layers": {"type": "int", "min": 1, "max": 4},
        "cell": {"type": "choice", "values": ["lstm", "gru"]},
        "units": {"type": "int", "min": 16, "max": 128, "step": 16},
        "dropout": {"type": "float", "min": 0.0, "max": 0.3, "step": 0.1},
        "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"},
        "optimizer": {"type": "choice", "values": ["adam", "rmsprop", "sgd", "nadam", "adamw"]},
        "lr_schedule": {"type": "choice", "values": ["none", "exponential", "plateau"]},
        "batch_size": 64,
    }
    size = space_size(space)
    assert size["discrete_combinations"] == 4 * 2 * 8 * 4 * 5 * 3
    assert size["continuous"] == ["learning_rate"]


def test_rolling_folds_step_back_from_the_validation_split_without_overlap():
    spec = WindowSpec(input_size=8, horizon=2)
    train, val = window_origins(0, 50, spec), window_origins(50, 60, spec)
    folds = rolling_folds(train, val, folds=3, horizon=2)
    assert len(folds) == 3
    np.testing.assert_array_equal(folds[-1][0], train)  # the last fold is the plain split
    np.testing.assert_array_equal(folds[-1][1], val)
    for fit_on, block in folds:
        assert len(block) == len(val)
        assert fit_on.max() + spec.horizon <= block[0]  # no training target inside the block
    assert folds[0][1][-1] < folds[1][1][0] and folds[1][1][-1] < folds[2][1][0]
    with pytest.raises(ConfigError, match="tune.folds=20"):
        rolling_folds(train, val, folds=20, horizon=2)


def test_best_objective_reads_histories_dicts_and_numbers():
    class History:
        history = {"val_mae": [0.5, 0.2, float("nan")], "val_loss": [0.1, 0.1, 0.1]}

    assert best_objective([History()]) == 0.2  # the objective is validation MAE, not the loss
    assert best_objective({"val_mae": 0.3}) == 0.3
    assert best_objective(0.7) == 0.7
    assert best_objective([{"val_mae": float("nan")}]) == float("inf")


def test_distributed_role_follows_keras_tuner_variables():
    assert distributed_role({}) == "single"
    assert distributed_role({"KERASTUNER_TUNER_ID": "chief"}) == "single"  # no oracle address
    oracle = {"KERASTUNER_ORACLE_IP": "10.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"}
    assert distributed_role({**oracle, "KERASTUNER_TUNER_ID": "chief"}) == "chief"
    assert distributed_role({**oracle, "KERASTUNER_TUNER_ID": "tuner3"}) == "worker"


def test_worker_count_is_not_part_of_the_search_identity():
    hashes = {"data.series.md5": "abc"}
    assert search_key(TuneConfig(workers=1), hashes) == search_key(TuneConfig(workers=4), hashes)
    assert search_key(TuneConfig(folds=1), hashes) != search_key(TuneConfig(folds=3), hashes)


def _windowed() -> WindowedData:
    t = np.arange(200)
    values = np.sin(2 * np.pi * t / 12)[:, None].astype(np.float32)
    spec = WindowSpec(12, 2)
    return WindowedData(
        values=values,
        train=window_origins(0, 140, spec),
        val=window_origins(140, 170, spec),
        test=window_origins(170, 200, spec),
        window=spec,
        n_targets=1,
    )


def _search(
    tmp_path: Path, space: dict, folds: int = 1, on_trial_end: Callable[[Any], None] | None = None
) -> tuple[kt.Tuner, list]:
    cfg = TuneConfig(strategy="grid", max_trials=4, max_epochs=2, patience=2, folds=folds, space=space)
    hypermodel = ForecastHyperModel(_windowed(), space, seed=0, folds=folds)
    with mlflow.start_run(run_name="tune") as parent:
        tuner = make_tuner(cfg, hypermodel, tmp_path / "search", parent_run_id=parent.info.run_id, tags={})
        search(tuner, cfg.max_epochs, cfg.patience, on_trial_end=on_trial_end)
        mlflow.flush_async_logging()
        children = mlflow.search_runs(
            filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'", output_format="list"
        )
    return tuner, children


def test_a_diverging_trial_is_recorded_as_failed_and_the_search_goes_on(tmp_path: Path, mlflow_store: str):
    space = {
        "units": 4,
        "optimizer": "sgd",
        "learning_rate": {"type": "choice", "values": [0.01, 1e15]},
        "batch_size": 32,
    }
    tuner, children = _search(tmp_path, space)
    statuses = {t.hyperparameters.values["learning_rate"]: t.status for t in tuner.oracle.trials.values()}
    assert statuses == {0.01: "COMPLETED", 1e15: "FAILED"}
    assert best_trial(tuner).hyperparameters.values["learning_rate"] == 0.01
    tags = {float(r.data.params["learning_rate"]): r.data.tags for r in children}
    assert tags[1e15]["trial_status"] == "failed" and "diverged" in tags[1e15]["error"]
    assert tags[0.01]["trial_status"] in {"completed", "stopped_early"}


def test_the_search_prints_no_tables_and_its_bar_counts_every_trial_and_failure(
    tmp_path: Path, mlflow_store: str, capsys: pytest.CaptureFixture[str]
):
    space = {"units": 4, "optimizer": "sgd", "learning_rate": {"type": "choice", "values": [0.01, 1e15]}}
    with SearchProgress(2) as bar:
        tuner, _ = _search(tmp_path, {**space, "batch_size": 32}, on_trial_end=bar.trial_ended)
        assert bar.bar.n == 2 and bar.best == tuner.oracle.get_best_trials(1)[0].score
    out, err = capsys.readouterr()
    assert "Search: Running Trial" not in out and "Best val_mae So Far" not in out  # keras-tuner's display
    failed = next(t.trial_id for t in tuner.oracle.trials.values() if t.status == "FAILED")
    assert f"trial {failed} failed:" in err and "diverged" in err and "2/2" in err


@pytest.mark.parametrize(
    ("max_epochs", "factor", "iterations"), [(9, 3, 1), (27, 3, 2), (10, 2, 1), (2, 3, 1)]
)
def test_planned_trials_follow_keras_tuners_hyperband_schedule(max_epochs: int, factor: int, iterations: int):
    oracle = kt.oracles.HyperbandOracle(
        objective=kt.Objective("val_mae", "min"), max_epochs=max_epochs, factor=factor
    )
    schedule = sum(
        oracle._get_size(bracket, rnd)
        for bracket in range(oracle._get_num_brackets())
        for rnd in range(oracle._get_num_rounds(bracket))
    )
    cfg = TuneConfig(
        strategy="hyperband", max_epochs=max_epochs, factor=factor, hyperband_iterations=iterations
    )
    assert planned_trials(cfg) == schedule * iterations
    assert planned_trials(TuneConfig(strategy="hyperband", max_epochs=9, factor=3)) == 23  # the co2 run's
    assert planned_trials(TuneConfig(strategy="random", max_trials=7)) == 7


def test_rolling_origin_folds_score_a_trial_by_their_mean(tmp_path: Path, mlflow_store: str):
    space = {"units": 4, "learning_rate": 0.01, "batch_size": 32}
    tuner, children = _search(tmp_path, space, folds=2)
    (trial,) = tuner.oracle.trials.values()
    client = mlflow.MlflowClient()
    (child,) = children
    fold0 = min(m.value for m in client.get_metric_history(child.info.run_id, "fold0.val_mae"))
    last = min(m.value for m in client.get_metric_history(child.info.run_id, "val_mae"))
    assert trial.score == pytest.approx((fold0 + last) / 2, rel=1e-5)


def test_tuner_state_survives_a_kill_in_the_middle_of_a_write(tmp_path):
    """keras-tuner's state files are replaced atomically: a kill leaves the last good one.

    The writer imports tsforge.search (which must not change keras-tuner by itself) and then
    turns the atomic writes on as :func:`make_tuner` does.
    """
    import json
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "oracle.json"
    writer = (
        "import sys\n"
        "from keras_tuner.src import utils\n"
        "own = utils.save_json\n"
        "from tsforge.search import atomic_tuner_state\n"
        "if utils.save_json is not own:\n"
        "    sys.stdout.write('importing tsforge.search replaced save_json\\n'); sys.exit(1)\n"
        "atomic_tuner_state(); atomic_tuner_state()  # what making a tuner does; twice is once\n"
        "state = {'tried_so_far': [str(i) * 20 for i in range(100000)]}\n"
        "utils.save_json(sys.argv[1], state)\n"
        "sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
        "while True:\n"
        "    utils.save_json(sys.argv[1], state)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", writer, str(path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    for _ in range(20):  # kill it at twenty moments in its write loop, checking each time
        time.sleep(0.05)
        process.send_signal(signal.SIGSTOP)
        assert len(json.loads(path.read_text())["tried_so_far"]) == 100000
        process.send_signal(signal.SIGCONT)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(json.loads(path.read_text())["tried_so_far"]) == 100000


def test_making_a_tuner_turns_atomic_state_writes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from keras_tuner.src import utils

    from tsforge import search as search_module

    monkeypatch.setattr(utils, "save_json", search_module._keras_tuner_save_json)  # as installed
    space = {"units": 4, "batch_size": 32}
    cfg = TuneConfig(strategy="grid", max_trials=1, max_epochs=1, space=space)
    hypermodel = ForecastHyperModel(_windowed(), space, seed=0)
    make_tuner(cfg, hypermodel, tmp_path / "search", parent_run_id="unused", tags={})
    assert utils.save_json is search_module._save_json_atomically


def test_ensemble_candidates_are_distinct_hyperparameters_best_first():
    """Hyperband continues a trial as a new one with the same values: it must not become
    a second, identical ensemble member."""
    from tsforge.search_results import distinct_best

    def trial(trial_id: str, score: float, **values: object) -> object:
        hp = kt.HyperParameters()
        for name, value in values.items():
            hp.Fixed(name, value)
        return type("Trial", (), {"trial_id": trial_id, "score": score, "hyperparameters": hp})()

    ranked = [
        trial("0018", 0.50, units=32, **{"tuner/epochs": 9, "tuner/trial_id": "0016"}),
        trial("0016", 0.52, units=32, **{"tuner/epochs": 3}),
        trial("0003", float("nan"), units=64),
        trial("0007", 0.60, units=16, **{"tuner/epochs": 3}),
        trial("0009", 0.70, units=48),
    ]
    chosen = distinct_best(ranked, 2)
    assert [c["trial_id"] for c in chosen] == ["0018", "0007"]
    assert kt.HyperParameters.from_config(chosen[1]["config"]).values["units"] == 16
