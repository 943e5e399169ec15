"""An image folder, walked recursively; keys are paths relative to the root."""

from __future__ import annotations

import errno
import fnmatch
import functools
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from csdclip_cli.errors import SourceError
from csdclip_cli.sources.base import Item, absolute, key_bytes, printable_key

# the extensions csd names itself: HEIC / HEIF are listed without pillow-heif too, so that such
# a file is skipped with the install hint rather than silently
OWN_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif", ".hif"}
)


@functools.cache
def image_extensions() -> frozenset[str]:
    """Every file extension of an image csd indexes: its own list and every format Pillow can
    open (.ppm, .tga, .ico, .jp2, .qoi, ...; they were skipped without a word while the README
    said 'everything Pillow reads')."""
    from PIL import Image, ImageFile

    def decodes(fmt: str) -> bool:  # stubs (HDF5, GRIB, WMF) need a handler; MPEG is a video, EPS needs Ghostscript
        factory = Image.OPEN[fmt][0]
        stub = isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile)
        return not stub and fmt not in ("MPEG", "EPS")

    opened = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN and decodes(fmt)}
    return OWN_EXTENSIONS | opened


# image files no installed decoder reads (camera RAW, vector formats): left out like any other
# file, but counted (FolderSource.passed_over), so that a folder of .cr2 files is not empty without a word
UNREAD_IMAGES = frozenset(
    {".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".raf", ".orf", ".rw2", ".pef", ".srw"}
    | {".x3f", ".3fr", ".erf", ".kdc", ".mrw", ".svg", ".svgz", ".eps", ".ai", ".xcf"}
)


# Folders that hold copies, thumbnails or deleted files, not photos: NAS indexers (Synology
# @eaDir, QNAP .@__thumb), desktop thumbnail caches, macOS zip resource forks, trash and recycle
# bins. Hidden folders (".name") are skipped too.
JUNK_DIRS = ("@eaDir", "#recycle", "#snapshot", "@Recycle", "@Recently-Snapshot", "__MACOSX", "$RECYCLE.BIN")
JUNK_DIR_GLOBS = (".*",)


class FolderSource:
    """Images under `root`, minus the junk folders above and any `exclude` glob.

    `exclude` globs match a relative path (``raw/*``, ``*/thumbs/*``, ``*.tif``) or one
    folder or file name (``drafts``); they are recorded in the index manifest.
    """

    kind = "folder"

    def __init__(self, root: str | Path, exclude: Sequence[str] = ()):
        self.root = Path(absolute(root))
        if self.root.is_file():  # "does not exist" misled a user who gave an image that exists
            raise SourceError(f"source {root} is a file; give the folder that holds the images ({self.root.parent})")
        if not self.root.is_dir():
            raise SourceError(f"source folder {root} does not exist or is not a folder")
        self.location = str(self.root)
        self.exclude = tuple(self._relative(g) for g in exclude)
        self.passed_over: dict[str, int] = {}

    def _relative(self, glob: str) -> str:
        """An --exclude glob as a path relative to the root: './sub/*' and '/abs/root/sub/*'
        matched nothing, without a word. Raises SourceError for an absolute path elsewhere."""
        g = glob.strip()
        if g.startswith("~") or os.path.isabs(g):
            full = Path(os.path.expanduser(g))
            try:
                g = full.relative_to(self.root).as_posix()
            except ValueError:
                raise SourceError(
                    f"--exclude {glob} is outside the source folder {self.root}; give a path inside it "
                    "or relative to it (e.g. 'raw/*')"
                ) from None
        while g.startswith("./"):
            g = g[2:]
        return g.rstrip("/") or glob

    def _excluded(self, rel: str, name: str) -> bool:
        return any(fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(name, g) for g in self.exclude)

    def _junk(self, name: str) -> bool:
        return name in JUNK_DIRS or any(fnmatch.fnmatchcase(name, g) for g in JUNK_DIR_GLOBS)

    def _files(self) -> Iterator[tuple[str, str]]:
        """(key, full path) of every image file (by extension) under the root, walked in name
        order with hidden, junk and excluded paths left out; a folder linked twice is walked once."""
        seen_dirs: set[tuple[int, int]] = set()
        self.passed_over = {}  # extension -> files of UNREAD_IMAGES left out, counted again each walk
        # followlinks: a symlinked folder is walked once (cycles are cut by inode)
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=True):
            st = os.stat(dirpath)
            if (st.st_dev, st.st_ino) in seen_dirs:
                dirnames[:] = []
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            reldir = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            reldir = "" if reldir == "." else reldir + "/"
            # real folders first, so an image reached through a link too is keyed by where it is
            # (`dirlink/x.png` kept it from `--exclude 'sub dir'`, and the key flipped between runs)
            dirnames[:] = sorted(
                (d for d in dirnames if not self._junk(d) and not self._excluded_dir(dirpath, reldir, d)),
                key=lambda d: (os.path.islink(os.path.join(dirpath, d)), d),
            )
            for name in sorted(filenames):
                ext = Path(name).suffix.lower()
                readable = ext in image_extensions()
                if name.startswith(".") or not (readable or ext in UNREAD_IMAGES):
                    continue
                # a name that is not valid UTF-8 arrives with surrogates; its key spells those bytes \xNN
                key = printable_key(reldir + name)
                if self._excluded(key, name):
                    continue
                if readable:
                    yield key, os.path.join(dirpath, name)
                else:
                    self.passed_over[ext] = self.passed_over.get(ext, 0) + 1

    def _excluded_dir(self, dirpath: str, reldir: str, d: str) -> bool:
        """Whether folder `d` is excluded, by its own path or, for a link, by the path of the
        folder it leads to inside the root."""
        if self._excluded(printable_key(reldir + d), d):
            return True
        full = os.path.join(dirpath, d)
        if not os.path.islink(full):
            return False
        target = os.path.relpath(os.path.realpath(full), os.path.realpath(self.root))
        inside = not target.startswith("..") and target != "."
        return inside and self._excluded(printable_key(target.replace(os.sep, "/")), os.path.basename(target))

    def keys(self) -> Iterator[str]:
        """Every image's key, as items() gives them, without a stat of each file."""
        return (key for key, _ in self._files())

    def items(self) -> Iterator[Item]:
        """Every image file as _files() lists it, keyed by relative path, with its size in bytes
        and mtime (seconds)."""
        for key, full in self._files():
            try:
                fst = os.stat(full)
            except OSError:
                try:  # a dangling symlink: listed, so that its read fails and `index info --errors` names it
                    fst = os.lstat(full)
                except OSError:
                    continue  # gone since the folder was listed
            yield Item(key, fst.st_size, fst.st_mtime, printable_key(full))

    def read(self, key: str) -> bytes:
        """The bytes of the file at root/`key`; raises OSError (e.g. FileNotFoundError) when it cannot be read."""
        # back to the name's bytes (a key spells odd bytes and backslashes with escapes)
        path = Path(os.fsdecode(os.path.join(os.fsencode(self.root), key_bytes(key))))
        if path.is_symlink() and not path.exists():
            raise FileNotFoundError(errno.ENOENT, "a broken symbolic link (its target is missing)", str(path))
        # a named pipe blocked the build for good and a link to /dev/zero filled the memory:
        # only a regular file is read
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a named pipe, socket or device)", str(path))
        return path.read_bytes()
