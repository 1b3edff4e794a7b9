"""What segue offers to connect to leaves its own ports out (segue ports, the no-match messages, segue panic), and a
JACK server running under another name than JACK_DEFAULT_SERVER's is named with the variable."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from daemon.backends import describe_ports, list_ports, open_input, open_output
from daemon.ports import find_port, jack_servers_running, own_jack_client
from segue.errors import SegueError
from daemon.testing import REPO, Listener


def test_no_match_lists_and_matches_only_other_programs_ports():
    names = ["segue:in", "segue-01:out", "segue:out 128:1", "fluidsynth-midi:midi_00"]
    with pytest.raises(SegueError) as caught:
        find_port(names, "piano", "output")
    assert "available outputs: 'fluidsynth-midi:midi_00' (see" in str(caught.value)
    assert find_port(names, "midi", "output") == 3          # "segue:in" would have made a unique "in" ambiguous
    assert find_port(names, "i", "output") == 3
    assert find_port(names, "segue:in", "output") == 0      # an exact name is still taken as given


@pytest.mark.parametrize("own", [True, False], ids=["own-client", "python-rtmidi"])
def test_segue_ports_and_panic_leave_a_running_segues_ports_out(jack, own):
    if own and not own_jack_client("jack", True):
        pytest.fail("segue's own JACK client is not built here (pip install -e . builds daemon/jack_process.c)")
    port_in = open_input("jack", "segue", "in", lambda data, stamp: None, probe=False, own_jack=own)
    output = open_output("jack", "segue", "out", own_jack=own)
    listener = Listener("synth23")
    try:
        jack.wait_port("synth23:in")
        assert any(name.startswith("segue") for name in jack.ports())
        sources, destinations = list_ports("jack")
        assert destinations == ["synth23:in"] and not any("segue" in name for name in sources)
        assert "segue:" not in describe_ports("jack")
        panic = subprocess.run([sys.executable, "-m", "segue", "panic", "--backend", "jack"], capture_output=True,
                               text=True, env=jack.env, cwd=REPO, timeout=60)
        assert panic.returncode == 0, panic.stderr
        assert "panic sent to synth23:in" in panic.stdout and "segue:in" not in panic.stdout
    finally:
        listener.close()
        output.close()
        port_in.close()


def test_a_server_under_another_name_is_named_with_the_variable(jack):
    if "default" in jack_servers_running():
        pytest.skip("a JACK server named 'default' runs on this machine: segue would join it")
    env = {k: v for k, v in jack.env.items() if k != "JACK_DEFAULT_SERVER"}
    done = subprocess.run([sys.executable, "-m", "segue", "serve", "--backend", "jack"], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=60)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "no JACK server named 'default'" in done.stderr and "export JACK_DEFAULT_SERVER=" in done.stderr
    assert repr(jack.name) in done.stderr
