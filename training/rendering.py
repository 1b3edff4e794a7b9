"""Performance rendering of scores: turn a score rendered at constant tempo into a plausible piano performance.

The music21 sources reach the dataset as notes at one tempo, one velocity and no pedal. A pianist plays nothing
like that, so at batch time every score piece is re-rendered with a fresh random rendition per epoch
(`render(notes, rng, params)`); real performances (MAESTRO, ASAP, recorded sessions) are left as they are.

Structure is inferred from the onset grid (the stored rows carry no bar lines): the beat is the grid period nearest
the preferred tempo among those most of whose ticks carry an onset, the bar the grouping of 2, 3 or 4 beats whose downbeats start the most sounding
time, phrases run 4 bars (8 at most) and end early at a bar line after a long melody note or a rest.

Facts the rules rely on (values as published; the parameter defaults sit inside these ranges):
- Phrase arch (Todd 1992; KTH "phrase arch" rule, Friberg 1995, Friberg, Bresin & Sundberg 2006): tempo and
  loudness rise towards the middle of a phrase and fall towards its end; pianists' IOIs vary by roughly 5-15%
  over a phrase (Repp 1992, 28 Traeumerei performances; Repp 1998, 115 Chopin op. 10/3 performances).
- Phrase-final lengthening (KTH "final ritard"/"punctuation"; Repp 1992): the last beat of a phrase is 10-30%
  longer, most at section ends. The final ritardando follows v(x) = (1 + (w^q - 1) x)^(1/q) with q = 2..3 and a
  final tempo w of 0.5-0.8 of the initial (Friberg & Sundberg 1999, "Does music performance allude to
  locomotion?"), over the last bar or two.
- Global tempo differs between performers of the same piece by about +-15% (Repp 1998).
- Timing noise: onset jitter of skilled pianists around 5-15 ms SD on top of the expressive curve
  (Repp 1995; Wing-Kristofferson style motor noise).
- Melody lead: the melody note of a chord sounds ~20-30 ms before the others (Palmer 1996; Goebl 2001, who also
  ties it to the melody being played louder); other chord tones spread over a few to tens of ms (Repp 1996).
- Dynamics: the melody is played some 10-20 MIDI velocity units louder than the accompaniment (Repp 1996;
  Goebl 2001); downbeats get metrical accents of a few units (KTH "metrical accent"); "high loud": loudness rises
  with pitch, i.e. a crescendo with a rising contour (KTH, Friberg et al. 2006); tones of one chord differ by
  several units.
- Articulation: in legato, pianists overlap successive melody notes by a key-overlap time of ~20-40 ms at
  moderate tempi (Repp 1997; Bresin & Battel 2000); staccato notes sound 40-60% of their inter-onset interval
  (Bresin & Battel 2000).
- Pedal: most romantic and classical piano performances are pedalled much of the time; the "legato" (syncopated)
  pedal is lifted shortly after a new harmony's onset (~50-150 ms) and pressed again 100-200 ms later
  (Repp 1996/1997 on pedal timing), at harmony changes and bar lines.
- What it must add up to: in recorded piano performance (MAESTRO) about 22% of events are VELOCITY changes and
  29% TIME_SHIFTs; in the score data 2% and 15% (measured in this project; `python -m training.rendering DATA`
  prints both next to the rendered share).

The pedal is applied to note ends by the codec's own rule (segue.codec.midi_io.replay_pedal, note-seq's, as when
reading MIDI), so a rendered piece is encoded like a pedalled recording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from segue.codec import codec
from segue.errors import SegueError
from segue.codec.midi_io import NoteArrays, replay_pedal

GRID_DECIMALS = 3                 # score onsets are exact multiples of a tatum; round to 1 ms to group them
BEAT_RANGE_SECONDS = (0.25, 1.3)  # a beat is a tactus: 46..240 bpm
BEAT_COVERAGE = 0.6               # a beat candidate must have an onset on at least this share of its ticks
TATUMS_PER_BEAT = (1, 2, 3, 4, 6, 8, 12)
PREFERRED_BEAT_SECONDS = 0.55     # listeners' preferred tactus lies near 100-120 bpm (Moelants 2002; Parncutt 1994)
BAR_BEATS = (2, 3, 4)
PHRASE_BARS, MAX_PHRASE_BARS = 4, 8
SCORE_DYNAMICS_WEIGHT = 0.5       # share of the score's marked velocity changes kept in the rendering
MIN_NOTE_SECONDS = 0.03           # no rendered note shorter than this (the codec's grid is 10 ms)


@dataclass
class RenderParams:
    """Sizes of the rules; `data.render` in config.yaml sets any of them (names below)."""
    tempo_spread: float = 0.12           # global tempo factor ~ U(1 - x, 1 + x)
    phrase_rubato: float = 0.08          # depth of the phrase tempo arch (share of beat duration)
    phrase_end_lengthening: float = 0.18  # last beat of a phrase lasts up to 1 + 2x this, mean 1 + x
    final_ritard: float = 0.35           # final tempo of the last two bars = 1 - x of the initial (KTH final ritard)
    timing_jitter: float = 0.008         # seconds, SD of onset noise per chord
    level_low: float = 48.0              # piece's mean velocity ~ U(level_low, level_high)
    level_high: float = 80.0
    phrase_dynamics: float = 14.0        # velocity swing of the phrase arch (peak minus ends), random per phrase
    metrical_accent: float = 6.0         # velocity added on downbeats (half on other strong beats)
    melody_boost: float = 12.0           # melody note above the rest of its chord (velocity units)
    contour_crescendo: float = 0.6       # velocity per semitone the melody lies above its phrase's mean pitch
    chord_velocity_spread: float = 5.0   # SD of velocity within a chord
    velocity_noise: float = 4.0          # SD of velocity per note
    melody_lead: float = 0.025           # seconds the melody leads the other tones of its chord
    chord_spread: float = 0.012          # seconds, SD of the other tones' onsets around the chord onset
    legato_overlap: float = 0.03         # seconds a legato note overlaps the next onset (mean)
    staccato: float = 0.6                # short detached notes sound this share of their score length
    pedal_probability: float = 0.75      # share of pieces rendered with the sustain pedal
    pedal_lift: float = 0.09             # seconds after a harmony change the pedal comes up (mean)
    pedal_catch: float = 0.15            # seconds later it goes down again (mean)
    # Each rendition scales every size in STYLE_SIZES by its own factor 2 ** U(-x, x): one pianist plays with much
    # more rubato, chord spread or dynamic range than another (Repp 1992 measured 28 pianists' Traeumerei timing
    # profiles over a 2-3x range of depth), so a model trained on one style family does not meet a player
    # outside it for the first time. 0: every rendition has the sizes above.
    style_spread: float = 0.0

    def varied(self, rng: np.random.Generator) -> "RenderParams":
        """This rendition's performer: the sizes of STYLE_SIZES scaled by 2 ** U(-style_spread, style_spread)."""
        if self.style_spread <= 0:
            return self                    # no draw: the random stream (and every rendition) stays as without it
        factors = 2.0 ** rng.uniform(-self.style_spread, self.style_spread, size=len(STYLE_SIZES))
        return replace(self, **{name: getattr(self, name) * f for name, f in zip(STYLE_SIZES, factors)})

    @classmethod
    def from_config(cls, values: dict) -> "RenderParams":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SegueError(f"config: unknown key 'data.render.{unknown[0]}' (known: {', '.join(sorted(known))})")
        params = cls(**{k: float(v) for k, v in values.items()})
        negative = [f.name for f in fields(cls) if getattr(params, f.name) < 0]
        if negative:
            raise SegueError(f"config: 'data.render.{negative[0]}' must be >= 0")
        if params.level_low > params.level_high or params.level_high > 127:
            raise SegueError("config: data.render needs level_low <= level_high <= 127")
        if params.pedal_probability > 1 or params.final_ritard >= 1 or params.tempo_spread >= 1:
            raise SegueError("config: data.render.pedal_probability <= 1, final_ritard < 1, tempo_spread < 1")
        return params


