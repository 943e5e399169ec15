"""Local WebDataset tar shards, as CLIP_benchmark's retrieval datasets store them:

    DIR/{split}/nshards.txt, DIR/{split}/0.tar ... (n-1).tar, DIR/dataset_type.txt ("retrieval")

A sample is the members sharing a key (the member name up to the first dot of its base name,
webdataset's rule): an image (.webp / .png / .jpg / .jpeg) and, for retrieval, a .txt with one
caption per line. Keys are the sample keys; bytes are read with pread at the member's offset,
so decode threads need no lock.
"""

from __future__ import annotations

import os
import re
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

from csdclip_cli.errors import SourceError
from csdclip_cli.sources.base import Item, absolute

IMAGE_EXTS = ("webp", "png", "jpg", "jpeg")  # CLIP_benchmark's order of preference
MEMBER = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")  # webdataset's base_plus_ext


def shard_paths(split_dir: Path) -> list[Path]:
    """The shards named by nshards.txt (0.tar .. n-1.tar), else every *.tar in name order."""
    n_file = split_dir / "nshards.txt"
    if n_file.is_file():
        try:
            n = int(n_file.read_text().strip())
        except ValueError:
            raise SourceError(f"{n_file} does not hold a number of shards") from None
        return [split_dir / f"{i}.tar" for i in range(n)]
    return sorted(split_dir.glob("*.tar"), key=lambda p: (len(p.stem), p.stem))


class WdsSource:
    """Images of local WebDataset shards; `captions` maps sample key -> caption lines."""

    kind = "wds"

    def __init__(self, split_dir: str | Path):
        self.root = Path(absolute(split_dir))
        self.location = str(self.root)
        self.shards = shard_paths(self.root)
        if not self.shards:
            raise SourceError(f"{self.root} holds no .tar shards (nor an nshards.txt)")
        missing = [p.name for p in self.shards if not p.is_file()]
        if missing:
            raise SourceError(f"{self.root}: shards listed by nshards.txt are missing: {', '.join(missing[:5])}")
        self._index: dict[str, tuple[int, int, int]] | None = None  # key -> (shard, offset, size)
        self._order: list[str] = []
        self.captions: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._fds: dict[int, int] = {}

    def _scan(self) -> dict[str, tuple[int, int, int]]:
        with self._lock:
            if self._index is not None:
                return self._index
            index: dict[str, tuple[int, int, int]] = {}
            ranks: dict[str, int] = {}
            for si, shard in enumerate(self.shards):
                try:
                    with tarfile.open(shard) as tar:
                        for m in tar:
                            mm = MEMBER.match(m.name)
                            if not m.isfile() or not mm:
                                continue
                            key, ext = mm.group(1), mm.group(2).lower()
                            if ext == "txt":
                                data = tar.extractfile(m)
                                text = data.read().decode("utf-8", "replace") if data else ""
                                self.captions[key] = text.splitlines()
                            elif ext in IMAGE_EXTS and IMAGE_EXTS.index(ext) < ranks.get(key, len(IMAGE_EXTS)):
                                if key not in index:
                                    self._order.append(key)
                                index[key] = (si, m.offset_data, m.size)
                                ranks[key] = IMAGE_EXTS.index(ext)
                except (tarfile.TarError, OSError) as e:
                    raise SourceError(f"cannot read shard {shard}: {e}") from None
            self._index = index
            return index

    def items(self) -> Iterator[Item]:
        """Every sample with an image, in shard order (first scan fills `captions`), with the image member's size in
        bytes and its shard's mtime; raises SourceError when a shard cannot be read."""
        index = self._scan()
        for key in self._order:
            si, off, size = index[key]
            shard = self.shards[si]
            yield Item(key, size, os.stat(shard).st_mtime, f"wds://{shard}#{key}")

    def read(self, key: str) -> bytes:
        """The image member's bytes for sample `key` (.webp, else .png, .jpg, .jpeg); raises SourceError when absent."""
        index = self._scan()
        if key not in index:
            raise SourceError(f"sample {key!r} is not in the shards under {self.location}")
        si, off, size = index[key]
        fd = self._fds.get(si)
        if fd is None:
            with self._lock:
                fd = self._fds.get(si)
                if fd is None:
                    fd = self._fds[si] = os.open(self.shards[si], os.O_RDONLY)
        return os.pread(fd, size, off)

    def __del__(self) -> None:
        for fd in getattr(self, "_fds", {}).values():
            try:
                os.close(fd)
            except OSError:
                pass
