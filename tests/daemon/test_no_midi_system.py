"""With no JACK server (and, on Linux, no ALSA sequencer) the first thing `segue serve` prints is one line saying what
it needs and what to do, not libjack's own noise."""
import os
import subprocess
import sys
import uuid

import pytest

from daemon.ports import jack_servers_running


@pytest.mark.parametrize("backend", ["jack", "auto"])
def test_serve_without_a_midi_system_says_what_to_do_in_one_line(backend):
    if backend == "auto" and (not sys.platform.startswith("linux") or os.path.exists("/dev/snd/seq")):
        pytest.skip("auto picks ALSA where its sequencer exists")
    env = {**os.environ, "JACK_DEFAULT_SERVER": f"segue-absent-{uuid.uuid4().hex[:8]}"}
    result = subprocess.run([sys.executable, "-m", "segue", "serve", "--backend", backend], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Cannot connect" not in result.stderr
    if jack_servers_running():
        # servers of other names run on this machine (other tests, a musician's): the line names the variable
        assert "export JACK_DEFAULT_SERVER=" in result.stderr, result.stderr
        return
    assert "no JACK server is running" in result.stderr or "no MIDI system to connect to" in result.stderr
    assert "jackd -d dummy" in result.stderr
