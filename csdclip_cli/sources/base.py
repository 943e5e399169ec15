"""What an index can be built from: anything that yields (key, bytes) lazily."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Item:
    """One image of a source, listed without reading it. `size` and `mtime` together are its
    change signature: for files, bytes and modification time (seconds since the epoch); for an
    LMDB value, bytes and its CRC-32 (a value has no time of its own)."""

    key: str  # stable id: relative path for folders, image id for LMDB
    size: int  # bytes; with mtime, decides whether an item changed since the last build
    mtime: float
    path: str  # what to show the user (absolute path, or lmdb://dir#key)


class Source(Protocol):
    """An image collection an index is built from: lists its items cheaply and reads one image's bytes by key."""

    kind: str  # "folder" | "lmdb"
    location: str  # absolute path

    def items(self) -> Iterator[Item]:
        """Every item with its change signature, without reading image bytes."""
        ...

    def read(self, key: str) -> bytes:
        """The encoded image file's bytes for `key` (as listed by items())."""
        ...


def absolute(path: str | os.PathLike[str]) -> str:
    """`path` as an absolute path, with `~` expanded and `..` folded but symbolic links kept: an
    index remembers the folder the user named, so that a link moved to a new folder ("Photos" ->
    2025) is followed by the next update (the link's target of the first build was kept before)."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def printable_key(name: str | bytes) -> str:
    """A file name or LMDB key as text that stores as UTF-8, reversibly (key_bytes): bytes that
    are not UTF-8 (a name from an old Latin-1 or GBK system, seen by os.walk as surrogates) are
    spelled ``\\xNN``, and a backslash in any name is doubled, so that ``caf\\xe9.png``
    (literally) and the Latin-1 ``café.png`` stay two keys. Other names are unchanged."""
    raw = name if isinstance(name, bytes) else name.encode("utf-8", "surrogateescape")
    if b"\\" not in raw:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return raw.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


def key_bytes(key: str) -> bytes:
    """The bytes of a key made by printable_key."""
    raw = key.encode("utf-8")
    if b"\\" not in raw:
        return raw
    return re.sub(
        rb"\\(\\|x[0-9a-fA-F]{2})", lambda m: b"\\" if m.group(1) == b"\\" else bytes([int(m.group(1)[1:], 16)]), raw
    )
