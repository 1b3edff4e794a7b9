"""`segue evaluate`: how well the model, the count baselines and session memory predict a dataset's eval split.

The headline is the **live protocol**: each eval piece streamed through the model from its start (whole-piece
context, no windows, from a zero state), with the controls the daemon can know, `segue.codec.controls.past_controls`
(row t = what its ControlFollower reports once events[0..t] were played). Every system scores the same positions:
every event of every piece but its first (the network has no start token to predict it from). NLL in nats/event.

Secondary rows, labelled as such: the same with Magenta's *forward-looking* controls (computed from the next
3-5 s, which the daemon never has: they flatter), and the trainer's own eval protocol (windows of `seq_len`
events from a zero state) so a checkpoint's eval loss can be reproduced from its ONNX file.

Baselines (`--baselines`): interpolated modified Kneser-Ney (segue.evaluation.baselines) trained on the train split in all
12 keys; + a within-piece cache (segue.inference.memory.SessionMemory over the piece so far, the same object that serves
as the network's session memory); + the note-off grammar. Session memory (`--memory`): the model mixed with
SessionMemory. Every setting these need (KN order, memory order and transposition, mixing weights) is fitted on
held-out *train* pieces (a stable tenth of the train split, by piece id), never on the scored split. Gaps come
with a 95% bootstrap interval over pieces (segue.evaluation.scoring.gap_with_ci).
"""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from segue.inference.engine import Engine
from segue.errors import SegueError
from segue.inference.grammar import NoteOffMask
from segue.evaluation.scoring import (EVENT_TYPES, Scores, gap_with_ci, log_softmax, repeat_positions,
                                      score_pieces)

TUNING_SHARE = 10              # one train piece in 10 (by a stable hash of its id) is held out for tuning
KN_MAX_ORDER = 10              # orders 1..10 are tried on the tuning pieces
KN_DISCOUNT_SCALES = (0.8, 0.9, 1.0, 1.1, 1.25, 1.5)   # then these multiples of the estimated discounts, at that order
REPEAT_LENGTH = 16             # a verbatim repeat: >= 16 events (about 4-5 notes with their timing) seen earlier
# (order, transposition-invariant, coarse contexts) tried on the tuning pieces; exact contexts stay as a reference
MEMORY_CANDIDATES = ((12, False, False), (12, False, True), (12, True, True))

Predictions = list[tuple[np.ndarray, np.ndarray]]   # per piece: (probs [T-1, 388] of events[1:], events)

# What a report holds is keyed by these identifiers (rows, gaps, other protocols); the prose is each one's label,
# for display only. A KN row's label carries its fitted order.
MODEL, MODEL_GRAMMAR = "model", "model_grammar"
MODEL_MEMORY, MODEL_MEMORY_GRAMMAR = "model_memory", "model_memory_grammar"
UNIGRAM, KN, KN_CACHE, KN_CACHE_GRAMMAR = "unigram", "kn", "kn_cache", "kn_cache_grammar"
FORWARD_CONTROLS, TRAINER_WINDOWS = "forward_controls", "trainer_windows"


