"""`segue data render DATA -o OUT --seed S`: a dataset folder holding one fixed performance rendering of a split.

The torch-free `segue evaluate --data OUT` then scores a model on score pieces played as a pianist would, without
importing training/. With the training run's seed (train.seed) the rendered pieces are exactly the ones the
trainer's "rendered" eval uses (the same rendition stream, training.rendering.rendition_rng). Real performances in
the split are copied unchanged. The command also prints the event-type shares of the plain and the rendered split.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from segue.codec import codec
from segue.codec.dataset_reader import DATASET_FORMAT
from segue.errors import SegueError
from training.batches import EVAL_RENDITION
from training.dataset import (DATASET_VERSION, EventDataset, _Encoded, _summary, _write_shards, codec_params)
from training.rendering import RenderParams, is_performance, render_events, rendition_rng
from training.sources import SourceFile

EVENT_KINDS = ("note_on", "note_off", "time_shift", "velocity")


def event_shares(event_lists) -> dict[str, float]:
    """Share of each event kind over all events of the given sequences."""
    counts = np.zeros(4, dtype=np.int64)
    for events in event_lists:
        events = np.asarray(events, dtype=np.int64)
        counts += np.bincount(np.searchsorted([codec.NOTE_OFF_OFFSET, codec.TIME_SHIFT_OFFSET,
                                               codec.VELOCITY_OFFSET], events, side="right"), minlength=4)
    return dict(zip(EVENT_KINDS, (counts / max(counts.sum(), 1)).tolist()))


def render_split(data: str | Path, out: str | Path, seed: int, params: RenderParams, split: str = "eval") -> dict:
    """Write OUT with the `split` pieces of DATA, score pieces rendered; returns {"plain": shares, "rendered": ...}."""
    source, out = EventDataset(data), Path(out)
    if out.resolve() == Path(data).resolve():
        raise SegueError("data render: -o must be a new folder, not the dataset itself")
    if out.is_dir() and any(out.iterdir()) and not (out / "index.json").is_file():
        raise SegueError(f"data render: {out} exists and is not a segue dataset folder; choose a new -o folder")
    started = time.monotonic()
    chosen = source.split_indices(split)
    if not chosen:
        raise SegueError(f"{data}: no {split} pieces")
    ordered, rendered_count = [], 0
    for index in chosen:
        piece, notes = source.pieces[index], source.notes(index)
        events = source.events(index)
        if not is_performance(piece, notes):
            notes, events = render_events(notes, rendition_rng(seed, index, EVAL_RENDITION), params)
            rendered_count += 1
        item = SourceFile(piece["path"], piece["id"], piece.get("source", ""), piece["split"])
        ordered.append(_Encoded(item, notes, np.asarray(events, dtype=np.uint16)))
    out.mkdir(parents=True, exist_ok=True)
    pieces = _write_shards(out, ordered, source.index.get("eval_fraction", 0.1), compress=False)
    summary = _summary(ordered, 0, ordered, pieces, [], time.monotonic() - started)
    index = {"format": DATASET_FORMAT, "version": DATASET_VERSION, "codec": codec_params(),
             "sources": [str(data)], "eval_fraction": source.index.get("eval_fraction", 0.1), "compressed": False,
             "pieces": pieces, "summary": summary, "skipped": [],
             "rendered": {"from": str(data), "split": split, "seed": seed, "pieces_rendered": rendered_count,
                          "params": params.__dict__}}
    tmp = out / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, out / "index.json")
    return {"plain": event_shares(source.events(i) for i in chosen),
            "rendered": event_shares(e.events for e in ordered), "pieces": len(chosen),
            "pieces_rendered": rendered_count}


def format_shares(result: dict) -> str:
    lines = [f"{'':10}" + "".join(f"{kind:>12}" for kind in EVENT_KINDS)]
    for name in ("plain", "rendered"):
        lines.append(f"{name:10}" + "".join(f"{result[name][kind]:>12.1%}" for kind in EVENT_KINDS))
    lines.append("(recorded piano, MAESTRO: velocity ~22%, time shift ~29%)")
    return "\n".join(lines)
