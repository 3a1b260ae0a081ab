from tsforge.tuning import space_size


def test_space_size_counts_discrete_dimensions_and_names_continuous_ones():
    space = {
        "num_layers": {"type": "int", "min": 1, "max": 4},
        "cell": {"type": "choice", "values": ["lstm", "gru"]},
        "units": {"type": "int", "min": 16, "max": 128, "step": 16},
        "dropout": {"type": "float", "min": 0.0, "max": 0.3, "step": 0.1},
        "learning_rate": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"},
        "optimizer": {"type": "choice", "values": ["adam", "rmsprop", "sgd", "nadam", "adamw"]},
        "batch_size": 64,
    }
    size = space_size(space)
    assert size["discrete_combinations"] == 4 * 2 * 8 * 4 * 5
    assert size["continuous"] == ["learning_rate"]
