"""The stage functions of tsforge.stages called directly, without DVC: what each stage makes
from typed inputs, and what its MLflow wrappers record."""

from __future__ import annotations

import atexit
import gc
import json
from pathlib import Path

import keras_tuner as kt
import mlflow
import numpy as np
import pandas as pd
import pytest

from tsforge import stage
from tsforge.catalog import IngestSummary, ProcessedSeries, Project, Windows, save_frame
from tsforge.config import DataConfig, Params, TrainConfig, TuneConfig, WindowConfig, parse_params
from tsforge.errors import ConfigError, ValidationError
from tsforge.forecaster import ForecastSpec
from tsforge.panel import Layout
from tsforge.scaling import AffineScaler
from tsforge.stages import ingest, scale, train, tune, validate, window
from tsforge.training import OBJECTIVE
from tsforge.windowing import WindowSpec, window_origins

# --- ingest


def _panel_csv(tmp_path: Path, lengths: dict[str, int]) -> Path:
    """Daily series of the given lengths, in long format, in a CSV."""
    frames = [
        pd.DataFrame(
            {
                "id": name,
                "date": pd.date_range("2024-01-01", periods=n, freq="D"),
                "y": np.arange(n, dtype=float),
            }
        )
        for name, n in lengths.items()
    ]
    path = tmp_path / "sales.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def _ingest_params(path: Path, input_size: int = 3) -> Params:
    return parse_params(
        {
            "data": {"source": "file", "path": path.name, "target": ["y"], "series_id": "id"},
            "window": {"input_size": input_size, "horizon": 1},
            "scale": {"difference": "false"},
        }
    )


def test_ingest_summarises_a_source_that_keeps_the_contract(tmp_path: Path):
    path = _panel_csv(tmp_path, {"a": 40, "b": 60})
    snapshot = ingest.ingest(_ingest_params(path), tmp_path)
    summary = snapshot.summary
    assert (summary.source, summary.rows, summary.series) == ("sales.csv", 100, 2)
    assert summary.freq == "D" and summary.columns == ["id", "date", "y"]
    assert summary.start == "2024-01-01T00:00:00" and summary.end == "2024-02-29T00:00:00"
    assert len(snapshot.frame) == 100 and len(summary.sha256) == 64


def test_ingest_refuses_a_source_that_breaks_the_contract_and_says_the_snapshot_stays(tmp_path: Path):
    path = _panel_csv(tmp_path, {"a": 5, "b": 60})
    with pytest.raises(ValidationError, match="The previous snapshot was kept."):
        ingest.ingest(_ingest_params(path, input_size=20), tmp_path)


def test_the_frequency_is_the_longest_series_one_unless_configured():
    frame = pd.DataFrame(
        {
            "date": [
                *pd.date_range("2024-01-01", periods=3, freq="MS"),
                *pd.date_range("2024-01-01", periods=9),
            ],
            "id": ["short"] * 3 + ["long"] * 9,
        }
    )
    layout = Layout.of_frame(frame, "id")
    data = DataConfig(series_id="id")
    assert ingest.frequency(frame, layout, data) == "D"
    assert ingest.frequency(frame, layout, DataConfig(series_id="id", freq="W")) == "W"


# --- validate


def test_a_failed_contract_keeps_the_last_good_data_docs(tmp_path: Path):
    path = _panel_csv(tmp_path, {"a": 5, "b": 60})
    frame = pd.read_csv(path, parse_dates=["date"])
    meta = IngestSummary("sales.csv", len(frame), 2, None, None, list(frame.columns), "D", "x")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "last-good.html").write_text("kept", encoding="utf-8")
    with pytest.raises(ValidationError, match="Great Expectations data docs of this run: .*index.html"):
        validate.check(frame, _ingest_params(path, input_size=20), meta, docs)
    assert [p.name for p in docs.iterdir()] == ["last-good.html"]

    checked = validate.check(frame, _ingest_params(path), meta, docs)
    assert not (docs / "last-good.html").exists() and (docs / "index.html").is_file()
    report = checked.report()
    assert report["success"] is True and report["rows_needed"] == checked.rows_needed
    assert all(c["success"] for c in report["checks"]) and len(report["checks"]) == len(checked.checks)


# --- scale


def test_scale_turns_the_snapshot_into_model_space_series_its_scalers_and_report():
    steps = np.arange(40.0)
    raw = pd.concat(
        [
            pd.DataFrame(
                {"item": name, "date": pd.date_range("2020-01-01", periods=40, freq="MS"), "y": level}
            )
            for name, level in (("a", 10 + steps), ("b", 1000 * 1.05**steps))
        ],
        ignore_index=True,
    )
    raw.loc[3, "y"] = np.nan  # one gap, filled by interpolation
    params = parse_params({"data": {"source": "file", "series_id": "item", "target": ["y"]}})
    advice = {"scaler": "robust", "scaler_reason": "outliers", "difference": True, "difference_reason": "ADF"}
    scaled = scale.scale(
        raw, params, {**advice, "transform": "log", "transform_reason": "x3"}, freq="MS", mase_period=12
    )
    assert scaled.series.series_names == ("a", "b") and set(scaled.scalers) == {"a", "b"}
    assert scaled.series.transform == "log" and scaled.series.weights is not None
    assert scaled.report["filled_values"] == 1 and scaled.report["series"] == 2
    assert scaled.report["rows"] == {"train": 56, "val": 12, "test": 12}


