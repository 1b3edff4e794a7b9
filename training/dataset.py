"""`segue data build`: encode music files into shards + index.json, and read a built dataset back.

Layout of a dataset folder:
    index.json                 format, codec parameters, provenance, split and offsets of every piece, build summary
    shard-00000.events[.z]     uint16 little-endian event indices of many pieces back to back
    shard-00000.notes[.z]      float64 [N, 4] rows (pitch, velocity, start s, end s) of the same pieces: the loader
                               re-quantizes these for time stretching, which scaling shift tokens cannot do correctly
    cache/                     one .npz per encoded source file (or .skip.json for a file that failed), keyed by
                               path + size + mtime: a rebuild re-reads only files that are new or changed, and
                               files skipped under other per-file limits (data.max_*) than this build's
`.z` files are zlib-compressed (data.compress); reading is transparent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segue.codec import codec
from segue.config import DataConfig
from segue.codec.dataset_reader import DATASET_FORMAT, load_index, read_array
from segue.errors import SegueError
from training import encode_pool
from training.sources import SESSION_PREFIX, Rejected, SourceFile, resolve_sources, split_for

DATASET_VERSION = 1
SHARD_EVENTS = 4_000_000       # events per shard: ~8 MB, small enough to rewrite, few enough files to list
CACHE_VERSION = 1              # bump when what a cache entry holds changes, so stale entries are ignored
PROGRESS_EVERY_S = 10.0        # without a terminal (a log file), one progress line this often


def codec_params() -> dict:
    return {"encoding": "performance_with_dynamics", "num_classes": codec.NUM_CLASSES,
            "steps_per_second": codec.STEPS_PER_SECOND, "num_velocity_bins": codec.NUM_VELOCITY_BINS}


# --- encoding one file (runs in worker processes) ------------------------------------------------------------------

def notes_to_array(notes) -> np.ndarray:
    return np.array([(n.pitch, n.velocity, n.start, n.end) for n in notes], dtype=np.float64).reshape(-1, 4)


def array_to_notes(rows: np.ndarray, stretch: float = 1.0) -> list:
    return [codec.Note(int(p), int(v), float(s) * stretch, float(e) * stretch) for p, v, s, e in rows]


def _encode_file(path: str, limits: DataConfig) -> tuple[str, np.ndarray | None, np.ndarray | None, str | None]:
    """(path, notes [N,4], events, None) or (path, None, None, reason)."""
    from segue.codec.midi_io import read_notes

    try:
        notes = read_notes(path, limits)
    except SegueError as exc:
        message = str(exc)  # midi_io names the file first; the skip report already does
        return path, None, None, message[len(path) + 2:] if message.startswith(f"{path}: ") else message
    except Exception as exc:  # a parser crashing on a malformed file is a skip, not the end of a long build
        return path, None, None, f"unreadable ({type(exc).__name__}: {str(exc)[:100]})"
    if not notes:
        return path, None, None, "no notes"
    events = codec.encode_notes(notes)
    if len(events) < 2:
        return path, None, None, "too short (fewer than 2 events)"
    return path, notes_to_array(notes), np.asarray(events, dtype=np.uint16), None


def _cache_key(path: str) -> str:
    stat = os.stat(path)
    return hashlib.sha1(f"{CACHE_VERSION}|{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()


# --- the build ------------------------------------------------------------------------------------------------------

@dataclass
class _Encoded:
    item: SourceFile
    notes: np.ndarray
    events: np.ndarray


def build_dataset(sources: list[str], out: str | Path, eval_fraction: float = 0.1, workers: int = 2,
                  compress: bool = False, progress: bool = True, limits: DataConfig | None = None) -> dict:
    """Encode `sources` into dataset folder `out`; returns the summary (also stored in index.json).

    `limits`: the per-file limits and time limit of config.yaml's data section (None = the defaults)."""
    limits = limits or DataConfig()
    if not str(out).strip():
        raise SegueError("data build: the output folder (-o) is empty")
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not ((out / "index.json").is_file() or (out / "cache").is_dir()):
        # Shards are written (and old ones deleted) inside `out`: never do that in a folder holding other things.
        raise SegueError(f"data build: {out} exists and is not a segue dataset folder; choose a new -o folder")
    started = time.monotonic()
    files, rejected = resolve_sources(sources, eval_fraction)
    if not files:
        raise SegueError(f"data build: no music files found in {' '.join(sources)}")
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)

    encoded: dict[str, _Encoded] = {}
    skipped: list[Rejected] = list(rejected)
    todo: list[SourceFile] = []
    by_path = {item.path: item for item in files}
    for item in files:
        hit = _read_cache(cache, item, limits)
        if hit is None:
            todo.append(item)
        elif isinstance(hit, str):
            skipped.append(Rejected(item.path, hit))
        else:
            encoded[item.path] = _Encoded(item, *hit)

    for path, notes, events, reason in _run_workers([i.path for i in todo], workers, progress, limits):
        item = by_path[path]
        _write_cache(cache, item, notes, events, reason, limits)
        if reason is not None:
            skipped.append(Rejected(path, reason))
        else:
            encoded[path] = _Encoded(item, notes, events)

    ordered = [encoded[item.path] for item in files if item.path in encoded]
    if not ordered:
        first = f"; first problem: {skipped[0].path}: {skipped[0].reason}" if skipped else ""
        raise SegueError(f"data build: none of the {len(files)} music files could be encoded{first}")
    pieces = _write_shards(out, ordered, eval_fraction, compress)
    summary = _summary(files, len(todo), ordered, pieces, skipped, time.monotonic() - started)
    index = {"format": DATASET_FORMAT, "version": DATASET_VERSION, "codec": codec_params(), "sources": sources,
             "eval_fraction": eval_fraction, "compressed": compress, "pieces": pieces, "summary": summary,
             "skipped": [{"path": r.path, "reason": r.reason} for r in skipped]}
    tmp = out / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, out / "index.json")
    return summary


