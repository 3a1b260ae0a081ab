"""What the MLflow UI tells a reader (:mod:`tsforge.run_notes`)."""

import types

import pytest

from tsforge import run_notes

METRICS = {
    "test_windows": 12,
    "model": {"rmse": 1.0, "mae": 0.8, "mape": 2.0, "smape": 2.0, "mase": 0.5},
    "naive": {"rmse": 2.0, "mae": 1.6, "mape": 4.0, "smape": 4.0, "mase": 1.0},
    "ets": {"rmse": 1.5, "mae": 1.2, "mape": 3.0, "smape": 3.0, "mase": 0.7},
}


def test_links_open_the_experiments_runs_in_the_model_training_view():
    assert (
        run_notes.runs_url("7") == "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning"
    )
    assert run_notes.runs_url("7", "http://mlflow:5000/").startswith("http://mlflow:5000/#/experiments/7/")
    assert run_notes.version_url("m", "3") == "http://127.0.0.1:5000/#/models/m/versions/3"


def test_the_scores_table_puts_the_best_first_and_the_model_in_bold():
    rows = run_notes.scores_markdown(METRICS, "mase").splitlines()
    assert rows[0] == "| method | rmse | mae | mape | smape | mase |"
    assert [r.split(" | ")[0] for r in rows[2:]] == ["| **model**", "| ets", "| naive"]
    assert rows[3].endswith("| 0.7 |")


def test_each_note_says_what_the_run_is_and_how_to_rebuild_it():
    tuning = run_notes.tuning_note(
        strategy="hyperband", trials=23, best_trial="0012", family="mlp", score=0.101, commit="abc1234"
    )
    assert "23 trials" in tuning and "trial 0012 (mlp)" in tuning
    assert "git checkout abc1234 && dvc checkout && dvc repro tune" in tuning
    training = run_notes.training_note(
        source="co2",
        targets=["co2"],
        series=1,
        representation={"transform": "none", "normalize": True, "method": "standard", "fill_policy": "x"},
        served="the network alone",
        reason="no subset scored better on validation",
        commit="abc1234",
    )
    assert "transform none, method standard, normalize True" in training and "fill_policy" not in training
    assert "Serves the network alone: no subset scored better" in training
    table = run_notes.scores_markdown(METRICS, "mase")
    gate = run_notes.evaluation_note(
        model_name="m", version="3", promoted=True, reason="beats ets", table=table, commit="abc1234"
    )
    assert "[m version 3](#/models/m/versions/3) promoted to champion: beats ets." in gate and table in gate
    assert "`champion` alias" in run_notes.model_note(source="co2", targets=["co2"], horizon=4, freq="W-SAT")


def test_make_ui_prints_the_link_to_the_experiments_runs(monkeypatch, capsys: pytest.CaptureFixture[str]):
    import mlflow

    class Client:
        def __init__(self, store: str) -> None:
            self.store = store

        def get_experiment_by_name(self, name: str):  # type: ignore[no-untyped-def]
            return types.SimpleNamespace(experiment_id="4") if self.store == "sqlite:///here.db" else None

    monkeypatch.setattr(mlflow, "MlflowClient", Client)
    run_notes.main(["--store", "sqlite:///here.db"])
    printed = capsys.readouterr().out
    assert "Open http://127.0.0.1:5000/#/experiments/4/runs?workflowType=machine_learning" in printed
    run_notes.main(["--store", "sqlite:///elsewhere.db"])
    printed = capsys.readouterr().out
    assert "No experiment 'tsforge' in sqlite:///elsewhere.db yet: run `make run` first." in printed
