"""What a stage does to segue, over a real JACK server with independent clients on the other side (issue 13).

Barge-ins at every moment of an answer, lost note-offs, an unfinished sysex, a feedback loop through a delaying
relay, a synth that restarts, a JACK server that goes away and comes back, SIGKILL, and 10,000 messages counted by jack_midi_dump.
"""
from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time

import pytest

from daemon.safety import LOOP_EVIDENCE
from daemon.testing import (FLOOD_BURST, PERIOD_S, REPO, Daemon, JackServer, Listener, MidiDump,
                                       Player, Relay, answer_after, flood_through, left_sounding, looping_note,
                                       restart_server, wait_until)

# Notes segue had already sent when it heard the player arrive up to this much later: two JACK periods (its input
# and its output) plus a loaded machine's scheduling. A note heard later than this inside the phrase is a stray.
IN_FLIGHT_S = 2 * PERIOD_S + 0.03
# The listener stamps a message when its JACK cycle runs, up to a period before the frame the message sits at: the
# next answer's first note, placed to the frame of its trigger, may be stamped that much before the trigger.
STAMP_EARLY_S = PERIOD_S


def test_no_segue_note_sounds_inside_the_players_phrase_whenever_the_player_barges_in(rig):
    daemon, listener, player = rig("--silence-ms", "150", "--length", "1.0", verbose=False)
    rng = random.Random(1)
    starts = []
    for i in range(30):
        released = player.phrase((60 + i % 7, 64), hold=0.03, gap=0.005)
        if i % 3 == 0:
            time.sleep(0.15 + rng.uniform(-0.004, 0.004))      # right at the silence deadline: the prepared answer
        else:
            answer_after(listener, released)
            time.sleep(rng.uniform(0.0, 0.3))                  # anywhere in the answer
        starts.append(time.perf_counter())
    released = player.phrase((50,))
    answer_after(listener, released)
    assert wait_until(lambda: daemon.turns() and daemon.turns()[-1]["trigger"] > released, 10)   # logged at its end
    assert left_sounding(listener) == set()         # the turn is logged as its last note-offs go out
    triggers = [turn["trigger"] for turn in daemon.turns()]
    strays = []
    for start in starts:
        nxt = min((t for t in triggers if t > start), default=float("inf"))
        strays += [t - start for t, _ in listener.note_ons(start + IN_FLIGHT_S) if t < nxt - STAMP_EARLY_S]
    assert strays == [], f"segue notes inside the player's phrase, seconds after it began: {strays}"


def test_a_lost_note_off_no_longer_blocks_the_turn(rig):
    daemon, listener, player = rig("--silence-ms", "150", "--length", "0.5", "--set", "daemon.stale_key_seconds=1")
    player.send(0x90, 50, 90)                                  # its note-off is lost on the way
    answer_after(listener, player.phrase())
    said = re.search(r"presumed released: no input for ([\d.]+) s", daemon.output())
    assert said and float(said.group(1)) >= 1.0, daemon.output()[-2000:]


def test_the_players_all_notes_off_releases_stuck_keys_at_once(rig):
    daemon, listener, player = rig("--silence-ms", "150", "--length", "0.5")
    player.send(0x90, 50, 90)
    released = player.phrase()
    time.sleep(0.5)
    assert listener.note_ons(released) == []                   # a key is down: segue waits
    cleared = player.send(0xB0, 123, 0)
    answer_after(listener, cleared)


@pytest.mark.parametrize("own_client, said", [
    ("true", "segue dropped it at the next message"),
    # python-rtmidi's input swallows what follows until segue's probe ends the sysex
    ("false", "arrived up to 150 ms late"),
])
def test_an_unfinished_sysex_leaves_the_input_live_and_the_notes_played_after_it_are_heard(rig, own_client, said):
    daemon, listener, player = rig("--silence-ms", "150", "--length", "0.5",
                                   "--set", f"daemon.own_jack_client={own_client}", client_prefix=f"sysex{own_client}")
    for pitch in (60, 62):
        player.send(0xF0, 0x01, 0x02)                          # no F7, and the player never sends one later
        player.send(0x90, pitch, 90)
        time.sleep(0.02)
        released = player.send(0x80, pitch, 0)
        # heard, note-off included (a lost one would hold the answer back for daemon.stale_key_seconds)
        answer_after(listener, released, timeout=5)       # a loaded 2-core machine is slow at times
    # the first answer may still sound as the second phrase ends, and python-rtmidi's input hands that phrase over
    # only once the probe ends the sysex: wait for it
    heard = lambda: [line.split()[-3:] for line in daemon.output().splitlines() if " in  " in line]  # noqa: E731
    wait_until(lambda: len(heard()) >= 4, 2)
    assert heard() == [["90", "3C", "5A"], ["80", "3C", "00"], ["90", "3E", "5A"], ["80", "3E", "00"]], heard()
    assert daemon.output().count("an unfinished sysex (F0 01 02 ...)") == 1, daemon.output()[-2000:]
    assert said in daemon.output()


