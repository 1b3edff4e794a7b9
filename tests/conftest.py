"""SEGUE_BLOCK_TORCH=1 runs the tests as on a machine without torch: importing it fails, and the tests that need it
skip (pytest.importorskip). tests/core/test_house_rules.py checks that the torch-free folders still collect so."""
import os
import sys

import pytest

if os.environ.get("SEGUE_BLOCK_TORCH") == "1":
    sys.modules["torch"] = None


@pytest.hookimpl(tryfirst=True)       # before pytest-xdist reads the groups into the test ids (its own hook)
def pytest_collection_modifyitems(config, items):
    """Groups for the README's `-n 2 --dist loadgroup`: every test that runs a JACK server goes to one worker, one at a
    time, and every other test file stays whole on a worker, so its module fixtures are made once. Two dummy jackds at
    realtime priority on two cores give up cycles, and MIDI in a given-up cycle is lost inside JACK: with each worker
    running JACK tests, CI saw 109 cycles given up in one test and five rig tests hear notes never released."""
    for item in items:
        runs_jack = "jack" in item.fixturenames or item.get_closest_marker("jack_server") is not None
        group = "jack-server" if runs_jack else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
