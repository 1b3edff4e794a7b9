"""What the session reports: a line per turn, the --turn-log JSON (one object per turn) and the --stats summary."""
from __future__ import annotations

import json
import logging
import statistics

log = logging.getLogger("segue.daemon")


class SessionStats:
    """Counts turns and sent notes, keeps each turn's trigger -> first note latency, writes the turn log."""

    def __init__(self, turn_log=None, origin: float = 0.0):
        self.turn_log = turn_log               # an open file, or None
        self.origin = origin
        self.latencies: list[float] = []
        self.turns = 0
        self.notes_sent = 0

    def turn_ended(self, turn, mode: str) -> None:
        latency = None if turn.first_note_at is None else turn.first_note_at - turn.trigger
        if latency is not None:
            self.latencies.append(latency)
        answer = turn.answer
        first = "no notes" if latency is None else f"first note-on handed to the output +{latency * 1000:.2f} ms"
        events = "" if answer is None else f", {answer.events} events, {answer.notes} notes generated"
        log.info("turn %d (%s): trigger at %.3f s, %s%s, ended by %s", self.turns, mode,
                 turn.trigger - self.origin, first, events, turn.ended_by)
        if self.turn_log is not None:
            self.turn_log.write(json.dumps({"turn": self.turns, "answer": turn.answer_id, "trigger": turn.trigger,
                                            "first_note_at": turn.first_note_at, "ended_by": turn.ended_by,
                                            "ended_at": turn.ended_at,
                                            "messages": [[due, at, list(data)] for due, at, data in turn.sent]})
                                + "\n")
            self.turn_log.flush()

    def text(self, send_errors, delays_after_due: tuple[float, float] | None = None) -> str:
        """The --stats summary, each figure saying what it measures. A turn's first note is taken at its due time
        where the output places messages in time (segue's own JACK client), else at its send call.
        `delays_after_due`: (reaches the ports connected to segue's output, then sounds) after the due time, from
        JACK (Output.delays_after_due), or None where the backend does not report them."""
        errors = sorted(send_errors)
        lines = [f"turns {self.turns}, notes sent {self.notes_sent}"]
        if self.latencies:
            ms = sorted(x * 1000 for x in self.latencies)
            lines.append(f"trigger -> first note-on handed to the output: p50 {_pct(ms, 50):.2f} ms, "
                         f"p99 {_pct(ms, 99):.2f} ms ({len(ms)} turns; the trigger is the end of the silence window)")
            if delays_after_due is not None:
                reach, sound = (x * 1000 for x in delays_after_due)
                lines.append(f"trigger -> first note-on at your synth's MIDI input: p50 {_pct(ms, 50) + reach:.2f} "
                             f"ms, p99 {_pct(ms, 99) + reach:.2f} ms (+{reach:.2f} ms: one JACK period, where "
                             f"segue's client places each message)")
                lines.append(f"trigger -> first note sounding: p50 {_pct(ms, 50) + reach + sound:.2f} ms, p99 "
                             f"{_pct(ms, 99) + reach + sound:.2f} ms (+{sound:.2f} ms: the playback latency JACK "
                             "reports for segue's output, what the synth and the sound card downstream declare)")
            else:
                lines.append("at your synth: add the backend's own delay, which it does not report (with "
                             "python-rtmidi's JACK ports, up to one JACK period)")
        if errors:
            us = [x * 1e6 for x in errors]
            lines.append(f"hand-over after the due time: p50 {_pct(us, 50):.0f} us, p99 {_pct(us, 99):.0f} us, "
                         f"mean {statistics.fmean(us):.0f} us ({len(us)} messages; how late the scheduler gave each "
                         "message to the output, 0 = in time)")
        return "\n".join(lines)


def _pct(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, int(round(q / 100 * (len(sorted_values) - 1)))))
    return sorted_values[index]
