"""The session: the input loop that ties ports, encoder, turn policy, generator and scheduler together.

Threads: rtmidi's callback (stamp + enqueue, nothing else), this loop (parse, encode, decide), the generator
(owns the model) and the scheduler (sends on time). Everything the loop learns reaches the generator as commands in
order, so the model hears the session exactly as it happened.

Call-response answers are prepared before they are due: once every key and the pedal are up the answer is opened
with its start at the silence deadline, sampled ahead and queued; the player's next note cancels it (nothing
sounded, the model rolls back). So the first note-on leaves at the deadline itself, whatever the model's step cost.
"""
from __future__ import annotations

import collections
import logging
import queue
import time
from dataclasses import dataclass, field

from segue.codec import codec
from segue.codec.midi import (ALL_NOTES_OFF_CC, ALL_SOUND_OFF_CC, CHANNEL_PRESSURE, CONTROL_CHANGE, DRUM_CHANNEL,
                              NOTE_OFF, NOTE_ON, PITCH_BEND, POLY_PRESSURE, STOP, SUSTAIN_CC, SWITCH_OFF, SWITCH_ON,
                              channel_of, hex_bytes, is_note_off, is_note_on, is_system, kind_of, pitch_name,
                              split_swallowed, unfinished_sysex)
from daemon.clock import MidiClock
from segue.codec.streaming import StreamingEncoder
from daemon.inbox import Inbox
from daemon.generator import (Answer, AnswerDone, AnswerOpened, ForgetMemory, Generator, GeneratorFailed,
                              GeneratorSettings, MemoryStrength, OpenAnswer, PlayerNotes, Rollback, SetControls)
from daemon.live_controls import CCMap, Change, LiveControls
from daemon.policy import TurnPolicy
from daemon.safety import EchoFilter
from daemon.status_line import StatusLine, status_of
from daemon.scheduler import Scheduler, Sent
from daemon.turn_log import SessionStats

log = logging.getLogger("segue.daemon")

SETTLE_S = 0.03              # wait this long after the last release before preparing: the encoder's last step is final
FLUSH_S = 0.01               # while the player is active, let the encoder finalize steps every 10 ms
ACTIVE_S = 2.0               # ... for this long after the last player message
IDLE_WAKE_S = 1.0            # the input loop's longest sleep
DEADLINE_LAG_S = 0.003       # the loop marks a prepared turn as started this long after its first note went out
CONTINUOUS_BATCH_S = 0.02    # continuous mode rolls back at most this often (player bursts are batched)
RESET_CCS = {ALL_SOUND_OFF_CC: "all sound off", ALL_NOTES_OFF_CC: "all notes off"}   # from the player: nothing is held
# A flood the model cannot keep up with: while the generator has this many of the player's batches still to hear, the
# loop holds the next ones back, keeping at most UNHEARD_AT_MOST note edges (the oldest notes go first), so the model
# hears the latest of it and is ready to answer as soon as the flood ends (instead of after minutes of backlog).
GENERATOR_BEHIND = 2
UNHEARD_AT_MOST = 512
# After a flood a note-off may have been lost before segue saw it (python-rtmidi's queue drops without a word): keys
# still down this long after the last input, with input lost in the LOST_INPUT_RECENT_S before it, count as released
# (measured: without it, the answer after a 30 s flood on python-rtmidi's clients came 10 s late, stale_key_seconds).
LOST_INPUT_STALE_S = 0.5
LOST_INPUT_RECENT_S = 2.0


@dataclass(frozen=True, slots=True)
class Stop:
    """A stop word for the loop, from a signal handler or another thread."""
    reason: str


@dataclass
class Turn:
    answer_id: int
    trigger: float                    # when the answer is due to start (silence deadline, pedal, note)
    deadline: float | None = None     # call-response: the policy deadline this turn was prepared for
    started: bool = False             # the trigger moment has passed (a prepared turn is not yet "on")
    first_note_at: float | None = None
    end_due: float | None = None      # the generator finished; the turn ends when this time has passed
    answer: Answer | None = None       # the generator's account of it (events, notes), once it opened it
    ended_by: str = ""
    ended_at: float | None = None     # when the session ended it (a barge-in: the player's note-on stamp)
    sent: list = field(default_factory=list)    # (due, sent at, message) of each message, for --turn-log


