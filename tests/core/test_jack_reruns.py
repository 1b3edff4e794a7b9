"""The suite's rule for JACK tests on a starved machine (tests/conftest.py): a failure while jackd was giving up
cycles runs again; a failure on a quiet server fails at once; the last attempt's failure stands."""
import shutil
from pathlib import Path

pytest_plugins = ["pytester"]

FAKE_SERVER = '''
import itertools, pytest
from types import SimpleNamespace

class Stopped:                       # the server's process has ended: no wait for it to run clean
    def poll(self):
        return 0

@pytest.fixture
def jack(tmp_path):
    log = tmp_path / "jackd.log"
    log.write_text("")
    return SimpleNamespace(log_path=log, proc=Stopped())

def give_up_cycles(jack, n):
    with open(jack.log_path, "a") as f:
        f.write("JackAudioDriver::ProcessGraphAsyncMaster: Process error\\n" * n)
'''


def run(pytester, body: str):
    shutil.copy(Path(__file__).parents[1] / "conftest.py", pytester.path / "conftest.py")
    pytester.makepyfile(test_rig=FAKE_SERVER + body)
    return pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")


def test_a_failure_while_jackd_gave_up_cycles_runs_again_and_may_pass(pytester):
    result = run(pytester, '''
runs = itertools.count()
def test_once_starved(jack):
    if next(runs) == 0:
        give_up_cycles(jack, 50)
        assert False, "a note-off lost inside JACK"
''')
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*attempt 1 failed while the machine starved jackd: 50 cycles given up*run again*"])


def test_a_failure_on_a_quiet_server_is_not_run_again(pytester):
    result = run(pytester, '''
runs = itertools.count()
def test_broken(jack):
    give_up_cycles(jack, 3)
    assert next(runs) > 0, "segue's own fault"
''')
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*3 cycles given up*during the test*"])


def test_the_last_attempt_stands(pytester):
    result = run(pytester, '''
def test_always_starved(jack):
    give_up_cycles(jack, 50)
    assert False
''')
    result.assert_outcomes(failed=1, warnings=2)