# The sizes a performer's style scales (RenderParams.style_spread). Not the ranges whose bounds the config checks
# (tempo spread, final ritard, dynamic level, pedal probability: they already vary per rendition) nor the staccato
# share (a share of the written length, above 1 no longer staccato).
STYLE_SIZES = ("phrase_rubato", "phrase_end_lengthening", "timing_jitter", "phrase_dynamics", "metrical_accent",
               "melody_boost", "contour_crescendo", "chord_velocity_spread", "velocity_noise", "melody_lead",
               "chord_spread", "legato_overlap", "pedal_lift", "pedal_catch")

# piece-id prefixes of recorded performances (training/sources.py)
PERFORMANCE_SOURCES = ("maestro:", "asap:", "hannds:", "session:")
SCORE_MAX_VELOCITIES = 20                     # music21's dynamics marks give a score up to ~14; a pianist uses dozens


def is_performance(piece: dict, notes: np.ndarray) -> bool:
    """A recorded performance (MAESTRO, ASAP, a `--record`ed session or any played MIDI), never to be rendered:
    its id says so, or it has more distinct velocities than an engraved score rendered to MIDI ever does."""
    if str(piece.get("id", "")).startswith(PERFORMANCE_SOURCES):
        return True
    return len(np.unique(notes[:, 1])) > SCORE_MAX_VELOCITIES


