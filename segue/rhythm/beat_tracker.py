"""A causal beat tracker of the player's onsets: tempo, beat phase and a confidence, from the past only.

One update per onset group (notes struck within CHORD_WINDOW_S of the group's first note count as one chord), in
constant memory (a fixed bank of periods, one oscillator and the last RECENT chords), so the daemon can run it per
note and the decoding can snapshot it per event. Two parts, as in the literature it follows:

- Tempo induction, a resonator bank (Dixon's tempo induction by inter-onset-interval clustering, made causal and
  constant-memory in the manner of Scheirer's and Large's resonator banks): for every period P of a log-spaced bank,
  a leaky phasor z_P = sum_i w_i exp(-2 pi i t_i / P) over the onsets, decaying over about `memory_beats` of its own
  beats. |z_P|^2 counts every pair of onsets whose distance is a multiple of P (any two onsets, not only successive
  ones: this is the IOI histogram of all pairs, which Dixon's induction clusters). Its bias-free share,
  (|z|^2 - sum w^2) / ((sum w)^2 - sum w^2), is 0 in expectation for onsets without period P and 1 for onsets all
  on P's grid; its angle is the grid's phase.
- Beat tracking, an adaptive oscillator (Large & Kolen 1994, "Resonance and the perception of musical meter";
  Toiviainen 1998 for the MIDI setting and the split of phase from period adaptation): the oscillator expects beats
  at anchor + n * period; each onset pulls the anchor toward itself (phase correction) and the period by a smaller
  amount (period correction), both weighted by an attentional focus exp(focus * (cos 2 pi phi - 1)) around the
  expected beat (Large & Jones 1999's "attending energy"), so off-beat notes, ornaments and a free run of notes move
  it little. Large & Kolen's oscillator keeps the phase error's sign: late onsets lengthen the period.
  Once enough chords lie near its beats and half beats, the oscillator is the least-squares line of onset time on
  beat number through the last RECENT chords, forgetting over LINE_BEATS beats: the smoothing form of Cemgil,
  Kappen, Desain & Honing's (2000) Kalman tempo tracker, where phase and period are a state observed through noisy
  onsets; it averages a player's jitter (10-20 ms SD) over the phrase. (A recursive line that forgot over 4 beats and
  started again at every re-seed put the beat after a 2-bar phrase 20-38 ms SD off the player's, where an answer
  must start within 30 ms; this one, 14-20 ms.)
  Dixon's BeatRoot keeps several such agents and lets the best survive; here the bank is the other agent: when its
  best hypothesis beats the oscillator's by SWITCH_MARGIN on two successive onsets, the oscillator is re-seeded
  there (a tempo change, or the first beat of a piece).

Which period is "the beat" (tactus) is ambiguous between metrical levels: the bank scores a candidate P by the best
evidence of its grid with 2, 3 or 4 subdivisions (P, P/2, P/3, P/4 are bank periods: a stream of even eighths is
evidence for a quarter-note beat), each grid counted by how full its points are (FILL_BEAT, FILL_SUBDIVISION: a level
whose points are mostly empty is no beat), times a log-Gaussian preference around 0.55 s (listeners' preferred
tactus, 100-120 bpm: Moelants 2002, Parncutt 1994; training/rendering.py's renditions use the same). A grid of thirds
is also the halves of a beat 2/3 as long and the quarters of one 4/3 as long, so on its own it would let a dotted
beat explain every run of eighths; it counts only with its beat heard as well (its onsets repeating at P itself, as a
swing player's long notes do, or a 12/8 player's accented beats), and then beats the duple readings, whose beats hear
nothing. Chords weigh more than single notes, loud notes more than soft ones (Dixon's salience uses chord size and
velocity; duration, his third cue, is not known when a note starts). Somax2 (IRCAM) also biases its live generation
to a tracked beat phase; its tracker's internals were not available to check, so nothing here relies on them.

Confidence is the bias-free concentration of the oscillator's prediction errors (on the beat or a 2-4 part
subdivision, over FIT_MEMORY_BEATS; PREDICTION_CREDIT), shrunk for few onsets: near 0 for unpulsed playing (random
onsets, huge rubato: no grid predicts them), towards 1 for metrical playing. A new grid (a re-seed, or a line that
moved the tempo) starts it again from the recent chords' errors against that grid. It falls to 0 once the player has
been silent for STALE_BEATS beats (a new phrase may bring a new tempo).

Clarity is a second, independent reading of the same pulse: the autocorrelation of the onset envelope of the
player's last CLARITY_WINDOW_S of notes at the oscillator's period (segue.rhythm.onset_envelope; Lartillot et al.'s
pulse clarity read at the tracked beat rather than at the envelope's own peak). The confidence asks how well the
oscillator predicted each chord, so a pianist's rubato keeps it low even where a listener hears the beat; the
clarity asks whether the notes repeat at that period at all, which rubato bends less. On hannds train primers
(MODEL.md, sessions 16 and 22) the confidence passes 0.3 on 40% of a pianist's primers and 3% of the same primers
played freely; the clarity passing its floor (segue.inference.pulse_preference) as well lifts the first to 65% and
the second to 5%.
"""
from __future__ import annotations

