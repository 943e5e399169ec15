"""What an index can be built from: anything that yields (key, bytes) lazily."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Item:
    key: str  # stable id: relative path for folders, image id for LMDB
    size: int  # bytes; with mtime, decides whether an item changed since the last build
    mtime: float
    path: str  # what to show the user (absolute path, or lmdb://dir#key)


class Source(Protocol):
    kind: str  # "folder" | "lmdb"
    location: str  # absolute path

    def items(self) -> Iterator[Item]:
        """Every item with its change signature, without reading image bytes."""
        ...

    def read(self, key: str) -> bytes: ...
