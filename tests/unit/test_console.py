"""The console: quiet unless TSFORGE_VERBOSE=1, native noise filtered, one bar for the search."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from tsforge import console

ABSL_PREINIT = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
ONEDNN = "I0000 00:00:1796288858.829383   28202 port.cc:153] oneDNN custom operations are on.\n"
NODEDEF = (
    "E0000 00:00:1796288866.547832   28202 node_def_util.cc:682] NodeDef mentions attribute "
    "use_unbounded_threadpool which is not in the op definition\n"
)


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_verbose_shows_everything_and_changes_no_environment(value: str):
    chosen = console.settings({console.VERBOSE_ENV: value})
    assert chosen.verbose and chosen.env == {}
    assert chosen.log_level == logging.INFO and "%(asctime)s" in chosen.log_format


@pytest.mark.parametrize("environ", [{}, {console.VERBOSE_ENV: "0"}, {console.VERBOSE_ENV: ""}])
def test_quiet_is_the_default_and_turns_tensorflows_cpp_log_down_to_fatal(environ: dict[str, str]):
    chosen = console.settings(environ)
    assert not chosen.verbose
    # 3, not 2: at 2 the NodeDef error of every fit still shows.
    assert chosen.env["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert chosen.env["MLFLOW_LOGGING_LEVEL"] == "WARNING"
    assert chosen.log_level == logging.WARNING and "%(asctime)s" not in chosen.log_format


def test_quiet_keeps_a_setting_the_person_made():
    chosen = console.settings({"TF_CPP_MIN_LOG_LEVEL": "1"})
    assert "TF_CPP_MIN_LOG_LEVEL" not in chosen.env and "MLFLOW_LOGGING_LEVEL" in chosen.env


def test_prepare_sets_the_quiet_environment_and_leaves_a_verbose_one_alone(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # prepare may add its import hook
    with warnings.catch_warnings():
        quiet: dict[str, str] = {"PATH": "/bin"}
        assert not console.prepare(quiet).verbose
        assert quiet == {"PATH": "/bin", **console.QUIET_ENV}
        verbose = {console.VERBOSE_ENV: "1"}
        assert console.prepare(verbose).verbose
        assert verbose == {console.VERBOSE_ENV: "1"}


def test_native_noise_is_info_and_warning_lines_never_errors():
    assert console.is_native_noise(ABSL_PREINIT)
    assert console.is_native_noise(ONEDNN)
    assert console.is_native_noise("W1203 09:07:19.980000  7 cpu_feature_guard.cc:227] rebuild TensorFlow\n")
    assert not console.is_native_noise(NODEDEF)
    assert not console.is_native_noise("F0000 00:00:1796288866.547832   28202 check.cc:1] aborting\n")
    assert not console.is_native_noise("ERROR: params.yaml: tune.max_epochs must be at least 1\n")
    assert not console.is_native_noise("Traceback (most recent call last):\n")


def test_what_cpp_writes_while_filtered_reaches_stderr_less_the_noise(capfd: pytest.CaptureFixture[str]):
    with console.native_stderr_filtered():
        for line in (ABSL_PREINIT, ONEDNN, NODEDEF, "a Python warning\n"):
            os.write(2, line.encode())
    os.write(2, ONEDNN.encode())  # after the block, nothing is filtered
    err = capfd.readouterr().err
    assert err == NODEDEF + "a Python warning\n" + ONEDNN


def _trial(trial_id: str, status: str, score: float | None = None, message: str = "") -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id, status=status, score=score, message=message)


def test_the_search_bar_counts_ended_trials_keeps_the_best_and_says_failures(
    capsys: pytest.CaptureFixture[str],
):
    with console.SearchProgress(4, done=1, best=0.5) as bar:
        bar.trial_ended(_trial("0001", "COMPLETED", 0.3))
        bar.trial_ended(_trial("0002", "INVALID"))  # to be retried: not ended yet
        failed = "Traceback ...\nFailedTrialError: the loss diverged"
        bar.trial_ended(_trial("0002", "FAILED", message=failed))
        bar.trial_ended(_trial("0003", "COMPLETED", 0.4))
        assert (bar.bar.n, bar.best) == (4, 0.3)
    out, err = capsys.readouterr()
    assert out == ""
    assert "trial 0002 failed: FailedTrialError: the loss diverged" in err
    assert "4/4" in err and "best val_mae 0.3" in err


def test_a_disabled_search_bar_shows_nothing(capsys: pytest.CaptureFixture[str]):
    with console.SearchProgress(2, enabled=False) as bar:
        bar.trial_ended(_trial("0001", "FAILED", message="boom"))
        bar.trial_ended(_trial("0002", "COMPLETED", 0.1))
    assert capsys.readouterr() == ("", "")


def test_paths_are_shown_relative_to_the_project(tmp_path: Path):
    inside, outside = tmp_path / "reports" / "metrics.json", Path("/elsewhere/x.csv")
    assert console.paths(tmp_path, inside, outside) == "reports/metrics.json, /elsewhere/x.csv"