def _run_workers(paths: list[str], workers: int, progress: bool, limits: DataConfig):
    """Encode in worker processes (each file under data.file_timeout_seconds), reporting progress on stderr."""
    if not paths:
        return
    report = _Progress(len(paths), progress)
    for result in encode_pool.run(paths, _encode_file, limits, workers, limits.file_timeout_seconds):
        report.update(skipped=result[3] is not None)
        yield result
    report.close()


class _Progress:
    """A tqdm bar on a terminal; in a log, one line every PROGRESS_EVERY_S seconds and one at the end."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.done, self.skipped, self.last_done = total, enabled, 0, 0, 0
        self.started = self.last_line = time.monotonic()
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="encoding", unit="file", file=sys.stderr)

    def update(self, skipped: bool) -> None:
        self.done += 1
        self.skipped += skipped
        if self.bar is not None:
            self.bar.update()
            self.bar.set_postfix(skipped=self.skipped, refresh=False)
        elif self.enabled and time.monotonic() - self.last_line >= PROGRESS_EVERY_S:
            self._line()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.last_done != self.done:
            self._line()

    def _line(self) -> None:
        self.last_line, self.last_done = time.monotonic(), self.done
        print(f"encoding: {self.done}/{self.total} files, {self.skipped} skipped, "
              f"{self.last_line - self.started:.0f} s", file=sys.stderr, flush=True)


def _limits_record(limits: DataConfig) -> dict:
    """The settings a skip depends on: a skip made under other limits is not reused."""
    return {k: v for k, v in dataclasses.asdict(limits).items() if k.startswith("max_") or k == "file_timeout_seconds"}


def _read_cache(cache: Path, item: SourceFile, limits: DataConfig):
    """(notes, events) for an unchanged file, the skip reason of an unchanged failed file, or None."""
    try:
        key = _cache_key(item.path)
    except OSError:
        return None
    skip = cache / f"{key}.skip.json"
    if skip.is_file():
        stored = json.loads(skip.read_text())
        return stored["reason"] if stored.get("limits") == _limits_record(limits) else None
    entry = cache / f"{key}.npz"
    if entry.is_file():
        with np.load(entry) as stored:
            return stored["notes"], stored["events"]
    return None


def _write_cache(cache: Path, item: SourceFile, notes, events, reason, limits: DataConfig) -> None:
    try:
        key = _cache_key(item.path)
    except OSError:
        return
    if reason is not None:
        record = {"path": item.path, "reason": reason, "limits": _limits_record(limits)}
        (cache / f"{key}.skip.json").write_text(json.dumps(record))
    else:
        (cache / f"{key}.skip.json").unlink(missing_ok=True)
        tmp = cache / f"{key}.tmp.npz"
        np.savez(tmp, notes=notes, events=events)
        os.replace(tmp, cache / f"{key}.npz")


def _write_shards(out: Path, ordered: list[_Encoded], eval_fraction: float, compress: bool) -> list[dict]:
    for old in out.glob("shard-*"):
        old.unlink()
    pieces, shard_events, shard_notes, shard, offset, note_offset = [], [], [], 0, 0, 0

    def flush():
        nonlocal shard, offset, note_offset, shard_events, shard_notes
        if shard_events:
            _write_array(out / f"shard-{shard:05d}.events", np.concatenate(shard_events).astype("<u2"), compress)
            _write_array(out / f"shard-{shard:05d}.notes", np.concatenate(shard_notes).astype("<f8"), compress)
            shard, offset, note_offset, shard_events, shard_notes = shard + 1, 0, 0, [], []

    for enc in ordered:
        if offset and offset + len(enc.events) > SHARD_EVENTS:
            flush()
        item = enc.item
        pitches = enc.notes[:, 0]
        pieces.append({
            "id": item.piece_id, "path": item.path, "source": item.source,
            "split": item.split or split_for(item.piece_id, eval_fraction),
            "shard": shard, "offset": offset, "length": int(len(enc.events)),
            "note_offset": note_offset, "note_count": int(len(enc.notes)),
            "min_pitch": int(pitches.min()), "max_pitch": int(pitches.max()),
            "seconds": float(enc.notes[:, 3].max()),
        })
        shard_events.append(enc.events)
        shard_notes.append(enc.notes)
        offset += len(enc.events)
        note_offset += len(enc.notes)
    flush()
    return pieces


def _write_array(path: Path, array: np.ndarray, compress: bool) -> None:
    data = array.tobytes()
    if compress:
        path = path.with_name(path.name + ".z")
        data = zlib.compress(data, 6)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _summary(files, reencoded, ordered, pieces, skipped, seconds) -> dict:
    split_events = Counter()
    split_pieces = Counter()
    for piece in pieces:
        split_events[piece["split"]] += piece["length"]
        split_pieces[piece["split"]] += 1
    return {
        "music_files_found": len(files),
        "files_encoded": len(ordered),
        "files_reencoded": reencoded,
        "files_skipped": len(skipped),
        "skip_reasons": dict(Counter(_reason_class(r.reason) for r in skipped).most_common()),
        "events": int(sum(p["length"] for p in pieces)),
        "hours": round(sum(p["seconds"] for p in pieces) / 3600, 3),
        "split_pieces": dict(split_pieces),
        "split_events": dict(split_events),
        "sessions": sum(1 for piece in pieces if piece["id"].startswith(SESSION_PREFIX)),
        "build_seconds": round(seconds, 1),
    }


def _reason_class(reason: str) -> str:
    """Group skip reasons for the summary: the limit a file broke, else the reason without its parenthesised detail."""
    limit = re.search(r"over the limit (data\.\w+)", reason)
    if limit:
        return f"over {limit.group(1)}"
    return reason.split(" (")[0].strip()[:60] or "unknown"


def format_summary(summary: dict, skipped: list[dict], out: Path, max_listed: int = 20) -> str:
    encoded, read = summary["files_encoded"], summary["files_reencoded"]
    cache = ("all read this time" if read >= encoded else "all from cache" if read == 0
             else f"{read} read this time, the rest from cache")
    lines = [f"dataset {out}: {encoded} files encoded ({cache}), "
             f"{summary['files_skipped']} skipped; {summary['events']:,} events, {summary['hours']} h",
             f"  split: " + ", ".join(f"{k} {summary['split_pieces'][k]} pieces / {summary['split_events'][k]:,} events"
                                      for k in sorted(summary["split_pieces"]))]
    if not summary["split_pieces"].get("eval"):
        pieces = sum(summary["split_pieces"].values())
        if summary.get("sessions") == pieces:     # sessions only: the latest are held out once there are two
            advice = "record another session (of two or more, the latest are held out) or add music"
        else:                                     # a split by piece hash put none of so few pieces in eval
            advice = (f"the split by piece put none of these {pieces} pieces in eval; add music or raise "
                      "data.eval_fraction")
        lines.append(f"  no eval pieces, and `segue train` needs some: {advice}")
    if skipped:
        lines.append("  skipped: " + ", ".join(f"{k} x{v}" for k, v in summary["skip_reasons"].items()))
        for entry in skipped[:max_listed]:
            lines.append(f"    {entry['path']}: {entry['reason']}")
        if len(skipped) > max_listed:
            lines.append(f"    ... {len(skipped) - max_listed} more in {out / 'index.json'}")
    return "\n".join(lines)


# --- reading a built dataset ----------------------------------------------------------------------------------------

class EventDataset:
    """A built dataset in memory: per piece its events (uint16) and notes ([N,4] float64), plus its split."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        index = load_index(self.folder)
        self.index = index
        self.pieces: list[dict] = index["pieces"]
        shards = sorted({p["shard"] for p in self.pieces})
        events = {s: read_array(self.folder / f"shard-{s:05d}.events", "<u2") for s in shards}
        notes = {s: read_array(self.folder / f"shard-{s:05d}.notes", "<f8").reshape(-1, 4) for s in shards}
        self._events = [events[p["shard"]][p["offset"]:p["offset"] + p["length"]] for p in self.pieces]
        self._notes = [notes[p["shard"]][p["note_offset"]:p["note_offset"] + p["note_count"]] for p in self.pieces]

    def split_indices(self, split: str) -> list[int]:
        return [i for i, p in enumerate(self.pieces) if p["split"] == split]

    def events(self, i: int) -> np.ndarray:
        return self._events[i]

    def notes(self, i: int) -> np.ndarray:
        return self._notes[i]

    def summary(self) -> dict:
        return self.index.get("summary", {})
