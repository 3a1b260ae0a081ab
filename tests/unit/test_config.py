import pytest
import yaml

from tsforge.config import load_params, parse_params
from tsforge.errors import ConfigError


def test_the_shipped_params_parse():
    params = load_params("params.yaml")
    assert params.data.target == ("co2",)
    assert params.tune.space["width"]["values"] == [256, 512]
    assert params.train.ensemble_trials * params.train.ensemble_seeds > 1 and params.train.refit


def test_arima_is_an_opt_in_baseline():
    assert load_params("params.yaml").evaluate.arima is False
    assert parse_params({}).evaluate.arima is False
    assert parse_params({"evaluate": {"arima": True}}).evaluate.arima is True


def test_unknown_key_names_the_section_and_the_accepted_keys():
    with pytest.raises(ConfigError, match=r"section 'window' has unknown key\(s\) \['lookback'\]"):
        parse_params({"window": {"lookback": 3}})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"scale": {"method": "log"}}, "scale.method is 'log'"),
        ({"scale": {"train_fraction": 0.9, "val_fraction": 0.2}}, "test split remains"),
        ({"window": {"horizon": 0}}, "horizon and step must all be >= 1"),
        ({"tune": {"strategy": "genetic"}}, "tune.strategy is 'genetic'"),
        ({"scale": {"transform": "sqrt"}}, "scale.transform is 'sqrt'; use auto, none, log or log1p"),
        ({"window": {"normalize": "mean"}}, "window.normalize is 'mean'; use auto, none or last"),
        ({"scale": {"test_size": 18}}, "set scale.val_size and scale.test_size together"),
        ({"window": {"input_size": 12, "min_history": 13}}, r"min_history is 13; use null \(no padding\)"),
        ({"window": {"min_history": "half"}}, "window.min_history is 'half'"),
        # Before this was refused, a test split shorter than the horizon hung the validate stage.
        (
            {"scale": {"val_size": 18, "test_size": 6}, "window": {"horizon": 12}},
            r"scale.val_size \(18\) and scale.test_size \(6\) must each be at least window.horizon \(12\)",
        ),
        ({"tune": {"space": {"unit": 64}}}, r"tune.space has unknown dimension\(s\) \['unit'\]"),
        ({"evaluate": {"arima": "yes"}}, "evaluate.arima is 'yes'; give true or false"),
        ({"train": {"combine_series": 0}}, r"train.combine_series is 0; use a number of series"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_params(raw)


def test_min_history_pads_nothing_by_default_auto_is_a_third_and_a_number_is_kept():
    assert parse_params({"window": {"input_size": 36}}).window.training_history == 36
    assert parse_params({"window": {"input_size": 36, "min_history": "auto"}}).window.training_history == 12
    assert parse_params({"window": {"input_size": 2, "min_history": "auto"}}).window.training_history == 1
    assert parse_params({"window": {"input_size": 36, "min_history": 36}}).window.training_history == 36


def test_a_single_target_string_becomes_a_tuple(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"data": {"target": "sales", "features": ["price"]}}))
    data = load_params(path).data
    assert data.target == ("sales",) and data.columns == ("sales", "price")


def test_merging_params_replaces_a_search_space_whole():
    from tsforge.config import merge_sections

    base = {"tune": {"seed": 1, "space": {"units": 8, "cell": "lstm"}}, "train": {"epochs": 3}}
    merged = merge_sections(base, {"tune": {"space": {"units": 16}}, "train": {"patience": 2}})
    assert merged["tune"] == {"seed": 1, "space": {"units": 16}}
    assert merged["train"] == {"epochs": 3, "patience": 2}
    assert base["train"] == {"epochs": 3}  # inputs untouched


@pytest.mark.parametrize(
    ("dimension", "value", "named"),
    [
        ("family", "rnnn", "rnn, mlp, attention"),
        ("family", {"type": "choice", "values": ["rnn", "mpl"]}, "rnn, mlp, attention"),
        ("cell", "lstn", "lstm, gru"),
        ("optimizer", {"type": "choice", "values": ["adam", "adma"]}, "adam, rmsprop"),
        ("loss", "msae", "mse, mae, huber, mase"),
        ("lr_schedule", "cosine", "none, exponential, plateau"),
    ],
)
def test_a_misspelt_search_choice_is_refused_before_any_trial_runs(dimension, value, named):
    with pytest.raises(ConfigError, match=rf"tune\.space\.{dimension} offers .*its values are {named}"):
        parse_params({"tune": {"space": {dimension: value}}})