import math

import numpy as np

from segue.rhythm.onset_envelope import FRAME_S, autocorrelation, envelope

CHORD_WINDOW_S = 0.04        # onsets this close are one chord (pianists spread a chord's notes over ~10-40 ms)
MIN_BEAT_S, MAX_BEAT_S = 0.25, 1.3   # the tactus range: 46..240 bpm
MAX_CHORD = 4                # an onset weighs its chord's notes (at most this many) ...
ACCENT_VELOCITY = 80.0       # ... times (velocity / this) ** 2: chords and loud notes mark the beat (Dixon's salience)
PREFERRED_BEAT_S = 0.55      # Moelants 2002: the preferred tactus lies near 100-120 bpm
PRIOR_OCTAVES = 1.0          # SD of the tactus preference, in octaves of the period
SUBDIVISIONS = (1, 2, 3, 4)  # a beat's grid: the beat and its 2-, 3- and 4-part subdivisions
SUBDIVISION_CREDIT = (1.0, 0.9, 0.7, 0.8)   # the beat from its halves a little less than from itself; thirds least ...
THIRDS = SUBDIVISIONS.index(3)
TERNARY_BEAT = 2.5           # ... and a grid of thirds gains this times its beat's own coherence (see _evidence)
PREDICTION_CREDIT = np.array((1.0, 0.9, 0.8, 0.8))   # the confidence: an onset the grid predicted on its beat
                             # or a subdivision (thirds as quarters: a swung or triplet onset is as foreseeable)
SWING_LEAN = 0.25            # a grid of thirds takes its phase this share of a third later (_select)
FILL_BEAT = 1.0              # a beat's points carry onsets: (beat / the player's typical interval) at least this ...
FILL_SUBDIVISION = 0.5       # ... a subdivision's at least this (else the grid's evidence counts by that share)
IOI_MEMORY = 8.0             # the player's typical interval between chords: a running geometric mean over about
                             # this many (a geometric mean: a rest barely moves it)
