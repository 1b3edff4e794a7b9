"""The session: the input loop that ties ports, encoder, turn policy, generator and scheduler together.

Threads: the input port's (stamp + enqueue, nothing else), this loop (parse, encode, decide), the generator (owns the
model) and the scheduler (sends on time). Everything the loop learns reaches the generator as commands in order, so
the model hears the session exactly as it happened. What the other threads learn comes back as messages this loop
applies (the generator's news through the inbox, the scheduler's through `SentNews`): only this thread touches a turn.

Call-response answers are prepared before they are due: once every key and the pedal are up the answer is opened
with its start at the silence deadline, sampled ahead and queued; the player's next note cancels it (nothing
sounded, the model rolls back). So the first note-on leaves at the deadline itself, whatever the model's step cost.

The loop reads its time from an injectable wall clock (daemon/session_timers.py): tests advance a fake one and call
`pump()`. Its helpers: which input is the player's (daemon/input_filter.py), the player's notes waiting for the model
(player_backlog.py), what the scheduler sent (sent_news.py), when the loop wakes (session_timers.py), what each mode
means (policy.py), the knobs (live_controls.py), the reports (turn_log.py).
"""
from __future__ import annotations

import logging
import queue
from dataclasses import dataclass, field, replace

from segue.codec import codec
from segue.codec.midi import (ALL_NOTES_OFF_CC, ALL_SOUND_OFF_CC, CHANNEL_PRESSURE, CONTROL_CHANGE, DRUM_CHANNEL,
                              NOTE_OFF, NOTE_ON, PITCH_BEND, POLY_PRESSURE, STOP, SUSTAIN_CC, SWITCH_OFF, SWITCH_ON,
                              channel_of, hex_bytes, is_note_off, is_note_on, is_system, kind_of, pitch_name,
                              unfinished_sysex)
from segue.codec.streaming import StreamingEncoder
from daemon.clock import MidiClock
from daemon.generator import (Answer, AnswerDone, AnswerOpened, ForgetMemory, Generator, GeneratorFailed,
                              GeneratorSettings, MemoryStrength, OpenAnswer, PlayerNotes, Rollback, SetControls)
from daemon.inbox import Inbox
from daemon.input_filter import InputFilter
from daemon.live_controls import CCMap, Change, LiveControls
from daemon.player_backlog import PlayerBacklog
from daemon.policy import TurnPolicy
from daemon.safety import EchoFilter
from daemon.scheduler import Scheduler
from daemon.sent_news import SentNews
from daemon.session_timers import DEADLINE_LAG_S, END_LAG_S, FLUSH_S, IDLE_WAKE_S, Timers, WallClock
from daemon.status_line import StatusLine, status_of
from daemon.turn_log import SessionStats

log = logging.getLogger("segue.daemon")

