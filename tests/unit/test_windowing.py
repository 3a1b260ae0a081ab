import numpy as np
import pytest

from tsforge.windowing import WindowSpec, gather_windows, window_origins


def test_origins_keep_targets_inside_the_split_and_inputs_in_the_past():
    spec = WindowSpec(input_size=4, horizon=2, step=1)
    origins = window_origins(10, 20, spec)
    assert origins[0] == 10 and origins[-1] == 18  # last targets are rows 18, 19
    assert np.all(origins + spec.horizon <= 20)
    assert np.all(origins - spec.input_size >= 0)


def test_first_split_needs_a_full_input_window_and_step_thins_origins():
    spec = WindowSpec(input_size=5, horizon=3, step=2)
    assert list(window_origins(0, 12, spec)) == [5, 7, 9]
    assert list(window_origins(0, 12, spec, first_row=1)) == [6, 8]


def test_min_history_admits_origins_with_fewer_real_inputs():
    spec = WindowSpec(input_size=6, horizon=2)
    assert list(window_origins(0, 12, spec, min_history=2)) == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert list(window_origins(0, 12, spec, first_row=1, min_history=6)) == list(
        window_origins(0, 12, spec, 1)
    )


def test_padded_windows_repeat_their_series_first_row_and_never_read_the_series_before():
    values = np.arange(20, dtype=np.float32)[:, None]  # one series at rows 0-9, another at 10-19
    spec = WindowSpec(input_size=4, horizon=2)
    origins = np.array([12, 16])
    x, y = gather_windows(values, origins, spec, 1, first_rows=np.array([10, 10]))
    assert x[0, :, 0].tolist() == [10, 10, 10, 11]  # two real rows, padded with row 10's value
    assert x[1, :, 0].tolist() == [12, 13, 14, 15]  # complete: unchanged
    assert y[:, :, 0].tolist() == [[12, 13], [16, 17]]
    normalized, _ = gather_windows(values, origins, spec, 1, True, first_rows=np.array([10, 10]))
    assert normalized[0, :, 0].tolist() == [-1, -1, -1, 0]  # relative to the last real input
    with pytest.raises(ValueError, match="padded origins need first_rows"):
        gather_windows(values, np.array([2]), spec, 1)


def test_split_too_short_for_one_window_gives_no_origins():
    assert window_origins(0, 5, WindowSpec(4, 2)).size == 0


def test_gathered_windows_are_the_rows_before_and_after_the_origin():
    values = np.arange(30, dtype=np.float32).reshape(15, 2)  # column 0 = target: 0, 2, 4, ...
    spec = WindowSpec(input_size=3, horizon=2)
    x, y = gather_windows(values, np.array([3, 7]), spec, n_targets=1)
    assert x.shape == (2, 3, 2) and y.shape == (2, 2, 1)
    np.testing.assert_array_equal(x[1, :, 0], values[4:7, 0])
    np.testing.assert_array_equal(y[1, :, 0], values[7:9, 0])
    # No look-ahead: every input row is strictly before the first target row.
    assert np.all(x[:, -1, 0] < y[:, 0, 0])


def test_batches_cover_every_window_once_and_shuffle_is_seeded():
    from tsforge.training import WindowDataset, WindowedData

    values = np.random.default_rng(1).normal(size=(50, 1)).astype(np.float32)
    spec = WindowSpec(5, 1)
    origins = window_origins(0, 50, spec)
    data = WindowedData(values, origins, origins[:0], origins[:0], spec, 1)

    def epoch() -> list[np.ndarray]:
        batches = WindowDataset(data, origins, batch_size=8, shuffle_seed=3)
        return [batches[i][1][:, 0, 0] for i in range(len(batches))]

    first, again = epoch(), epoch()
    got = np.sort(np.concatenate(first))
    np.testing.assert_array_equal(got, np.sort(values[origins, 0]))
    assert not np.array_equal(np.concatenate(first), values[origins, 0])  # shuffled
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_weighted_batches_carry_each_windows_weight_for_every_horizon_step():
    from tsforge.training import WindowDataset, WindowedData

    values = np.arange(30, dtype=np.float32)[:, None]
    spec = WindowSpec(4, 3)
    origins = window_origins(0, 30, spec)
    weights = np.linspace(0.5, 2.0, 30).astype(np.float32)
    data = WindowedData(values, origins, origins[:0], origins[:0], spec, 1, weights=weights)
    x, y, w = WindowDataset(data, origins, batch_size=5, weighted=True)[0]
    assert w.shape == (5, 3)
    # A window's weight is that of its last input row, the same for all its steps.
    np.testing.assert_array_equal(w[:, 0], weights[origins[:5] - 1])
    np.testing.assert_array_equal(w, np.repeat(w[:, :1], 3, axis=1))
    assert len(WindowDataset(data, origins, batch_size=5)[0]) == 2, "unweighted: (x, y) only"


