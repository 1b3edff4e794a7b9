"""SEGUE_BLOCK_TORCH=1 runs the tests as on a machine without torch: importing it fails, and the tests that need it
skip (pytest.importorskip). tests/core/test_house_rules.py checks that the torch-free folders still collect so."""
import os
import sys
import time

import pytest
from _pytest.runner import runtestprotocol

if os.environ.get("SEGUE_BLOCK_TORCH") == "1":
    sys.modules["torch"] = None


def _runs_jack(item) -> bool:
    return "jack" in item.fixturenames or item.get_closest_marker("jack_server") is not None


@pytest.hookimpl(tryfirst=True)       # before pytest-xdist reads the groups into the test ids (its own hook)
def pytest_collection_modifyitems(config, items):
    """Groups for the README's `-n 2 --dist loadgroup`: every test that runs a JACK server goes to one worker, one at a
    time, and every other test file stays whole on a worker, so its module fixtures are made once. Two dummy jackds at
    realtime priority on two cores give up cycles, and MIDI in a given-up cycle is lost inside JACK: with each worker
    running JACK tests, CI saw 109 cycles given up in one test and five rig tests hear notes never released."""
    for item in items:
        group = JACK_GROUP if _runs_jack(item) else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


JACK_GROUP = "jack-server"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` with the JACK group handed out first: it runs one test at a time on one worker and is the
    longest unit of the suite (6-7 of its 7 minutes here), so the suite lasts as long as whatever that worker ran
    before it plus the group; xdist hands out units by their number of tests, which put other files first."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class JackGroupFirst(LoadGroupScheduling):
        def _assign_work_unit(self, node):
            if JACK_GROUP in self.workqueue:
                self.workqueue.move_to_end(JACK_GROUP, last=False)
            super()._assign_work_unit(node)

    return JackGroupFirst(config, log)


JACK_ATTEMPTS = 3              # runs of a JACK test whose failure came while the machine starved jackd
LOST_CYCLES_TO_RERUN = 10      # a quiet run gives up 0-5 (a test that kills a client mid-cycle: ~190, jackd's -t 500)
STOLEN_TO_RERUN = 0.05         # the hypervisor's share of the CPUs' time; a quiet machine here: under 1 %
QUIET_S, QUIET_WAIT_S, QUIET_STOLEN = 2.0, 120.0, 0.03


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """What the machine did to JACK while a JACK test ran (item.segue_jackd, an XrunWindow): the cycles jackd gave up
    on (MIDI written in one is lost inside JACK, whatever segue does) and the CPU time the hypervisor stole."""
    if not _runs_jack(item):
        yield
        return
    from daemon.testing import XrunWindow

    item.segue_jackd = XrunWindow((getattr(item, "funcargs", None) or {}).get("jack")).start()
    try:
        yield
    finally:
        item.segue_jackd.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A JACK test that fails says what the machine did to jackd meanwhile: a lost note-off (MIDI in a given-up cycle
    is lost inside JACK) holds a key down until daemon.stale_key_seconds."""
    report = (yield).get_result()
    window = getattr(item, "segue_jackd", None)
    if report.when == "call" and report.failed and window is not None:
        report.sections.append(("jackd", _what_jackd_went_through(window)))


def _what_jackd_went_through(window) -> str:
    where = f" ({window.jack.log_path})" if window.jack else ""
    return (f"{window.failed_cycles} cycles given up, {window.reports} xrun reports, {window.stolen:.0%} of the CPUs' "
            f"time stolen by the hypervisor during the test{where}")


def _starved(window) -> bool:
    return window.failed_cycles >= LOST_CYCLES_TO_RERUN or window.stolen >= STOLEN_TO_RERUN


def _wait_until_the_machine_is_quiet(server) -> None:
    """Until QUIET_S pass with little stolen and, if the test's jackd still runs, no cycle given up (at most
    QUIET_WAIT_S): steal here came in stretches of up to a minute and a half."""
    from daemon.testing import XrunWindow

    alive = server is not None and server.proc.poll() is None
    give_up = time.monotonic() + QUIET_WAIT_S
    while time.monotonic() < give_up:
        window = XrunWindow(server if alive else None).start()
        time.sleep(QUIET_S)
        window.stop()
        if window.failed_cycles == 0 and window.stolen < QUIET_STOLEN:
            return


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """A JACK test that fails while the machine starved jackd runs again, up to JACK_ATTEMPTS, once it is quiet.

    This VM's host takes its CPUs away in stretches (steal in /proc/stat: up to 77 ticks a second of 200, for minutes),
    and jackd then gives up up to one cycle in four: 1,358 in one 20-s CI test, its clients "not finished, state =
    Triggered", never woken in time, and a player's note-off or segue's answer is lost inside JACK. A test that fails
    on a quiet machine fails at once, and so does the last attempt; each rerun is reported as a warning."""
    if not _runs_jack(item):
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for attempt in range(1, JACK_ATTEMPTS + 1):
        item.segue_jackd = None
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        window = item.segue_jackd
        failed = any(r.when == "call" and r.failed for r in reports)
        if not failed or window is None or not _starved(window) or attempt == JACK_ATTEMPTS:
            break
        item.warn(pytest.PytestWarning(f"attempt {attempt} failed while the machine starved jackd: "
                                       f"{_what_jackd_went_through(window)}; run again"))
        _wait_until_the_machine_is_quiet(window.jack)
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