CONTINUOUS_BATCH_S = 0.02    # continuous mode rolls back at most this often (player bursts are batched)
RESET_CCS = {ALL_SOUND_OFF_CC: "all sound off", ALL_NOTES_OFF_CC: "all notes off"}   # from the player: nothing is held
# A flood the model cannot keep up with: while the generator has this many of the player's batches still to hear, the
# loop holds the next ones back (daemon/player_backlog.py keeps the latest).
GENERATOR_BEHIND = 2
THRU_KINDS = (NOTE_OFF, NOTE_ON, CONTROL_CHANGE, PITCH_BEND, POLY_PRESSURE, CHANNEL_PRESSURE)


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
                 inbox: Inbox | None = None, grammar=None, memory=None, wall_clock=None):
        """`port_in`: the input port, whose messages the session takes from here on (until then they may wait in
        `inbox`); `origin`: perf_counter time of step 0 (the recorder's too); `port_watch`: called about once a
        second, returns a log line or None (port reconnects), may raise SegueError; `wall_clock`: what the loop
        reads the time from (`now()`; default: session_timers.WallClock)."""
        from segue.inference.sampling import Sampler

        self.cfg = cfg
        self.engine = engine
        self.output = output
        self.wall_clock = wall_clock or WallClock()
        # (stamp, message) from the input port; (stamp, Stop) stop words; (stamp, AnswerOpened ...) generator news
        self.queue = inbox if inbox is not None else Inbox()     # bounded for the player's messages (a flood)
        self.origin = self.wall_clock.now() if origin is None else origin
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
        self.news = SentNews(self.stats, recorder, self.origin, verbose)
        self.status_line = StatusLine(terminal=False if verbose else None)   # -v: in the log, not on one line
        echo = EchoFilter(cfg.echo_window_ms / 1000.0)
        self.scheduler = Scheduler(output, spin_s=cfg.spin_ms / 1000.0, post=self.news.post, echo=echo,
                                   realtime_priority=cfg.realtime_priority,
                                   yield_to_player=not self.policy.plays_along)
        self.input = InputFilter(cfg.in_channel, cfg.ignore_echo, echo,
                                 port_in.deaf_after_unfinished_sysex_s if port_in is not None else 0.0)
        # grammar: config.yaml sampling: (None = its defaults); memory: the model's fitted MemorySettings or None
        settings = GeneratorSettings(lookahead_s=cfg.lookahead_ms / 1000.0, lead_in_ms=cfg.lead_in_ms,
                                     channel=self.channel, key=cfg.key, memory=memory,
                                     memory_learns="session" if cfg.memory == "session" else "player")
        if grammar is not None:
            settings.grammar = grammar
        if cfg.on_beat != "auto":       # only an answer that follows the player's pulse is steered by it
            settings.grammar = replace(settings.grammar, pulse_strength=0.0)
        self.generator = Generator(engine, self.sampler, self.scheduler, self.origin, settings, self._from_generator)
        self.turn: Turn | None = None
        self.next_answer = 1
        self.unheard = PlayerBacklog()          # the player's notes not yet handed to the generator
        # how many messages the input's backend dropped so far (a fake port without a backend cannot say)
        self.backend_dropped = getattr(port_in, "dropped", lambda: None)
        self.timers = Timers(cfg.stale_key_seconds)
        self.last_flush = 0.0
        self.stopping = False
        self.failure: BaseException | None = None
        if port_in is not None:
            port_in.sink = self.on_midi         # from here on a player's note-on reaches the scheduler at once
            # thru: the player hears their own notes through segue, so every one must pass at once
            port_in.busy = (lambda: True) if cfg.thru else (lambda: self.turn is not None)

    # --- the outside ----------------------------------------------------------------------------------------------
    def on_midi(self, data, stamp: float) -> None:
        """The input sink (segue's input thread). A player's note-on silences unsent answer notes at once, before
        the loop (which may be busy) hears of it: a prepared answer due this instant must not sound in the phrase."""
        if self.queue.put_message(stamp, data) and self.input.player_note_on(data, stamp):   # malformed: dropped
            self.scheduler.player_note(stamp)

    def request_stop(self, reason: str = "stop") -> None:
        """Safe from signal handlers and other threads: the loop wakes, silences everything and returns (at once,
        not after the messages queued before the stop word)."""
        self.stopping = True
        self.queue.put((self.wall_clock.now(), Stop(reason)))

    def start(self) -> None:
        self.scheduler.release_all_channels()
        self.scheduler.start()
        self.generator.start()
        self._send_state(False)

    def close(self) -> None:
        """Leave nothing sounding, whatever happened before."""
        self.stopping = True
        if self.turn is not None:
            self._end_turn(self.wall_clock.now(), "shutdown", silence=True)
        self.generator.stop()
        self.scheduler.panic()
        self.scheduler.stop()
        self._send_state(False)
        self.flush_record(final=True)
        self.status_line.close()
        for line in self.queue.summaries() + self.unheard.summaries():
            log.warning(line)

    def run(self) -> None:
        """The input loop; returns after request_stop() or a failure in another thread (re-raised here)."""
        while not self.stopping:
            timeout = self._timeout(self.wall_clock.now())
            try:
                item = self.queue.get(timeout=timeout) if timeout > 0 else self.queue.get_nowait()
            except queue.Empty:
                item = None
            self.pump(item)
        if self.failure is not None:
            raise self.failure

    def pump(self, item=None) -> None:
        """Handle `item` and everything waiting in the inbox, then do what is due at the wall clock's now."""
        if item is None:
            item = self._waiting()
        while item is not None and not self.stopping:
            self._handle(*item)
            item = self._waiting()
        if not self.stopping:
            self._tick(self.wall_clock.now())

    def _waiting(self):
        try:
            return self.queue.get_nowait()
        except queue.Empty:
            return None

    # --- input ------------------------------------------------------------------------------------------------------
    def _handle(self, stamp: float, data) -> None:
        self.news.apply(self.turn)              # what was sent until now, before anything is decided
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
                self.input.unfinished_sysex(data)
            self.clock.handle(status, stamp)
            if status == STOP and self.turn is not None:
                self._end_turn(stamp, "MIDI stop", silence=True)    # the band stopped: so does segue
            return
        if self.input.is_echo(data, stamp, self.policy.keys_down) or not self.input.listens_to(channel_of(status)):
            return
        kind = kind_of(status)
        self.timers.last_input = stamp
        if self.recorder is not None:
            self.recorder.player(data, stamp)
        if self.verbose:
            log.debug("in  %+.4f %s", stamp - self.origin, hex_bytes(data))
        if kind == CONTROL_CHANGE and len(data) == 3:
            self._control(stamp, data[1], data[2])
        elif channel_of(status) == DRUM_CHANNEL:
            pass                                       # drum notes: recorded, passed thru, never heard (as in files)
        elif is_note_on(data):
            self.timers.last_player = stamp
            self._note_on(stamp, data[1], data[2])
        elif is_note_off(data):
            self.timers.last_player = stamp
            self._encoded(self.encoder.note_off(stamp, data[1]))
            self.policy.note_off(stamp, data[1])
        # aftertouch, pitch bend, program change: recorded / passed thru, not part of the model's vocabulary
        if self.cfg.thru and kind in THRU_KINDS:
            # after the session heard it: a note that barges in follows segue's releases, so that segue's note-off of
            # the same pitch on the same channel cannot end it
            self.scheduler.send_now([kind | self.channel, *data[1:]], track=False)

    def _note_on(self, stamp: float, pitch: int, velocity: int) -> None:
        decision = self.policy.note_on(stamp, pitch, velocity)
        if self.turn is not None and not self.policy.plays_along:
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
            self.timers.last_player = stamp
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
            self.scheduler.yield_to_player = not self.policy.plays_along
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
        self.unheard.add(self.encoder.take_edges())   # the player's notes as the encoder wrote them

    # --- turns ------------------------------------------------------------------------------------------------------
    def _flush_player(self, now: float, force: bool = False) -> None:
        """Hand the player's finished events to the generator (in continuous mode: roll back first)."""
        if self.timers.player_active(now) or force:
            self._encoded(self.encoder.advance(now))
        self.unheard.trim()
        if not self.unheard.edges or (not force and self.generator.backlog() >= GENERATOR_BEHIND):
            return
        turn = self.turn
        if turn is not None:
            # The player plays along (continuous mode, or keys held through a takeover): roll the answer back to
            # what sounded, let the model hear the player, and go on from there without silencing anything.
            if not force and now - self.last_flush < CONTINUOUS_BATCH_S:
                return
            last = self.scheduler.cancel(turn.answer_id, silence=False)
            self.generator.send(Rollback(turn.answer_id, last, now, False, self.scheduler.epoch))
        self.generator.send(PlayerNotes(self.unheard.take(), self.controls.vector()))
        self.last_flush = now

    def _open_turn(self, trigger: float, deadline: float | None) -> None:
        now = self.wall_clock.now()
        start, waits_for = self.policy.answer_start(trigger, now, self.clock)
        # Never before it is opened: a silence heard late (the loop behind a flood's backlog, or stamps from before it)
        # would have its due times in the past, and the scheduler would hand the whole answer over at once, late.
        start = max(start, now)
        answer_id = self.next_answer
        self.next_answer += 1
        self.turn = Turn(answer_id, start, deadline=deadline, started=deadline is None)
        log.debug("answer %d opened, starts at %+.4f%s%s", answer_id, start - self.origin,
                  " (prepared for the silence deadline)" if deadline is not None else "",
                  f" (on the {waits_for}'s beat)" if waits_for != "now" else "")
        self.generator.send(SetControls(self.controls.vector()))
        self.generator.send(OpenAnswer(answer_id, start, self.end_step(start, now), now, self.policy.answer_pulse(now)))
        if self.turn.started:
            self._turn_started()

    def end_step(self, start: float, now: float) -> int | None:
        """Where the answer starting at `start` ends (None: it plays along until the policy ends it); the clock's
        tempo is read as it is `now` (start may be up to a beat, or a whole silence, ahead)."""
        if self.policy.plays_along:
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
        self.news.apply(turn)                   # what it sent until the cancel, and what the cancel released
        if not turn.started and (turn.first_note_at is not None or last >= 0):
            # Its first note went out at the deadline before this loop's tick marked it (the scheduler's cancel knows,
            # even before its news came in). The policy must hear that deadline pass too, or it answers the same
            # silence again; if it no longer waits for it (the player's barge-in note), this changes nothing.
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

    def _tick(self, now: float) -> None:
        """What is due at `now`, with no message from anyone: prepare, start and end turns, release stale keys."""
        self.news.apply(self.turn)
        self.queue.backend_dropped(self.backend_dropped(), now)     # before anything is decided on what was heard
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
        # the policy hears its silence pass only with an answer ready for it (the lost-input hold may keep one back)
        if turn is not None and not turn.started and self.policy.tick(now) == "answer":
            turn.started = True
            self._turn_started()
        if turn is not None and turn.end_due is not None and now >= turn.end_due + END_LAG_S:
            if self.scheduler.pending(turn.answer_id) == 0:
                self._end_turn(now, "length", silence=False)
        stale_at = self._stale_at()
        if stale_at is not None and now >= stale_at:
            self._release_all(now, f"no input for {now - self.timers.last_input:.1f} s (a note-off lost on the way?)")
        if turn is not None and turn.started:
            for at, why in self._limits(turn):
                if now >= at:
                    self._end_turn(now, why, silence=True)
                    break
        self.status_line.show(now, status_of(self, now))
        if self.port_watch is not None and self.timers.watch_due(now):
            line = self.port_watch()
            if line:
                log.warning(line)

    def _prepare_at(self, deadline: float) -> float:
        return self.timers.prepare_at(deadline, self.policy.silence_s, self.queue)

    def _stale_at(self) -> float | None:
        return self.timers.stale_at(bool(self.policy.keys_down or self.policy.sustain_down), self.queue)

    def _limits(self, turn: Turn) -> list[tuple[float, str]]:
        """(when, why) the policy ends `turn` on its own (an answer that plays along)."""
        return self.policy.answer_limits(turn.trigger, self.timers.last_player, self.controls.response_seconds,
                                         self.cfg.max_response_seconds)

    def _timeout(self, now: float) -> float:
        """How long the loop may sleep: until the next thing it must do on its own."""
        wake = []
        if self.timers.player_active(now):
            wake.append(now + FLUSH_S)
        deadline = self.policy.deadline()
        if deadline is not None:
            prepare = self._prepare_at(deadline)
            # A prepared answer's first note leaves at the deadline on the scheduler thread; this loop only does
            # the bookkeeping, just after, so the two do not compete for the GIL at the moment of the send.
            wake.append(prepare if self.turn is None and prepare > now else deadline + DEADLINE_LAG_S)
        if self.turn is not None and self.turn.end_due is not None:
            wake.append(max(self.turn.end_due + END_LAG_S, now) + END_LAG_S)   # just after it is due
        if self.port_watch is not None:
            wake.append(self.timers.next_watch)
        if self._stale_at() is not None:
            wake.append(self._stale_at())
        if self.turn is not None:
            wake += [at for at, _ in self._limits(self.turn)]
        # Never sleep unbounded: a wake-up a second costs nothing and keeps the loop responsive to stop requests
        # even if a signal lands on another thread.
        wake.append(now + IDLE_WAKE_S)
        return max(0.0, min(wake) - now)

    # --- from the other threads ---------------------------------------------------------------------------------
    def _from_generator(self, news) -> None:
        self.queue.put((self.wall_clock.now(), news))

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

    def _send_state(self, answering: bool) -> None:
        if self.cfg.state_cc >= 0:
            self.scheduler.send_now([CONTROL_CHANGE | self.channel, self.cfg.state_cc,
                                     SWITCH_ON if answering else SWITCH_OFF], track=False)

    def flush_record(self, final: bool = False) -> None:
        if self.recorder is not None:
            self.news.apply(self.turn)          # segue's messages sent and released until now go in first
            self.recorder.flush(final)
