"""Helpers shared by the eval tests (a module of its own: conftest modules are not importable by name)."""
import json

import numpy as np

from segue.codec.codec import NUM_CLASSES, Note, encode_notes


def write_dataset(folder, pieces):
    """A dataset folder in the `segue data build` format (index.json + one uint16 shard); pieces = [(id, split, events)]."""
    folder.mkdir(parents=True, exist_ok=True)
    index, offset, shard = [], 0, []
    for piece_id, split, events in pieces:
        index.append({"id": piece_id, "path": f"/x/{piece_id}.mid", "split": split, "shard": 0,
                      "offset": offset, "length": len(events)})
        shard.append(np.asarray(events, dtype="<u2"))
        offset += len(events)
    (folder / "shard-00000.events").write_bytes(np.concatenate(shard).tobytes())
    (folder / "index.json").write_text(json.dumps({"format": "segue-dataset", "codec": {"num_classes": NUM_CLASSES},
                                                   "pieces": index}))
    return folder


def scale_piece(tonic: int, seconds: float, step: float = 0.25, chord_every: int = 0) -> np.ndarray:
    """Events of a major scale run up and down for `seconds`; optionally a tonic + fifth drone under every n-th note."""
    degrees = [0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2]
    notes, t, i = [], 0.0, 0
    while t < seconds:
        pitch = tonic + degrees[i % len(degrees)]
        notes.append(Note(pitch, 70 + (i % 3) * 10, t, t + step))
        if chord_every and i % chord_every == 0:
            notes += [Note(tonic - 12, 60, t, t + step * chord_every), Note(tonic - 5, 60, t, t + step * chord_every)]
        t += step
        i += 1
    return np.asarray(encode_notes(notes), dtype=np.int64)
