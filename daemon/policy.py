"""Turn-taking: when segue starts answering and when it must yield. Pure logic on stamped player actions.

The session feeds every player action with its arrival time and asks `deadline()` when it next needs a `tick`.
Decisions come back as strings: "answer" (start now, at the given time), "stop" (takeover pedal released) or
None. A player note during an answer ends it (`answering` turns False); the session silences segue itself.

- call-response: answer `silence_s` after the last release, once no key and no pedal is down, and only if the
  player played something since the last answer (segue never answers its own silence).
- takeover: answer when the takeover pedal/CC goes down; yield when it comes up or the player plays.
- continuous: start with the player's first note and keep playing along; player notes never stop segue.

Where an answer starts (`answer_start`, ON_BEAT): "auto" on the next beat of a running MIDI clock, else on the
player's next beat when the pulse tracker (segue.rhythm.beat_tracker, fed every player note-on here) is sure of
one, else at once; "clock" only on a clock's beat; "off" at once, as segue always did before it tracked the pulse.
"""
from __future__ import annotations

from segue.codec.midi import PEDAL_DOWN, SOFT_PEDAL_CC, SUSTAIN_CC
from segue.inference.pulse_preference import CONFIDENCE_FLOOR, PulseFollower, steers

MODES = ("call-response", "takeover", "continuous")
ON_BEAT = ("auto", "clock", "off")


class TurnPolicy:
    def __init__(self, mode: str, silence_s: float, takeover_cc: int = SOFT_PEDAL_CC, on_beat: str = "off"):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        if on_beat not in ON_BEAT:
            raise ValueError(f"unknown on-beat setting {on_beat!r}")
        self.mode, self.silence_s, self.takeover_cc, self.on_beat = mode, silence_s, takeover_cc, on_beat
        self.pulse = PulseFollower()         # the player's pulse, from their note-ons (answers keep a copy)
        self.held_bpm: float | None = None   # the tempo the latest answer keeps (None: it keeps no beat)
        self.answering = False
        self.keys_down: set[int] = set()
        self.sustain_down = False
        self.takeover_down = False
        self.played_since_answer = False
        self.last_release: float | None = None

    # --- player actions ---------------------------------------------------------------------------------------
    def note_on(self, t: float, pitch: int, velocity: int = 64) -> str | None:
        self.pulse.note_on(t, velocity)
        self.keys_down.add(pitch)
        self.played_since_answer = True
        self.last_release = None
        if self.answering and self.mode != "continuous":
            self.answering = False            # barge-in: the session ends the turn on any player note-on
            return None
        if self.mode == "continuous" and not self.answering:
            self.answering = True
            return "answer"
        return None

    def note_off(self, t: float, pitch: int) -> None:
        self.keys_down.discard(pitch)
        self._maybe_released(t)

    def control(self, t: float, cc: int, value: int) -> str | None:
        down = value >= PEDAL_DOWN
        if cc == SUSTAIN_CC:
            self.sustain_down = down
            if down:
                self.last_release = None
            else:
                self._maybe_released(t)
        if self.mode == "takeover" and cc == self.takeover_cc and down != self.takeover_down:
            self.takeover_down = down
            if down and not self.answering:
                self.answering = True
                return "answer"
            if not down and self.answering:
                self.answering = False
                return "stop"
        return None

    def release_all(self, t: float) -> tuple[list[int], bool]:
        """Nothing is down any more: the player's all-notes-off (CC123/CC120), or keys presumed released after a
        lost note-off. Returns the keys that were down and whether the pedal was."""
        keys, pedal = sorted(self.keys_down), self.sustain_down
        self.keys_down.clear()
        self.sustain_down = False
        self._maybe_released(t)
        return keys, pedal

    def _maybe_released(self, t: float) -> None:
        if not self.keys_down and not self.sustain_down:
            self.last_release = t

    # --- time -------------------------------------------------------------------------------------------------
    def deadline(self) -> float | None:
        """When call-response would start answering if nothing else happens (None: not waiting for anything)."""
        if (self.mode == "call-response" and not self.answering and self.played_since_answer
                and self.last_release is not None):
            return self.last_release + self.silence_s
        return None

    def tick(self, t: float) -> str | None:
        deadline = self.deadline()
        if deadline is not None and t >= deadline:
            self.answering = True
            self.played_since_answer = False
            return "answer"
        return None

    # --- what the mode means for an answer ----------------------------------------------------------------------
    @property
    def plays_along(self) -> bool:
        """Continuous mode: segue plays along with the player. The player's notes never end its answer (the
        scheduler does not yield to them) and the answer has no length of its own: `answer_limits` end it."""
        return self.mode == "continuous"

    def answer_limits(self, trigger: float, last_player: float, response_s: float,
                      max_s: float) -> list[tuple[float, str]]:
        """(when, why) an answer that plays along ends, the first reason first: `response_s` after the player's last
        note or pedal message, and at most `max_s` after its trigger (the player's next note starts a new one).
        Empty in the other modes: their answers end by their length, a barge-in or the pedal."""
        if not self.plays_along:
            return []
        return [(last_player + response_s, "player stopped"), (trigger + max_s, "max_response_seconds")]

    def switched(self, mode: str) -> "TurnPolicy":
        """The policy of another mode (a mode switched by CC) that keeps what this one knows about keys, pedals and
        the player's pulse."""
        new = TurnPolicy(mode, self.silence_s, self.takeover_cc, self.on_beat)
        new.keys_down, new.sustain_down, new.takeover_down = set(self.keys_down), self.sustain_down, self.takeover_down
        new.pulse, new.held_bpm = self.pulse, self.held_bpm
        return new

    def answer_start(self, trigger: float, now: float, clock) -> tuple[float, str]:
        """(when an answer triggered at `trigger` starts, what it waits for: "clock", "pulse" or "now"). `now` judges
        whether the clock runs and the pulse holds; `trigger` may lie ahead (a prepared answer's deadline)."""
        if self.on_beat == "off":
            return trigger, "now"
        if clock.beat_seconds(now) is not None:
            return clock.next_beat(trigger, now), "clock"
        # The answer waits for the player's beat from the confidence the pulse starts to steer the notes at.
        if self.on_beat == "auto" and self.pulse.confidence(now) >= CONFIDENCE_FLOOR:
            return self.pulse.next_beat(trigger), "pulse"
        return trigger, "now"

    def answer_pulse(self, now: float) -> PulseFollower:
        """The player's pulse an answer opened at `now` keeps: a copy (the player may play on), whose grid the pulse
        preference steers the answer by when it is sure of it. What it holds is remembered for the live view
        (`held_bpm`), judged as the preference judges it (pulse_preference.steers): as of the last chord, not by the
        silence since (an answer keeps its beat however long the player rests)."""
        pulse = self.pulse.copy()
        pulse.flush(now)
        self.held_bpm = pulse.bpm if steers(pulse) else None
        return pulse

    def answer_finished(self) -> None:
        """The answer ran its length: listen again. In takeover mode the pedal must come up and go down again;
        continuous mode restarts with the player's next note."""
        self.answering = False
