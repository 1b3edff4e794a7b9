"""Fixtures of the JACK end-to-end tests: one private jackd and one tiny model per test module, a rig per test."""
from __future__ import annotations

import os
import shutil
import time

import pytest

from daemon.testing import Daemon, Listener, Player, make_tiny_model, serving_this_process


@pytest.fixture(scope="module")
def jack():
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed (apt-get install --no-install-recommends jackd2): "
                    "the end-to-end tests need a real JACK server")
    with serving_this_process() as server:   # our own clients use it too
        yield server


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    # torch-free test runs (SEGUE_BLOCK_TORCH=1) skip the JACK tests rather than error: the tiny model is exported
    pytest.importorskip("torch", reason="the JACK tests' tiny random model is exported from torch")
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


_clients = iter(range(1000))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A rig test that fails reports what its daemons said last (tests/conftest.py adds what jackd went through)."""
    report = (yield).get_result()
    made = getattr(item, "segue_rig", None)
    if report.when != "call" or not report.failed or made is None:
        return
    for thing in made:
        if isinstance(thing, Daemon):
            tail = "\n".join(thing.output().splitlines()[-40:])
            report.sections.append((f"daemon {thing.log_path}", tail))


@pytest.fixture
def rig(jack, model, tmp_path, request):
    """A running daemon wired to a fresh player and listener; everything torn down afterwards."""
    made = []
    request.node.segue_rig = made

    def start(*args, connect_player=True, client_prefix="segue", verbose=True):
        n = next(_clients)
        # -v logs every message in, so a failure's daemon.output() shows what reached the daemon
        daemon = Daemon(jack, model, tmp_path, *(("-v",) if verbose else ()), *args, client=f"{client_prefix}{n}")
        made.append(daemon)                 # cleaned up even if a client below fails to start
        listener = Listener(f"listener{n}")
        made.append(listener)
        jack.connect(daemon.out_port, f"listener{n}:in")
        player = None
        if connect_player:
            player = Player(f"player{n}")
            made.append(player)
            jack.connect(f"player{n}:out", daemon.in_port)
        time.sleep(0.2)                     # connections settle before the first note
        return daemon, listener, player

    yield start
    for thing in made:
        thing.stop() if isinstance(thing, Daemon) else thing.close()


