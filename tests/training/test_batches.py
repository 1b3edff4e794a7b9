import numpy as np
import pytest

from segue.codec import codec
from segue.codec.controls import CONTROL_DIM, compute_controls, past_controls
from segue.rhythm.pulse_controls import PULSE_DIM, past_pulse
from training.batches import IGNORE_LABEL, TrainBatches, eval_batches, transpose_window
from training.rendering import RenderParams
from training.dataset import EventDataset, array_to_notes

from training_fixtures import build_tiny_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return EventDataset(build_tiny_dataset(tmp_path_factory.mktemp("batches")))


def test_time_stretch_requantizes_notes_instead_of_scaling_shift_tokens():
    notes = np.array([[60, 80, 0.0, 0.5], [62, 80, 0.5, 1.0]])
    stretched = codec.encode_notes(array_to_notes(notes, 1.05))
    shifts = [codec.shift_steps(e) for e in stretched if codec.event_kind(e) == "time_shift"]
    # 0.5 s * 1.05 = 0.525 s -> 53 steps (int(52.5 + 0.5)); the second note ends at 1.05 s -> step 105.
    assert shifts == [53, 52]
    assert sum(shifts) == 105


def test_transposition_of_histogram_equals_recomputing_on_transposed_events(dataset):
    events = dataset.events(0).astype(np.int64)
    base = compute_controls(events)
    for shift in (-3, 2, 5):
        moved = codec.transpose_events(events, shift)
        assert np.array_equal(transpose_window(events, shift), moved)
        recomputed = compute_controls(moved)
        np.testing.assert_allclose(np.roll(base[:, 8:], shift, axis=-1), recomputed[:, 8:], atol=1e-6)
        np.testing.assert_array_equal(base[:, :8], recomputed[:, :8])


def test_batches_are_a_pure_function_of_seed_step_and_row(dataset):
    kwargs = dict(conditioned=True, transpositions=[-3, 0, 3], time_stretches=[0.95, 1.0, 1.05], seed=7)
    a = TrainBatches(dataset, **kwargs).batch(5, 16, range(0, 6))
    b = TrainBatches(dataset, **kwargs).batch(5, 16, range(0, 6))
    assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.controls, b.controls)
    # rank 1 of 2 takes rows 3..5 of the same global batch
    part = TrainBatches(dataset, **kwargs).batch(5, 16, range(3, 6))
    assert np.array_equal(part.inputs, a.inputs[3:]) and np.array_equal(part.labels, a.labels[3:])
    other = TrainBatches(dataset, **kwargs).batch(6, 16, range(0, 6))
    assert not np.array_equal(other.inputs, a.inputs)


def _find_window(dataset, pieces, window):
    for piece in pieces:
        events = dataset.events(piece).astype(np.int64)
        for start in range(len(events) - len(window)):
            if np.array_equal(events[start:start + len(window)], window):
                return events, start
    pytest.fail("window not found in any train piece")


def test_past_controls_are_what_the_follower_heard_up_to_the_input(dataset):
    batches = TrainBatches(dataset, True, [0], [1.0], seed=0, controls="past")
    batch = batches.batch(0, 16, range(4))
    for row in range(4):
        assert np.array_equal(batch.inputs[row, 1:], batch.labels[row, :-1])
    events, start = _find_window(dataset, batches.pieces, batch.inputs[0])
    np.testing.assert_allclose(batch.controls[0], past_controls(events)[start:start + 16], atol=1e-6)


def test_a_model_that_hears_the_pulse_gets_the_pieces_pulse_after_its_controls_in_any_key(dataset):
    batches = TrainBatches(dataset, True, [-2, 0, 3], [1.0], seed=0, controls="past", pulse=True)
    batch = batches.batch(0, 64, range(4))
    assert batch.controls.shape == (4, 64, CONTROL_DIM + PULSE_DIM)
    for row in range(4):
        window = batch.inputs[row]
        for shift in (-2, 0, 3):       # the window may be transposed; the pulse is the untransposed piece's
            untransposed = np.where(window < codec.TIME_SHIFT_OFFSET, window - shift, window)
            try:
                events, start = _find_window(dataset, batches.pieces, untransposed)
            except pytest.fail.Exception:
                continue
            np.testing.assert_array_equal(batch.controls[row, :, CONTROL_DIM:], past_pulse(events)[start:start + 64])
            break
        else:
            pytest.fail("window not found in any key")
    assert batch.controls[:, :, CONTROL_DIM].max() > 0      # the tiny pieces have a beat the tracker hears


def test_future_controls_are_magentas_at_t_plus_1(dataset):
    batches = TrainBatches(dataset, True, [0], [1.0], seed=0, controls="future")
    batch = batches.batch(0, 16, range(4))
    events, start = _find_window(dataset, batches.pieces, batch.inputs[0])
    np.testing.assert_allclose(batch.controls[0], compute_controls(events)[start + 1:start + 17], atol=1e-6)


def test_mix_draws_both_kinds_of_controls(dataset):
    batches = TrainBatches(dataset, True, [0], [1.0], seed=0, controls="mix")
    batch = batches.batch(0, 16, range(16))
    kinds = set()
    for row in range(16):
        events, start = _find_window(dataset, batches.pieces, batch.inputs[row])
        if np.allclose(batch.controls[row], past_controls(events)[start:start + 16], atol=1e-6):
            kinds.add("past")
        if np.allclose(batch.controls[row], compute_controls(events)[start + 1:start + 17], atol=1e-6):
            kinds.add("future")
    assert kinds == {"past", "future"}