class Session:
    def __init__(self, cfg, engine, output, port_in=None, *, origin: float | None = None, follower=None, pinned=None,
                 recorder=None, port_watch=None, sampler=None, turn_log=None, verbose=False,
                 inbox: Inbox | None = None, grammar=None, memory=None):
        """`port_in`: the input port, whose messages the session takes from here on (until then they may wait in
        `inbox`); `origin`: perf_counter time of step 0 (the recorder's too); `port_watch`: called about once a
        second, returns a log line or None (port reconnects), may raise SegueError."""
        from segue.inference.sampling import Sampler

        self.cfg = cfg
        self.engine = engine
        self.output = output
        # (stamp, message) from the input port; (stamp, Stop) stop words; (stamp, AnswerOpened ...) generator news
        self.queue = inbox if inbox is not None else Inbox()     # bounded for the player's messages (a flood)
        self.origin = time.perf_counter() if origin is None else origin
        self.encoder = StreamingEncoder(self.origin)
        self.policy = TurnPolicy(cfg.mode, cfg.silence_ms / 1000.0, cfg.takeover_cc, cfg.on_beat)
        self.clock = MidiClock()
        self.recorder = recorder
        self.port_watch = port_watch
        self.verbose = verbose
        self.channel = cfg.out_channel - 1
        self.sampler = sampler or Sampler(cfg.temperature, cfg.top_k, cfg.top_p, cfg.min_p, cfg.seed)
        self.controls = LiveControls(CCMap(cfg.cc_map), self.sampler, cfg.response_seconds, engine, follower, pinned)
        self.stats = SessionStats(turn_log, self.origin)
        self.status_line = StatusLine(terminal=False if verbose else None)   # -v: in the log, not on one line
        self.scheduler = Scheduler(output, spin_s=cfg.spin_ms / 1000.0, on_sent=self._on_sent,
                                   echo=EchoFilter(cfg.echo_window_ms / 1000.0),
                                   realtime_priority=cfg.realtime_priority, on_released=self._on_released,
                                   yield_to_player=self.policy.mode != "continuous")
        # grammar: config.yaml sampling: (None = its defaults); memory: the model's fitted MemorySettings or None
        settings = GeneratorSettings(lookahead_s=cfg.lookahead_ms / 1000.0, lead_in_ms=cfg.lead_in_ms,
                                     channel=self.channel, key=cfg.key, memory=memory,
                                     memory_learns="session" if cfg.memory == "session" else "player")
        if grammar is not None:
            settings.grammar = grammar
        self.generator = Generator(engine, self.sampler, self.scheduler, self.origin, settings, self._from_generator)
        self.turn: Turn | None = None
        self.next_answer = 1
        self.unheard: list[codec.NoteEdge] = []   # the player's notes not yet handed to the generator
        self.notes_shed = 0                     # ... of them the generator never heard (a flood: see GENERATOR_BEHIND)
        self.last_flush = 0.0
        self.last_player = -1e9                 # the player's last note or pedal message
        self.last_input = -1e9                  # the player's last message of any kind
        self.stopping = False
        self.failure: BaseException | None = None
        self.loop_warned = False
        self.sysex_warned = False
        self.sysex_deafness_s = port_in.deaf_after_unfinished_sysex_s if port_in is not None else 0.0
        self.next_watch = 0.0
        if port_in is not None:
            port_in.sink = self.on_midi         # from here on a player's note-on reaches the scheduler at once
            # thru: the player hears their own notes through segue, so every one must pass at once
            port_in.busy = (lambda: True) if cfg.thru else (lambda: self.turn is not None)

    # --- the outside ----------------------------------------------------------------------------------------------
    def on_midi(self, data, stamp: float) -> None:
        """The input sink (segue's input thread). A player's note-on silences unsent answer notes at once, before
        the loop (which may be busy) hears of it: a prepared answer due this instant must not sound in the phrase."""
        if self.queue.put_message(stamp, data) and self._player_note_on(data, stamp):   # malformed: dropped
            self.scheduler.player_note(stamp)

    def _player_note_on(self, data, stamp: float) -> bool:
        """A note-on the turn policy will take as the player's (not segue's echo, not drums, on a listened channel)."""
        if not is_note_on(data):
            return False
        channel = channel_of(data[0])
        if channel == DRUM_CHANNEL or (self.cfg.in_channel and channel != self.cfg.in_channel - 1):
            return False
        return not (self.cfg.ignore_echo and self.scheduler.echo.matches(data, stamp))

    def request_stop(self, reason: str = "stop") -> None:
        """Safe from signal handlers and other threads: the loop wakes, silences everything and returns (at once,
        not after the messages queued before the stop word)."""
        self.stopping = True
        self.queue.put((time.perf_counter(), Stop(reason)))

    def start(self) -> None:
        self.scheduler.release_all_channels()
        self.scheduler.start()
        self.generator.start()
        self._send_state(False)

    def close(self) -> None:
        """Leave nothing sounding, whatever happened before."""
        self.stopping = True
        if self.turn is not None:
            self._end_turn(time.perf_counter(), "shutdown", silence=True)
        self.generator.stop()
        self.scheduler.panic()
        self.scheduler.stop()
        self._send_state(False)
        self.flush_record(final=True)
        self.status_line.close()
        shed = [f"input: {self.notes_shed} notes of a flood never reached the model"] if self.notes_shed else []
        for line in self.queue.summaries() + shed:
            log.warning(line)

    def run(self) -> None:
        """The input loop; returns after request_stop() or a failure in another thread (re-raised here)."""
        while not self.stopping:
            timeout = self._timeout(time.perf_counter())
            try:
                item = self.queue.get(timeout=timeout) if timeout is None or timeout > 0 else self.queue.get_nowait()
            except queue.Empty:
                item = None
            while item is not None and not self.stopping:
                self._handle(*item)
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    item = None
            if not self.stopping:
                self._tick(time.perf_counter())
        if self.failure is not None:
            raise self.failure

    # --- input ------------------------------------------------------------------------------------------------------
    def _handle(self, stamp: float, data) -> None:
        if isinstance(data, Stop):
            self.stopping = True
            return
        if isinstance(data, (AnswerOpened, AnswerDone, GeneratorFailed)):
            self._generator_news(data)
            return
        if not data:
            return
        status = data[0]
        if is_system(status):                          # system messages: only the clock matters to us
            if unfinished_sysex(data):
                self._warn_swallowed_once(data)
            self.clock.handle(status, stamp)
            if status == STOP and self.turn is not None:
                self._end_turn(stamp, "MIDI stop", silence=True)    # the band stopped: so does segue
            return
        if self.cfg.ignore_echo and not self._releases_players_key(data) and self.scheduler.echo.is_echo(data, stamp):
            self._warn_loop_once()
            return
        channel = channel_of(status)
        if self.cfg.in_channel and channel != self.cfg.in_channel - 1:
            return
        kind = kind_of(status)
        if self.cfg.thru and kind in (NOTE_OFF, NOTE_ON, CONTROL_CHANGE, PITCH_BEND, POLY_PRESSURE, CHANNEL_PRESSURE):
            self.scheduler.send_now([kind | self.channel, *data[1:]], track=False)
        self.last_input = stamp
        if self.recorder is not None:
            self.recorder.player(data, stamp)
        if self.verbose:
            log.debug("in  %+.4f %s", stamp - self.origin, hex_bytes(data))
        if kind == CONTROL_CHANGE and len(data) == 3:
            self._control(stamp, data[1], data[2])
        elif channel == DRUM_CHANNEL:
            pass                                       # drum notes: recorded, passed thru, never heard (as in files)
        elif is_note_on(data):
            self.last_player = stamp
            self._note_on(stamp, data[1], data[2])
        elif is_note_off(data):
            self.last_player = stamp
            self._encoded(self.encoder.note_off(stamp, data[1]))
            self.policy.note_off(stamp, data[1])
        # aftertouch, pitch bend, program change: recorded / passed thru, not part of the model's vocabulary

    def _warn_swallowed_once(self, data) -> None:
        """Under JACK the input cut an unfinished sysex off and delivered what it swallowed (daemon/ports.py PROBE):
        `data` is its head. Other backends glue the next message onto it (then it is lost)."""
        if self.sysex_warned:
            return
        self.sysex_warned = True
        if len(split_swallowed(data)) > 1:
            log.warning("an unfinished sysex (%s ...) from the input swallowed %d bytes of messages after it; those "
                        "notes were lost. A device or script sends sysex without its closing F7.",
                        hex_bytes(data[:3]), len(data))
        elif self.sysex_deafness_s:
            log.warning("an unfinished sysex (%s ...) from the input: the MIDI backend took what followed it for "
                        "part of it until segue ended it; the notes played meanwhile arrived up to %.0f ms late. A "
                        "device or script sends sysex without its closing F7.", hex_bytes(data[:3]),
                        self.sysex_deafness_s * 1000)
        else:
            log.warning("an unfinished sysex (%s ...) from the input: segue dropped it at the next message. A device "
                        "or script sends sysex without its closing F7.", hex_bytes(data[:3]))

    def _warn_loop_once(self) -> None:
        delay = None if self.loop_warned else self.scheduler.echo.loop_delay()
        if delay is not None:
            self.loop_warned = True
            log.warning("segue's own notes come back into its input %.0f ms after it plays them: something (a "
                        "synth's or DAW's MIDI thru, a track monitoring segue's output) routes segue's output to its "
                        "input. segue ignores them, but fix the routing: a player playing the same note within "
                        "%.1f s of segue is ignored too.", delay * 1000, self.scheduler.echo.window_s)

    def _releases_players_key(self, data) -> bool:
        """A note-off for a key the player is holding is the player's, even if segue just sent the same bytes."""
        return is_note_off(data) and data[1] in self.policy.keys_down

    def _note_on(self, stamp: float, pitch: int, velocity: int) -> None:
        decision = self.policy.note_on(stamp, pitch, velocity)
        turn = self.turn
        if turn is not None and self.policy.mode != "continuous":
            self._end_turn(stamp, "barge-in", silence=True)
        self._encoded(self.encoder.note_on(stamp, pitch, velocity))
        if decision == "answer":                   # continuous mode: the player's first note starts segue
            self._flush_player(stamp, force=True)
            self._open_turn(stamp, deadline=None)

    def _control(self, stamp: float, cc: int, value: int) -> None:
        change = self.controls.change(cc, value)
        if change is not None:
            log.info("control %s = %s", change.name, change.value)
            if not self.controls.apply(change):
                self._apply(change, stamp)
            if cc not in (SUSTAIN_CC, self.cfg.takeover_cc):
                return
        if cc == SUSTAIN_CC:
            self.last_player = stamp
            self._encoded(self.encoder.sustain(stamp, value))
        if cc in RESET_CCS:
            self._release_all(stamp, f"the player sent CC{cc} ({RESET_CCS[cc]})")
            return
        decision = self.policy.control(stamp, cc, value)
        if decision == "answer":
            self._flush_player(stamp, force=True)
            self._open_turn(stamp, deadline=None)
        elif decision == "stop" and self.turn is not None:
            self._end_turn(stamp, "pedal", silence=True)

    def _release_all(self, stamp: float, why: str) -> None:
        """Forget every key and the pedal the player had down; the model hears them released."""
        keys, pedal = self.policy.release_all(stamp)
        for pitch in keys:
            self._encoded(self.encoder.note_off(stamp, pitch))
        if pedal:
            self._encoded(self.encoder.sustain(stamp, 0))
        if keys or pedal:
            held = " ".join(map(pitch_name, keys)) + (" and the sustain pedal" if pedal else "")
            log.info("%s presumed released: %s", held.strip(), why)

    def _apply(self, change: Change, stamp: float) -> None:
        """The controls that reach the turn policy, the generator or the scheduler (live_controls sets the rest)."""
        if change.name == "mode":
            if self.turn is not None:
                self._end_turn(stamp, "mode change", silence=True)
            self.policy = self.policy.switched(str(change.value))
            self.scheduler.yield_to_player = self.policy.mode != "continuous"
        elif change.name == "memory":
            self.generator.send(MemoryStrength(float(change.value)))
        elif change.name == "panic":
            self._panic(stamp)

    def _panic(self, stamp: float) -> None:
        if self.turn is not None:
            self._end_turn(stamp, "panic", silence=True)
        self.scheduler.panic()
        self.generator.send(ForgetMemory())     # a panic is a fresh start: the session memory too

    def _encoded(self, events) -> None:
        if not events:
            return
        self.controls.hear(events)
        self.unheard += self.encoder.take_edges()   # the player's notes as the encoder wrote them

    # --- turns ------------------------------------------------------------------------------------------------------
    def _flush_player(self, now: float, force: bool = False) -> None:
        """Hand the player's finished events to the generator (in continuous mode: roll back first)."""
        if now - self.last_player < ACTIVE_S or force:
            self._encoded(self.encoder.advance(now))
        if len(self.unheard) > UNHEARD_AT_MOST:
            self._shed_unheard()
        if not self.unheard or (not force and self.generator.backlog() >= GENERATOR_BEHIND):
            return
        turn = self.turn
        if turn is not None:
            # The player plays along (continuous mode, or keys held through a takeover): roll the answer back to
            # what sounded, let the model hear the player, and go on from there without silencing anything.
            if not force and now - self.last_flush < CONTINUOUS_BATCH_S:
                return
            last = self.scheduler.cancel(turn.answer_id, silence=False)
            self.generator.send(Rollback(turn.answer_id, last, now, False, self.scheduler.epoch))
        self.generator.send(PlayerNotes(self.unheard, self.controls.vector()))
        self.unheard = []
        self.last_flush = now

    def _shed_unheard(self) -> None:
        self.unheard, shed = shed_oldest_notes(self.unheard, UNHEARD_AT_MOST)
        if shed and not self.notes_shed:
            log.warning("input: the model cannot keep up with what comes in (a flood?); it hears only the latest "
                        "notes. Said once; counted.")
        self.notes_shed += shed

    def _open_turn(self, trigger: float, deadline: float | None) -> None:
        now = time.perf_counter()
        start, waits_for = self.policy.answer_start(trigger, now, self.clock)
        answer_id = self.next_answer
        self.next_answer += 1
        self.turn = Turn(answer_id, start, deadline=deadline, started=deadline is None)
        log.debug("answer %d opened, starts at %+.4f%s%s", answer_id, start - self.origin,
                  " (prepared for the silence deadline)" if deadline is not None else "",
                  f" (on the {waits_for}'s beat)" if waits_for != "now" else "")
        self.generator.send(SetControls(self.controls.vector()))
        self.generator.send(OpenAnswer(answer_id, start, self._end_step(start, now), now))
        if self.turn.started:
            self._turn_started()

    def _end_step(self, start: float, now: float) -> int | None:
        """Where the answer starting at `start` ends; the clock's tempo is read as it is `now` (start may be up to
        a beat, or a whole silence, ahead)."""
        if self.policy.mode == "continuous":
            return None
        seconds = self.cfg.max_response_seconds
        if not self.cfg.until_barge_in:
            beat = self.clock.beat_seconds(now) if self.cfg.response_bars > 0 else None
            length = (self.cfg.response_bars * self.cfg.beats_per_bar * beat if beat is not None
                      else self.controls.response_seconds)
            seconds = min(seconds, length)
        return self.generator.step_at(start) + codec.quantize(seconds)

    def _turn_started(self) -> None:
        self.stats.turns += 1
        self._send_state(True)

    def _end_turn(self, now: float, why: str, silence: bool) -> None:
        turn = self.turn
        self.turn = None
        log.debug("answer %d ends at %+.4f: %s", turn.answer_id, now - self.origin, why)
        last = -1
        if why != "length":                     # cut short: drop what is unsent, roll the model back to what sounded
            last = self.scheduler.cancel(turn.answer_id, silence=silence)
            self.generator.send(Rollback(turn.answer_id, last, now, silence, self.scheduler.epoch))
        if not turn.started and (turn.first_note_at is not None or last >= 0):
            # Its first note went out at the deadline before this loop's tick marked it (the scheduler's cancel knows,
            # even before _on_sent ran). The policy must hear that deadline pass too, or it answers the same silence
            # again; if it no longer waits for it (the player's barge-in note), this changes nothing.
            turn.started = True
            self.policy.tick(turn.deadline)
            self._turn_started()
        self.policy.answer_finished()
        if not turn.started:
            return                              # a prepared answer that never began: not a turn
        turn.ended_by, turn.ended_at = why, now
        self._send_state(False)
        self.stats.turn_ended(turn, self.policy.mode)
        self.flush_record()

    def _prepare_at(self, deadline: float) -> float:
        return deadline - self.policy.silence_s + min(SETTLE_S, self.policy.silence_s)

    def _tick(self, now: float) -> None:
        turn = self.turn
        deadline = self.policy.deadline()
        if turn is not None and not turn.started and turn.deadline != deadline:
            self._end_turn(now, "cancelled", silence=True)   # the deadline moved (pedal went down): re-prepare
            turn = None
        self._flush_player(now)
        if turn is None and deadline is not None and now >= self._prepare_at(deadline):
            self._flush_player(now, force=True)
            self._open_turn(deadline, deadline=deadline)
            turn = self.turn
        if self.policy.tick(now) == "answer" and turn is not None and not turn.started:
            turn.started = True
            self._turn_started()
        if turn is not None and turn.end_due is not None and now >= turn.end_due + 0.001:
            if self.scheduler.pending(turn.answer_id) == 0:
                self._end_turn(now, "length", silence=False)
        if self._stale_at() is not None and now >= self._stale_at():
            self._release_all(now, f"no input for {now - self.last_input:.1f} s (a note-off lost on the way?)")
        if turn is not None and turn.started and self.policy.mode == "continuous":
            self._end_continuous(now, turn)
        self.status_line.show(now, status_of(self, now))
        if self.port_watch is not None and now >= self.next_watch:
            self.next_watch = now + 1.0
            line = self.port_watch()
            if line:
                log.warning(line)

    def _stale_at(self) -> float | None:
        """When keys or the pedal still down count as released (a lost note-off must not block the turn for good).
        Soon after input was lost (a flood: the backend's queue or the inbox dropped messages, releases among them
        where the backend dropped them), keys still down are presumed released after LOST_INPUT_STALE_S instead."""
        if not (self.policy.keys_down or self.policy.sustain_down):
            return None
        if self.queue.last_drop is None or self.queue.last_drop < self.last_input - LOST_INPUT_RECENT_S:
            return self.last_input + self.cfg.stale_key_seconds
        if self.queue.waiting():
            return None                         # the flood's backlog still drains: that is input, not silence
        return max(self.last_input, self.queue.last_put) + LOST_INPUT_STALE_S

    def _end_continuous(self, now: float, turn: Turn) -> None:
        """Continuous mode plays along while the player plays, then for the answer length after the player's last
        note; no answer lasts longer than max_response_seconds (the player's next note starts a new one)."""
        if now - self.last_player >= self.controls.response_seconds:
            self._end_turn(now, "player stopped", silence=True)
        elif now - turn.trigger >= self.cfg.max_response_seconds:
            self._end_turn(now, "max_response_seconds", silence=True)

    def _timeout(self, now: float) -> float | None:
        """How long the loop may sleep: until the next thing it must do on its own."""
        wake = []
        if now - self.last_player < ACTIVE_S:
            wake.append(now + FLUSH_S)
        deadline = self.policy.deadline()
        if deadline is not None:
            prepare = self._prepare_at(deadline)
            # A prepared answer's first note leaves at the deadline on the scheduler thread; this loop only does
            # the bookkeeping, just after, so the two do not compete for the GIL at the moment of the send.
            wake.append(prepare if self.turn is None and prepare > now else deadline + DEADLINE_LAG_S)
        if self.turn is not None and self.turn.end_due is not None:
            wake.append(max(self.turn.end_due + 0.002, now + 0.001))
        if self.port_watch is not None:
            wake.append(self.next_watch)
        if self._stale_at() is not None:
            wake.append(self._stale_at())
        if self.turn is not None and self.policy.mode == "continuous":
            wake.append(min(self.last_player + self.controls.response_seconds,
                            self.turn.trigger + self.cfg.max_response_seconds))
        # Never sleep unbounded: a wake-up a second costs nothing and keeps the loop responsive to stop requests
        # even if a signal lands on another thread.
        wake.append(now + IDLE_WAKE_S)
        return max(0.0, min(wake) - now)

    # --- from the other threads ---------------------------------------------------------------------------------
    def _from_generator(self, news) -> None:
        self.queue.put((time.perf_counter(), news))

    def _generator_news(self, news) -> None:
        turn = self.turn
        match news:
            case GeneratorFailed(error):
                self.failure = error
                self.stopping = True
            case AnswerOpened(answer) if turn is not None and turn.answer_id == answer.id:
                turn.answer = answer
            case AnswerDone(answer, end_due) if turn is not None and turn.answer_id == answer.id:
                turn.answer = answer
                turn.end_due = end_due

    def _on_sent(self, sent: Sent) -> None:
        """Scheduler thread, after each send: keep it to a few assignments."""
        item = sent.item
        turn = self.turn
        if turn is not None and turn.answer_id == item.answer:
            if item.first_note and turn.first_note_at is None:
                turn.first_note_at = sent.at
            if self.stats.turn_log is not None:
                turn.sent.append((item.due, sent.at, item.data))
        if kind_of(item.data[0]) == NOTE_ON:
            self.stats.notes_sent += 1
        if self.verbose:                               # after the send, so it costs the timing nothing
            log.debug("out %+.4f %s (%+.2f ms)", sent.at - self.origin, hex_bytes(item.data),
                      (sent.at - item.due) * 1000)
        if self.recorder is not None:
            self.recorder.segue(item.data, sent.at)

    def _on_released(self, data, at: float) -> None:
        """Releases at barge-in, panic and shutdown go into the take too: no recorded note is left hanging."""
        if self.recorder is not None:
            self.recorder.segue(data, at)

    def _send_state(self, answering: bool) -> None:
        if self.cfg.state_cc >= 0:
            self.scheduler.send_now([CONTROL_CHANGE | self.channel, self.cfg.state_cc,
                                     SWITCH_ON if answering else SWITCH_OFF], track=False)

    def flush_record(self, final: bool = False) -> None:
        if self.recorder is not None:
            self.recorder.flush(final)


def shed_oldest_notes(edges: list, limit: int) -> tuple[list, int]:
    """(`edges` cut to about `limit`, how many notes were shed): the oldest note starts go first, each with its end
    when that is among the edges; an end whose start the model already heard stays (it must hear the note end)."""
    excess = len(edges) - limit
    kept, ends_to_shed, shed = [], collections.Counter(), 0
    for edge in edges:
        if edge.is_end and ends_to_shed[edge.pitch]:
            ends_to_shed[edge.pitch] -= 1
            excess -= 1
        elif not edge.is_end and excess > 0:
            ends_to_shed[edge.pitch] += 1
            excess -= 1
            shed += 1
        else:
            kept.append(edge)
    return kept, shed
