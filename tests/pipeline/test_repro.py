"""The real `dvc repro` in a temporary copy of the project, on a tiny profile."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.pipeline.conftest import BIN, free_port, make_project, pipeline_env, run, set_params, wait_for_http

pytestmark = pytest.mark.pipeline

STAGES = ["ingest", "validate", "scale", "window", "tune", "train", "evaluate"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + DVC copy of the project with the tiny profile, already reproduced."""
    return make_project(tmp_path_factory.mktemp("project"))


def _client(project: Path):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def test_all_seven_stages_run(project: Path):
    log = (project / "first_repro.log").read_text()
    for stage in STAGES:
        assert f"Running stage '{stage}'" in log


def test_one_tuning_parent_run_with_a_child_per_trial(project: Path):
    client = _client(project)
    experiment = client.get_experiment_by_name("tsforge")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if r.data.tags.get("stage") == "tune"]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    trials = pd.read_csv(project / "reports/tuning_trials.csv")
    assert len(children) == len(trials) == 2
    for child in children:
        assert {"num_layers", "units"} <= set(child.data.params)
        history = client.get_metric_history(child.info.run_id, "val_loss")
        assert len(history) >= 1 and all(math.isfinite(m.value) for m in history)
    assert sum(c.data.tags.get("best_trial") == "true" for c in children) == 1
    assert int(parents[0].data.params["space_discrete_combinations"]) == 2 * 2


def test_a_registered_version_carries_its_lineage(project: Path):
    client = _client(project)
    versions = client.search_model_versions("name = 'tsforge-forecaster'")
    assert len(versions) == 1
    tags = versions[0].tags
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert tags["git_commit"] == commit
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    raw_md5 = next(
        o["md5"] for o in lock["stages"]["ingest"]["outs"] if o["path"] == "data/raw/series.parquet"
    )
    assert tags["data.raw.md5"] == raw_md5  # the same hash DVC recorded
    assert "dvc repro" in versions[0].description


BASELINES = (
    "naive",
    "seasonal_naive",
    "seasonal_naive_drift",
    "theta",
    "ets",
    "ces",
    "dot",
    "theta_ets",
    "stat_ensemble",
)


def test_metrics_are_finite_for_the_model_and_every_baseline(project: Path):
    metrics = json.loads((project / "reports/metrics.json").read_text())
    for name in ("model", *BASELINES):
        for metric in ("rmse", "mae", "mape", "smape", "mase"):
            assert math.isfinite(metrics[name][metric]), (name, metric)
        assert len(metrics["per_step"][name]["mae"]) == metrics["horizon"] == 2
    promotion = json.loads((project / "reports/promotion.json").read_text())
    assert promotion["version"] == "1" and promotion["best_baseline"] in BASELINES
    best = min(metrics[b]["mase"] for b in BASELINES)
    assert promotion["best_baseline_score"] == best
    assert promotion["promote"] == (metrics["model"]["mase"] < best)
    # Conformal intervals, calibrated on the validation windows, measured on the test windows.
    conformal = metrics["conformal"]
    assert conformal["level"] == 0.9 and conformal["calibration_windows"] >= 9
    assert 0 <= conformal["coverage"] <= 1 and conformal["mean_width"] > 0
    assert {"coverage_step_1", "coverage_step_2"} <= set(conformal)
    spec = json.loads((project / "models/forecast_spec.json").read_text())
    assert "early-stopped" in spec["conformal"]["source"]  # train.refit: the pre-refit networks
    client = _client(project)
    (evaluated,) = client.search_runs(
        [client.get_experiment_by_name("tsforge").experiment_id], "tags.stage = 'evaluate'", max_results=1
    )
    assert evaluated.data.metrics["conformal.coverage"] == conformal["coverage"]