# --- structure from the onset grid ----------------------------------------------------------------------------------

@dataclass
class Structure:
    beat: float             # seconds per beat in the score rendering
    bar_beats: int
    downbeat: float         # score time of one downbeat (bars are bar_beats * beat apart from here)
    phrase_starts: np.ndarray   # score times where phrases begin (sorted, first = start of the piece)


def infer_beat(onsets: np.ndarray) -> float:
    """The tactus: of the grid periods (1, 2, 3, 4, 6, 8 or 12 tatums) in BEAT_RANGE_SECONDS most of whose ticks
    carry an onset, the one nearest the preferred tempo (about 2 beats per second: Moelants 2002)."""
    onsets = np.unique(np.round(onsets, GRID_DECIMALS))
    if len(onsets) < 2:
        return PREFERRED_BEAT_SECONDS
    iois = np.diff(onsets)
    tatum = float(np.min(iois[iois > 0.0005]))
    first, span = onsets[0], onsets[-1] - onsets[0]
    candidates = []
    for multiple in TATUMS_PER_BEAT:
        period = tatum * multiple
        if not BEAT_RANGE_SECONDS[0] <= period <= min(BEAT_RANGE_SECONDS[1], span):
            continue
        ticks = first + period * np.arange(int(span / period) + 1)
        hit = np.abs(onsets[np.clip(np.searchsorted(onsets, ticks - 0.002), 0, len(onsets) - 1)] - ticks) < 0.002
        if hit.mean() >= BEAT_COVERAGE:
            candidates.append(period)
    if not candidates:   # sparse or irregular: the smallest allowed multiple of the tatum
        return float(tatum * max(1, math.ceil(BEAT_RANGE_SECONDS[0] / tatum)))
    return float(min(candidates, key=lambda p: abs(math.log(p / PREFERRED_BEAT_SECONDS))))


def infer_meter(starts: np.ndarray, durations: np.ndarray, beat: float) -> tuple[int, float]:
    """(beats per bar, a downbeat time): the grouping whose downbeats begin the most sounding time per beat."""
    beat_index = np.round((starts - starts.min()) / beat)
    on_beat = np.abs((starts - starts.min()) / beat - beat_index) < 0.01
    weight = np.bincount(beat_index[on_beat].astype(np.int64), weights=durations[on_beat])
    if len(weight) < 4 or weight.sum() <= 0:
        return 4, float(starts.min())
    best, best_score = (4, 0), -np.inf
    for bar in BAR_BEATS:
        for phase in range(bar):
            downbeats = weight[phase::bar]
            # Contrast of downbeats against the mean beat; a small prior for 4 (the most common bar).
            score = downbeats.mean() / weight.mean() + (0.05 if bar == 4 else 0.0)
            if score > best_score:
                best, best_score = (bar, phase), score
    return best[0], float(starts.min() + best[1] * beat)