def test_stacked_windows_are_the_lazy_batches_all_at_once():
    # fit() stacks small window sets (Keras's array path is faster) and gathers big ones per
    # batch: both must hand the network the same windows and weights.
    from tsforge.training import WindowDataset, WindowedData, stacked_bytes, stacked_windows

    values = np.arange(60, dtype=np.float32).reshape(30, 2)
    spec = WindowSpec(4, 3)
    origins = window_origins(0, 30, spec)
    weights = np.linspace(0.5, 2.0, 30).astype(np.float32)
    data = WindowedData(values, origins, origins[:5], origins[:0], spec, 1, weights=weights)
    x, y, w = stacked_windows(data, origins, weighted=True)
    lazy = WindowDataset(data, origins, batch_size=len(origins), weighted=True)[0]
    for stacked, batch in zip((x, y, w), lazy, strict=True):
        np.testing.assert_array_equal(stacked, batch)
    assert stacked_windows(data, origins)[2] is None, "unweighted: no weights"
    assert stacked_bytes(data) == (len(origins) + 5) * (4 * 2 + 3) * 4


def test_fit_gathers_batches_lazily_when_the_stack_would_be_too_big(monkeypatch):
    import keras
    import keras_tuner as kt

    from tsforge import training
    from tsforge.models import ModelSpec, build_model

    values = np.random.default_rng(0).normal(size=(80, 1)).astype(np.float32)
    spec = WindowSpec(6, 2)
    origins = window_origins(0, 80, spec)
    data = training.WindowedData(values, origins[:-10], origins[-10:], origins[:0], spec, 1)
    space = {"family": "mlp", "num_layers": 1, "width": 8, "batch_size": 16}
    used: list[str] = []
    real_dataset = training.WindowDataset

    def spy(*args, **kwargs):
        used.append("lazy")
        return real_dataset(*args, **kwargs)

    monkeypatch.setattr(training, "WindowDataset", spy)
    for limit, expected in ((10**9, []), (0, ["lazy", "lazy"])):
        monkeypatch.setattr(training, "STACK_MAX_BYTES", limit)
        used.clear()
        keras.utils.set_random_seed(0)
        hp = kt.HyperParameters()
        model = build_model(hp, ModelSpec(6, 1, 2, 1), space)
        history = training.fit(model, hp, space, data, seed=0, epochs=2)
        assert used == expected
        assert len(history.history["val_loss"]) == 2 and np.isfinite(history.history["val_loss"]).all()


@pytest.mark.parametrize("input_size", [1, 7])
def test_windows_do_not_copy_the_series(input_size):
    values = np.zeros((100, 3), dtype=np.float32)
    from numpy.lib.stride_tricks import sliding_window_view

    view = sliding_window_view(values, input_size, axis=0)
    assert np.shares_memory(view, values)


def test_normalized_windows_are_relative_to_the_last_input_value():
    values = np.column_stack([np.arange(20.0) * 2, np.arange(20.0) + 100])  # target, feature
    spec = WindowSpec(4, 2)
    x, y = gather_windows(values, np.array([10]), spec, 1, normalize=True)
    np.testing.assert_array_equal(x[0, :, 0], [-6, -4, -2, 0])  # rows 6..9 minus row 9
    np.testing.assert_array_equal(x[0, :, 1], [106, 107, 108, 109])  # features untouched
    np.testing.assert_array_equal(y[0, :, 0], [2, 4])  # rows 10, 11 minus row 9
