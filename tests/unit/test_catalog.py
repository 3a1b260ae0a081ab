"""The artifact catalog: typed round trips, the on-disk format earlier versions wrote,
atomic writes, paths under an explicit root, and agreement with dvc.yaml."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tsforge import catalog, stage
from tsforge.catalog import IngestSummary, ProcessedSeries, Project, Windows
from tsforge.panel import scalers_to_dict
from tsforge.scaling import AffineScaler
from tsforge.windowing import WindowSpec

ROOT = Path(__file__).resolve().parents[2]
# The keys and order every released version wrote: existing project copies must load.
SERIES_KEYS = [
    "times", "levels", "values", "n_targets", "split", "bounds", "series_names",
    "lost_rows", "difference", "transform", "normalize", "seasonality", "covariates", "weights",
]  # fmt: skip
WINDOWS_KEYS = ["spec", "normalize", "train", "val", "test"]


def _series() -> ProcessedSeries:
    rng = np.random.default_rng(0)
    rows = 10
    return ProcessedSeries(
        times=np.arange("2020-01-01", rows, dtype="datetime64[D]").astype("datetime64[ns]"),
        levels=rng.random((rows, 2)).astype(np.float32),
        values=rng.standard_normal((rows, 2)).astype(np.float32),
        n_targets=1,
        split=np.array([[[0, 3], [3, 4], [4, 5]], [[5, 8], [8, 9], [9, 10]]], dtype=np.int64),
        bounds=np.array([0, 5, 10], dtype=np.int64),
        series_names=("a", "bb"),
        lost_rows=1,
        difference=True,
        transform="log",
        normalize=False,
        weights=np.linspace(0.5, 1.5, rows, dtype=np.float32),
    )


def _windows() -> Windows:
    return Windows(
        WindowSpec(4, 2, 1),
        normalize=True,
        train=np.array([4, 5, 6], dtype=np.int64),
        val=np.array([7], dtype=np.int64),
        test=np.empty(0, dtype=np.int64),
    )


def _assert_same(left: object, right: object) -> None:
    assert type(left) is type(right)
    for name, value in vars(left).items():
        other = vars(right)[name]
        if isinstance(value, np.ndarray):
            assert value.dtype == other.dtype, name
            np.testing.assert_array_equal(value, other, err_msg=name)
        else:
            assert value == other and type(value) is type(other), name


def test_processed_series_round_trip(tmp_path: Path) -> None:
    series = _series()
    series.save(tmp_path / "series.npz")
    loaded = ProcessedSeries.load(tmp_path / "series.npz")
    _assert_same(loaded, series)
    assert loaded.layout.names == ("a", "bb")
    np.testing.assert_array_equal(loaded.layout.bounds, series.bounds)
    with np.load(tmp_path / "series.npz") as raw:
        assert raw.files == SERIES_KEYS


def test_windows_round_trip(tmp_path: Path) -> None:
    windows = _windows()
    windows.save(tmp_path / "windows.npz")
    loaded = Windows.load(tmp_path / "windows.npz")
    _assert_same(loaded, windows)
    assert list(loaded.origins) == ["train", "val", "test"]
    with np.load(tmp_path / "windows.npz") as raw:
        assert raw.files == WINDOWS_KEYS


def test_arrays_written_by_the_stages_before_the_catalog_still_load(tmp_path: Path) -> None:
    # As pipelines/scale.py and pipelines/window.py wrote them by hand.
    s = _series()
    np.savez(
        tmp_path / "series.npz",
        times=s.times, levels=s.levels, values=s.values, n_targets=np.int64(1), split=s.split,
        bounds=s.bounds, series_names=np.array(s.series_names, dtype=str), lost_rows=np.int64(1),
        difference=np.bool_(True), transform=np.str_("log"), normalize=np.bool_(False),
    )  # fmt: skip
    np.savez(
        tmp_path / "windows.npz",
        spec=np.array([4, 2, 1]), normalize=np.bool_(True), train=np.array([4, 5, 6]),
        val=np.array([7]), test=np.empty(0, dtype=np.int64),
    )  # fmt: skip
    # Older arrays carry neither seasonal indices nor loss weights.
    _assert_same(ProcessedSeries.load(tmp_path / "series.npz"), replace(s, weights=None))
    _assert_same(Windows.load(tmp_path / "windows.npz"), _windows())


def test_ingest_summary_round_trip_keeps_the_json_layout(tmp_path: Path) -> None:
    summary = IngestSummary(
        source="bundled dataset 'co2'", rows=3, series=1, start="2000-01-01T00:00:00",
        end="2000-01-15T00:00:00", columns=["date", "co2"], freq="W-SAT", sha256="ab" * 32,
        notes=["sorted by time"],
    )  # fmt: skip
    summary.save(tmp_path / "ingest.json")
    assert IngestSummary.load(tmp_path / "ingest.json") == summary
    raw = json.loads((tmp_path / "ingest.json").read_text())
    assert list(raw) == ["source", "rows", "series", "start", "end", "columns", "freq", "sha256", "notes"]


def test_scalers_round_trip_in_the_format_scale_wrote(tmp_path: Path) -> None:
    values = np.random.default_rng(1).normal(size=(12, 2))
    scalers = {name: AffineScaler.fit(values, ("x", "y"), name) for name in ("standard", "robust")}
    path = tmp_path / "models" / "scaler.json"
    catalog.save_scalers(path, scalers)
    assert catalog.load_scalers(path) == scalers
    # Byte for byte what pipelines/scale.py wrote by hand: the train stage's dep keeps its hash.
    assert path.read_text() == json.dumps(scalers_to_dict(scalers), indent=2)


def test_json_round_trip_and_format(tmp_path: Path) -> None:
    payload = {"b": 1, "a": [1.5, None], "when": pd.Timestamp("2020-01-01")}
    path = tmp_path / "reports" / "x.json"
    catalog.write_json(path, payload)
    assert path.read_text().endswith("}\n")
    assert catalog.read_json(path) == {"b": 1, "a": [1.5, None], "when": "2020-01-01 00:00:00"}


def test_frame_and_csv_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=3), "y": [1.0, 2.0, 3.0]})
    catalog.save_frame(tmp_path / "raw" / "series.parquet", frame)
    pd.testing.assert_frame_equal(catalog.load_frame(tmp_path / "raw" / "series.parquet"), frame)
    catalog.save_csv(tmp_path / "curve.csv", frame)
    assert (tmp_path / "curve.csv").read_text() == frame.to_csv(index=False)


def test_a_writer_failing_midway_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    catalog.write_json(path, {"old": True})
    before = path.read_bytes()
    with pytest.raises(RuntimeError), catalog.atomic_path(path) as tmp:
        tmp.write_text('{"half": ', encoding="utf-8")
        raise RuntimeError("killed mid-write")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_an_npz_saver_failing_midway_leaves_the_old_arrays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "windows.npz"
    _windows().save(path)
    before = path.read_bytes()

    def broken_savez(file: Path, **arrays: object) -> None:
        Path(file).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        Windows(WindowSpec(9, 9), False, np.arange(3), np.arange(1), np.arange(1)).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["windows.npz"]


def test_the_temporary_file_keeps_the_suffix_savers_insist_on(tmp_path: Path) -> None:
    with catalog.atomic_path(tmp_path / "model.keras") as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".keras" and tmp.name != "model.keras"
        tmp.write_bytes(b"x")
    assert (tmp_path / "model.keras").read_bytes() == b"x"


def test_paths_resolve_under_the_explicit_root_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    relative = Project(Path("proj"))  # made absolute when created
    monkeypatch.chdir(tmp_path / "elsewhere")
    for project in (relative, Project(tmp_path / "proj")):
        assert project.root == tmp_path / "proj"
        assert project.series == tmp_path / "proj/data/processed/series.npz"
        assert project.metrics == tmp_path / "proj/reports/metrics.json"
        assert all(getattr(project, name).is_relative_to(tmp_path / "proj") for name in Project.declared())
    # A stage script's project is the folder above pipelines/, whatever the working directory.
    assert stage.project(tmp_path / "proj/pipelines/train.py").root == tmp_path / "proj"
    assert stage.project(ROOT / "pipelines/train.py").params == ROOT / "params.yaml"


def test_a_saved_artifact_is_found_by_a_project_opened_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = Project(tmp_path)
    _series().save(writer.series)
    monkeypatch.chdir("/")
    _assert_same(ProcessedSeries.load(Project(tmp_path).series), _series())


def _dvc_paths() -> tuple[set[str], set[str]]:
    """(every out/metric/plot of dvc.yaml, every non-code dep), relative to the root."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    outs: set[str] = set()
    deps: set[str] = set()
    for spec in stages.values():
        for key in ("outs", "metrics", "plots"):
            for entry in spec.get(key, []):
                outs.add(entry if isinstance(entry, str) else next(iter(entry)))
        deps.update(d for d in spec.get("deps", []) if not d.endswith(".py"))
    return outs, deps