def infer_phrases(melody_starts: np.ndarray, melody_ends: np.ndarray, bar: float, downbeat: float,
                  end: float) -> np.ndarray:
    """Phrase start times on bar lines: after PHRASE_BARS bars at a bar line that follows a long note or a rest,
    and at MAX_PHRASE_BARS at the latest."""
    first_bar = downbeat - bar * math.ceil((downbeat - melody_starts.min()) / bar - 1e-9)
    lines = first_bar + bar * np.arange(int((end - first_bar) / bar) + 2)
    starts, current = [float(melody_starts.min())], 0
    for k, line in enumerate(lines[1:], start=1):
        bars_in = k - current
        if bars_in < PHRASE_BARS:
            continue
        # A breath at the bar line: the last melody note before it is long (>= half a bar) or ends before it.
        before = np.flatnonzero(melody_starts < line - 1e-6)
        if len(before) == 0:
            continue
        last = before[-1]
        breath = (melody_ends[last] - melody_starts[last] >= bar / 2) or (melody_ends[last] < line - bar / 8)
        if breath or bars_in >= MAX_PHRASE_BARS:
            if line < end - bar / 2:
                starts.append(float(line))
            current = k
    return np.array(starts)


def infer_structure(notes: np.ndarray) -> Structure:
    starts, ends = notes[:, 2], notes[:, 3]
    beat = infer_beat(starts)
    bar_beats, downbeat = infer_meter(starts, ends - starts, beat)
    melody = melody_mask(notes)
    phrase_starts = infer_phrases(starts[melody], ends[melody], bar_beats * beat, downbeat, float(ends.max()))
    return Structure(beat, bar_beats, downbeat, phrase_starts)


def onset_groups(starts: np.ndarray) -> np.ndarray:
    """Chord id per note: notes that start together in the score share one."""
    _, group = np.unique(np.round(starts, GRID_DECIMALS), return_inverse=True)
    return group


def melody_mask(notes: np.ndarray) -> np.ndarray:
    """The skyline: per score onset its highest note, unless a higher note is still held over it."""
    group = onset_groups(notes[:, 2])
    n_groups = group.max() + 1
    top = np.full(n_groups, -1.0)
    np.maximum.at(top, group, notes[:, 0])
    # Highest pitch held over each onset: a note covers the onsets after its own and before its end.
    grid = np.unique(np.round(notes[:, 2], GRID_DECIMALS))
    last_covered = np.searchsorted(grid, np.round(notes[:, 3], GRID_DECIMALS) - 0.0005)
    held = np.full(n_groups + 1, -1.0)
    for g0, g1, pitch in zip(group + 1, last_covered, notes[:, 0]):
        if g1 > g0:
            np.maximum(held[g0:g1], pitch, out=held[g0:g1])
    is_top = np.flatnonzero((notes[:, 0] == top[group]) & (notes[:, 0] > held[group]))
    first = np.zeros(len(notes), dtype=bool)
    first[is_top[np.unique(group[is_top], return_index=True)[1]]] = True   # one note of a unison
    return first


# --- the rules ------------------------------------------------------------------------------------------------------

def phrase_position(times: np.ndarray, phrase_starts: np.ndarray, end: float) -> tuple[np.ndarray, np.ndarray]:
    """(phrase index, position 0..1 inside the phrase) for score times."""
    index = np.clip(np.searchsorted(phrase_starts, times, side="right") - 1, 0, len(phrase_starts) - 1)
    bounds = np.append(phrase_starts, end)
    length = np.maximum(bounds[index + 1] - bounds[index], 1e-6)
    return index, np.clip((times - bounds[index]) / length, 0.0, 1.0)


