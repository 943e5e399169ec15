"""Sources an index is built from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from csdclip_cli.errors import SourceError
from csdclip_cli.sources.base import Item, Source
from csdclip_cli.sources.folder import FolderSource
from csdclip_cli.sources.lmdb_source import LmdbSource, find_imgs_env
from csdclip_cli.sources.subset import SubsetSource
from csdclip_cli.sources.wds import WdsSource


def _is_wds(p: Path) -> bool:
    """nshards.txt, or nothing but .tar files (a photo folder with a backup.tar stays a folder)."""
    if not p.is_dir():
        return False
    if (p / "nshards.txt").is_file():
        return True
    files = [f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")]
    return bool(files) and all(f.suffix == ".tar" for f in files)


def open_source(location: str | Path, kind: str = "auto", exclude: Sequence[str] = ()) -> Source:
    """A folder of images, a CN-CLIP LMDB (auto-detected by its data.mdb) or a folder of
    WebDataset tar shards (by its nshards.txt or *.tar files); `kind` forces one.

    `exclude`: globs of folder paths to leave out (folders only; see FolderSource).
    Raises SourceError when `location` does not exist or holds none of them.
    """
    p = Path(location).expanduser()
    if not p.exists():
        raise SourceError(f"source {location} does not exist; give an image folder or a CN-CLIP LMDB directory")
    if kind == "lmdb" or (kind == "auto" and find_imgs_env(p) is not None):
        return LmdbSource(p)
    if kind == "wds" or (kind == "auto" and _is_wds(p)):
        return WdsSource(p)
    return FolderSource(p, exclude=exclude)


__all__ = ["FolderSource", "Item", "LmdbSource", "Source", "SubsetSource", "WdsSource", "open_source"]