# --- what is scored ----------------------------------------------------------------------------------------------
def scorable(pieces: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    return [(name, events) for name, events in pieces if len(events) >= 2]


def without_pieces(pieces: list[tuple[str, np.ndarray]], exclude, where: str,
                   progress: Callable[[str], None] = print) -> list[tuple[str, np.ndarray]]:
    """`pieces` less those whose id is in `exclude` (`segue evaluate --exclude`: e.g. an eval piece the model was
    trained on before the split moved), saying what was left out; an id that is not among them is an error, so a
    typo cannot leave a contaminated figure standing."""
    exclude = set(exclude or ())
    missing = exclude - {name for name, _ in pieces}
    if missing:
        raise SegueError(f"--exclude: no piece {', '.join(sorted(missing))} in {where}")
    kept = [(name, events) for name, events in pieces if name not in exclude]
    for name, events in pieces:
        if name in exclude:
            progress(f"left out of {where}: {name} ({len(events):,} events)")
    return kept


def tuning_split(train: list[tuple[str, np.ndarray]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(fit pieces, tuning pieces) of the train split: a stable tenth of the pieces, by id, for tuning."""
    tune = [zlib.crc32(name.encode()) % TUNING_SHARE == 0 for name, _ in train]
    fit = [events for (_, events), held in zip(train, tune) if not held]
    held_out = [events for (_, events), held in zip(train, tune) if held and len(events) >= 2]
    if not fit or not held_out:
        raise SegueError("the train split is too small to hold out tuning pieces (need at least ~10 pieces)")
    return fit, held_out


def model_predictions(engine: Engine, pieces: list[np.ndarray], controls: str = "past") -> Predictions:
    """The network over each whole piece from a zero state; controls "past" (live) or "forward" (Magenta's)."""
    from segue.codec.controls import compute_controls, past_controls

    out = []
    for events in pieces:
        rows = None
        if engine.conditioned:
            # input t carries the controls of t + 1 offline; live, what the follower knows after event t
            rows = past_controls(events)[:-1] if controls == "past" else compute_controls(events)[1:]
        engine.reset()
        logits = engine.run(events[:-1], rows).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        out.append((probs / probs.sum(axis=1, keepdims=True), events))
    return out


def count_predictions(model, pieces: list[np.ndarray]) -> Predictions:
    return [(model.piece_distributions(events), events) for events in pieces]


# --- fitting on held-out train pieces ----------------------------------------------------------------------------
def fit_kn(fit_pieces: list[np.ndarray], tune_pieces: list[np.ndarray], all_train: list[np.ndarray],
           progress: Callable[[str], None]):
    """(KN model, its settings, its cache's settings): the order that predicts the tuning pieces best and a cache
    fitted on them, both with a KN that never saw them; then KN refitted on the whole train split (12 keys)."""
    from segue.evaluation.baselines import ALL_KEYS, MarkovModel, augment_transpositions, truncated

    started = time.time()
    tuned = MarkovModel(KN_MAX_ORDER, "KN").fit(augment_transpositions(fit_pieces, ALL_KEYS))
    by_order = {order: score_pieces(count_predictions(truncated(tuned, order), tune_pieces)).metrics()["nll"]
                for order in range(1, KN_MAX_ORDER + 1)}
    best = min(by_order, key=by_order.get)
    tuned = truncated(tuned, best)
    by_scale = {}
    for scale in KN_DISCOUNT_SCALES:
        tuned.discount_scale = scale
        by_scale[scale] = by_order[best] if scale == 1.0 else \
            score_pieces(count_predictions(tuned, tune_pieces)).metrics()["nll"]
    tuned.discount_scale = min(by_scale, key=by_scale.get)
    progress(f"KN orders on the tuning pieces: {', '.join(f'{o}: {v:.3f}' for o, v in by_order.items())} "
             f"-> order {best}; discount scales {', '.join(f'{k:g}: {v:.3f}' for k, v in by_scale.items())} "
             f"({time.time() - started:.0f} s)")
    cache, tried, _ = fit_memory(count_predictions(tuned, tune_pieces), progress=progress)
    scale = tuned.discount_scale
    del tuned
    model = MarkovModel(best, "KN").fit(augment_transpositions(all_train, ALL_KEYS))
    model.discount_scale = scale
    return model, {"order": best, "discount_scale": scale, "tuning_nll_by_order": by_order,
                   "tuning_nll_by_discount_scale": by_scale, "train_events": model.trained_events}, \
        {"chosen": cache.to_json(), "tuning_nll": tried}


def fit_memory(tune: Predictions, candidates=MEMORY_CANDIDATES, progress: Callable[[str], None] = print):
    """Each candidate memory (order, transposition, coarseness) with its mixing table fitted on the tuning pieces,
    and the one that predicts them best: (best settings, {label: tuning NLL}, {label: settings})."""
    from segue.inference.memory import MemorySettings, SessionMemory, fit_mixing, memory_trace

    nll, fitted = {}, {}
    for order, transpose, coarse in candidates:
        settings = MemorySettings(order=order, transpose=transpose, coarse=coarse)
        label = settings.describe()
        fitted[label] = fit_mixing(settings, *memory_trace(settings, tune))
        nll[label] = score_pieces(tune, [SessionMemory(fitted[label])]).metrics()["nll"]
    best = min(nll, key=nll.get)
    progress("memory on the tuning pieces: " + ", ".join(f"{label}: {value:.3f}" for label, value in nll.items()))
    return fitted[best], nll, fitted


# --- the report --------------------------------------------------------------------------------------------------
@dataclass
class Report:
    model: str
    data: str
    split: str
    pieces: int
    systems: dict[str, Scores] = field(default_factory=dict)   # id -> scores on the same positions
    labels: dict[str, str] = field(default_factory=dict)       # id -> what the system is called in print
    notes: dict[str, str] = field(default_factory=dict)        # id -> how it was made
    repeat: np.ndarray | None = None                            # bool per scored position
    gaps: list[tuple[str, str, str, str]] = field(default_factory=list)   # (id, label, better id, worse id)
    settings: dict = field(default_factory=dict)
    secondary: dict[str, dict] = field(default_factory=dict)   # id -> a row on another protocol (its own positions)

    def add(self, system: str, label: str, scores: Scores, how: str = "") -> None:
        self.systems[system], self.labels[system] = scores, label
        if how:
            self.notes[system] = how

    def nll(self, system: str) -> float:
        return self.systems[system].metrics()["nll"]

    def to_dict(self) -> dict:
        """Rows, gaps and other protocols keyed by their identifiers, each with its `label`; a gap's `better` and
        `worse` are row identifiers."""
        rows = {name: {"label": self.labels[name], **s.metrics(), "by_type": s.by_type(),
                       "how": self.notes.get(name, "")} for name, s in self.systems.items()}
        if self.repeat is not None:
            for name, s in self.systems.items():
                rows[name]["repeat_nll"] = s.where(self.repeat).metrics()["nll"] if self.repeat.any() else None
                rows[name]["other_nll"] = s.where(~self.repeat).metrics()["nll"] if (~self.repeat).any() else None
        gaps = [{"id": gap, "label": label, "better": better, "worse": worse,
                 **gap_with_ci(self.systems[better], self.systems[worse])} for gap, label, better, worse in self.gaps]
        repeat_gaps = []
        if self.repeat is not None and self.repeat.any():
            for gap, label, better, worse in self.gaps:
                for part, mask in (("repeat", self.repeat), ("other", ~self.repeat)):
                    repeat_gaps.append({"id": f"{gap}_{part}", "label": f"{label}, {part} positions", **gap_with_ci(
                        self.systems[better].where(mask), self.systems[worse].where(mask))})
        return {"model": self.model, "data": self.data, "split": self.split, "pieces": self.pieces,
                "events": len(next(iter(self.systems.values()))), "rows": rows, "gaps": gaps,
                "repeat_gaps": repeat_gaps,
                "repeat_share": float(self.repeat.mean()) if self.repeat is not None else None,
                "secondary": self.secondary, "settings": self.settings}


def evaluate(model: str | Path | None, data_dir: str | Path, split: str = "eval", baselines: bool = True,
             memory: bool = True, trainer_protocol: bool = True, max_pieces: int | None = None,
             progress: Callable[[str], None] = lambda message: None, train_config=None,
             train_data: str | Path | None = None, exclude=()) -> dict:
    """Everything `segue evaluate` prints, as a dict (see format_markdown). `train_config`: the
    config's train section (`--config`/`--set`), for trainer_windows; None reads config.yaml. `train_data`: the
    dataset whose train split trains the baselines and tunes the memory (default: `data_dir`). `exclude`: piece ids
    of the scored split left out (see without_pieces)."""
    from segue.codec.dataset_reader import read_split

    if split == "train" and (baselines or memory):
        raise SegueError("baselines and memory are fitted on held-out train pieces: score the eval split with them")
    engine = Engine.load(model)
    named = scorable(without_pieces(read_split(data_dir, split), exclude, f"the {split} split of {data_dir}",
                                    progress))[:max_pieces or None]
    pieces = [events for _, events in named]
    if not pieces:
        raise SegueError(f"nothing to score: every {split} piece in {data_dir} is shorter than 2 events")
    report = Report(str(engine.path), str(data_dir), split, len(pieces))
    report.settings["train_data"] = str(train_data or data_dir)
    report.settings["excluded_pieces"] = sorted(set(exclude or ()))
    repeats = [repeat_positions(events, REPEAT_LENGTH)[1:] for events in pieces]
    report.repeat = np.concatenate(repeats)
    report.settings["repeat_length"] = REPEAT_LENGTH

    started = time.time()
    live = model_predictions(engine, pieces, "past")
    report.add(MODEL, "model", score_pieces(live), "the network, live protocol (past-only controls, whole pieces)")
    report.add(MODEL_GRAMMAR, "model + note-off grammar", score_pieces(live, [NoteOffMask()]),
               "a NOTE_OFF only for a sounding pitch")
    progress(f"model, live protocol: {report.nll(MODEL):.4f} ({time.time() - started:.0f} s)")
    if engine.conditioned:
        forward = score_pieces(model_predictions(engine, pieces, "forward"))
        report.secondary[FORWARD_CONTROLS] = {
            "label": "forward controls (not live)",
            **forward.metrics(), "how": "Magenta's forward-looking controls, whole pieces: the daemon never has "
                                        "these; the gap to the live row is what they flatter",
            "flatter": gap_with_ci(forward, report.systems[MODEL])}
    if trainer_protocol:
        report.secondary[TRAINER_WINDOWS] = {"label": "trainer's protocol",
                                             **trainer_windows(engine, pieces, train_config)}

    need_train = baselines or memory
    if need_train:
        from segue.codec.dataset_reader import load_index

        source = Path(train_data or data_dir)
        if not any(p["split"] == "train" for p in load_index(source)["pieces"]):
            raise SegueError(f"{source} has no train split (a rendered eval copy?): the baselines and the memory "
                             "are fitted on train pieces; pass --train-data DATASET")
        train = scorable(read_split(source, "train"))
        fit_pieces, tune_pieces = tuning_split(train)
        report.settings["tuning_pieces"] = len(tune_pieces)
        report.settings["tuning_events"] = int(sum(len(e) for e in tune_pieces))
    if memory:
        from segue.inference.memory import SessionMemory

        started = time.time()
        tune_live = model_predictions(engine, tune_pieces, "past")
        fitted, tried, candidates = fit_memory(tune_live, progress=progress)
        report.settings["model_memory"] = {"chosen": fitted.to_json(), "tuning_nll": tried,
                                           "model_tuning_nll": score_pieces(tune_live).metrics()["nll"],
                                           "candidates": {label: c.to_json() for label, c in candidates.items()}}
        report.add(MODEL_MEMORY, "model + memory", score_pieces(live, [SessionMemory(fitted)]),
                   f"mixed with SessionMemory ({fitted.describe()}, over the piece so far: all of its events)")
        report.add(MODEL_MEMORY_GRAMMAR, "model + memory + note-off grammar",
                   score_pieces(live, [SessionMemory(fitted), NoteOffMask()]),
                   "both shapers, as the sampling loop applies them")
        progress(f"model + memory: {report.nll(MODEL_MEMORY):.4f} ({time.time() - started:.0f} s)")
    if baselines:
        from segue.evaluation.baselines import truncated
        from segue.inference.memory import MemorySettings, SessionMemory

        started = time.time()
        kn, report.settings["kn"], report.settings["kn_cache"] = fit_kn(
            fit_pieces, tune_pieces, [e for _, e in train], progress)
        cache = MemorySettings.from_json(report.settings["kn_cache"]["chosen"])
        report.add(UNIGRAM, "unigram", score_pieces(count_predictions(truncated(kn, 0), pieces)),
                   "event frequencies of the train split (12 keys), KN-smoothed")
        static = count_predictions(kn, pieces)
        name = f"KN-{kn.max_order}"
        report.add(KN, name, score_pieces(static),
                   f"interpolated modified Kneser-Ney, order {kn.max_order}, train split in 12 keys")
        report.add(KN_CACHE, f"{name} + cache", score_pieces(static, [SessionMemory(cache)]),
                   "mixed with a within-piece cache (SessionMemory, own fitted weights)")
        report.add(KN_CACHE_GRAMMAR, f"{name} + cache + note-off grammar",
                   score_pieces(static, [SessionMemory(cache), NoteOffMask()]), "the strongest count model")
        progress(f"baselines: {time.time() - started:.0f} s")
        report.gaps.append(("model_vs_counts", "model vs the strongest count model", MODEL_GRAMMAR, KN_CACHE_GRAMMAR))
        if memory:
            report.gaps.append(("model_memory_vs_counts", "model + memory vs the strongest count model",
                                MODEL_MEMORY_GRAMMAR, KN_CACHE_GRAMMAR))
    if memory:
        report.gaps.append(("memory", "memory on vs off", MODEL_MEMORY_GRAMMAR, MODEL_GRAMMAR))
    report.gaps.append(("grammar", "note-off grammar on vs off (model)", MODEL_GRAMMAR, MODEL))
    return report.to_dict()


def _pulse_at_starts(engine: Engine, pieces: list[np.ndarray], starts) -> dict:
    """For a model that hears the pulse: the follower as it stands before each window, having heard the piece up
    to there (the trainer computes a piece's pulse over the whole piece and slices it)."""
    if engine.pulse is None:
        return {}
    from segue.rhythm.pulse_controls import PulseControls

    heard = {}
    for k in sorted({k for k, _ in starts}):
        wanted = sorted(start for piece, start in starts if piece == k)
        follower, done = PulseControls(), 0
        for start in wanted:
            for event in pieces[k][done:start].tolist():
                follower.push(event)
            done = start
            heard[(k, start)] = follower.copy()
    return heard


def trainer_windows(engine: Engine, pieces: list[np.ndarray], train=None) -> dict:
    """The trainer's eval (training/batches.py eval_batches): windows of seq_len events with stride seq_len from
    each piece's start, each from a zero state, past-only controls, at most max_windows spread evenly. The settings
    are the checkpoint's (stored in the model), else config.yaml's train.eval_seq_len / eval_max_windows."""
    from segue.codec.controls import past_controls

    stored = engine.meta.get("eval_protocol") or {}
    if not stored:
        from segue.config import load_config

        train = train or load_config().train
        stored = {"seq_len": train.eval_seq_len, "max_windows": train.eval_max_windows}
    seq_len, max_windows = int(stored["seq_len"]), int(stored["max_windows"])
    starts = [(k, start) for k, events in enumerate(pieces) for start in range(0, max(1, len(events) - 1), seq_len)]
    if max_windows and len(starts) > max_windows:
        starts = [starts[i] for i in np.linspace(0, len(starts) - 1, max_windows).round().astype(int)]
    controls = {}
    heard = _pulse_at_starts(engine, pieces, starts)
    windows = []
    for k, start in starts:
        chunk = pieces[k][start:start + seq_len + 1]
        rows = None
        if engine.conditioned:
            if k not in controls:
                controls[k] = past_controls(pieces[k])
            rows = controls[k][start:start + len(chunk) - 1]
        engine.reset(heard.get((k, start)))
        windows.append(Scores.from_log_probs(log_softmax(engine.run(chunk[:-1], rows)), chunk[1:], k))
    scores = Scores.join(windows)
    trained = (engine.meta.get("eval") or {}).get("loss")
    return {**scores.metrics(), "seq_len": seq_len, "max_windows": max_windows,
            "how": f"windows of {seq_len} events from a zero state, past-only controls, "
                   f"at most {max_windows or 'all'} windows", "trainer_eval_loss": trained}


def held_out_events(data_dir: str | Path, count: int) -> np.ndarray:
    """The first `count` events of the eval split (pieces joined), for export's parity and int8 checks."""
    from segue.codec.dataset_reader import read_split

    joined = np.concatenate([events for _, events in read_split(data_dir, "eval")])
    return joined[:count].astype(np.int64)


# --- printing ----------------------------------------------------------------------------------------------------
def _ci(gap: dict) -> str:
    return f"{gap['gap']:+.3f} [{gap['low']:+.3f}, {gap['high']:+.3f}]"


def format_markdown(r: dict) -> str:
    """The report as Markdown tables (also readable as plain text): the source of MODEL.md's evaluation section."""
    lines = [f"`{r['model']}` on `{r['data']}`, {r['split']} split: {r['pieces']} pieces, {r['events']:,} scored "
             "events (every event but each piece's first). NLL in nats/event; lower is better." +
             (f" Left out (--exclude): {', '.join(r['settings']['excluded_pieces'])}."
              if r["settings"].get("excluded_pieces") else ""), "",
             "**Live protocol** (whole pieces from their start, controls the daemon can know):", "",
             "| system | NLL/event | perplexity | accuracy | how |", "|---|---|---|---|---|"]
    for row in r["rows"].values():
        lines.append(f"| {row['label']} | {row['nll']:.4f} | {row['perplexity']:.2f} | {100 * row['accuracy']:.1f}% | "
                     f"{row['how']} |")
    lines += ["", "Accuracy is the share of positions whose most likely event (after any shaping) was the label.", ""]
    if r["secondary"]:
        lines += ["**Other protocols** (not what a player hears; for comparison only):", "",
                  "| protocol | events | NLL/event | accuracy | how |", "|---|---|---|---|---|"]
        for row in r["secondary"].values():
            lines.append(f"| {row['label']} | {row['events']:,} | {row['nll']:.4f} | {100 * row['accuracy']:.1f}% | "
                         f"{row['how']} |")
        for row in r["secondary"].values():
            if row.get("flatter"):
                lines.append(f"\n{row['label']} vs live: {_ci(row['flatter'])} nats/event better (95% CI over "
                             "pieces)")
            if row.get("trainer_eval_loss") is not None:
                lines.append(f"\nthe trainer's eval loss stored in the model: {row['trainer_eval_loss']:.4f}")
        lines.append("")
    if r["gaps"]:
        lines += ["**Gaps** (NLL of the worse minus the better; 95% bootstrap CI over pieces):", "",
                  "| comparison | better | worse | gap | 95% CI |", "|---|---|---|---|---|"]
        for g in r["gaps"]:
            lines.append(f"| {g['label']} | {r['rows'][g['better']]['label']} | {r['rows'][g['worse']]['label']} | "
                         f"{g['gap']:+.4f} | [{g['low']:+.4f}, {g['high']:+.4f}] |")
        lines.append("")
    names = list(r["rows"])
    lines += ["**Per event type** (NLL/event on the positions whose label is of that type):", "",
              "| system | " + " | ".join(f"{t} ({100 * r['rows'][names[0]]['by_type'][t]['share']:.0f}%)"
                                         for t in EVENT_TYPES) + " |",
              "|---|" + "---|" * len(EVENT_TYPES)]
    for row in r["rows"].values():
        lines.append(f"| {row['label']} | " + " | ".join(f"{row['by_type'][t]['nll']:.3f}" for t in EVENT_TYPES) +
                     " |")
    if r["repeat_share"] is not None:
        lines += ["", f"**Repeats**: {100 * r['repeat_share']:.1f}% of the scored positions lie inside a verbatim "
                      f"repeat (a run of >= {r['settings']['repeat_length']} events that occurred earlier in the "
                      "same piece)."]
    if r["repeat_share"]:
        lines += ["", "| system | repeat positions | other positions |", "|---|---|---|"]
        for row in r["rows"].values():
            if row.get("repeat_nll") is not None:
                lines.append(f"| {row['label']} | {row['repeat_nll']:.3f} | {row['other_nll']:.3f} |")
        if r["repeat_gaps"]:
            lines += ["", "| comparison | gap | 95% CI |", "|---|---|---|"]
            for g in r["repeat_gaps"]:
                lines.append(f"| {g['label']} | {g['gap']:+.4f} | [{g['low']:+.4f}, {g['high']:+.4f}] |")
    s = r["settings"]
    if "tuning_pieces" in s:
        lines += ["", f"Trained on the train split of `{s['train_data']}`; fitted on {s['tuning_pieces']} held-out "
                      f"train pieces ({s['tuning_events']:,} events; one in {TUNING_SHARE} by piece id, never the "
                      "scored split):"]
        if "kn" in s:
            kn = s["kn"]
            lines.append(f"- KN order {kn['order']} (tuning NLL by order: " + ", ".join(
                f"{o}: {v:.3f}" for o, v in kn["tuning_nll_by_order"].items()) +
                f"), discounts D1, D2, D3+ per order from the counts of counts (Chen & Goodman) times "
                f"{kn['discount_scale']:g} (tuning NLL by scale: " + ", ".join(
                    f"{k:g}: {v:.3f}" for k, v in kn["tuning_nll_by_discount_scale"].items()) +
                f"); refitted on the whole train split in 12 keys ({kn['train_events']:,} events)")
        for key, label in (("model_memory", "model's memory"), ("kn_cache", "KN's cache")):
            if key in s:
                lines.append(f"- {label}: " + ", ".join(f"{k}: {v:.3f}" for k, v in s[key]["tuning_nll"].items())
                             + f"; chosen {_memory_summary(s[key]['chosen'])}")
        if "model_memory" in s:
            lines.append(f"- the network was trained on these train pieces (it scores "
                         f"{s['model_memory']['model_tuning_nll']:.3f} on them alone): where it is more confident "
                         "on them than on unseen music, the fitted memory weights lean towards the network")
    return "\n".join(lines)


def _memory_summary(settings_json: str) -> str:
    from segue.inference.memory import CELLS_PER_ORDER, MemorySettings

    s = MemorySettings.from_json(settings_json)
    table = np.asarray(s.lambdas).reshape(s.order + 1, CELLS_PER_ORDER)
    return (f"{s.describe()}, capacity {s.capacity}; mean mixing "
            "weight by longest matched order: " + " ".join(f"{k}:{table[k].mean():.2f}" for k in range(s.order + 1)))