def test_the_catalog_declares_every_file_dvc_yaml_names() -> None:
    declared = set(Project.declared().values())
    outs, deps = _dvc_paths()
    assert outs - declared == set(), "add these dvc.yaml outputs to tsforge.catalog.Project"
    assert deps - declared == set(), "add these dvc.yaml deps to tsforge.catalog.Project"
    # And every pipeline file the catalog declares is an output of some stage.
    pipeline = {p for p in declared if p.split("/")[0] in {"data", "models", "reports"} and p != "reports"}
    assert pipeline - outs == set(), "the catalog declares files no dvc.yaml stage writes"


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """String constants of a file, docstrings excepted."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_module_but_the_catalog_spells_an_artifact_path() -> None:
    # Paths in folders: bare names (params.yaml, mlflow.db) are named to the user in messages
    # and by the benchmarks' own scratch stores. Prose that mentions a path is no access to it.
    paths = {p for p in Project.declared().values() if "/" in p}
    files = [
        *sorted((ROOT / "pipelines").glob("*.py")),
        *sorted((ROOT / "src/tsforge").rglob("*.py")),
        *sorted((ROOT / "bench").glob("*.py")),
    ]
    found = [
        f"{file.relative_to(ROOT)}:{line}: {text!r}"
        for file in files
        if file.name != "catalog.py"
        for line, text in _string_literals(file)
        if text.strip("/") in paths
    ]
    assert not found, "use tsforge.catalog.Project instead of spelling these paths:\n" + "\n".join(found)
