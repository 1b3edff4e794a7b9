"""Read the events of one split of a dataset built by `segue data build`, without torch or the training package.

The format (written by training/dataset.py; this module is the one reader, for segue/ and training/ alike):
    index.json              {"format": "segue-dataset", "codec": {"num_classes": 388, ...},
                             "pieces": [{"id", "path", "split", "shard", "offset", "length", ...}, ...]}
    shard-00000.events[.z]  uint16 little-endian events of many pieces back to back (.z = zlib-compressed)
segue/ may not import training/ (the arrows point the other way), so the reading lives here.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from segue.codec import codec
from segue.errors import SegueError

DATASET_FORMAT = "segue-dataset"
SPLITS = ("train", "eval")


def load_index(folder: Path) -> dict:
    """index.json of a built dataset, checked: a segue dataset, built with this codec."""
    index_path = folder / "index.json"
    if not index_path.is_file():
        raise SegueError(f"{folder}: no index.json; build a dataset first with `segue data build SOURCES -o {folder}`")
    try:
        index = json.loads(index_path.read_text())
    except json.JSONDecodeError as exc:
        raise SegueError(f"{index_path}: corrupt dataset index ({exc.msg}); rebuild it with `segue data build`") from None
    if index.get("format") != DATASET_FORMAT:
        raise SegueError(f"{index_path}: not a segue dataset index; build one with `segue data build`")
    if index.get("codec", {}).get("num_classes") != codec.NUM_CLASSES:
        raise SegueError(f"{index_path}: built with a different event codec; rebuild it with `segue data build`")
    return index


def read_array(path: Path, dtype: str = "<u2") -> np.ndarray:
    """One shard file, zlib-compressed (`NAME.z`) or not."""
    compressed = path.with_name(path.name + ".z")
    if compressed.is_file():
        return np.frombuffer(zlib.decompress(compressed.read_bytes()), dtype=dtype)
    if path.is_file():
        return np.fromfile(path, dtype=dtype)
    raise SegueError(f"{path}: dataset shard missing; rebuild the dataset with `segue data build`")


def read_split(data_dir: str | Path, split: str) -> list[tuple[str, np.ndarray]]:
    """[(piece id, events int64)] of one split, in index order."""
    if split not in SPLITS:
        raise SegueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    folder = Path(data_dir)
    pieces = [p for p in load_index(folder)["pieces"] if p["split"] == split]
    if not pieces:
        raise SegueError(f"{folder}: the dataset has no {split} pieces; rebuild it with more music")
    shards = {s: read_array(folder / f"shard-{s:05d}.events") for s in sorted({p["shard"] for p in pieces})}
    out = []
    for piece in pieces:
        events = shards[piece["shard"]][piece["offset"]:piece["offset"] + piece["length"]]
        if len(events) != piece["length"]:
            raise SegueError(f"{folder}: shard {piece['shard']} is shorter than its index says; rebuild the dataset")
        out.append((str(piece["id"]), events.astype(np.int64)))
    return out