def beat_durations(structure: Structure, end: float, rng, p: RenderParams) -> np.ndarray:
    """Performance seconds of each score beat: global tempo x phrase arch x phrase-end lengthening x final ritard."""
    n_beats = int(math.ceil(end / structure.beat)) + 1
    centres = (np.arange(n_beats) + 0.5) * structure.beat
    phrase, x = phrase_position(centres, structure.phrase_starts, end)
    n_phrases = len(structure.phrase_starts)
    depth = p.phrase_rubato * rng.uniform(0.5, 1.5, n_phrases)
    # Todd's arch: slower at the phrase's edges, faster towards its middle (cos(2 pi x) is +1 at the ends).
    duration = 1.0 + depth[phrase] * np.cos(2 * np.pi * x)
    last_beat = np.append(phrase[1:] != phrase[:-1], False)
    duration[last_beat] *= 1.0 + p.phrase_end_lengthening * rng.uniform(0, 2, int(last_beat.sum()))
    # Final ritardando over the last two bars (Friberg & Sundberg): tempo falls from 1 to w.
    ritard_beats = min(n_beats, 2 * structure.bar_beats)
    if ritard_beats and p.final_ritard > 0:
        w, q = 1.0 - p.final_ritard * rng.uniform(0.5, 1.0), rng.uniform(2.0, 3.0)
        xs = (np.arange(ritard_beats) + 0.5) / ritard_beats
        duration[-ritard_beats:] /= (1.0 + (w ** q - 1.0) * xs) ** (1.0 / q)
    tempo = rng.uniform(1.0 - p.tempo_spread, 1.0 + p.tempo_spread)
    return structure.beat * duration / tempo


def time_map(score_times: np.ndarray, beat: float, durations: np.ndarray) -> np.ndarray:
    """Score seconds -> performance seconds: piecewise linear through the beats' performed durations."""
    position = np.clip(score_times / beat, 0.0, len(durations) - 1e-9)
    whole = position.astype(np.int64)
    elapsed = np.concatenate([[0.0], np.cumsum(durations)])
    return elapsed[whole] + (position - whole) * durations[whole]


def velocities(notes: np.ndarray, structure: Structure, melody: np.ndarray, group: np.ndarray, rng,
               p: RenderParams) -> np.ndarray:
    pitch, start = notes[:, 0], notes[:, 2]
    end = float(notes[:, 3].max())
    phrase, x = phrase_position(start, structure.phrase_starts, end)
    n_phrases = len(structure.phrase_starts)
    level = rng.uniform(p.level_low, p.level_high)
    swing = p.phrase_dynamics * rng.uniform(0.5, 1.5, n_phrases)
    v = level + swing[phrase] * (np.sin(np.pi * x) - 0.5)                # phrase arch (crescendo, diminuendo)
    # The score's own dynamics marks (music21 turns p, f, hairpins into velocities) survive, compressed.
    v += SCORE_DYNAMICS_WEIGHT * (notes[:, 1] - np.median(notes[:, 1]))
    beat_pos = (start - structure.downbeat) / structure.beat
    on_beat = np.abs(beat_pos - np.round(beat_pos)) < 0.01
    in_bar = np.mod(np.round(beat_pos), structure.bar_beats)
    strong = (structure.bar_beats == 4) & (in_bar == 2)
    v += np.where(on_beat & (in_bar == 0), p.metrical_accent,
                  np.where(on_beat & strong, p.metrical_accent / 2, np.where(on_beat, 0.0, -p.metrical_accent / 3)))
    # High loud: the melody's height against its phrase's mean melody pitch.
    melody_mean = np.bincount(phrase[melody], weights=pitch[melody], minlength=n_phrases) / np.maximum(
        np.bincount(phrase[melody], minlength=n_phrases), 1)
    v += np.where(melody, p.contour_crescendo * (pitch - melody_mean[phrase]), 0.0)
    chord_size = np.bincount(group)[group]
    v += np.where(melody, p.melody_boost * rng.uniform(0.6, 1.4), 0.0)
    v += np.where(~melody & (chord_size > 1), rng.normal(0, p.chord_velocity_spread, len(v)), 0.0)
    v += rng.normal(0, p.velocity_noise, len(v))
    return np.clip(np.round(v), 1, 127)