def test_nothing_changed_reruns_nothing_and_an_evaluate_param_reruns_only_evaluate(project: Path):
    again = run(project, str(BIN / "dvc"), "repro")
    assert "Running stage" not in again.stdout
    # Whether the tiny model beat the baselines or not, make version 1 champion by hand.
    promoted = run(project, str(BIN / "tsforge"), "promote", "1", "--reason", "test setup")
    assert "champion -> version 1" in promoted.stdout
    set_params(project, {"registry": {"min_improvement": 0.5}})
    changed = run(project, str(BIN / "dvc"), "repro")
    assert [s for s in STAGES if f"Running stage '{s}'" in changed.stdout] == ["evaluate"]
    promotion = json.loads((project / "reports/promotion.json").read_text())
    # The champion (version 1) was re-scored on the same windows; a 50% bar is not met.
    assert promotion["champion"] is not None and not promotion["promote"]
    # The same trained model was re-scored, not registered again: version 1 got new tags.
    assert promotion["version"] == "1" and promotion["new_version"] is False
    assert promotion["champion_after"] == "1"
    assert [
        str(v.version) for v in _client(project).search_model_versions("name = 'tsforge-forecaster'")
    ] == ["1"]


def test_promote_and_rollback_move_the_champion_with_a_recorded_reason(project: Path):
    client = _client(project)
    # A second version to move to: retrain with another seed (min_improvement 0.5 keeps it challenger).
    set_params(project, {"train": {"seed": 7}})
    retrained = run(project, str(BIN / "dvc"), "repro")
    assert [s for s in STAGES if f"Running stage '{s}'" in retrained.stdout] == ["train", "evaluate"]
    assert json.loads((project / "reports/promotion.json").read_text())["version"] == "2"
    run(project, str(BIN / "tsforge"), "promote", "2", "--reason", "try two")
    assert str(client.get_model_version_by_alias("tsforge-forecaster", "champion").version) == "2"
    back = run(project, str(BIN / "tsforge"), "rollback", "--reason", "two was worse")
    assert "rolled back from version 2 to 1" in back.stdout
    assert str(client.get_model_version_by_alias("tsforge-forecaster", "champion").version) == "1"
    history = json.loads(client.get_registered_model("tsforge-forecaster").tags["alias_history"])
    champion_moves = [(m["version"], m["reason"]) for m in history if m["alias"] == "champion"]
    assert champion_moves[-3:] == [
        ("1", "manual promote: test setup"),
        ("2", "manual promote: try two"),
        ("1", "rollback: two was worse"),
    ]


def test_forecast_writes_every_series_next_steps_with_the_champion_and_logs_them(project: Path):
    """`tsforge forecast` after the rollback above: version 1 is champion."""
    done = run(project, str(BIN / "tsforge"), "forecast")
    raw = pd.read_parquet(project / "data/raw/series.parquet")
    last = raw["date"].max()
    path = project / "forecasts" / f"{last:%Y-%m-%d}.parquet"
    assert str(path) in done.stdout and "version 1: 2 forecast rows for 1 series" in done.stdout
    table = pd.read_parquet(path)
    assert list(table.columns) == ["series", "timestamp", "forecast", "lower", "upper", "model_version"]
    assert list(table["timestamp"]) == [last + pd.Timedelta(weeks=w) for w in (1, 2)]  # the tiny horizon
    assert (abs(table["forecast"] - raw["co2"].dropna().iloc[-1]) < 10).all()  # original units
    assert set(table["model_version"]) == {"1"}
    # The champion's conformal interval at evaluate.interval_level, around the forecast.
    assert (table["lower"] < table["forecast"]).all() and (table["forecast"] < table["upper"]).all()
    client = _client(project)
    (logged,) = client.search_runs(
        [client.get_experiment_by_name("tsforge").experiment_id], "tags.stage = 'forecast'"
    )
    assert logged.data.tags["model_version"] == "1"
    assert [a.path for a in client.list_artifacts(logged.info.run_id, "forecasts")] == [
        f"forecasts/{path.name}"
    ]


def test_mlflow_models_predict_takes_a_plain_csv_of_history(project: Path, tmp_path: Path):
    """The CSV route the issue found broken: dates as text, values as read_csv gives them."""
    history = pd.read_parquet(project / "data/raw/series.parquet").tail(20)
    history.assign(date=history["date"].dt.strftime("%Y-%m-%d")).to_csv(tmp_path / "history.csv", index=False)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    command = [str(BIN / "mlflow"), "models", "predict", "-m", "models:/tsforge-forecaster@champion"]
    files = ["-i", str(tmp_path / "history.csv"), "-t", "csv", "-o", str(tmp_path / "out.json")]
    run(project, *command, *files, "--env-manager", "local", env=env)
    predictions = json.loads((tmp_path / "out.json").read_text())["predictions"]
    assert [pd.Timestamp(p["date"]) for p in predictions] == [
        history["date"].iloc[-1] + pd.Timedelta(weeks=w) for w in (1, 2)
    ]


