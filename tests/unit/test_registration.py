"""Registration is idempotent per trained model: re-evaluating the same model_uri updates its
version instead of adding one, and aliases it already holds are not moved again."""

from __future__ import annotations

import json

import mlflow
import pytest

from tsforge import registry

NAME = "forecaster"


def _logged_model() -> tuple[str, str]:
    """A logged model of a new run (no artifacts needed to register it): its URI and run id."""
    with mlflow.start_run() as run:
        model = mlflow.create_external_model(name="forecaster")
    return f"models:/{model.model_id}", run.info.run_id


def _decision(promote: bool) -> registry.Decision:
    return registry.promotion_rule("mase", 0.5 if promote else 2.0, None, {"naive": 1.0}, 0.0)


@pytest.mark.usefixtures("mlflow_store")
def test_same_model_uri_twice_is_one_version_with_the_new_scores():
    uri, run_id = _logged_model()
    first, created = registry.register(uri, NAME, {"test.mase": "0.9", "git_commit": "a"}, "first")
    assert created and first.run_id == run_id
    again, created = registry.register(uri, NAME, {"test.mase": "0.7"}, "scored again")
    assert not created and again.version == first.version
    assert registry.versions(NAME) == [int(first.version)]
    # New scores overwrite, tags not given again stay.
    assert again.tags == {"test.mase": "0.7", "git_commit": "a"} and again.description == "scored again"


@pytest.mark.usefixtures("mlflow_store")
def test_another_model_uri_is_a_new_version_even_from_the_same_run():
    uri, _ = _logged_model()
    registry.register(uri, NAME, {}, "one")
    other, _ = _logged_model()
    second, created = registry.register(other, NAME, {}, "two")
    assert created and str(second.version) == "2"
    with mlflow.start_run(run_id=second.run_id):
        sibling = f"models:/{mlflow.create_external_model(name='other').model_id}"
    third, created = registry.register(sibling, NAME, {}, "three")
    assert created and str(third.version) == "3" and registry.versions(NAME) == [1, 2, 3]
    assert str(registry.find_version(NAME, other).version) == "2"
    assert registry.find_version("no-such-model", other) is None


@pytest.mark.usefixtures("mlflow_store")
def test_a_runs_uri_finds_the_version_registered_from_it():
    uri, run_id = _logged_model()
    runs_uri = f"runs:/{run_id}/forecaster"  # MLflow 3 registers it as the run's logged model
    first, created = registry.register(runs_uri, NAME, {}, "one")
    assert created and first.source == uri
    assert registry.find_version(NAME, runs_uri).version == first.version
    assert registry.find_version(NAME, uri).version == first.version
    assert registry.find_version(NAME, f"runs:/{run_id}/elsewhere") is None


@pytest.mark.usefixtures("mlflow_store")
def test_re_evaluating_the_champion_keeps_it_without_new_alias_moves():
    uri, _ = _logged_model()
    record = registry.publish(uri, NAME, {"test.mase": "0.5"}, "first", _decision(promote=True))
    assert record["version"] == "1" and record["promote"] and record["new_version"]
    client = mlflow.MlflowClient()
    moves = json.loads(client.get_registered_model(NAME).tags[registry.HISTORY_TAG])
    assert [(m["alias"], m["version"]) for m in moves] == [("challenger", "1"), ("champion", "1")]

    # The same model re-scored: re-tagged in place; aliases it holds are not moved again.
    again = registry.publish(uri, NAME, {"test.mase": "0.4"}, "again", _decision(promote=True))
    assert again["version"] == "1" and not again["new_version"]
    assert json.loads(client.get_registered_model(NAME).tags[registry.HISTORY_TAG]) == moves
    assert client.get_model_version(NAME, "1").tags["test.mase"] == "0.4"
    # Not promoted this time (e.g. a stricter gate): the champion stays where it is.
    strict = registry.publish(uri, NAME, {}, "strict", _decision(promote=False))
    assert str(client.get_model_version_by_alias(NAME, registry.CHAMPION).version) == "1"
    assert strict["champion_after"] == "1"  # the record says so, not only the alias

    # A new model becomes challenger; the champion moves only when the gate promotes it.
    other, _ = _logged_model()
    record = registry.publish(other, NAME, {}, "second", _decision(promote=False))
    assert record["version"] == "2" and record["new_version"] and record["champion_after"] == "1"
    assert str(client.get_model_version_by_alias(NAME, registry.CHALLENGER).version) == "2"
    assert str(client.get_model_version_by_alias(NAME, registry.CHAMPION).version) == "1"


def test_registry_uris_and_other_uris_name_no_logged_model():
    assert registry._logged_model_id("models:/m-123") == "m-123"
    for uri in ("models:/forecaster/1", "models:/forecaster@champion", "runs:/abc/model", "s3://x/m-1"):
        assert registry._logged_model_id(uri) is None
