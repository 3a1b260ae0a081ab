"""The statistical baselines (Theta, ETS, CES, DOT, ARIMA) spread over processes give the
same forecasts as in one process (:mod:`tsforge.statistical`)."""

import logging

import numpy as np
import pytest

from tsforge import statistical as st
from tsforge import statistical_runs as runs
from tsforge.errors import ConfigError


def _panel() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Five short series (seasonal positive, seasonal crossing zero, trending, constant, too
    short for ETS) stacked, with one origin near the end of each."""
    rng = np.random.default_rng(3)
    t = np.arange(40.0)
    series = [
        20 + 5 * np.sin(2 * np.pi * t / 4) + 0.3 * t + rng.normal(0, 0.5, 40),
        3 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 0.5, 40),
        np.linspace(1, 30, 40) + rng.normal(0, 0.2, 40),
        np.full(40, 7.0),
        np.array([1.0, 2.0, 4.0, 3.0, 5.0]),
    ]
    lengths = np.array([len(s) for s in series])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    levels = np.concatenate(series)[:, None]
    origins = starts + lengths - 2
    return levels, origins, starts


def _always_in_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every origin but the first to the process pool, however quick the fits."""
    monkeypatch.setattr(runs, "PROBE_ORIGINS", 1)
    monkeypatch.setattr(runs, "PARALLEL_MIN_SECONDS", 0.0)


@pytest.mark.parametrize(
    "baseline", [st.theta, st.ets, st.ces, st.dot, st.arima], ids=["theta", "ets", "ces", "dot", "arima"]
)
def test_fits_in_several_processes_equal_the_fits_in_one(
    baseline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    levels, origins, starts = _panel()
    kwargs = {"period": 4, "history": 1000, "starts": starts}
    with caplog.at_level(logging.INFO, logger="tsforge.statistical"):
        one = baseline(levels, origins, 2, 1, n_jobs=1, **kwargs)
        _always_in_processes(monkeypatch)
        several = baseline(levels, origins, 2, 1, n_jobs=2, **kwargs)
    np.testing.assert_array_equal(several, one)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3 and "4 of 5 fits in 2 processes" in messages[1]
    # The short series falls back to naive either way, counted once over every process.
    assert messages[0] == messages[2] and "1 of 5 fits fell back" in messages[0]


def test_every_target_of_every_origin_keeps_its_place_across_processes(monkeypatch: pytest.MonkeyPatch):
    levels, origins, starts = _panel()
    two = np.column_stack([levels[:, 0], 100 - levels[:, 0]])
    _always_in_processes(monkeypatch)
    both = st.theta(two, origins, 3, 2, period=4, history=1000, starts=starts, n_jobs=2)
    for target in range(2):
        alone = st.theta(two[:, [target]], origins, 3, 1, period=4, history=1000, starts=starts, n_jobs=1)
        np.testing.assert_array_equal(both[:, :, [target]], alone)


def test_jobs_reads_the_environment_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(runs.JOBS_ENV, raising=False)
    assert runs.jobs() >= 1
    assert runs.jobs(3) == 3
    monkeypatch.setenv(runs.JOBS_ENV, "2")
    assert runs.jobs() == 2
    monkeypatch.setenv(runs.JOBS_ENV, "")
    assert runs.jobs() >= 1
    for bad in ("0", "-1", "all"):
        monkeypatch.setenv(runs.JOBS_ENV, bad)
        with pytest.raises(ConfigError, match=runs.JOBS_ENV):
            runs.jobs()


def test_no_history_before_an_origin_is_refused_before_any_fit():
    levels = np.arange(1.0, 21)[:, None]
    with pytest.raises(ValueError, match="no history before origin 10"):
        st.ets(levels, np.array([15, 10]), 2, 1, period=1, history=30, starts=np.array([0, 10]))


def test_quick_fits_stay_in_this_process(caplog: pytest.LogCaptureFixture):
    levels, origins, starts = _panel()
    with caplog.at_level(logging.INFO, logger="tsforge.statistical"):
        st.theta(levels, origins, 2, 1, period=4, history=1000, starts=starts, n_jobs=2)
    assert "processes" not in caplog.text


@pytest.mark.parametrize("baseline", [st.ets, st.dot], ids=["ets", "dot"])
def test_reused_fits_in_several_processes_equal_those_in_one(baseline, monkeypatch: pytest.MonkeyPatch):
    levels, _, starts = _panel()
    lengths = np.diff(np.append(starts, len(levels)))
    # Rolling origins over the last rows of the four long series: anchors and reusers mixed.
    origins = np.concatenate([s + n - np.arange(2, 8) for s, n in zip(starts[:4], lengths[:4], strict=True)])
    series_starts = np.repeat(starts[:4], 6)
    kwargs = {"period": 4, "history": None, "starts": series_starts}
    one = baseline(levels, origins, 2, 1, n_jobs=1, **kwargs)
    _always_in_processes(monkeypatch)
    np.testing.assert_array_equal(baseline(levels, origins, 2, 1, n_jobs=2, **kwargs), one)
