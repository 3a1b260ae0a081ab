import numpy as np
import pandas as pd

from tsforge.eda import adf_test, column_stats, recommend, seasonal_period
from tsforge.scaling import chronological_split


def test_seasonal_period_is_found_despite_a_trend(seasonal_frame):
    period, strength = seasonal_period(seasonal_frame["y"].to_numpy())
    assert period == 12 and strength > 0.5


def test_white_noise_has_no_season():
    period, _ = seasonal_period(np.random.default_rng(4).normal(size=300))
    assert period == 1


def test_outlier_fraction_and_missing_count():
    import pandas as pd

    values = pd.Series([1.0, 2, 2, 3, 2, 1, 100, np.nan])
    stats = column_stats(values, 1.5)
    assert stats["missing_count"] == 1
    assert stats["outlier_fraction"] == 1 / 7


def test_trending_series_is_differenced_and_outliers_pick_the_robust_scaler(seasonal_frame):
    target = seasonal_frame["y"].to_numpy() + np.arange(240) * 0.2  # leaves the training range
    split = chronological_split(len(target), 0.7, 0.15)
    stats = column_stats(seasonal_frame["y"], 1.5) | {"outlier_fraction": 0.05}
    advice = recommend(target, split, stats, adf_test(target), period=12, robust_outlier_fraction=0.01)
    assert advice.difference and "outside the training range" in advice.difference_reason
    assert advice.scaler == "robust" and "5.0%" in advice.scaler_reason


def test_stationary_series_is_left_in_levels():
    noise = np.random.default_rng(5).normal(size=400)
    split = chronological_split(400, 0.7, 0.15)
    stats = column_stats(__import__("pandas").Series(noise), 1.5) | {"outlier_fraction": 0.0}
    advice = recommend(noise, split, stats, adf_test(noise), period=1, robust_outlier_fraction=0.01)
    assert not advice.difference and advice.scaler == "standard"


def test_many_series_vote_per_series_and_tolerate_a_constant_one():
    from tsforge.eda import recommend_panel

    rng = np.random.default_rng(5)
    steps = np.arange(120)
    trending = [
        100 + 2.0 * steps + 5 * np.sin(2 * np.pi * steps / 12) + rng.normal(0, 1, 120) for _ in range(3)
    ]
    stationary = [10 * np.sin(2 * np.pi * steps / 12) + rng.normal(0, 1, 120)]
    constant = [np.full(120, 7.0)]
    series = trending + stationary + constant
    target = np.concatenate(series)
    bounds = np.arange(0, 121 * 5, 120)[:6]
    splits = np.array([[[b, b + 84], [b + 84, b + 102], [b + 102, b + 120]] for b in bounds[:-1]])
    advice, summary = recommend_panel(
        target, splits, bounds, ("a", "b", "c", "d", "e"), iqr_factor=1.5, robust_outlier_fraction=0.01
    )
    assert advice.difference and "3 of 5 series call for differencing" in advice.difference_reason
    assert advice.season_period == 12 and summary["series"] == 5


def _seasonal(level: np.ndarray, multiplicative: bool) -> np.ndarray:
    season = np.sin(2 * np.pi * np.arange(level.size) / 12)
    return level * (1 + 0.2 * season) if multiplicative else level + 5 * season


def test_transform_follows_how_swings_grow_with_the_level_and_what_values_allow():
    from tsforge.eda import recommend_transform

    growing = np.linspace(20, 200, 144)
    assert recommend_transform(_seasonal(growing, multiplicative=True), 12)[0] == "log"
    flat = np.full(144, 100.0)
    choice, reason = recommend_transform(_seasonal(flat, multiplicative=False), 12)
    assert choice == "none" and "nearly linear" in reason
    with_zeros = np.maximum(_seasonal(growing, multiplicative=True) - 30, 0)
    choice, reason = recommend_transform(with_zeros, 12)
    assert choice == "log1p" and "zeros present" in reason
    # A negative value in a later split rules logarithms out, whatever the training rows say.
    choice, reason = recommend_transform(_seasonal(growing, multiplicative=True), 12, lowest=-1.0)
    assert choice == "none" and "negative values" in reason