BINS_PER_OCTAVE = 24         # 2.9% apart: the oscillator tracks the tempo between bins
MEMORY_BEATS = 6.0           # the bank forgets over about a 4/4 bar and a half of each period ...
MIN_MEMORY_S = 2.0           # ... the bank never faster than this (fast subdivision periods would hold few notes)
PHASE_GAIN = 0.8             # share of an on-beat onset's timing error the anchor takes
PERIOD_GAIN = 0.4            # share of it the period takes (Large & Kolen: period correction slower than phase)
RECENT = 24                  # the beat line is fitted to at most this many recent chords (constant memory) ...
LINE_BEATS = 8.0             # ... forgetting over this many beats (2 bars: a phrase's jitter averages out) ...
LINE_SNAP = 0.12             # ... those within this share of a beat of a beat or half beat ...
HALF_WEIGHT = 0.5            # ... a half beat's onset counting this much of a beat's ...
LINE_MIN_WEIGHT = 1.5        # ... once they weigh this much ...
LINE_MIN_SPREAD = 0.5        # ... spread over beats this much (weighted variance of their beat numbers)
REFIT_TEMPO = 0.03           # a line this far (log) from the tempo it started from restarts the fit (_refit)
FIT_MEMORY_BEATS = 6.0       # the fit (the confidence) forgets over this many beats
SHRINK_ONSETS = 4.0          # the fit counts for n / (n + this) after n (effective) onsets: a few notes prove little
FOCUS = 2.0                  # attentional focus: weight 0.68 at 0.1 beat off the beat, 0.14 at a quarter beat
SWITCH_MARGIN = 1.05         # the bank's best hypothesis must beat the oscillator's by this much ...
SWITCH_ONSETS = 2            # ... on this many successive onsets to re-seed it
SWITCH_HEARD = 6.0           # ... and rest on this many (effective) onsets: a few notes do not overturn a tempo
NEAR_BINS = 1                # a best hypothesis this near (3%) is the oscillator's own tempo, not a switch ...
PHASE_CHECK = 0.1            # ... unless the bank hears that period this clearly, its beats half a beat off
STALE_BEATS = 8.0            # silence this long (in beats) and the pulse is no longer trusted
CLARITY_WINDOW_S = 10.0      # the clarity hears the player's notes of this long before their last one ...
CLARITY_NOTES = 256          # ... at most this many (constant memory: 25 notes/s over the window) ...
CLARITY_MIN_NOTES = 8        # ... is 0 on fewer, and counts for n / (n + CLARITY_SHRINK_NOTES) on n: a few notes
CLARITY_SHRINK_NOTES = 8.0   # prove little (random notes reach 0.3 at a given lag by chance when they are ~10)


