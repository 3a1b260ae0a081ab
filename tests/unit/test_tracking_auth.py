"""Credentials for a tracking server: never shown in a message, and a server's 401 or 403 stops
a command with what went wrong and what to do instead of a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.utils.rest_utils import verify_rest_response

from tsforge import cli, registry, tracking
from tsforge.errors import TsforgeError
from tsforge.tracking import redact

SECRET = "s3cret-p4ss"
MODEL = "tiny-model"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"http://alice:{SECRET}@host:5000", "http://***@host:5000"),
        ("https://alice@host/path?x=1", "https://***@host/path?x=1"),
        (f"http://alice:p@ss{SECRET}@host:5000/x", "http://***@host:5000/x"),  # an @ in the password
        (
            f"postgresql+psycopg2://mlflow:{SECRET}@127.0.0.1:5432/mlflow",
            "postgresql+psycopg2://***@127.0.0.1:5432/mlflow",
        ),
        (
            f"at http://a:{SECRET}@h:1/api failed; store postgresql://m:{SECRET}@db/x.",
            "at http://***@h:1/api failed; store postgresql://***@db/x.",
        ),
    ],
)
def test_redact_hides_the_user_and_password_of_every_uri(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert SECRET not in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "http://127.0.0.1:5000",
        "sqlite:////home/me/project/mlflow.db",
        "file:///srv/a@b/mlruns",
        "mail alice@example.com about http://host:5000",
    ],
)
def test_redact_leaves_uris_without_credentials_alone(text: str) -> None:
    assert redact(text) == text


def test_an_unreachable_server_is_named_without_its_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    monkeypatch.delenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", raising=False)
    from mlflow.tracking._model_registry import utils as registry_utils

    previous, previous_registry = mlflow.get_tracking_uri(), registry_utils._registry_uri
    try:
        with pytest.raises(TsforgeError) as failed:
            tracking.configure(f"http://alice:{SECRET}@127.0.0.1:9", "test", tmp_path)
    finally:
        # configure set both URIs: a later test in this process (pytest-xdist) must not find
        # its models:/ URIs on this unreachable server.
        mlflow.set_tracking_uri(previous)
        registry_utils._registry_uri = previous_registry
    assert "cannot reach the MLflow tracking store at http://***@127.0.0.1:9 (" in str(failed.value)
    assert SECRET not in str(failed.value) and "alice" not in str(failed.value)
    # MLflow's own "View run at <URI>" lines would print the credentials: they are off.
    assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"


def server_error(status: int, endpoint: str, body: str) -> MlflowException:
    """The exception MLflow's REST client raises for the server's answer ``status``."""
    response = requests.Response()
    response.status_code, response._content = status, body.encode()
    with pytest.raises(MlflowException) as raised:
        verify_rest_response(response, endpoint)
    return raised.value


FORBIDDEN = (403, "/api/2.0/mlflow/registered-models/alias", "Permission denied")
UNAUTHENTICATED = (401, "/api/2.0/mlflow/experiments/get-by-name", "You are not authenticated.")


def test_a_403_names_the_user_the_refused_action_and_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "viewer")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    refused = tracking.refusal(server_error(*FORBIDDEN), f"http://viewer:{SECRET}@host:5000")
    assert str(refused) == (
        "user 'viewer' may not move the registry's aliases (such as champion) "
        "(/api/2.0/mlflow/registered-models/alias) on the MLflow server at http://***@host:5000 "
        "(403 permission denied): ask an admin of that server to grant user 'viewer' EDIT on the "
        "experiment and the registered model, or set MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD "
        "to a user who has it (docs/team.md, 'Users and permissions')."
    )


def test_a_401_says_which_variables_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "pipeline")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    wrong = str(tracking.refusal(server_error(*UNAUTHENTICATED), "http://host:5000"))
    assert wrong.startswith(
        "the MLflow server at http://host:5000 refused the credentials in "
        "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (401): set them to a user of that server"
    )
    assert SECRET not in wrong
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    missing = str(tracking.refusal(server_error(*UNAUTHENTICATED), "http://host:5000"))
    assert missing.startswith(
        "the MLflow server at http://host:5000 requires a login (401) and none was given"
    )


def test_a_refusal_is_found_behind_the_error_that_wrapped_it() -> None:
    try:
        try:
            raise server_error(*FORBIDDEN)
        except MlflowException as exc:
            raise RuntimeError("logging the model failed") from exc
    except RuntimeError as wrapped:
        assert tracking.refusal(wrapped, "http://host:5000") is not None


def test_other_failures_are_no_refusal() -> None:
    assert tracking.refusal(server_error(404, "/api/2.0/mlflow/runs/get", "no such run"), "http://h") is None
    assert tracking.refusal(MlflowException("bad value"), "http://h") is None
    assert tracking.refusal(ValueError("x"), "http://h") is None


def test_a_refused_promote_stops_with_the_reason_and_leaves_champion(
    tmp_path: Path, mlflow_store: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "params.yaml").write_text(
        f"registry: {{model_name: {MODEL}}}\ntracking: {{experiment: test}}\n", encoding="utf-8"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "viewer")
    client = mlflow.MlflowClient()
    client.create_registered_model(MODEL)
    for i in range(2):
        client.create_model_version(MODEL, source=(tmp_path / f"model{i}").as_uri())
    client.set_registered_model_alias(MODEL, registry.CHAMPION, "1")

    def forbidden(*_: object) -> None:
        raise server_error(*FORBIDDEN)

    monkeypatch.setattr(mlflow.MlflowClient, "set_registered_model_alias", forbidden)
    assert cli.main(["--project", str(tmp_path), "promote", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: user 'viewer' may not move the registry's aliases") and "(403" in err
    assert "Traceback" not in err
    assert str(client.get_model_version_by_alias(MODEL, registry.CHAMPION).version) == "1"


def test_a_retrain_cycle_records_a_refusal_explained_and_other_errors_without_credentials(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tsforge.retrain import recorded_error

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "viewer")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", SECRET)
    monkeypatch.setattr(mlflow, "get_tracking_uri", lambda: f"http://viewer:{SECRET}@host:5000")
    refused = recorded_error(server_error(*FORBIDDEN), "retrain failed")
    assert refused.startswith("user 'viewer' may not move the registry's aliases (such as champion)")
    assert "http://***@host:5000" in refused and SECRET not in refused
    assert not caplog.records  # a refusal is no bug: no traceback in the job's log
    down = MlflowException(f"API request to http://viewer:{SECRET}@host:5000/api/2.0/x failed")
    other = recorded_error(down, "forecasting failed")
    assert other == "MlflowException: API request to http://***@host:5000/api/2.0/x failed"
    (logged,) = caplog.records  # the traceback, for a bug, with the credentials hidden too
    assert logged.getMessage().startswith(
        "forecasting failed\nmlflow.exceptions.MlflowException: API request to http://***@host:5000"
    )
    assert SECRET not in caplog.text
