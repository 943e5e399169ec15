"""An image folder, walked recursively; keys are paths relative to the root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from csdclip_cli.errors import SourceError
from csdclip_cli.sources.base import Item

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".jfif"}


class FolderSource:
    kind = "folder"

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise SourceError(f"source folder {root} does not exist or is not a folder")
        self.location = str(self.root)

    def items(self) -> Iterator[Item]:
        seen_dirs: set[tuple[int, int]] = set()
        # followlinks: a symlinked folder is walked once (cycles are cut by inode)
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=True):
            st = os.stat(dirpath)
            if (st.st_dev, st.st_ino) in seen_dirs:
                dirnames[:] = []
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                    continue
                full = os.path.join(dirpath, name)
                try:
                    fst = os.stat(full)
                except OSError:
                    continue  # dangling symlink
                key = os.path.relpath(full, self.root).replace(os.sep, "/")
                yield Item(key, fst.st_size, fst.st_mtime, full)

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()