def onsets(notes: np.ndarray, performed: np.ndarray, melody: np.ndarray, group: np.ndarray, rng,
           p: RenderParams) -> np.ndarray:
    """Performed onsets: chord jitter, the melody ahead of its chord, the other tones spread around it."""
    n_groups = group.max() + 1
    chord_size = np.bincount(group)[group]
    t = performed + rng.normal(0, p.timing_jitter, n_groups)[group]
    lead = np.abs(rng.normal(p.melody_lead, p.melody_lead / 3, len(t)))
    t = t - np.where(melody & (chord_size > 1), lead, 0.0)
    t = t + np.where(~melody & (chord_size > 1), rng.normal(0, p.chord_spread, len(t)), 0.0)
    return t


def offsets(notes: np.ndarray, new_starts: np.ndarray, performed_ends: np.ndarray, rng,
            p: RenderParams) -> np.ndarray:
    """Performed note ends: legato notes overlap the next onset, short detached notes become staccato."""
    score_starts, score_ends = notes[:, 2], notes[:, 3]
    grid = np.unique(np.round(score_starts, GRID_DECIMALS))
    at = np.clip(np.searchsorted(grid, np.round(score_ends, GRID_DECIMALS)), 0, len(grid) - 1)
    legato = np.abs(grid[at] - np.round(score_ends, GRID_DECIMALS)) < 0.002      # ends where another note begins
    next_onset = np.clip(np.searchsorted(grid, np.round(score_starts, GRID_DECIMALS), side="right"), 0, len(grid) - 1)
    ioi = grid[next_onset] - score_starts
    detached = ~legato & (score_ends - score_starts < 0.75 * np.maximum(ioi, 1e-6))
    length = performed_ends - new_starts
    length = np.where(legato, length + rng.exponential(p.legato_overlap, len(length)), length)
    length = np.where(detached, length * p.staccato * rng.uniform(0.8, 1.2, len(length)), length)
    return new_starts + np.maximum(length, MIN_NOTE_SECONDS)


def pedal_changes(notes: np.ndarray, structure: Structure, score_to_performed, rng,
                  p: RenderParams) -> tuple[np.ndarray, np.ndarray]:
    """CC64 (times, values): a legato pedal changed at bar lines and harmony changes; some phrases unpedalled.

    At every change point the pedal comes up shortly after the new onset (what rang before ends there, under the
    codec's sustain rule) and, inside a pedalled phrase, goes down again to catch the new harmony."""
    if rng.random() >= p.pedal_probability:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    start, pitch = notes[:, 2], notes[:, 0].astype(np.int64)
    beat_of_note = np.floor((start - structure.downbeat) / structure.beat + 1e-6).astype(np.int64)
    first = beat_of_note.min()
    n = beat_of_note.max() - first + 1
    classes = np.zeros((n, 12), dtype=bool)
    classes[beat_of_note - first, pitch % 12] = True
    has_notes = classes.any(axis=1)
    overlap = (classes[1:] & classes[:-1]).sum(1) / np.maximum((classes[1:] | classes[:-1]).sum(1), 1)
    harmony_change = np.concatenate([[True], overlap < 0.5])
    beat_numbers = np.arange(n) + first
    downbeat = np.mod(beat_numbers, structure.bar_beats) == 0
    change = (harmony_change | downbeat) & has_notes
    # The first onset of each changing beat is where the new harmony sounds.
    onset_in_beat = np.full(n, np.inf)
    np.minimum.at(onset_in_beat, beat_of_note - first, start)
    score_times = onset_in_beat[change]
    if len(score_times) == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    phrase, _ = phrase_position(score_times, structure.phrase_starts, float(notes[:, 3].max()))
    pedalled = (rng.random(len(structure.phrase_starts)) < 0.85)[phrase]
    times = score_to_performed(score_times)
    gaps = np.diff(np.append(times, times[-1] + 10.0))
    lift = np.minimum(0.02 + rng.exponential(p.pedal_lift, len(times)), gaps * 0.4)
    catch = np.minimum(0.03 + rng.exponential(p.pedal_catch, len(times)), gaps * 0.4)
    cc_times = np.concatenate([times + lift, (times + lift + catch)[pedalled]])
    cc_values = np.concatenate([np.zeros(len(times), np.int64), np.full(int(pedalled.sum()), 127, np.int64)])
    order = np.argsort(cc_times, kind="stable")
    return cc_times[order], cc_values[order]


