"""The ``tsforge`` command refuses bad input with one readable line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from tsforge import cli, registry

MODEL = "tiny-model"


@pytest.fixture
def project(tmp_path: Path, mlflow_store: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose registry holds versions 1, 2, 3 and 5 of MODEL (4 was deleted)."""
    (tmp_path / "params.yaml").write_text(
        f"registry: {{model_name: {MODEL}}}\ntracking: {{experiment: test}}\n", encoding="utf-8"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    client = mlflow.MlflowClient()
    client.create_registered_model(MODEL)
    for i in range(5):
        # The registry only records the source; promote never loads the model.
        client.create_model_version(MODEL, source=(tmp_path / f"model{i}").as_uri())
    client.delete_model_version(MODEL, "4")
    return tmp_path


def test_promote_of_a_missing_version_names_the_existing_ones(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--project", str(project), "promote", "99"]) == 2
    err = capsys.readouterr().err
    assert err == f"ERROR: {MODEL} has no version 99; existing versions: 1-3, 5.\n"


def test_promote_of_a_non_number_is_refused_the_same_way(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--project", str(project), "promote", "latest"]) == 2
    assert "existing versions: 1-3, 5" in capsys.readouterr().err


def test_promote_of_an_existing_version_moves_champion(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--project", str(project), "promote", "5"]) == 0
    assert capsys.readouterr().out == f"{MODEL}: champion -> version 5\n"
    assert str(mlflow.MlflowClient().get_model_version_by_alias(MODEL, registry.CHAMPION).version) == "5"


def test_promote_before_any_registration_says_so(
    tmp_path: Path, mlflow_store: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "params.yaml").write_text("registry: {model_name: unseen}\n", encoding="utf-8")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    assert cli.main(["--project", str(tmp_path), "promote", "1"]) == 2
    assert (
        capsys.readouterr().err
        == "ERROR: unseen has no registered versions yet; `dvc repro` registers one.\n"
    )


@pytest.mark.parametrize("workers", ["0", "-2", "two"])
def test_tune_refuses_a_worker_count_below_one(
    workers: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def never(root: Path, count: int) -> int:
        raise AssertionError("tune_job must not start")

    monkeypatch.setattr(cli, "tune_job", never)
    with pytest.raises(SystemExit) as exited:
        cli.main(["tune", f"--workers={workers}"])
    assert exited.value.code != 0
    err = capsys.readouterr().err
    assert "argument --workers:" in err and "Traceback" not in err


def test_tune_accepts_a_positive_worker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(cli, "tune_job", lambda root, count: calls.append(count) or 0)
    assert cli.main(["tune", "--workers", "3"]) == 0
    assert calls == [3]


def test_ranges_compress_consecutive_versions() -> None:
    assert registry._ranges([1]) == "1"
    assert registry._ranges([1, 2, 3, 5, 7, 8]) == "1-3, 5, 7-8"
