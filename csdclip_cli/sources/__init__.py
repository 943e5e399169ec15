"""Sources an index is built from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from csdclip_cli.errors import SourceError
from csdclip_cli.sources.base import Item, Source
from csdclip_cli.sources.folder import FolderSource
from csdclip_cli.sources.lmdb_source import LmdbSource, find_imgs_env


def open_source(location: str | Path, kind: str = "auto", exclude: Sequence[str] = ()) -> Source:
    """A folder of images or a CN-CLIP LMDB (auto-detected by its data.mdb).

    `exclude`: globs of folder paths to leave out (folders only; see FolderSource).
    Raises SourceError when `location` does not exist or holds neither.
    """
    p = Path(location).expanduser()
    if not p.exists():
        raise SourceError(f"source {location} does not exist; give an image folder or a CN-CLIP LMDB directory")
    if kind == "lmdb" or (kind == "auto" and find_imgs_env(p) is not None):
        return LmdbSource(p)
    return FolderSource(p, exclude=exclude)


__all__ = ["FolderSource", "Item", "LmdbSource", "Source", "open_source"]