# --- window


def test_window_pools_the_origins_of_every_series_and_reports_them(seasonal_frame):
    series, _, _ = _train_inputs(seasonal_frame)
    windowed = window.window(series, WindowConfig(input_size=12, horizon=3, step=2, min_history="auto"))
    windows, report = windowed.windows, windowed.report
    assert windows.spec == WindowSpec(12, 3, 2) and windows.normalize is False
    np.testing.assert_array_equal(windows.val, window_origins(160, 200, WindowSpec(12, 3, 2)))
    assert report == {
        "input_size": 12,
        "horizon": 3,
        "step": 2,
        "min_history": 4,  # auto: a third of the input
        "padded_train_windows": int((windows.train < 12 + series.lost_rows).sum()),
        "padded_test_windows": 0,
        "normalize": "none",
        "series": 1,
        "train": len(windows.train),
        "val": len(windows.val),
        "test": len(windows.test),
    }
    assert report["padded_train_windows"] == 0  # a series with complete training windows is not padded
    with pytest.raises(ConfigError, match="no val or test windows"):
        window.window(series, WindowConfig(input_size=12, horizon=50))


# --- the run every logging stage opens


def test_a_stage_run_carries_lineage_its_tags_and_the_snapshot(seasonal_frame, mlflow_store, tmp_path: Path):
    project = Project(tmp_path / "proj")
    project.params.parent.mkdir(parents=True)
    project.params.write_text("data: {}\n", encoding="utf-8")
    save_frame(project.raw_series, seasonal_frame)
    with stage.tracked_run(project, "validate", {"raw": project.raw_series}, {"eda.scaler": "robust"}) as run:
        pass
    logged = mlflow.get_run(run.run_id)
    tags = logged.data.tags
    assert tags["stage"] == "validate" and tags["mlflow.runName"] == "validate"
    assert tags["eda.scaler"] == "robust" and "data.raw.md5" in tags and "params_md5" in tags
    assert {k: tags[k] for k in run.lineage} == run.lineage and "git_commit" in run.lineage
    (dataset,) = logged.inputs.dataset_inputs
    assert {t.key: t.value for t in dataset.tags}["mlflow.data.context"] == "validate"


def test_a_stage_runs_with_the_collector_off_what_lives_as_long_as_the_process(
    monkeypatch: pytest.MonkeyPatch,
):
    calls: list[object] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(atexit, "register", calls.append)
    stage.run(lambda: calls.append("main"))
    # The imports frozen before main; everything frozen again at exit, before the teardown.
    assert calls == ["freeze", stage.exit_without_gc, "main"]
    stage.exit_without_gc()
    assert calls[-1] == "freeze"


# --- tune


def test_a_search_folder_depends_on_the_search_and_its_data_not_on_who_runs_it(tmp_path: Path):
    cfg = TuneConfig(strategy="random", max_trials=2)
    lineage = {"data.series.md5": "1", "data.windows.md5": "2", "git_commit": "a", "tsforge.pid": "7"}
    here = tune.search_directory(tmp_path, cfg, lineage)
    assert here.parent == tmp_path and here.name.startswith("search-")
    # Another commit or process resumes the same search; other data or another budget does not.
    assert tune.search_directory(tmp_path, cfg, {**lineage, "git_commit": "b", "tsforge.pid": "8"}) == here
    assert tune.search_directory(tmp_path, cfg, {**lineage, "data.series.md5": "3"}) != here
    assert tune.search_directory(tmp_path, TuneConfig(strategy="random", max_trials=3), lineage) != here
    # How many processes share the search is not part of it.
    assert tune.search_directory(tmp_path, tune.with_workers(cfg, 4), lineage) == here


def test_workers_on_the_command_line_override_the_params():
    cfg = TuneConfig(workers=1)
    assert tune.workers_override([], None) is None
    assert tune.with_workers(cfg, tune.workers_override(["--workers", "3"], None)).workers == 3
    assert tune.with_workers(cfg, None) is cfg


# --- train


def _hp(**values: object) -> kt.HyperParameters:
    hp = kt.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def _train_inputs(frame: pd.DataFrame) -> tuple[ProcessedSeries, Windows, ForecastSpec]:
    """One weekly series, 160 / 40 / 40 rows, standard-scaled on its training rows."""
    levels = frame[["y"]].to_numpy(dtype=np.float64)
    scaler = AffineScaler.fit(levels[:160], ("y",), "standard")
    rows = len(levels)
    series = ProcessedSeries(
        times=frame["date"].to_numpy(dtype="datetime64[ns]"),
        levels=levels.astype(np.float32),
        values=scaler.transform(levels).astype(np.float32),
        n_targets=1,
        split=np.array([[[0, 160], [160, 200], [200, rows]]]),
        bounds=np.array([0, rows]),
        series_names=("",),
        lost_rows=0,
        difference=False,
        transform="none",
        normalize=False,
    )
    geometry = WindowSpec(12, 3)
    windows = Windows(
        geometry,
        False,
        window_origins(0, 160, geometry),
        window_origins(160, 200, geometry),
        window_origins(200, rows, geometry),
    )
    spec = ForecastSpec.of_pipeline(DataConfig(target=("y",)), series, windows, "W-SAT", {"": scaler})
    return series, windows, spec