def test_unknown_controls_mode_is_refused(dataset):
    with pytest.raises(ValueError, match="controls mode"):
        TrainBatches(dataset, True, [0], [1.0], seed=0, controls="sideways")


def test_rendered_windows_are_fresh_each_epoch_and_the_same_within_one(dataset):
    kwargs = dict(conditioned=True, transpositions=[0], time_stretches=[1.0], seed=3, controls="past",
                  render_params=RenderParams(), rendered_share=1.0)
    batches = TrainBatches(dataset, **kwargs)
    plain = TrainBatches(dataset, True, [0], [1.0], seed=3)
    a = batches.batch(0, 32, range(4), global_batch=4)
    assert not np.array_equal(a.inputs, plain.batch(0, 32, range(4)).inputs)
    assert np.array_equal(a.inputs, TrainBatches(dataset, **kwargs).batch(0, 32, range(4), global_batch=4).inputs)
    # A piece's events are one rendition per epoch: the next epoch renders it anew.
    piece = batches.pieces[0]
    first, _ = batches.variants.get(piece, rendition=0)
    again, _ = batches.variants.get(piece, rendition=0)
    later, _ = batches.variants.get(piece, rendition=1)
    assert np.array_equal(first, again) and not np.array_equal(first, later)
    steps_per_epoch = batches.train_events / (32 * 4)
    assert batches.epoch(int(steps_per_epoch) + 1, 32, 4) == 1 and batches.epoch(0, 32, 4) == 0


def test_real_performances_are_never_rendered(dataset):
    kwargs = dict(conditioned=False, transpositions=[0], time_stretches=[1.0], seed=5)
    batches = TrainBatches(dataset, **kwargs, render_params=RenderParams(), rendered_share=1.0)
    batches.performance[:] = True                      # pretend every piece was recorded
    plain = TrainBatches(dataset, **kwargs)
    assert np.array_equal(batches.batch(0, 32, range(8)).inputs, plain.batch(0, 32, range(8)).inputs)


def test_performance_weight_draws_real_performances_more_often(dataset, monkeypatch):
    recorded = set(dataset.split_indices("train")[:3])
    monkeypatch.setattr("training.batches.is_performance",
                        lambda piece, notes: dataset.pieces.index(piece) in recorded)
    lengths = np.array([dataset.pieces[i]["length"] for i in dataset.split_indices("train")], dtype=float)
    for weight in (1.0, 5.0):
        batches = TrainBatches(dataset, False, [0], [1.0], seed=0, performance_weight=weight)
        assert list(np.flatnonzero(batches.performance)) == [0, 1, 2]
        share = batches.cumulative[2]                     # probability of drawing one of the recorded pieces
        expected = lengths[:3].sum() * weight / (lengths[:3].sum() * weight + lengths[3:].sum())
        assert share == pytest.approx(expected)


def test_transpositions_that_leave_the_pitch_range_are_skipped_per_piece(dataset):
    wanted = list(range(-80, 81, 10))
    batches = TrainBatches(dataset, False, wanted, [1.0], seed=1)
    for k, piece in enumerate(batches.pieces):
        meta = dataset.pieces[piece]
        allowed = [s for s in wanted if meta["min_pitch"] + s >= 0 and meta["max_pitch"] + s <= 127]
        assert batches.shifts[k] == allowed
        assert -80 not in allowed and 80 not in allowed   # our pieces span 36..84
        for s in allowed:  # and the codec agrees the whole piece stays in range
            assert codec.transpose_events(dataset.events(piece).astype(np.int64), s) is not None


def test_eval_windows_are_unaugmented_slices_of_eval_pieces(dataset):
    batches = eval_batches(dataset, conditioned=False, seq_len=16, batch_size=4, max_windows=0)
    pieces = [dataset.events(i).astype(np.int64) for i in dataset.split_indices("eval")]
    for batch in batches:
        for row in range(len(batch.inputs)):
            valid = batch.labels[row] != IGNORE_LABEL
            window = batch.inputs[row][valid]
            assert any(_contains(p, window) for p in pieces)


def _contains(seq, window):
    n = len(window)
    return any(np.array_equal(seq[i:i + n], window) for i in range(len(seq) - n + 1))


def test_eval_windows_carry_past_controls_and_rendered_eval_is_one_fixed_rendition(dataset):
    plain = eval_batches(dataset, conditioned=True, seq_len=16, batch_size=4, max_windows=0)
    first_piece = dataset.events(dataset.split_indices("eval")[0]).astype(np.int64)
    np.testing.assert_allclose(plain[0].controls[0], past_controls(first_piece)[:16], atol=1e-6)
    rendered = eval_batches(dataset, True, 16, 4, 0, render_params=RenderParams(), seed=1)
    again = eval_batches(dataset, True, 16, 4, 0, render_params=RenderParams(), seed=1)
    assert all(np.array_equal(a.inputs, b.inputs) for a, b in zip(rendered, again))
    assert not np.array_equal(rendered[0].inputs, plain[0].inputs)