def test_a_panel_takes_one_transform_that_every_series_allows():
    from tsforge.eda import recommend_panel

    growing = [_seasonal(np.linspace(20, 200, 120) * k, multiplicative=True) for k in (1, 2, 3)]
    one_zero = growing[:2] + [np.r_[0.0, growing[2][1:]]]
    bounds = np.arange(0, 121 * 3, 120)[:4]
    splits = np.array([[[b, b + 84], [b + 84, b + 102], [b + 102, b + 120]] for b in bounds[:-1]])
    for series, expected in ((growing, "log"), (one_zero, "log1p")):
        advice, _ = recommend_panel(
            np.concatenate(series),
            splits,
            bounds,
            ("a", "b", "c"),
            iqr_factor=1.5,
            robust_outlier_fraction=0.5,
        )
        assert advice.transform == expected
        assert "3 of 3 series have a level that moves" in advice.transform_reason


def test_a_trend_is_treated_once_by_window_relative_levels_unless_params_say_otherwise():
    from tsforge.eda import choose_trend_treatment

    auto = choose_trend_treatment("auto", "auto", True, "ADF p-value 0.9")
    assert auto.normalize == "last" and not auto.difference
    assert "window-relative" in auto.difference_reason
    flat = choose_trend_treatment("auto", "auto", False, "stationary")
    assert flat.normalize == "none" and not flat.difference
    # Windows kept in levels: the trend falls back to differencing.
    levels = choose_trend_treatment("none", "auto", True, "ADF p-value 0.9")
    assert levels.normalize == "none" and levels.difference
    forced = choose_trend_treatment("last", "true", False, "stationary")
    assert (
        forced.normalize == "last" and forced.difference and "set in params.yaml" in forced.difference_reason
    )


def test_a_panel_of_logarithms_in_window_relative_windows_shares_one_scaler():
    from tsforge.eda import choose_scaler

    shared, why = choose_scaler("auto", "robust", "outliers", transform="log", normalize="last", series=3)
    assert shared == "global" and "one scaler for all series" in why
    assert (
        choose_scaler("auto", "robust", "outliers", transform="none", normalize="last", series=3)[0]
        == "robust"
    )
    assert choose_scaler("auto", "standard", "", transform="log", normalize="last", series=1)[0] == "standard"
    assert choose_scaler("minmax", "standard", "", transform="log", normalize="last", series=3)[0] == "minmax"


def test_explore_reports_the_recommendation_and_whether_the_input_covers_a_season(seasonal_frame):
    from tsforge.config import parse_params
    from tsforge.eda import advice_tags, explore

    params = parse_params({"data": {"source": "file", "target": ["y"]}, "window": {"input_size": 8}})
    found = explore(seasonal_frame, params)
    assert found.period == 12 and found.report["season_period"] == 12
    assert found.report["recommendation"]["transform"] == found.advice.transform
    assert "shorter than the seasonal period 12" in found.report["input_size_note"]
    tags = advice_tags(found.advice)
    assert tags["eda.difference"] in {"true", "false"} and tags["eda.transform_reason"]


def _panel(values: dict[str, np.ndarray], series: np.ndarray | None = None) -> pd.DataFrame:
    """A frame of the given columns, with an ``id`` series column first when ``series`` is given."""
    frame = pd.DataFrame(values)
    if series is not None:
        frame.insert(0, "id", series)
    return frame


def test_a_past_feature_leading_the_target_by_the_horizon_correlates_fully() -> None:
    from tsforge.eda import feature_correlations

    rng = np.random.default_rng(1)
    signal = rng.normal(size=203)
    # The feature observed at t is the target at t + 3: exactly what a 3-step forecast can use.
    frame = _panel({"y": signal[:200], "lead": signal[3:], "same": signal[:200]})
    found = feature_correlations(frame, "y", ("lead", "same"), (), horizon=3)
    assert found["horizon"] == 3 and found["target"] == "y"
    lead = found["features"]["lead"]
    assert lead["kind"] == "past" and lead["series"] == 1
    assert abs(lead["correlation"] - 1) < 1e-9
    # Equal to the target at the origin only: white noise tells nothing 3 steps later.
    assert abs(found["features"]["same"]["correlation"]) < 0.2
    assert found["summary"][0].startswith("lead (past): +1.00")


