"""`segue serve --stats` says what each figure measures and, on segue's own JACK client, what the synth gets: the
due time plus one period (where the client places each message) plus the playback latency JACK reports."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from types import SimpleNamespace

import pytest

from daemon.turn_log import SessionStats
from daemon.testing import PERIOD, RATE


def _stats_with(latencies_s: list[float]) -> SessionStats:
    stats = SessionStats()
    for latency in latencies_s:
        stats.turn_ended(SimpleNamespace(first_note_at=1.0 + latency, trigger=1.0, answer=None, answer_id=0,
                                         ended_by="barge-in", ended_at=2.0, sent=[]), "call-response")
    return stats


def test_stats_add_the_jack_delays_to_the_due_time_and_name_each_figure():
    text = _stats_with([0.0, 0.0, 0.001]).text([0.0, 0.0], delays_after_due=(PERIOD / RATE, 256 / RATE))
    at_input = re.search(r"at your synth's MIDI input: p50 ([\d.]+) ms", text)
    sounding = re.search(r"first note sounding: p50 ([\d.]+) ms", text)
    assert at_input and float(at_input.group(1)) == pytest.approx(PERIOD / RATE * 1000, abs=0.01)
    assert sounding and float(sounding.group(1)) == pytest.approx((PERIOD + 256) / RATE * 1000, abs=0.01)
    assert "one JACK period" in text and "playback latency JACK reports" in text
    assert "handed to the output" in text and "how late the scheduler gave each message" in text


def test_stats_say_when_the_backend_does_not_report_its_delay():
    text = _stats_with([0.002]).text([0.0001])
    assert "does not report" in text and "MIDI input" not in text


def test_own_jack_output_reports_one_period_and_the_synths_playback_latency(jack):
    from daemon.backends import open_output
    from daemon.ports import own_jack_client

    if not own_jack_client("jack", True):
        pytest.fail("segue's own JACK client is not built here (pip install -e . builds daemon/jack_process.c)")
    output = open_output("jack", "stats-probe", "out", own_jack=True)
    synth = None
    try:
        reach, sound = output.delays_after_due()
        assert reach == pytest.approx(PERIOD / RATE) and sound == 0.0      # nothing downstream declares a latency
        if shutil.which("fluidsynth") is None or not _soundfont():
            pytest.skip("fluidsynth with a GM soundfont is not installed: the synth's latency part is not checked")
        # fluidsynth 2.x: MIDI in as fluidsynth-midi:midi_00, audio out autoconnected (-j) to the dummy driver
        synth = subprocess.Popen(["fluidsynth", "-a", "jack", "-m", "jack", "-j", "-i", "-s", _soundfont()],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 env=jack.env)
        jack.wait_port("fluidsynth-midi:midi_00")
        jack.connect(output.name, "fluidsynth-midi:midi_00")
        deadline = time.monotonic() + 10
        while output.delays_after_due()[1] == 0.0 and time.monotonic() < deadline:
            time.sleep(0.1)                      # JACK recomputes latencies after a graph change
        reach, sound = output.delays_after_due()
        assert reach == pytest.approx(PERIOD / RATE) and sound == pytest.approx(_jack_lsp_latency(jack) / RATE)
        assert sound > 0
    finally:
        if synth is not None:
            synth.terminate()
            synth.wait(10)
        output.close()


def _soundfont() -> str | None:
    from segue.cli.generate_output import SOUNDFONT_PLACES

    return next((place for place in SOUNDFONT_PLACES if os.path.isfile(place)), None)


def _jack_lsp_latency(jack) -> int:
    """The playback latency (frames, max) jack_lsp prints for fluidsynth's MIDI input."""
    listing = subprocess.run(["jack_lsp", "-l", "fluidsynth-midi:midi_00"], capture_output=True, text=True,
                             env=jack.env).stdout
    return int(re.search(r"playback latency = \[ \d+ (\d+) \]", listing).group(1))