def test_every_stage_run_names_the_snapshot_as_its_dataset(project: Path):
    client = _client(project)
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    raw_md5 = next(
        o["md5"] for o in lock["stages"]["ingest"]["outs"] if o["path"] == "data/raw/series.parquet"
    )
    runs = client.search_runs([client.get_experiment_by_name("tsforge").experiment_id])
    latest = {r.data.tags.get("stage"): r for r in reversed(runs)}  # search_runs: newest first
    for stage in ("validate", "tune", "train", "evaluate", "forecast"):
        (dataset_input,) = latest[stage].inputs.dataset_inputs
        dataset = dataset_input.dataset
        assert (dataset.name, dataset.digest) == ("bundled dataset 'co2'", raw_md5), stage
        assert json.loads(dataset.source)["uri"] == str(project / "data/raw/series.parquet")
        assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == stage


def test_the_mlflow_ui_opens_on_the_runs_and_each_run_says_what_it_is(project: Path, tmp_path: Path):
    client = _client(project)
    experiment = client.get_experiment_by_name("tsforge")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    promotion = json.loads((project / "reports/promotion.json").read_text())
    url = f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
    assert promotion["runs_url"] == url
    assert url in run(project, str(BIN / "tsforge"), "summary").stdout
    runs = client.search_runs([experiment.experiment_id])
    latest = {r.data.tags.get("stage"): r for r in reversed(runs)}  # search_runs: newest first
    notes = {s: latest[s].data.tags.get("mlflow.note.content", "") for s in ("tune", "train", "evaluate")}
    assert "Hyperparameter search" in notes["tune"] and "dvc repro tune" in notes["tune"]
    assert "Representation" in notes["train"] and "Serves" in notes["train"]
    version = promotion["version"]
    assert f"#/models/tsforge-forecaster/versions/{version}" in notes["evaluate"]
    table = client.download_artifacts(latest["evaluate"].info.run_id, "scores.md", str(tmp_path))
    rows = Path(table).read_text().splitlines()
    assert rows[0].startswith("| method | rmse") and any(r.startswith("| **model** |") for r in rows)
    assert "champion" in client.get_registered_model("tsforge-forecaster").description


CACHED_OUTPUTS = (
    "data/raw/series.parquet",
    "data/processed/series.npz",
    "data/processed/windows.npz",
    "models/model.keras",
)


def test_outputs_pushed_to_the_default_remote_come_back_after_the_cache_is_lost(project: Path):
    import shutil

    before = {p: (project / p).read_bytes() for p in CACHED_OUTPUTS}
    run(project, str(BIN / "dvc"), "push")
    assert any((project / "dvc-storage").rglob("*")), "the default local remote received nothing"
    shutil.rmtree(project / ".dvc/cache")
    shutil.rmtree(project / "models/tuner")
    for path in CACHED_OUTPUTS:
        (project / path).unlink()

    run(project, str(BIN / "dvc"), "pull")

    for path, content in before.items():
        assert (project / path).read_bytes() == content, path
    assert (project / "models/tuner").is_dir()
    again = run(project, str(BIN / "dvc"), "repro")
    assert "Running stage" not in again.stdout


def test_served_champion_answers_raw_history_with_a_forecast_in_real_units(project: Path):
    """`mlflow models serve` on models:/…@champion, started on loopback; the champion is the
    tiny profile's two-network median ensemble, served behind one model URI."""
    import urllib.request

    ensemble = json.loads((project / "reports/training.json").read_text())["ensemble"]
    assert len(ensemble["members"]) == 2 and ensemble["combine"] == "median"

    port = free_port()
    env = {**pipeline_env(), "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    model = "models:/tsforge-forecaster@champion"
    cmd = [str(BIN / "mlflow"), "models", "serve", "-m", model, "--env-manager", "local", "-p", str(port)]
    server = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/ping"), "mlflow models serve did not start"
        history = pd.read_parquet(project / "data/raw/series.parquet").tail(20)
        rows = [[t.strftime("%Y-%m-%d"), None if pd.isna(v) else float(v)] for t, v in history.to_numpy()]
        split = {"columns": ["date", "co2"], "data": rows}

        def ask(payload: dict) -> list[dict]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                json.dumps(payload).encode(),
                {"Content-Type": "application/json"},
            )
            return json.loads(urllib.request.urlopen(request, timeout=60).read())["predictions"]

        predictions = ask({"dataframe_split": split})
        with_intervals = ask({"dataframe_split": split, "params": {"intervals": True, "level": 0.8}})
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert len(predictions) == 2  # the tiny profile's horizon
    last = history["date"].iloc[-1]
    assert pd.Timestamp(predictions[0]["date"]) == last + pd.Timedelta(weeks=1)
    # Original units: parts per million near the last observation, not a scaled difference.
    assert abs(predictions[0]["co2"] - float(history["co2"].dropna().iloc[-1])) < 10
    assert set(predictions[0]) == {"date", "co2"}  # no intervals unless asked
    for plain, banded in zip(predictions, with_intervals, strict=True):
        assert banded["co2"] == pytest.approx(plain["co2"])
        assert banded["co2_lower"] < banded["co2"] < banded["co2_upper"]