def test_a_future_feature_correlates_at_the_same_step_and_noise_does_not() -> None:
    from tsforge.eda import feature_correlations

    rng = np.random.default_rng(2)
    target = rng.normal(size=500)
    frame = _panel({"y": target, "promo": target.copy(), "noise": rng.normal(size=500)})
    found = feature_correlations(frame, "y", (), ("promo", "noise"), horizon=4)
    promo, noise = found["features"]["promo"], found["features"]["noise"]
    assert promo["kind"] == "future" and promo["correlation"] > 0.999
    assert abs(promo["lagged_correlation"]) < 0.15  # its value at the origin: noise 4 steps on
    assert abs(noise["correlation"]) < 0.15
    assert [line.split(" ")[0] for line in found["summary"]] == ["promo", "noise"]


def test_correlations_are_within_series_so_a_level_shift_between_series_adds_none() -> None:
    from tsforge.eda import feature_correlations

    rng = np.random.default_rng(3)
    # Within each series feature and target are independent noise; only their levels differ
    # between the series (feature and target both higher in b). Pooled, that would look like
    # a strong correlation.
    target = np.r_[rng.normal(0, 1, 300), rng.normal(100, 1, 300)]
    level = np.r_[rng.normal(0, 1, 300), rng.normal(50, 1, 300)]
    frame = _panel({"y": target, "level": level}, series=np.repeat(["a", "b"], 300))
    pooled = np.corrcoef(level[:-2], target[2:])[0, 1]
    assert pooled > 0.9
    found = feature_correlations(frame, "y", ("level",), (), horizon=2, series_id="id")
    assert abs(found["features"]["level"]["correlation"]) < 0.15
    assert found["features"]["level"]["series"] == 2


def test_a_panel_shift_does_not_pair_one_series_with_the_next() -> None:
    from tsforge.eda import feature_correlations

    # In each series the feature leads the target by one step; only within-series pairs see it.
    steps = np.arange(6, dtype=np.float64)
    target = np.r_[steps**2, -(steps**2)]
    lead = np.r_[np.r_[steps[1:] ** 2, 99.0], np.r_[-(steps[1:] ** 2), -99.0]]
    frame = _panel({"y": target, "lead": lead}, series=np.repeat(["a", "b"], 6))
    found = feature_correlations(frame, "y", ("lead",), (), horizon=1, series_id="id")
    assert abs(found["features"]["lead"]["correlation"] - 1) < 1e-9


def test_a_constant_column_has_no_correlation_and_ranks_last() -> None:
    import json

    from tsforge.eda import feature_correlations

    rng = np.random.default_rng(4)
    target = rng.normal(size=100)
    frame = _panel({"y": target, "flat": np.full(100, 0.1), "known": target + rng.normal(0, 0.1, 100)})
    found = feature_correlations(frame, "y", ("flat",), ("known",), horizon=2)
    assert found["features"]["flat"] == {"kind": "past", "correlation": None, "series": 0}
    assert found["summary"] == [
        f"known (future): {found['features']['known']['correlation']:+.2f}",
        "flat (past): undefined (constant)",
    ]
    json.dumps(found, allow_nan=False)  # eda.json stays strict JSON


def test_explore_reports_feature_correlations_even_without_features(seasonal_frame: pd.DataFrame) -> None:
    from tsforge.config import parse_params
    from tsforge.eda import explore

    params = parse_params({"data": {"source": "file", "target": ["y"]}, "window": {"horizon": 3}})
    found = explore(seasonal_frame, params)
    empty = {"horizon": 3, "target": "y", "features": {}, "summary": []}
    assert found.report["feature_correlations"] == empty
