"""Each bad input stops at ingest or validate with a message naming file, column and fix."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsforge.config import DataConfig, Params, parse_params
from tsforge.data_contract import Check, contract, failure_message
from tsforge.errors import DataSourceError
from tsforge.sources import load_source

CFG = DataConfig(source="file", time_column="date", target=("y",))


def _write(tmp_path: Path, text: str | bytes, name: str = "series.csv") -> DataConfig:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return DataConfig(source="file", path=str(path), time_column="date", target=("y",))


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def _params(input_size: int = 3, **data: object) -> Params:
    return parse_params(
        {
            "data": {"source": "file", "target": ["y"], **data},
            "window": {"input_size": input_size, "horizon": 1},
            "scale": {"difference": "false"},
        }
    )


def _checks(frame: pd.DataFrame, params: Params) -> list[Check]:
    checks, _ = contract(frame, params, "D")
    return checks


def _contract(frame: pd.DataFrame, input_size: int = 3) -> str:
    checks = _checks(frame, _params(input_size))
    assert not all(c.success for c in checks)
    return failure_message(checks, "series.csv")


def _good(n: int = 30) -> pd.DataFrame:
    return pd.DataFrame(
        {"date": pd.date_range("2024-01-01", periods=n, freq="D"), "y": np.arange(n, dtype=float)}
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        ("date,y\n", "header but no data rows"),
        ("when,y\n2024-01-01,1\n", r"column\(s\) \['date'\] not found; the file has \['when', 'y'\]"),
        ("date,sales\n2024-01-01,1\n", r"column\(s\) \['y'\] not found"),
        (
            "date,y\n2024-01-01,1\n2024-01-02,abc\n2024-01-03,12kg\n",
            "column 'y' must be numeric but has 2 text value",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\xfa binary", "not a UTF-8 text file"),
        ("date,y\nyesterday-ish,1\n", "time column 'date' has values that are not dates"),
    ],
    ids=["empty", "header-only", "no-time-column", "no-target", "text-target", "binary", "bad-dates"],
)
def test_unreadable_inputs_stop_at_ingest_naming_the_problem(tmp_path, content, message):
    cfg = _write(tmp_path, content)
    with pytest.raises(DataSourceError, match=message) as info:
        load_source(cfg)
    assert "series.csv" in str(info.value)


def test_missing_path_says_where_to_point_data_path(tmp_path):
    cfg = DataConfig(source="file", path=str(tmp_path / "nope.csv"), target=("y",))
    with pytest.raises(DataSourceError, match=r"nope.csv: file not found. Set data.path"):
        load_source(cfg)


def test_unsorted_rows_are_sorted_with_a_note_not_an_error(tmp_path):
    frame = _good(5).iloc[[0, 2, 1, 4, 3]]
    loaded = load_source(_write(tmp_path, _csv(frame)))
    assert loaded.frame["date"].is_monotonic_increasing
    assert any("were not in time order" in note for note in loaded.notes)


def test_duplicate_timestamps_fail_the_contract(tmp_path):
    frame = pd.concat([_good(30), _good(30).iloc[[5]]])
    loaded = load_source(_write(tmp_path, _csv(frame)))
    message = _contract(loaded.frame)
    assert "expect_column_values_to_be_unique on column 'date'" in message


def test_all_missing_target_fails_the_contract(tmp_path):
    frame = _good(30).assign(y=np.nan)
    loaded = load_source(_write(tmp_path, _csv(frame)))
    assert "expect_column_values_to_not_be_null on column 'y': 100.0% missing" in _contract(loaded.frame)


def test_too_short_for_the_windows_fails_the_contract(tmp_path):
    loaded = load_source(_write(tmp_path, _csv(_good(8))))
    needed = contract(loaded.frame, _params(30), "D")[1]
    assert needed > 30
    assert f"8 rows, need at least {needed}" in _contract(loaded.frame, input_size=30)


def test_infinite_values_fail_the_contract(tmp_path):
    frame = _good(30)
    frame.loc[3, "y"] = np.inf
    frame.loc[4, "y"] = -np.inf
    loaded = load_source(_write(tmp_path, _csv(frame)))
    message = _contract(loaded.frame)
    assert "expect_column_values_to_be_between on column 'y': 2 unexpected value(s)" in message


def test_gaps_beyond_the_allowance_fail_and_are_counted(tmp_path):
    frame = _good(30).drop(index=[10, 11, 12])
    loaded = load_source(_write(tmp_path, _csv(frame)))
    assert "3 missing timestamp(s) at frequency D (allowed 0)" in _contract(loaded.frame)


def test_clean_series_passes_every_check(tmp_path):
    loaded = load_source(_write(tmp_path, _csv(_good(30))))
    checks = _checks(loaded.frame, _params())
    assert all(c.success for c in checks) and len(checks) == 9


def test_timezones_and_parquet_are_read(tmp_path):
    frame = pd.DataFrame(
        {"date": pd.date_range("2024-01-01", periods=4, freq="h", tz="Europe/Berlin"), "y": [1.0, 2, 3, 4]}
    )
    path = tmp_path / "s.parquet"
    frame.to_parquet(path)
    loaded = load_source(DataConfig(source="file", path=str(path), target=("y",)))
    assert loaded.frame["date"].dt.tz is None
    assert loaded.frame["date"].iloc[0] == pd.Timestamp("2023-12-31 23:00")  # UTC
    assert loaded.frame["y"].dtype == np.float32


@pytest.mark.parametrize(("name", "column", "rows"), [("co2", "co2", 2284), ("sunspots", "sunactivity", 309)])
def test_bundled_datasets_load_offline(name, column, rows):
    loaded = load_source(DataConfig(source=name, target=(column,)))
    assert len(loaded.frame) == rows and loaded.frame[column].dtype == np.float32


def test_offset_timestamps_become_wall_clock_in_the_configured_zone(tmp_path):
    text = "date,y\n2024-03-30T00:00:00+01:00,1\n2024-03-31T00:00:00+01:00,2\n2024-04-01T00:00:00+02:00,3\n"
    in_utc = load_source(_write(tmp_path, text)).frame["date"]
    assert list(in_utc.dt.hour) == [23, 23, 22]  # DST moves UTC times
    cfg = DataConfig(
        source="file", path=str(tmp_path / "series.csv"), target=("y",), timezone="Europe/Berlin"
    )
    local = load_source(cfg).frame["date"]
    assert list(local) == list(pd.date_range("2024-03-30", periods=3, freq="D"))


def _panel(lengths: dict[str, int]) -> pd.DataFrame:
    return pd.concat([_good(n).assign(shop=name) for name, n in lengths.items()], ignore_index=True)[
        ["shop", "date", "y"]
    ]


def test_many_series_share_timestamps_but_not_within_a_series(tmp_path):
    frame = _panel({"a": 30, "b": 30})
    cfg = _write(tmp_path, _csv(frame.sample(frac=1, random_state=0)))
    loaded = load_source(DataConfig(**{**cfg.__dict__, "series_id": "shop"}))
    assert loaded.frame["shop"].tolist() == ["a"] * 30 + ["b"] * 30  # grouped and in time order
    assert any("grouped by 'shop'" in note for note in loaded.notes)
    assert all(c.success for c in _checks(loaded.frame, _params(series_id="shop")))
    repeated = pd.concat([loaded.frame, loaded.frame.iloc[[40]]]).sort_values(["shop", "date"])
    message = failure_message(_checks(repeated, _params(series_id="shop")), "shops.csv")
    assert "expect_compound_columns_to_be_unique" in message


def test_a_series_too_short_for_its_windows_is_named(tmp_path):
    frame = _panel({"long": 40, "tiny": 5, "also_long": 40})
    checks = _checks(frame, _params(input_size=6, series_id="shop"))
    message = failure_message(checks, "shops.csv")
    assert "series_length on column 'shop': 1 of 3 series have fewer than" in message
    assert "tiny: 5" in message and "window.input_size" in message


def test_gaps_are_counted_within_each_series(tmp_path):
    frame = _panel({"a": 30, "b": 30}).drop(index=[35, 36])
    message = failure_message(_checks(frame, _params(series_id="shop")), "shops.csv")
    assert "1 of 2 series have more than 0 missing timestamp(s) at frequency D, e.g. b: 2" in message


def _transform_params(transform: str) -> object:
    return parse_params(
        {
            "data": {"source": "file", "target": ["y"]},
            "window": {"input_size": 3, "horizon": 1},
            "scale": {"difference": "false", "transform": transform},
        }
    )


def test_log_on_zeros_says_so_in_words_and_names_log1p(tmp_path):
    frame = _good(30)  # y starts at 0
    message = failure_message(_checks(frame, _transform_params("log")), "series.csv")
    assert "log_domain on column 'y'" in message
    assert "log needs every value above 0, but 1 value(s) are exactly 0" in message
    assert "Use scale.transform: log1p" in message
    assert all(c.success for c in _checks(frame.assign(y=frame["y"] + 1), _transform_params("log")))
    # log1p takes the zero; auto leaves the choice to the EDA, which only picks what the data allows.
    assert all(c.success for c in _checks(frame, _transform_params("log1p")))
    assert all(c.success for c in _checks(frame, _transform_params("auto")))


def test_negative_values_rule_out_both_logarithms(tmp_path):
    frame = _good(30).assign(y=lambda f: f["y"] - 5)
    for transform in ("log", "log1p"):
        message = failure_message(_checks(frame, _transform_params(transform)), "series.csv")
        assert f"scale.transform: {transform} is undefined for negative values, and 5 value(s)" in message
