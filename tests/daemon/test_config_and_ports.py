"""User mistakes become one-line SegueErrors: bad daemon config, ports that match nothing or too much."""
import dataclasses

import pytest

from daemon.settings import DaemonConfig
from segue.errors import SegueError

from daemon.ports import find_port, resolve_backend
from daemon.serve import check_config


def test_port_found_by_exact_name_first_then_unique_substring():
    names = ["Digital Piano:0", "Digital Piano MIDI 2", "FluidSynth:in"]
    assert find_port(names, "Digital Piano:0", "input") == 0
    assert find_port(names, "fluid", "output") == 2


def test_no_match_lists_the_ports_and_ambiguity_names_the_candidates():
    names = ["Digital Piano:0", "Digital Piano MIDI 2"]
    with pytest.raises(SegueError, match="available inputs: 'Digital Piano:0', 'Digital Piano MIDI 2'"):
        find_port(names, "Nord", "input")
    with pytest.raises(SegueError, match="ambiguous"):
        find_port(names, "digital", "input")


def test_unknown_backend_is_named():
    with pytest.raises(SegueError, match="unknown MIDI backend 'jackd'"):
        resolve_backend("jackd")


@pytest.mark.parametrize("change, key", [
    ({"mode": "jam"}, "daemon.mode"),
    ({"out_channel": 17}, "daemon.out_channel"),
    ({"in_channel": -1}, "daemon.in_channel"),
    ({"silence_ms": 0.0}, "daemon.silence_ms"),
    ({"state_cc": 200}, "daemon.state_cc"),
    ({"cc_map": {"tempo": 20}}, "daemon.cc_map"),
])
def test_bad_daemon_settings_name_the_key(change, key):
    with pytest.raises(SegueError, match=key.replace(".", r"\.")):
        check_config(dataclasses.replace(DaemonConfig(), **change))


def test_defaults_are_valid():
    check_config(DaemonConfig())