SPACE = {"units": 4, "learning_rate": 0.01, "batch_size": 32}


@pytest.mark.parametrize("trials", [1, 2])
def test_train_makes_the_served_network_its_calibrated_spec_and_report(seasonal_frame, trials: int):
    series, windows, spec = _train_inputs(seasonal_frame)
    top = [_hp(family="mlp", num_layers=1, width=8), _hp(family="mlp", num_layers=1, width=4)]
    best = {"top": [{"trial_id": f"t{i}", "config": hp.get_config()} for i, hp in enumerate(top)]}
    config = TrainConfig(epochs=2, patience=1, ensemble_trials=trials, ensemble_seeds=1, refit=False)
    calls: list[object] = []
    trained = train.train(
        best,
        series,
        windows,
        spec,
        config=config,
        space=SPACE,
        period=12,
        on_start=lambda hp: calls.append(("start", hp)),
        on_member=lambda member: calls.append(("member", member.trial_id)),
    )
    # The hyperparameters are known before training; a single network gets no child run.
    assert calls[0] == ("start", trained.hyperparameters) and trained.hyperparameters["width"] == 8
    assert calls[1:] == ([("member", "t0"), ("member", "t1")] if trials == 2 else [])
    assert len(trained.final.members) == trials
    calibration = trained.spec.conformal
    assert calibration is not None and calibration.count == len(windows.val)
    assert trained.spec.normalize is False and trained.spec.input_size == 12
    metrics = trained.metrics()
    assert metrics["members"] == trials and np.isfinite(metrics[f"ensemble_{OBJECTIVE}"])
    report = trained.report("run-1", "models:/m-1")
    assert list(report) == [
        "run_id",
        "model_uri",
        "epochs",
        f"best_{OBJECTIVE}",
        "fit_seconds",
        "train_samples_per_second",
        "hyperparameters",
        "ensemble",
        "combination",
        "feature_ablation",
    ]
    assert report["feature_ablation"] is None  # train.feature_ablation is off (and there are no features)
    # auto: every candidate scored on the validation windows, the best one served.
    combination = report["combination"]
    scores = combination["validation"]
    # Few validation windows here: every equal-weight subset of the four methods is tried.
    assert len(scores) == 16 and {"network", "network+theta", "network+theta+ets+ces+dot"} <= set(scores)
    assert combination["served"] == min(scores, key=scores.__getitem__)
    assert combination["served"] == trained.spec.combination.label
    # The calibration reuses the choice's validation forecast: the same as computing it afresh.
    fresh = train.calibrate_final(trained.final, trained.spec, series, windows.val, 12)
    assert fresh is not None and json.dumps(fresh.to_dict()) == json.dumps(calibration.to_dict())
    served_key = combination["served"].replace("+", "_").replace("*", ":")
    assert metrics[f"combination_val_mase/{served_key}"] == pytest.approx(
        scores[combination["served"]], rel=1e-5
    )
    assert report["epochs"] == len(trained.curve) == len(trained.final.members[0].history["loss"])
    assert report[f"best_{OBJECTIVE}"] == pytest.approx(float(trained.curve[OBJECTIVE].min()))
    assert json.loads(json.dumps(report))["ensemble"]["members"][0]["trial_id"] == "t0"


def test_the_train_run_gets_its_figures_and_learning_curve_in_one_batch(seasonal_frame, mlflow_store):
    series, windows, spec = _train_inputs(seasonal_frame)
    best = {"top": [{"trial_id": "t0", "config": _hp(family="mlp", num_layers=1, width=4).get_config()}]}
    config = TrainConfig(epochs=3, patience=3, ensemble_trials=1, ensemble_seeds=1, refit=False)
    trained = train.train(best, series, windows, spec, config=config, space=SPACE, period=12)
    with pytest.raises(RuntimeError, match="active MLflow run"):
        train.log_metrics(trained)
    with mlflow.start_run() as run:
        train.log_metrics(trained)
    client = mlflow.MlflowClient()
    curve = trained.curve
    assert trained.spec.conformal is not None
    last = {k: float(v) for k, v in curve.iloc[-1].items() if k != "epoch"}
    expected = {
        **trained.metrics(),
        "conformal_calibration_windows": trained.spec.conformal.count,
        **last,
    }
    assert client.get_run(run.info.run_id).data.metrics == pytest.approx(expected)
    for key in ("loss", "val_loss", OBJECTIVE):
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in history] == [1, 2, 3]
        assert [m.value for m in history] == pytest.approx(curve[key].tolist())
    assert [m.step for m in client.get_metric_history(run.info.run_id, "fit_seconds")] == [0]