def rendition_rng(seed: int, piece: int, rendition: int) -> np.random.Generator:
    """The random stream of one rendition of piece `piece` (its index in the dataset): epochs count from 0, the
    fixed eval rendition is -1. Training batches and `segue data render` share it, so they render alike."""
    return np.random.default_rng([int(seed), int(piece), int(rendition) + 1])


def render_events(notes: np.ndarray, rng: np.random.Generator, p: RenderParams) -> tuple[np.ndarray, np.ndarray]:
    """(rendered note rows, their events as int16), encoded by the codec."""
    rows = render(notes, rng, p)
    events = codec.encode_arrays(rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2], rows[:, 3])
    return rows, events.astype(np.int16)


def render(notes: np.ndarray, rng: np.random.Generator, p: RenderParams) -> np.ndarray:
    """One random performance of a score: [N, 4] rows (pitch, velocity, start s, end s), pedal applied."""
    return perform(notes, rng, p)[0]


def perform(notes: np.ndarray, rng: np.random.Generator, p: RenderParams):
    """render(), also returning the CC64 changes it applied: (rows, pedal times, pedal values)."""
    return perform_with_beats(notes, rng, p)[:3]


def score_beats(starts: np.ndarray, beat: float) -> np.ndarray:
    """Score times of the beats: every `beat` seconds on the grid of the first onset (as infer_beat counts them)."""
    first = float(np.min(starts)) % beat
    return first + beat * np.arange(int((float(np.max(starts)) - first) / beat) + 1)


def perform_with_beats(notes: np.ndarray, rng: np.random.Generator, p: RenderParams):
    """perform(), also returning the performed times of the score's beats (score_beats of the tactus infer_beat
    found): the ground truth a beat tracker is measured against."""
    notes = np.asarray(notes, dtype=np.float64)
    if len(notes) < 2:
        return notes.copy(), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0)
    p = p.varied(rng)
    structure = infer_structure(notes)
    durations = beat_durations(structure, float(notes[:, 3].max()), rng, p)
    group = onset_groups(notes[:, 2])
    melody = melody_mask(notes)
    starts = onsets(notes, time_map(notes[:, 2], structure.beat, durations), melody, group, rng, p)
    ends = offsets(notes, starts, time_map(notes[:, 3], structure.beat, durations), rng, p)
    shift = max(0.0, -float(starts.min()))          # a melody lead at time 0 must not start before 0
    starts, ends = starts + shift, ends + shift
    part = NoteArrays(notes[:, 0].astype(np.int64),
                      velocities(notes, structure, melody, group, rng, p).astype(np.int64), starts, ends)
    pedal_times, pedal_values = pedal_changes(
        notes, structure, lambda t: time_map(t, structure.beat, durations) + shift, rng, p)
    if len(pedal_times):
        part = replay_pedal(part, pedal_times, pedal_values, float(max(ends.max(), pedal_times.max())))
    rows = np.stack([part.pitch, part.velocity, part.start, part.end], axis=1).astype(np.float64)
    beats = time_map(score_beats(notes[:, 2], structure.beat), structure.beat, durations) + shift
    return rows, pedal_times, pedal_values, beats