@pytest.mark.parametrize("delay", [0.15, 1.0])
def test_a_feedback_loop_through_a_delaying_relay_does_not_run_away(rig, jack, delay):
    daemon, listener, player = rig("--silence-ms", "150", "--length", "1.5", verbose=False)
    relay = Relay(jack, delay, client=f"relay{int(delay * 1000)}")
    try:
        jack.connect(daemon.out_port, relay.inlet)
        jack.connect(relay.outlet, daemon.in_port)
        answer_after(listener, player.phrase())
        # The first echoes may cut an answer or two short; then segue knows the loop, says so, and stops feeding it.
        assert wait_until(lambda: "come back into its input" in daemon.output(), 20), daemon.output()[-2000:]
        time.sleep(1.5 + delay + 1.0)                          # the answer playing then ends; its echoes are ignored
        settled = len(daemon.turns())
        time.sleep(4)
        # Each answer an echo cuts short brings that echo as evidence, so the loop is known within LOOP_EVIDENCE
        # cut answers (fewer when answers open with chords); then one answer plays out, and nothing follows.
        assert len(daemon.turns()) == settled <= LOOP_EVIDENCE + 1, [t["ended_by"] for t in daemon.turns()]
    finally:
        relay.close()


def test_without_its_sysex_probe_segue_is_one_jack_client_less_and_still_answers(rig, jack):
    # daemon.sysex_probe=false on python-rtmidi's clients: for a rig that never sends sysex, the probe's client (a
    # process thread in every JACK cycle, ~0.7% of a core idle at 128 frames here) is left out.
    daemon, listener, player = rig("--silence-ms", "150", "--length", "0.5", "--set", "daemon.sysex_probe=false",
                                   "--set", "daemon.own_jack_client=false", client_prefix="probeless")
    client = daemon.in_port.split(":")[0]
    assert not [port for port in jack.ports() if port.startswith(f"{client}-probe")], jack.ports()
    answer_after(listener, player.phrase())