class BeatTracker:
    """Feed `note_on(t, velocity)` in time order (seconds, any origin); ask `confidence(now)`, `period`,
    `next_beat(t)`, `phase(t)`. Onsets are grouped into chords, so a group is taken in once it is complete: at the
    next onset after the window, or by `flush(now)` once the window has passed (queries flush themselves)."""

    def __init__(self):
        low = MIN_BEAT_S / max(SUBDIVISIONS)
        count = int(math.floor(BINS_PER_OCTAVE * math.log2(MAX_BEAT_S / low))) + 1
        self.periods = low * 2.0 ** (np.arange(count) / BINS_PER_OCTAVE)
        self.memory = np.maximum(MEMORY_BEATS * self.periods, MIN_MEMORY_S)
        self.omega = -2j * np.pi / self.periods
        # The tactus candidates and, per subdivision, the bank index of P / k for each of them.
        self.tactus = np.flatnonzero(self.periods >= MIN_BEAT_S - 1e-12)
        self.sub_index = np.stack([self.tactus - int(round(BINS_PER_OCTAVE * math.log2(k))) for k in SUBDIVISIONS])
        self.prior = np.exp(-0.5 * (np.log2(self.periods[self.tactus] / PREFERRED_BEAT_S) / PRIOR_OCTAVES) ** 2)
        self.credit = np.array(SUBDIVISION_CREDIT)[:, None]
        self.harmonics = np.array(SUBDIVISIONS, dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        n = len(self.periods)
        self.z = np.zeros(n, dtype=np.complex128)
        self.mass = np.zeros(n)
        self.square = np.zeros(n)
        # The oscillator's fit: leaky sums of w * exp(2 pi i k phi) of each onset's phase error phi, per subdivision
        # k, with the weights' sum and sum of squares (the same bias-free concentration as the bank's).
        self.recent = np.zeros((RECENT, 2))  # the last chords (time, weight), a ring (_fit_line)
        self.recent_count = 0
        self.log_interval: float | None = None   # leaky mean of log intervals between chords (_fill)
        self.fitness = 0.0                  # the confidence as of the last chord (_fitness)
        self.fit = np.zeros(len(SUBDIVISIONS), dtype=np.complex128)
        self.fit_mass = 0.0
        self.fit_square = 0.0
        self.last_update: float | None = None   # the last group taken in
        self.period: float | None = None        # the oscillator: beats at anchor + n * period
        self.anchor = 0.0
        self.streak = 0
        self.group: tuple[float, float, int, float] | None = None   # (first onset, sum of onsets, notes, sum vel)
        self.notes = np.zeros(CLARITY_NOTES)   # the last note-ons' times, a ring (clarity) ...
        self.note_count = 0
        self.phrase_start = -math.inf          # ... of the current phrase only (from after a stale silence)
        self._clarity: tuple[float, float] | None = None   # (period, clarity at it), until the next note

    # --- input ----------------------------------------------------------------------------------------------------
    def note_on(self, t: float, velocity: int = 64) -> None:
        self.notes[self.note_count % CLARITY_NOTES] = t
        self.note_count += 1
        self._clarity = None
        group = self.group
        if group is not None and t - group[0] < CHORD_WINDOW_S:
            self.group = (group[0], group[1] + t, group[2] + 1, group[3] + velocity)
            return
        if group is not None:
            self._take(group)
        self.group = (t, t, 1, float(velocity))

    def flush(self, now: float) -> None:
        """Take in the pending chord once its window has passed (nothing can join it any more)."""
        if self.group is not None and now - self.group[0] >= CHORD_WINDOW_S:
            self._take(self.group)
            self.group = None

    def _take(self, group: tuple[float, float, int, float]) -> None:
        _, total, notes, velocities = group
        t = total / notes                   # the chord's mean onset: a melody lead does not move the beat
        weight = min(notes, MAX_CHORD) * (velocities / notes / ACCENT_VELOCITY) ** 2
        stale = self.period is not None and t - self.last_update > STALE_BEATS * self.period
        if stale:
            self.recent_count = 0            # a new phrase: its beat is fitted to its own notes ...
            self.phrase_start = group[0]     # ... and its clarity heard in them
        elif self.last_update is not None:
            interval = math.log(min(max(t - self.last_update, CHORD_WINDOW_S), 2 * MAX_BEAT_S))
            self.log_interval = interval if self.log_interval is None else (
                self.log_interval + (interval - self.log_interval) / IOI_MEMORY)
        self._resonate(t, weight)
        self.recent[self.recent_count % RECENT] = (t, weight)
        self.recent_count += 1
        if self.period is not None and not stale:
            self._entrain(t, weight)
        reseeded = self._select(t, force=self.period is None or stale)
        self._fit_line(t, reseeded)
        self.last_update = t
        self.fitness = self._fitness()      # read once per draw by the pulse preference: computed once per chord

    def _resonate(self, t: float, weight: float) -> None:
        if self.last_update is not None:
            decay = np.exp(-(t - self.last_update) / self.memory)
            self.z *= decay
            self.mass *= decay
            self.square *= decay * decay
        self.z += weight * np.exp(self.omega * t)
        self.mass += weight
        self.square += weight * weight

    def _entrain(self, t: float, weight: float) -> None:
        """Large & Kolen's phase and period correction toward an onset near an expected beat; the onset's phase
        error (before the correction: a prediction) goes into the fit."""
        beats = round((t - self.anchor) / self.period)
        expected = self.anchor + beats * self.period
        error = t - expected
        decay = math.exp(-(t - self.last_update) / (FIT_MEMORY_BEATS * self.period))
        self.fit = self.fit * decay + weight * np.exp(2j * np.pi * error / self.period * self.harmonics)
        self.fit_mass = self.fit_mass * decay + weight
        self.fit_square = self.fit_square * decay * decay + weight * weight
        focus = math.exp(FOCUS * (math.cos(2 * math.pi * error / self.period) - 1.0))
        gain = focus * min(weight, 2.0) / 2.0
        self.anchor = expected + PHASE_GAIN * gain * error
        self.period = _tactus(self.period + PERIOD_GAIN * gain * error)

    def _fit_line(self, t: float, reseeded: bool) -> None:
        """Weighted least squares of onset time on beat number over the recent chords near a beat or a half beat
        (a half beat's onset counting HALF_WEIGHT), forgetting over LINE_BEATS beats, twice (the second with the
        beat numbers of the first line): the anchor and the period it gives average the player's jitter over the
        phrase, where Large & Kolen's corrections follow the last onset. Nothing until the chords on the grid weigh
        LINE_MIN_WEIGHT over enough beats. Bounded memory: the last RECENT chords. A new grid (the bank's, or a
        line that moved the tempo) restarts the fit."""
        if self.period is None:
            return
        kept = self.recent[:min(self.recent_count, RECENT)]
        before = self.period
        for _ in range(2):
            if not self._line_step(kept[:, 0], np.minimum(kept[:, 1], 2.0), t):
                break
        if reseeded or abs(math.log(self.period / before)) > REFIT_TEMPO:
            self._refit(t)

    def _line_step(self, times: np.ndarray, weights: np.ndarray, t: float) -> bool:
        """One least-squares line through the chords near the current grid; False when they are too few."""
        position = (times - self.anchor) / self.period
        beat = np.round(position * 2.0) / 2.0
        near = np.abs(position - beat) <= LINE_SNAP
        w = (weights * near * np.where(beat % 1.0 == 0.0, 1.0, HALF_WEIGHT)
             * np.exp(-(t - times) / (LINE_BEATS * self.period)))
        total = w.sum()
        if total < LINE_MIN_WEIGHT:
            return False
        mean_beat, mean_time = (w * beat).sum() / total, (w * times).sum() / total
        spread = (w * (beat - mean_beat) ** 2).sum()
        if spread < LINE_MIN_SPREAD * total:
            return False
        slope = (w * (beat - mean_beat) * (times - mean_time)).sum() / spread
        period = _tactus(float(slope))
        anchor = mean_time - period * mean_beat          # beat 0 of this numbering
        self.period, self.anchor = period, anchor + round((t - anchor) / period) * period
        return True

    def _refit(self, t: float) -> None:
        """The fit (the confidence) restarted from the recent chords' errors against the line: their predictions
        came from a tempo the line has just shown wrong (a first guess from three notes is often 10% off), as a new
        tempo from the bank starts from what the bank heard there."""
        kept = self.recent[:min(self.recent_count, RECENT)]
        times, weights = kept[:, 0], kept[:, 1] * np.exp(-(t - kept[:, 0]) / (FIT_MEMORY_BEATS * self.period))
        error = (times - self.anchor) / self.period
        error -= np.round(error)
        self.fit = (weights[:, None] * np.exp(2j * np.pi * error[:, None] * self.harmonics)).sum(axis=0)
        self.fit_mass, self.fit_square = float(weights.sum()), float((weights * weights).sum())

    # --- the bank -------------------------------------------------------------------------------------------------
    def _coherence(self) -> np.ndarray:
        """Bias-free squared phase concentration per bank period (0 expected without that period, 1 all on it)."""
        pairs = self.mass * self.mass - self.square
        return np.where(pairs > 1e-9, (np.abs(self.z) ** 2 - self.square) / np.maximum(pairs, 1e-9), 0.0)

    def _evidence(self) -> tuple[np.ndarray, np.ndarray]:
        """(per tactus candidate: its grid's best credited coherence, which subdivision gave it)."""
        coherence = self._coherence()
        # A grid whose points are mostly empty is no beat: onsets every 0.75 s all lie on a 0.25 s grid and on a
        # 0.375 s one, yet they are no evidence of a 0.5 s beat (2 of its 3 points empty, as are 2 of 3 of the
        # subdivision's) or of a 0.375 s one (every other point empty). A grid counts by how full its points are,
        # from the player's typical interval: a beat's should all carry an onset, a subdivision's half of them. A
        # steady run of notes 0.25 s apart fills a 0.5 s beat and its halves: 120 bpm with eighths.
        interval = math.exp(self.log_interval) if self.log_interval is not None else 0.0
        fill_beat = np.minimum(self.periods / max(interval * FILL_BEAT, 1e-9), 1.0)
        fill_sub = np.minimum(self.periods / max(interval * FILL_SUBDIVISION, 1e-9), 1.0)
        beat_level = (coherence * fill_beat)[self.tactus]
        sub_level = (coherence * fill_sub)[self.sub_index]
        credited = sub_level * self.credit
        credited[0] = beat_level
        # Thirds gain what their beat is heard, as far as the thirds add to it (a steady beat's grid is also a grid
        # of thirds, and must not gain from them): swing's long notes (beat coherence 0.25) against the duple
        # reading of the same onsets (its beats fall alternately on long and short notes: 0).
        used = sub_level[THIRDS] - beat_level
        credited[THIRDS] += TERNARY_BEAT * np.clip(np.minimum(beat_level, used), 0.0, None)
        best = np.argmax(credited, axis=0)
        return credited[best, np.arange(len(self.tactus))], best

    def _select(self, t: float, force: bool) -> bool:
        """The bank's best hypothesis re-seeds the oscillator (a first beat, a new tempo, the beats of the same tempo
        half a beat away) when it is clearly better; returns whether it did."""
        evidence, subdivision = self._evidence()
        salience = np.maximum(evidence, 0.0) * self.prior
        best = int(np.argmax(salience))
        if salience[best] <= 0:
            self.streak = 0
            return False
        if not force:
            current = self._bin(self.period)
            near = abs(best - current) <= NEAR_BINS      # the same tempo: the oscillator follows it between bins
            index = self.tactus[best]
            heard = self.mass[index] ** 2 / max(self.square[index], 1e-12)     # effective onsets behind it
            if (near and not self._off_phase(current)) or (not near and (
                    heard < SWITCH_HEARD or salience[best] <= SWITCH_MARGIN * salience[current])):
                self.streak = 0
                return False
            self.streak += 1
            if self.streak < SWITCH_ONSETS:
                return False
            if near:
                best = current
        self.streak = 0
        self.period = float(self.periods[self.tactus[best]])
        # The phase: the beat period's own phasor points at its heavier points; where the evidence came from a
        # subdivision, whose phase is the more precise, its point nearest to that.
        beat = self.periods[self.tactus[best]]
        zero = -np.angle(self.z[self.tactus[best]]) / (2 * np.pi) * beat      # a time on the beat's grid
        k = int(subdivision[best])
        if k > 0:
            index = self.sub_index[k, best]
            grid = self.periods[index]
            sub_zero = -np.angle(self.z[index]) / (2 * np.pi) * grid
            # Swing (two thirds long, one short) puts the beat phasor half way between the short note and the beat
            # that follows it: of those two points, the beat is the later.
            lean = SWING_LEAN if k == THIRDS else 0.0
            zero = sub_zero + round((zero - sub_zero) / grid + lean) * grid
        self.anchor = zero + round((t - zero) / beat) * beat
        return True

    def _off_phase(self, current: int) -> bool:
        """The bank hears the oscillator's own period clearly but with its beats half a beat or more away from the
        oscillator's: the oscillator locked onto the off-beats (a first guess from a subdivision's phase)."""
        index = self.tactus[current]
        if self._coherence()[index] < PHASE_CHECK:
            return False
        grid = self.periods[index]
        zero = -np.angle(self.z[index]) / (2 * np.pi) * grid
        apart = ((self.anchor - zero) / grid) % 1.0
        return 0.25 < apart < 0.75

    def _bin(self, period: float) -> int:
        """The tactus candidate nearest a period."""
        position = BINS_PER_OCTAVE * math.log2(period / self.periods[self.tactus[0]])
        return int(min(max(round(position), 0), len(self.tactus) - 1))

    # --- what it hears --------------------------------------------------------------------------------------------
    def confidence(self, now: float | None = None) -> float:
        """0..1: how well the oscillator predicted the recent onsets, on its beat or a 2-4 part subdivision of it
        (the credited, bias-free concentration of their phase errors, shrunk for few onsets); 0 without a beat or
        after STALE_BEATS beats of silence."""
        if now is not None:
            self.flush(now)
        if self.period is None or self.last_update is None:
            return 0.0
        if now is not None and now - self.last_update > STALE_BEATS * self.period:
            return 0.0
        return self.fitness

    def clarity(self) -> float:
        """0..1: the autocorrelation of the onset envelope of the player's last CLARITY_WINDOW_S of notes (this
        phrase's) at the oscillator's period, shrunk for few notes; 0 without a beat or on fewer than
        CLARITY_MIN_NOTES notes. Computed once per note and period, read per draw. Not judged stale: it describes
        the player's last phrase."""
        if self.period is None:
            return 0.0
        if self._clarity is not None and self._clarity[0] == self.period:
            return self._clarity[1]
        times = self.phrase_notes()
        value = 0.0
        if len(times) >= CLARITY_MIN_NOTES:
            start, end = float(times.min()), float(times.max()) + FRAME_S
            value = autocorrelation(envelope(times - start, end - start), int(round(self.period / FRAME_S)))
            value = min(max(value, 0.0), 1.0) if math.isfinite(value) else 0.0
            value *= len(times) / (len(times) + CLARITY_SHRINK_NOTES)
        self._clarity = (self.period, value)
        return value

    def phrase_notes(self) -> np.ndarray:
        """The times of the player's note-ons of this phrase within CLARITY_WINDOW_S of their last one (at most
        CLARITY_NOTES): what the clarity and the rhythm inside the beat (segue.rhythm.rhythm_grid) are heard from."""
        times = self.notes[:min(self.note_count, CLARITY_NOTES)]
        end = float(times.max()) + FRAME_S if len(times) else 0.0
        return times[times >= max(end - CLARITY_WINDOW_S, self.phrase_start)]

    def _fitness(self) -> float:
        pairs = self.fit_mass * self.fit_mass - self.fit_square
        if pairs <= 1e-9:
            return 0.0
        concentration = (np.abs(self.fit) ** 2 - self.fit_square) / pairs * PREDICTION_CREDIT
        onsets = self.fit_mass * self.fit_mass / self.fit_square
        return float(min(max(concentration.max(), 0.0), 1.0) * onsets / (onsets + SHRINK_ONSETS))

    @property
    def bpm(self) -> float | None:
        return None if self.period is None else 60.0 / self.period

    def next_beat(self, t: float) -> float | None:
        """The first tracked beat at or after t (None: no beat yet)."""
        if self.period is None:
            return None
        return self.anchor + math.ceil((t - self.anchor) / self.period - 1e-9) * self.period

    def phase(self, t: float) -> float | None:
        """Where t falls in the tracked beat: 0 on a beat, 0.5 half way to the next."""
        if self.period is None:
            return None
        return ((t - self.anchor) / self.period) % 1.0

    # --- rollback -------------------------------------------------------------------------------------------------
    def snapshot(self) -> tuple:
        return (self.z.copy(), self.mass.copy(), self.square.copy(), self.fit.copy(), self.fit_mass, self.fit_square,
                self.recent.copy(), self.recent_count, self.log_interval, self.fitness, self.last_update, self.period,
                self.anchor, self.streak, self.group, self.notes.copy(), self.note_count, self.phrase_start)

    def restore(self, state: tuple) -> None:
        (z, mass, square, fit, self.fit_mass, self.fit_square, recent, self.recent_count, self.log_interval,
         self.fitness, self.last_update, self.period, self.anchor, self.streak, self.group, notes, self.note_count,
         self.phrase_start) = state
        self.z, self.mass, self.square, self.fit = z.copy(), mass.copy(), square.copy(), fit.copy()
        self.recent, self.notes = recent.copy(), notes.copy()
        self._clarity = None

    def moved(self, offset: float) -> "BeatTracker":
        """A copy on a clock that reads `offset` seconds less (t -> t - offset): the same tempo, phase and confidence.
        The bank's phasors turn with the origin (z = sum w exp(-2 pi i t / P)); the rest is times or relative."""
        other = self.copy()
        other.z = other.z * np.exp(self.omega * -offset)
        other.anchor -= offset
        other.recent[:, 0] -= offset
        other.notes -= offset
        other.phrase_start -= offset
        if other.last_update is not None:
            other.last_update -= offset
        if other.group is not None:
            first, total, notes, velocities = other.group
            other.group = (first - offset, total - notes * offset, notes, velocities)
        return other

    def copy(self) -> "BeatTracker":
        other = self.__class__.__new__(self.__class__)
        other.__dict__.update(self.__dict__)          # the bank's constants are shared, never written
        other.restore(self.snapshot())
        return other


def _tactus(period: float) -> float:
    """The period held to the tactus range (np.clip on one float costs ~6 us here, this ~0.5 us: it runs per chord)."""
    return min(max(period, MIN_BEAT_S), MAX_BEAT_S)
