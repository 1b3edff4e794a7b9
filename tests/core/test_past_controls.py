"""past_controls(events) is, row by row, what the live ControlFollower reports after each pushed event."""
import numpy as np
import pytest

from segue.codec import codec
from segue.codec.controls import CONTROL_DIM, ControlFollower, past_controls


def _follower_rows(events) -> np.ndarray:
    follower = ControlFollower()
    rows = []
    for event in events:
        follower.push(int(event))
        rows.append(follower.current())
    return np.array(rows, dtype=np.float32).reshape(-1, CONTROL_DIM)


def _assert_same_as_follower(events):
    ours, live = past_controls(events), _follower_rows(events)
    assert ours.shape == live.shape and ours.dtype == np.float32
    np.testing.assert_array_equal(ours[:, :8], live[:, :8])                  # density one-hot: identical
    np.testing.assert_allclose(ours[:, 8:], live[:, 8:], rtol=0, atol=1e-7)   # histogram: float32 rounding


@pytest.mark.parametrize("seed", range(20))
def test_random_event_soup_matches_the_follower(seed):
    rng = np.random.default_rng(seed)
    # Mostly few pitches and short shifts, so re-strikes, stray note-offs and long held notes all occur.
    kinds = rng.choice(4, size=int(rng.integers(1, 600)), p=[0.35, 0.3, 0.3, 0.05])
    pitch = rng.integers(58, 66, size=len(kinds))
    events = np.select([kinds == 0, kinds == 1, kinds == 2],
                       [pitch, codec.NOTE_OFF_OFFSET + pitch, codec.TIME_SHIFT_OFFSET + rng.integers(0, 100, len(kinds))],
                       codec.VELOCITY_OFFSET + rng.integers(0, 32, len(kinds)))
    _assert_same_as_follower(events)


def test_uniform_random_classes_match_the_follower():
    rng = np.random.default_rng(7)
    _assert_same_as_follower(rng.integers(0, codec.NUM_CLASSES, size=3000))


def test_encoded_notes_with_pedal_like_overlaps_match_the_follower():
    rng = np.random.default_rng(3)
    starts = np.cumsum(rng.exponential(0.15, size=400))
    notes = [codec.Note(int(p), int(v), float(s), float(s + d))
             for p, v, s, d in zip(rng.integers(36, 90, 400), rng.integers(20, 120, 400), starts,
                                   rng.exponential(0.8, 400))]
    _assert_same_as_follower(codec.encode_notes(notes))


def test_a_real_score_matches_the_follower():
    music21 = pytest.importorskip("music21")
    from segue.codec.midi_io import read_notes

    path = music21.corpus.getWork("bach/bwv66.6")
    _assert_same_as_follower(codec.encode_notes(read_notes(str(path))))


def test_edge_cases_empty_and_silence_only():
    assert past_controls([]).shape == (0, CONTROL_DIM)
    _assert_same_as_follower([codec.NO_EVENT, codec.NO_EVENT])
    _assert_same_as_follower([60])                                 # a note-on at time 0: no elapsed time yet


def test_rows_only_depend_on_the_past():
    events = codec.encode_notes([codec.Note(60 + i % 7, 80, i * 0.3, i * 0.3 + 0.5) for i in range(40)])
    full = past_controls(events)
    np.testing.assert_array_equal(past_controls(events[:50]), full[:50])