def test_segue_ports_offers_a_running_segues_ports_but_not_its_probe(rig, jack):
    daemon, _, _ = rig("--set", "daemon.own_jack_client=false", client_prefix="probing")
    listing = subprocess.run([sys.executable, "-m", "daemon", "ports", "--backend", "jack"], cwd=REPO, env=jack.env,
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert daemon.in_port in listing.stdout and daemon.out_port in listing.stdout, listing.stdout
    assert any(port.endswith("-probe:probe") for port in jack.ports()), jack.ports()
    assert "-probe:" not in listing.stdout, listing.stdout


def test_a_synth_on_out_that_restarts_is_played_to_again(jack, model, tmp_path):
    synth = Listener("synth")
    daemon = Daemon(jack, model, tmp_path, "--silence-ms", "150", "--length", "0.5", "--out", "synth:in",
                    client="follower")
    player = None
    try:
        player = Player("follower-player")
        jack.connect("follower-player:out", daemon.in_port)
        answer_after(synth, player.phrase())
        synth.close()
        assert wait_until(lambda: "disappeared" in daemon.output(), 5), daemon.output()
        synth = Listener("synth")
        assert wait_until(lambda: "is back; reconnected" in daemon.output(), 5), daemon.output()
        answer_after(synth, player.phrase())
    finally:
        if player is not None:
            player.close()
        daemon.stop()
        synth.close()


@pytest.mark.jack_server
def test_ctrl_c_while_the_jack_server_is_away_ends_segue_at_once(model, tmp_path):
    server = JackServer()
    try:
        daemon = Daemon(server, model, tmp_path, client="orphan")
        server.stop()
        assert wait_until(lambda: "went away; segue waits" in daemon.output(), 5), daemon.output()
        assert daemon.stop() == 0, daemon.log_path.read_text()   # not SIGKILLed: closing dead clients would hang
        assert "Traceback" not in daemon.log_path.read_text()
    finally:
        server.stop()


def test_sigkill_mid_answer_then_restart_leaves_nothing_sounding(jack, model, tmp_path):
    synth = Listener("victim-synth")
    player = Player("victim-player")
    args = ("--silence-ms", "150", "--length", "10", "--out", "victim-synth:in")
    daemon = Daemon(jack, model, tmp_path, *args, client="victim")
    try:
        jack.connect("victim-player:out", daemon.in_port)
        released = player.phrase()
        assert wait_until(lambda: len(synth.note_ons(released)) >= 2, 10), daemon.output()
        daemon.signal(signal.SIGKILL)
        killed = time.perf_counter()                            # notes may be left hanging: nothing released them
        daemon.stop()
        daemon = Daemon(jack, model, tmp_path, *args, client="victim")
        channels = lambda: {m[0] & 0x0F for _, m in synth.since(killed) if m[0] & 0xF0 == 0xB0 and m[1] == 123}  # noqa: E731
        assert wait_until(lambda: channels() == set(range(16)), 10), (synth.since(killed), daemon.output())
        assert left_sounding(synth) == set()
    finally:
        daemon.stop()
        player.close()
        synth.close()


def test_segue_panic_silences_all_16_channels_of_a_destination(jack, tmp_path):
    dump = MidiDump(jack, tmp_path, "panicked")
    try:
        done = subprocess.run([sys.executable, "-m", "daemon", "panic", "--backend", "jack", "--out", dump.port],
                              cwd=REPO, env=jack.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert wait_until(lambda: len(dump.messages()) >= 48, 5), dump.messages()
        got = {tuple(m) for m in dump.messages()}
        assert all((0xB0 | ch, cc, 0) in got for ch in range(16) for cc in (64, 120, 123))
        assert "panic sent to panicked:input" in done.stdout
    finally:
        dump.close()


def test_ten_thousand_messages_through_segue_all_reach_jack_midi_dump(rig, jack, tmp_path):
    # Every message the flood plays goes through segue (thru) to jack_midi_dump. The echo guard is off: a flood
    # repeats identical messages within the guard's first window, and what is counted here is transport.
    daemon, listener, player = rig("--thru", "--silence-ms", "60000", "--set", "daemon.ignore_echo=false",
                                   verbose=False)
    sent, lost, failed_cycles, overflows = flood_through(jack, daemon, tmp_path)
    assert sent >= 10_000
    # Outside the cycles jackd gives up on nothing may be lost.
    allowed = 2 * FLOOD_BURST * failed_cycles
    assert overflows == 0
    assert 0 <= lost <= allowed, (f"{lost} of {sent} lost; jackd gave up on {failed_cycles} cycles "
                                  f"(allowing {allowed}); its log: {jack.log_path}")


@pytest.mark.jack_server
def test_segue_rejoins_a_jack_server_that_restarts_and_answers_again(model, tmp_path):
    # Everything on this server lives in other processes: libjack frees the clients of a dead server in every
    # process that opens a new one, and the test process holds clients of the module's server.
    server = JackServer()
    seq = daemon = listener = None
    try:
        seq = looping_note(server, "rejoin-seq")
        seq_out = server.wait_port(r"rejoin-seq:.*")
        listener = Listener("rejoin-synth", jack=server)
        daemon = Daemon(server, model, tmp_path, "--silence-ms", "150", "--length", "0.5", "--in", seq_out,
                        "--out", "rejoin-synth:in", client="rejoiner")
        assert wait_until(lambda: listener.note_ons(), 10), daemon.output()
        server = restart_server(server, daemon, seq, listener)
        assert daemon.proc.poll() is None
        seq = looping_note(server, "rejoin-seq")
        listener = Listener("rejoin-synth", jack=server)
        assert wait_until(lambda: "is back; segue rejoined it" in daemon.output(), 10), daemon.output()
        # the names they had (a loaded server may list a port a moment after segue said it rejoined)
        assert wait_until(lambda: set(server.ports()) >= {daemon.in_port, daemon.out_port}, 10), server.ports()
        assert wait_until(lambda: listener.note_ons(), 10), daemon.output()     # followed ports reconnected
        time.sleep(2.5)                                        # the dead server's threads are not taken for the race
        assert "departed client's semaphore" not in daemon.output()
        assert daemon.stop() == 0, daemon.log_path.read_text()
        assert "Traceback" not in daemon.log_path.read_text()
    finally:
        for proc in (seq, daemon and daemon.proc):
            if proc is not None and proc.poll() is None:
                proc.kill()
        if listener is not None:
            listener.close()
        server.stop()
