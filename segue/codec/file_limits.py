"""Per-file limits (the `data.max_*` keys of config.yaml), checked before the expensive work.

A zip bomb, a 200 MB MIDI or a file with a million notes must be refused in a second, not after minutes and
gigabytes: the file's size is checked before it is read, a compressed score's declared sizes before it is unpacked
(and the unpacking itself is capped, since declared sizes can lie), notes are counted while the MIDI is parsed.
Over a limit is one line naming the file, the limit and the config key that raises it.
"""
from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

from segue.config import DataConfig
from segue.errors import SegueError

_CHUNK = 1 << 20     # unpack in 1 MiB pieces so the cap is enforced long before memory is at risk


def over_limit(name: str, found: str, key: str, limit: float) -> SegueError:
    """`found` says what the file holds ("312,000,000 bytes unpacked"); `key` is the data.* key that was passed."""
    shown = f"{int(limit):,}" if float(limit).is_integer() else f"{limit:,}"
    return SegueError(f"{name}: {found}, over the limit data.{key} = {shown} "
                      f"(raise it in config.yaml or with --set data.{key}=...)")


def check_file_size(path: Path, limits: DataConfig) -> None:
    """Refuse what is not a regular file, or one larger than data.max_file_bytes, before reading a byte of it."""
    try:
        _check_stat(path, os.stat(path), limits)
    except FileNotFoundError:
        raise SegueError(f"{path}: no such file") from None
    except OSError as e:
        raise SegueError(f"{path}: cannot read ({e.strerror or e})") from None


def _check_stat(path: Path, st: os.stat_result, limits: DataConfig) -> None:
    # A device (a link to /dev/urandom or /dev/zero), a FIFO or a socket never ends, and its size reads 0: the
    # size limit could not stop it, and a FIFO would wait for a writer for ever.
    if not stat.S_ISREG(st.st_mode):
        kind = "folder" if stat.S_ISDIR(st.st_mode) else "device, FIFO or socket"
        raise SegueError(f"{path}: not a regular file (a {kind}); segue reads MIDI and score files only")
    if st.st_size > limits.max_file_bytes:
        raise over_limit(str(path), f"{st.st_size:,} bytes", "max_file_bytes", limits.max_file_bytes)


def read_file(path: Path, limits: DataConfig) -> bytes:
    """A regular file's bytes, at most data.max_file_bytes of them, whatever the path names: it is opened without
    waiting (a FIFO put in its place after a look would otherwise block), checked as opened, and read through a
    bounded reader (a file that grows while read is refused too)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise SegueError(f"{path}: no such file") from None
    except OSError as e:
        raise SegueError(f"{path}: cannot read ({e.strerror or e})") from None
    with os.fdopen(fd, "rb") as handle:
        _check_stat(path, os.fstat(fd), limits)
        try:
            data = handle.read(limits.max_file_bytes + 1)
        except OSError as e:
            raise SegueError(f"{path}: cannot read ({e.strerror or e})") from None
    if len(data) > limits.max_file_bytes:
        raise over_limit(str(path), f"more than {limits.max_file_bytes:,} bytes", "max_file_bytes",
                         limits.max_file_bytes)
    return data


def read_mxl(path: Path, limits: DataConfig) -> str:
    """The MusicXML text inside a compressed .mxl, unpacked under data.max_uncompressed_bytes.

    The member is the one music21 would pick: the first outside META-INF/ named *.musicxml, *.xml or *.mxl."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise SegueError(f"{path}: not a compressed MusicXML file (an .mxl is a zip archive, this is not one)") from None
    with archive:
        infos = archive.infolist()
        declared = sum(info.file_size for info in infos)
        if declared > limits.max_uncompressed_bytes:
            raise over_limit(str(path), f"{declared:,} bytes unpacked", "max_uncompressed_bytes",
                             limits.max_uncompressed_bytes)
        member = next((info for info in infos if "META-INF" not in info.filename
                       and (Path(info.filename).suffix in (".musicxml", ".xml", ".mxl") or info.filename == ".xml")),
                      None)
        if member is None:
            raise SegueError(f"{path}: the .mxl archive holds no MusicXML file")
        data = bytearray()
        try:
            with archive.open(member) as stream:
                while chunk := stream.read(_CHUNK):
                    data += chunk
                    if len(data) > limits.max_uncompressed_bytes:
                        raise over_limit(str(path), f"more than {len(data) - len(chunk):,} bytes unpacked",
                                         "max_uncompressed_bytes", limits.max_uncompressed_bytes)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as e:
            raise SegueError(f"{path}: damaged .mxl archive ({e})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-16")   # some Windows programs write UTF-16 MusicXML