def _bad_files(project: Path) -> dict[str, tuple[bytes | None, str]]:
    """Each bad input (file bytes; None: no file at all) and what its message must say."""
    good = pd.read_parquet(project / "data/raw/series.parquet")
    good["date"] = good["date"].dt.strftime("%Y-%m-%d")

    def csv(frame: pd.DataFrame) -> bytes:
        return frame.to_csv(index=False).encode()

    inf = good.copy()
    inf.loc[[10, 20], "co2"] = [np.inf, -np.inf]
    return {
        "empty": (b"", "bad.csv: the file is empty"),
        "header-only": (b"date,co2\n", "bad.csv: the file has a header but no data rows"),
        "no-time-column": (csv(good.rename(columns={"date": "when"})), "column(s) ['date'] not found"),
        "no-target": (csv(good.rename(columns={"co2": "ppm"})), "column(s) ['co2'] not found"),
        "text-target": (
            b"date,co2\n2024-01-01,1\n2024-01-08,lots\n",
            "bad.csv: column 'co2' must be numeric but has 1 text value(s) such as 'lots'",
        ),
        "duplicate-times": (
            csv(pd.concat([good, good.iloc[[7]]])),
            "expect_column_values_to_be_unique on column 'date'",
        ),
        "all-missing": (csv(good.assign(co2=np.nan)), "on column 'co2': 100.0% missing"),
        "too-short": (csv(good.head(6)), "6 rows, need at least"),
        "infinite": (csv(inf), "expect_column_values_to_be_between on column 'co2': 2 unexpected"),
        "binary": (b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary", "bad.csv: not a UTF-8 text file"),
        "no-such-file": (None, "bad.csv: file not found. Set data.path"),
    }


BAD_CASES = [
    "empty",
    "header-only",
    "no-time-column",
    "no-target",
    "text-target",
    "duplicate-times",
    "all-missing",
    "too-short",
    "infinite",
    "binary",
    "no-such-file",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_stops_with_a_clear_error_and_loses_nothing(project: Path, case: str):
    content, message = _bad_files(project)[case]
    client = _client(project)
    experiment = client.get_experiment_by_name("tsforge").experiment_id
    before_versions = len(client.search_model_versions("name = 'tsforge-forecaster'"))
    before_champion = client.get_model_version_by_alias("tsforge-forecaster", "champion").version
    before_runs = len(client.search_runs([experiment]))
    kept = {
        p: (project / p).read_bytes()
        for p in (
            "data/raw/series.parquet",
            "data/raw/ingest.json",
            "reports/metrics.json",
            "reports/eda.json",
        )
    }
    params = (project / "params.yaml").read_text()
    if content is not None:
        (project / "bad.csv").write_bytes(content)
    set_params(project, {"data": {"source": "file", "path": "bad.csv", "until": None}})
    try:
        result = run(project, str(BIN / "dvc"), "repro", check=False)
    finally:
        (project / "params.yaml").write_text(params)
        (project / "bad.csv").unlink(missing_ok=True)

    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]
    assert "Running stage 'validate'" not in result.stdout
    assert len(client.search_model_versions("name = 'tsforge-forecaster'")) == before_versions
    assert client.get_model_version_by_alias("tsforge-forecaster", "champion").version == before_champion
    assert len(client.search_runs([experiment])) == before_runs
    for path, content_before in kept.items():
        assert (project / path).read_bytes() == content_before, f"{path} changed"
