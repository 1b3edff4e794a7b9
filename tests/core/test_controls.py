"""Control signals as Magenta computes them, worked out by hand on small sequences."""
import numpy as np
import pytest

from segue.codec.controls import (CONTROL_DIM, ControlFollower, compute_controls, density_class, key_histogram)
from segue.errors import SegueError


def test_density_and_histogram_look_forward_and_refresh_only_after_a_time_shift():
    # velocity, C4 on, 1 s, C4 off
    controls = compute_controls([375, 60, 355, 188])
    assert controls.shape == (4, CONTROL_DIM)
    # positions 0..2 share the value computed at 0: one note-on in a window of 100 steps = 1 note/s -> class 1
    assert [int(np.argmax(row[:8])) for row in controls] == [1, 1, 1, 0]
    # C sounds for 1 s: (1 + 0.01) / (1 + 12 * 0.01)
    assert controls[0, 8] == pytest.approx(1.01 / 1.12, rel=1e-6)
    # after the shift nothing sounds: uniform
    assert controls[3, 8:] == pytest.approx(np.full(12, 1 / 12), rel=1e-6)


def test_density_window_stops_at_three_seconds():
    # 4 note-ons at 1 s intervals: from the start, the window covers on,1s,on,1s,on,1s -> 3 notes in 300 steps
    events = []
    for pitch in (60, 62, 64, 65):
        events += [pitch, 355, 128 + pitch]
    controls = compute_controls([375] + events)
    assert density_class(3 / 3.0) == int(np.argmax(controls[0, :8])) == 1


def test_density_bins_follow_the_edges():
    assert [density_class(d) for d in (0, 0.99, 1, 1.99, 2, 7.9, 8, 63.9, 64, 500)] == [0, 0, 1, 1, 2, 3, 4, 6, 7, 7]


def test_follower_reports_recent_playing():
    follower = ControlFollower()
    for pitch in (62, 65, 69):              # D minor triad, held half a second, twice
        follower.push(pitch)
    follower.push(255 + 50)
    for pitch in (62, 65, 69):
        follower.push(128 + pitch)
    follower.push(255 + 50)
    vector = follower.current()
    assert vector.shape == (CONTROL_DIM,)
    assert follower.density() == pytest.approx(3.0)     # 3 notes in the 1 s played so far
    histogram = vector[8:]
    assert set(np.argsort(histogram)[-3:]) == {2, 5, 9}


def test_key_histogram_weights_the_scale_and_doubles_the_tonic():
    d_minor = key_histogram("D minor")
    assert d_minor.sum() == pytest.approx(1.0)
    assert np.argmax(d_minor) == 2
    assert set(np.flatnonzero(d_minor)) == {2, 4, 5, 7, 9, 10, 0, 1}          # minor with its leading tone
    assert np.flatnonzero(key_histogram("Bb major")).tolist() == [0, 2, 3, 5, 7, 9, 10]
    with pytest.raises(SegueError, match="H major"):
        key_histogram("H major")
