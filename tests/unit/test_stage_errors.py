"""A full disk and a tracking server lost part way through a stage stop it with a message that
says so (tsforge.stage.run, exit 2), not a traceback; any other error still raises."""

from __future__ import annotations

import errno
import os

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException

from tsforge import stage

SECRET = "s3cret-p4ss"


def _copy_error() -> OSError:
    """What shutil.copy2 raises when the destination's disk is full (source, then destination)."""
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/tmp/x/model/MLmodel", None, "/store/m/MLmodel")


def test_a_full_disk_names_the_file_it_could_not_write() -> None:
    explained = stage.disk_full(_copy_error())
    assert explained is not None
    assert str(explained).startswith("the disk is full: No space left on device writing /store/m/MLmodel.")


def test_a_full_disk_is_found_behind_the_error_that_wrapped_it() -> None:
    try:
        try:
            raise _copy_error()
        except OSError as exc:
            raise RuntimeError("logging the model failed") from exc
    except RuntimeError as wrapped:
        assert stage.disk_full(wrapped) is not None
    assert stage.disk_full(OSError(errno.EACCES, "Permission denied")) is None


def test_a_lost_server_is_explained_without_its_credentials() -> None:
    mlflow.set_tracking_uri(f"http://pipeline:{SECRET}@127.0.0.1:9")
    try:
        try:
            try:
                raise requests.exceptions.ConnectionError(f"http://pipeline:{SECRET}@127.0.0.1:9: refused")
            except requests.exceptions.ConnectionError as exc:
                raise MlflowException(f"API request failed with exception {exc}") from None
        except MlflowException as lost:
            explained = stage.tracking_lost(lost)
    finally:
        mlflow.set_tracking_uri(None)
    assert explained is not None
    assert str(explained).startswith("cannot reach the MLflow tracking store at http://***@127.0.0.1:9 ")
    assert SECRET not in str(explained)
    # A connection error that did not come through MLflow is some other failure.
    assert stage.tracking_lost(requests.exceptions.ConnectionError("a data source")) is None


def test_any_other_error_still_raises() -> None:
    def main() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        stage.run(main)


def test_a_full_disk_exits_2_with_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    def main() -> None:
        raise _copy_error()

    with pytest.raises(SystemExit) as exited:
        stage.run(main)
    assert exited.value.code == 2
    assert "ERROR: the disk is full" in capsys.readouterr().err
