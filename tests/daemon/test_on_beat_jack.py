"""Over a real JACK server: a player at 120 bpm is answered on its next beat (--on-beat auto, the default), and at
once with --on-beat off. A lighter version of bench/pulse_live.py (which measures 80/120/160 bpm, 10 turns each)."""
from __future__ import annotations

import time

import numpy as np

from daemon.testing import answer_after, wait_until

BEAT = 0.5
SILENCE_S = 0.5


def two_bars(player) -> tuple[float, float]:
    """8 beats at 120 bpm (a bass note under each downbeat), notes held 60% of a beat. Returns (the first beat of
    the line through the beats as they left: on a loaded machine this process is late now and then, and the player
    is what it played, not what it meant to play; the last release)."""
    t0 = time.perf_counter() + 0.2
    released, sent = t0, []
    for k in range(8):
        while time.perf_counter() < t0 + k * BEAT:
            time.sleep(0.0005)
        pitch = 60 + (2 * k) % 12
        sent.append(player.send(0x90, pitch, 80))
        if k % 4 == 0:
            player.send(0x90, 48, 70)
        time.sleep(0.6 * BEAT)
        player.send(0x80, pitch, 0)
        released = player.send(0x80, 48, 0) if k % 4 == 0 else time.perf_counter()
    slope, first = np.polyfit(np.arange(8), sent, 1)
    assert abs(slope - BEAT) < 0.02, f"the test could not play steadily ({slope:.3f} s a beat)"
    return first, released


def off_grid(t: float, t0: float) -> float:
    return abs((t - t0) - round((t - t0) / BEAT) * BEAT)


def test_a_steady_player_is_answered_on_its_next_beat(rig):
    daemon, listener, player = rig("--silence-ms", str(SILENCE_S * 1000), "--length", "1.0")
    errors = []
    for turn in range(3):
        t0, released = two_bars(player)
        first = answer_after(listener, released)
        errors.append(off_grid(first, t0))
        assert first >= released + SILENCE_S - 0.01                      # never before the silence has passed
        assert wait_until(lambda: len(daemon.turns()) == turn + 1, 10), daemon.output()
        time.sleep(0.3)
    print("first note-on off the player's beat (ms):", [round(e * 1000) for e in errors])
    assert sum(e <= 0.04 for e in errors) >= 2


def test_on_beat_off_answers_as_soon_as_the_silence_has_passed(rig):
    daemon, listener, player = rig("--silence-ms", str(SILENCE_S * 1000), "--length", "1.0", "--on-beat", "off")
    delays = []
    for turn in range(2):
        _, released = two_bars(player)
        delays.append(answer_after(listener, released) - released - SILENCE_S)
        assert wait_until(lambda: len(daemon.turns()) == turn + 1, 10), daemon.output()
        time.sleep(0.3)
    # Waiting for the beat would be 0.2 s later here; a loaded machine may stamp this process's last release late.
    assert all(-0.15 < d < 0.05 for d in delays), delays
