"""The statistical baselines (Theta, ETS, CES, DOT, ARIMA) spread over processes give the
same forecasts as in one process, and grouped per-series scoring gives the same scores as one
mask per series."""

import logging

import numpy as np
import pytest

from tsforge import evaluation as ev
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
    monkeypatch.setattr(ev, "PROBE_ORIGINS", 1)
    monkeypatch.setattr(ev, "PARALLEL_MIN_SECONDS", 0.0)


@pytest.mark.parametrize(
    "baseline", [ev.theta, ev.ets, ev.ces, ev.dot, ev.arima], ids=["theta", "ets", "ces", "dot", "arima"]
)
def test_fits_in_several_processes_equal_the_fits_in_one(
    baseline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    levels, origins, starts = _panel()
    kwargs = {"period": 4, "history": 1000, "starts": starts}
    with caplog.at_level(logging.INFO, logger="tsforge.evaluation"):
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
    both = ev.theta(two, origins, 3, 2, period=4, history=1000, starts=starts, n_jobs=2)
    for target in range(2):
        alone = ev.theta(two[:, [target]], origins, 3, 1, period=4, history=1000, starts=starts, n_jobs=1)
        np.testing.assert_array_equal(both[:, :, [target]], alone)


def test_jobs_reads_the_environment_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ev.JOBS_ENV, raising=False)
    assert ev.jobs() >= 1
    assert ev.jobs(3) == 3
    monkeypatch.setenv(ev.JOBS_ENV, "2")
    assert ev.jobs() == 2
    monkeypatch.setenv(ev.JOBS_ENV, "")
    assert ev.jobs() >= 1
    for bad in ("0", "-1", "all"):
        monkeypatch.setenv(ev.JOBS_ENV, bad)
        with pytest.raises(ConfigError, match=ev.JOBS_ENV):
            ev.jobs()


def test_no_history_before_an_origin_is_refused_before_any_fit():
    levels = np.arange(1.0, 21)[:, None]
    with pytest.raises(ValueError, match="no history before origin 10"):
        ev.ets(levels, np.array([15, 10]), 2, 1, period=1, history=30, starts=np.array([0, 10]))


def _score_series_by_masks(actual, forecast, series, scales):
    """score_series as it was: score() on one boolean mask per series."""
    scales = np.asarray(scales, dtype=np.float64)
    per = [ev.score(actual[series == i], forecast[series == i], scales[i]) for i in np.unique(series)]
    return {name: ev._mean([p[name] for p in per]) for name in per[0]}


def _same(grouped: dict[str, float], masked: dict[str, float]) -> None:
    assert list(grouped) == list(masked)
    for name, value in masked.items():
        assert grouped[name] == pytest.approx(value, rel=1e-12, nan_ok=True), name


def test_grouped_scoring_equals_one_mask_per_series_on_unsorted_ids():
    rng = np.random.default_rng(4)
    series = np.array([3, 0, 3, 1, 0, 3, 1, 1, 0, 3, 5])  # unsorted; series 2 and 4 have no window
    actual = rng.normal(10, 3, (11, 4, 2))
    actual[series == 1, :, 1] = 0.0  # MAPE has no value for one target of one series
    actual[series == 5] = 0.0  # nor for any target of another (and sMAPE 0/0)
    forecast = actual + rng.normal(0, 1, actual.shape)
    forecast[series == 5] = 0.0
    forecast[1, 2, 0] = np.nan  # a series whose forecast has a hole: its metrics are left out
    scales = np.array([[1.0, 2.0], [0.5, np.nan], [9.0, 9.0], [3.0, 0.1], [1.0, 1.0], [np.nan, np.nan]])
    _same(
        ev.score_series(actual, forecast, series, scales),
        _score_series_by_masks(actual, forecast, series, scales),
    )
    per_step = ev.score_per_step(actual, forecast, series, scales)
    for h in range(actual.shape[1]):
        step = _score_series_by_masks(actual[:, h], forecast[:, h], series, scales)
        _same({name: values[h] for name, values in per_step.items()}, step)
    # One scale per series (not per target), and one value per window.
    flat = scales[:, 0]
    _same(
        ev.score_series(actual, forecast, series, flat),
        _score_series_by_masks(actual, forecast, series, flat),
    )
    _same(
        ev.score_series(actual[:, 0, 0], forecast[:, 0, 0], series, flat),
        _score_series_by_masks(actual[:, 0, 0], forecast[:, 0, 0], series, flat),
    )


def test_grouped_scoring_of_many_series_and_of_one():
    rng = np.random.default_rng(5)
    series = rng.permutation(np.repeat(np.arange(300), rng.integers(1, 4, 300)))
    actual = rng.lognormal(2, 1, (len(series), 6, 1))
    forecast = actual * rng.lognormal(0, 0.2, actual.shape)
    scales = rng.uniform(0.5, 2, (300, 1))
    _same(
        ev.score_series(actual, forecast, series, scales),
        _score_series_by_masks(actual, forecast, series, scales),
    )
    one = np.zeros(5, dtype=np.int64)
    _same(
        ev.score_series(actual[:5], forecast[:5], one, scales[:1]),
        ev.score(actual[:5], forecast[:5], scales[0]),
    )


def test_scoring_refuses_scales_for_another_number_of_targets():
    with pytest.raises(ValueError, match="mase"):
        ev.score_series(np.ones((2, 3, 2)), np.ones((2, 3, 2)), np.array([0, 1]), np.ones((2, 3)))


def test_quick_fits_stay_in_this_process(caplog: pytest.LogCaptureFixture):
    levels, origins, starts = _panel()
    with caplog.at_level(logging.INFO, logger="tsforge.evaluation"):
        ev.theta(levels, origins, 2, 1, period=4, history=1000, starts=starts, n_jobs=2)
    assert "processes" not in caplog.text
