"""The on-disk index: one folder per index under the index root.

    <root>/<name>/manifest.json    format version, model, fingerprint, dim, counts, source,
                                   build parameters, timestamps, current generation
    <root>/<name>/gen-N/           one complete, immutable state:
        vectors.npy                float16 [rows, dim], memory-mapped at search time
        alive.npy                  bool [rows]; rows of deleted images stay as holes so
                                   the HNSW labels (= row numbers) survive updates
        items.sqlite               row, key, path, size, mtime of every live image
        errors.json                images that could not be decoded, with the reason
        hnsw.bin | ivf.faiss       the candidate index (csdclip_cli.index.ann), only above EXACT_LIMIT
        stats.npz                  gallery mean vector and a vector sample (calibration)
        readers.lock               every open Generation holds a shared flock on it; a build
                                   deletes an old generation only when it can lock it alone
    <root>/<name>/journal/         batches committed by a build in progress (crash resume)
    <root>/<name>/.lock            held by the one writer

A build writes a new generation, then swaps manifest.json atomically: a crash leaves the
previous generation in force, and committed journal batches are not encoded again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shlex
import shutil
import sqlite3
import time
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from csdclip_cli import config
from csdclip_cli.errors import IndexFormatError, IndexLocked, IndexModelMismatch, IndexNotFound, UsageError, first_line

FORMAT_VERSION = 1
EXACT_LIMIT = 20_000  # below this many images search is exact (brute force) and no graph is built
CURRENT_FILE = ".current"


class ItemRow(NamedTuple):
    """One row of a generation's items table (items.sqlite): the image's row in vectors.npy,
    its key and display path, and its change signature (size in bytes, mtime; Item)."""

    row: int
    key: str
    path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class ModelRef:
    """The weights that made an index's vectors: model spec (e.g. "clip:ViT-L/14"), the
    fingerprint of the weights (csdclip_cli.fingerprint) and the vector width."""

    spec: str
    fingerprint: str
    dim: int

    @classmethod
    def of(cls, encoder: Any) -> ModelRef:
        """The reference of a loaded encoder (anything with spec, fingerprint and dim)."""
        return cls(encoder.spec, encoder.fingerprint, int(encoder.dim))


@dataclass(frozen=True)
class SourceRef:
    """What an index was built from, as manifest.json's "source" object stores it.

    kind: "folder" | "lmdb" | "wds" | "vectors" (import_vectors); location: absolute path;
    exclude: folder globs left out; subset: the dataset split a gallery holds (eval);
    signature: an LMDB's change signature (an unchanged one is not rescanned)."""

    kind: str
    location: str
    exclude: tuple[str, ...] = ()
    subset: str | None = None
    signature: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, source: Any) -> SourceRef:
        """The reference of an open source (csdclip_cli.sources), its signature included."""
        return cls(
            kind=source.kind,
            location=source.location,
            exclude=tuple(getattr(source, "exclude", ())),
            subset=getattr(source, "label", None),
            signature=source.signature() if hasattr(source, "signature") else None,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SourceRef:
        """The reference stored in a manifest's "source" object (a missing kind reads as "auto", location as "")."""
        return cls(
            kind=str(data.get("kind", "auto")),
            location=str(data.get("location", "")),
            exclude=tuple(data.get("exclude") or ()),
            subset=data.get("subset"),
            signature=data.get("signature"),
        )

    def to_json(self) -> dict[str, Any]:
        """The manifest form: kind and location, then only the fields that are set."""
        out: dict[str, Any] = {"kind": self.kind, "location": self.location}
        if self.exclude:
            out["exclude"] = list(self.exclude)
        if self.subset:
            out["subset"] = self.subset
        if self.signature is not None:
            out["signature"] = dict(self.signature)
        return out

    def open(self) -> Any:
        """The source itself (csdclip_cli.sources.Source). Raises SourceError when it is gone."""
        from csdclip_cli.sources import open_source

        return open_source(self.location, self.kind, exclude=self.exclude)


@dataclass
class Manifest:
    """An index's manifest.json: which model and source, the current generation, counts and
    the build parameters (`build`: ann kind and its parameters, shards, engine, ...)."""

    name: str
    model: str
    fingerprint: str
    dim: int
    source: SourceRef
    count: int = 0
    generation: int = 0
    rows: int = 0
    errors: int = 0
    build: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    format_version: int = FORMAT_VERSION

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a manifest.json, ignoring unknown fields; raises IndexFormatError when it is unreadable, not JSON, or
        of a newer format version than this csd."""
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise IndexFormatError(f"{path} is unreadable ({e}); remove the index with `csd index rm`") from None
        version = data.get("format_version", 0)
        if version > FORMAT_VERSION:
            raise IndexFormatError(
                f"index {path.parent.name} has format version {version}, newer than this csd "
                f"understands ({FORMAT_VERSION}); upgrade csd"
            )
        known = set(cls.__dataclass_fields__)
        fields = {k: v for k, v in data.items() if k in known}
        fields["source"] = SourceRef.from_json(fields.get("source") or {})
        return cls(**fields)

    def to_json(self) -> dict[str, Any]:
        """The manifest.json object."""
        return dict(self.__dict__) | {"source": self.source.to_json()}

    def save(self, path: Path) -> None:
        """Write the manifest to `path` as indented JSON, atomically (atomic_write_text)."""
        atomic_write_text(path, json.dumps(self.to_json(), indent=2) + "\n")


def require_model(manifest: Manifest, model: ModelRef, fix: str) -> None:
    """Raise IndexModelMismatch unless `model` made `manifest`'s index (same spec and weights
    fingerprint); `fix` is the advice that ends the message."""
    if (model.spec, model.fingerprint) != (manifest.model, manifest.fingerprint):
        raise IndexModelMismatch(
            f"index {manifest.name!r} was built with {manifest.model} ({manifest.fingerprint}); "
            f"{model.spec} ({model.fingerprint}) cannot use it. {fix}"
        )


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a sibling .tmp file, fsynced then renamed over it: readers see the old or the
    new content, whole."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def validate_name(name: str) -> str:
    """`name` itself when it can name an index folder: not empty, at most 200 UTF-8 bytes (file
    systems allow 255), no '/' or '\\', no control character, no leading '.' or '-' (hidden
    folder; read as an option), no space at either end, not "journal". Raises UsageError
    otherwise."""
    if (
        not name.strip()
        or name.startswith((".", "-"))
        or name != name.strip()
        or "/" in name
        or "\\" in name
        or any(unicodedata.category(c) == "Cc" for c in name)
        or len(name.encode("utf-8")) > 200
        or name == "journal"
    ):
        raise UsageError(
            f"invalid index name {name!r}: give a name of at most 200 bytes, without '/', '\\' or control "
            "characters, that does not start with '.' or '-' or end in a space ('journal' is reserved)"
        )
    return name


def default_name(source_location: str, model_spec: str) -> str:
    """'photos' + 'clip:ViT-L/14' -> 'photos-clip-vit-l-14' (one index per model and source; a
    leading '.' or '-' of the folder's name is left out: '.photos' -> 'photos-...')."""
    base = Path(source_location).name or "index"
    if base in ("imgs", "lmdb"):
        base = Path(source_location).parent.name if base == "imgs" else base
        if base == "lmdb":
            base = Path(source_location).parent.parent.name
    slug = "".join(c if c.isalnum() else "-" for c in model_spec.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return f"{name_stem(base)}-{slug}"


def name_stem(base: str) -> str:
    """`base` fit to begin an index name: a folder named '.photos' or '-neg' gave an invalid
    name the user never chose ('photos', 'neg'; 'index' when nothing is left)."""
    return base.lstrip(".-").strip() or "index"


READERS_LOCK = "readers.lock"


def _hold_reader(path: Path) -> int | None:
    """A shared flock on path/readers.lock (None on a read-only index, which no build deletes).

    Raises FileNotFoundError when the generation is gone (a build removed it meanwhile)."""
    if not path.is_dir():
        raise FileNotFoundError(path)
    lock = path / READERS_LOCK
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o644)
    except FileNotFoundError:
        raise
    except OSError:
        try:
            fd = os.open(lock, os.O_RDONLY)
        except FileNotFoundError:
            if not path.is_dir():
                raise
            return None
        except OSError:
            return None
    fcntl.flock(fd, fcntl.LOCK_SH)
    if not path.is_dir():  # renamed away between open and lock
        os.close(fd)
        raise FileNotFoundError(path)
    return fd


def damaged(gen_path: Path, e: BaseException) -> IndexFormatError:
    """The error for an index generation whose files cannot be read: which, why, and the way out."""
    name = gen_path.parent.name
    return IndexFormatError(
        f"index {name!r} is damaged ({gen_path.name}: {first_line(e)}); "
        f"remove it with `csd index rm {shlex.quote(name)}` and build it again"
    )


def check_complete(gen: Generation, m: Manifest) -> None:
    """Raise IndexFormatError (damaged) when the generation does not hold what the manifest
    records: no vectors or no items.sqlite for a manifest that counts images, or another number
    of vector rows. A deleted vectors.npy gave an IndexError at search, a deleted items.sqlite an
    OperationalError, a shorter vectors.npy an IndexError, and `index update` called each of them
    unchanged. Cheap: file existence and array headers only."""
    if m.count and not len(gen.vectors):
        raise damaged(gen.path, FileNotFoundError(f"vectors.npy is missing; the manifest counts {m.count} images"))
    if m.count and not (gen.path / "items.sqlite").is_file():
        raise damaged(gen.path, FileNotFoundError(f"items.sqlite is missing; the manifest counts {m.count} images"))
    if m.rows and len(gen.vectors) != m.rows:  # 0: an empty index (or a manifest without the field)
        raise damaged(gen.path, ValueError(f"vectors.npy has {len(gen.vectors)} rows; the manifest records {m.rows}"))
    alive = int(np.count_nonzero(gen.alive))
    if m.count and alive != m.count:  # every row dead searched silently empty
        raise damaged(gen.path, ValueError(f"alive.npy marks {alive} rows live; the manifest counts {m.count} images"))


def remove_unread_generations(root: Path, keep: str) -> list[str]:
    """Delete every gen-* under `root` but `keep` that no reader holds; return the names left
    because a search still has them open (a later build removes them)."""
    busy = []
    for g in sorted(root.glob("gen-*")):
        if g.name == keep:
            continue
        try:
            fd = os.open(g / READERS_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            shutil.rmtree(g, ignore_errors=True)
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                busy.append(g.name)
                continue
            # rename first: a reader that opens the lock file after this finds no generation
            tomb = g.with_name(f".{g.name}.removing")
            os.replace(g, tomb)
            shutil.rmtree(tomb, ignore_errors=True)
        finally:
            os.close(fd)
    return busy


class Generation:
    """One immutable, complete state of an index, opened for reading.

    Holds a shared lock for as long as it is open (close() or garbage collection), so that a
    build running meanwhile keeps these files. Raises FileNotFoundError if `path` is gone.
    """

    def __init__(self, path: Path, dim: int, ann_kind: str = "hnswlib"):
        self.path = path
        self.ann_kind = ann_kind
        self._reader_fd = _hold_reader(path)
        vec_path = path / "vectors.npy"
        alive_path = path / "alive.npy"
        try:
            self.vectors: np.ndarray = (
                np.load(vec_path, mmap_mode="r") if vec_path.exists() else np.zeros((0, dim), np.float16)
            )
            self.alive: np.ndarray = np.load(alive_path) if alive_path.exists() else np.ones(len(self.vectors), bool)
        except (ValueError, EOFError, OSError) as e:  # a truncated or overwritten file
            self._release_reader()
            if isinstance(e, FileNotFoundError):
                raise
            if "allow_pickle" in str(e):  # numpy's advice to load it unsafely is no advice here
                e = ValueError("a .npy file holds objects, not csd's arrays (replaced by another file?)")
            raise damaged(path, e) from None
        # a vectors.npy or alive.npy replaced by another array (shapes from the headers, nothing
        # read): an IndexError or a shape error deep in search, never a clear message
        shape = self.vectors.shape
        why = None
        if len(shape) != 2 or shape[1] != dim:
            why = f"vectors.npy holds an array of shape {shape}, not [rows, {dim}]"
        elif not vec_path.exists() and len(self.alive):
            why = f"vectors.npy is missing; alive.npy counts {len(self.alive)} rows"
        elif self.alive.shape != (shape[0],):
            why = f"alive.npy has {len(self.alive)} rows, vectors.npy {shape[0]}"
        if why is not None:
            self._release_reader()
            raise damaged(path, ValueError(why))
        self._db: sqlite3.Connection | None = None
        self._vec_fd: int | None = None
        self._ann: Any = None
        self._stats: dict[str, np.ndarray] | None = None

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        """Vectors of `rows` (ascending int64) read with pread, [len(rows), d] in the stored dtype.

        For re-scoring a few hundred candidates of a large gallery: reading them through the
        memory map faults in whole page-cache folios around each row, and at 1M rows 20 searches
        had mapped 960 MB of the 1 GB file into the process (MADV_RANDOM does not stop it)."""
        v = self.vectors
        if not isinstance(v, np.memmap) or not v.flags.c_contiguous:
            return np.asarray(v[rows])  # an empty generation, or a file not in row order
        out = np.empty((len(rows), v.shape[1]), v.dtype)
        if not len(rows):
            return out
        if self._vec_fd is None:
            self._vec_fd = os.open(self.path / "vectors.npy", os.O_RDONLY)
        size = out.shape[1] * out.itemsize
        base = int(getattr(v, "offset", 0))
        view = out.data.cast("B")
        for i, r in enumerate(rows.tolist()):
            os.preadv(self._vec_fd, [view[i * size : (i + 1) * size]], base + r * size)
        return out

    @property
    def db(self) -> sqlite3.Connection:
        """The read-only connection to items.sqlite, opened on first use (usable from any thread)."""
        if self._db is None:
            # as_uri percent-encodes the path: a '?', '#' or '%' in a folder name would end or garble a raw URI
            # mode=ro: a missing file is an error here, not a new empty database
            uri = (self.path / "items.sqlite").absolute().as_uri() + "?mode=ro"
            try:
                db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            except sqlite3.Error as e:  # missing or unopenable ("unable to open database file")
                raise damaged(self.path, e) from None
            try:
                db.execute("SELECT row, key, path FROM items LIMIT 1").fetchall()
            except sqlite3.DatabaseError as e:  # junk, or not csd's table
                db.close()
                raise damaged(self.path, e) from None
            self._db = db
        return self._db

    def rows_for(self, rows: list[int]) -> dict[int, tuple[str, str]]:
        """{row: (key, path)} for those of `rows` that hold a live image (items.sqlite has no others)."""
        out: dict[int, tuple[str, str]] = {}
        for i in range(0, len(rows), 900):
            chunk = [int(r) for r in rows[i : i + 900]]
            q = f"SELECT row, key, path FROM items WHERE row IN ({','.join('?' * len(chunk))})"
            out.update({r: (k, p) for r, k, p in self.db.execute(q, chunk)})
        return out

    def items(self) -> Iterator[ItemRow]:
        """Every live image, in row order."""
        yield from map(ItemRow._make, self.db.execute("SELECT row, key, path, size, mtime FROM items ORDER BY row"))

    def errors(self) -> list[dict[str, Any]]:
        """The images skipped by the build (errors.json): dicts of key, path, size, mtime and error (the reason),
        sorted by key; [] when there is no file."""
        p = self.path / "errors.json"
        if not p.exists():
            return []
        try:
            errors = json.loads(p.read_text())
        except (ValueError, OSError) as e:  # a traceback from `index info --errors` and `index update`
            raise damaged(self.path, ValueError(f"errors.json does not read ({type(e).__name__})")) from None
        if not isinstance(errors, list) or not all(isinstance(e, dict) and "key" in e for e in errors):
            raise damaged(self.path, ValueError("errors.json is not csd's list of skipped images"))
        return errors

    @property
    def ann(self) -> Any:
        """The candidate index (csdclip_cli.index.ann), or None when the gallery is small
        enough for exact search."""
        if self._ann is None:
            from csdclip_cli.index.ann import load_ann

            self._ann = load_ann(self.ann_kind, self.path, self.vectors.shape[1], len(self.vectors))
        return self._ann

    @property
    def stats(self) -> dict[str, np.ndarray]:
        """The calibration statistics (stats.npz): "mean" float32 [d], "sample" float16 [<= 4096, d] and
        "sample_rows" int64 [<= 4096]; {} when the generation has none."""
        if self._stats is None:
            p = self.path / "stats.npz"
            self._stats = dict(np.load(p)) if p.exists() else {}
        return self._stats

    def _release_reader(self) -> None:
        """Give up the shared reader lock (also when __init__ fails: a damaged generation must not stay locked)."""
        if getattr(self, "_reader_fd", None) is not None:
            os.close(self._reader_fd)  # type: ignore[arg-type]
            self._reader_fd = None

    def close(self) -> None:
        """Release the database and the reader lock."""
        if getattr(self, "_db", None) is not None:
            self._db.close()  # type: ignore[union-attr]
            self._db = None
        self._ann = None
        if getattr(self, "_vec_fd", None) is not None:
            os.close(self._vec_fd)  # type: ignore[arg-type]
            self._vec_fd = None
        self._release_reader()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class IndexStore:
    """Finds, lists, locks and removes indexes under one root."""

    def __init__(self, root: str | Path | None = None):
        self.root = config.index_root(root)
        if self.root.exists() and not self.root.is_dir():  # it said "no index in /etc/passwd"
            raise UsageError(f"the index folder {self.root} is a file; give a folder (--index-dir, $CSD_INDEXES)")

    def path(self, name: str) -> Path:
        """The folder of index `name`; raises UsageError for an invalid name."""
        return self.root / validate_name(name)

    def exists(self, name: str) -> bool:
        """Whether index `name` has a manifest.json."""
        return (self.path(name) / "manifest.json").exists()

    def names(self) -> list[str]:
        """The names of the indexes under the root (folders with a manifest.json), sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "manifest.json").exists())

    def unfinished(self) -> list[str]:
        """Folders under the root that a first build began and did not finish (a journal or a
        lock, no manifest.json yet): `csd index build` resumes them, `csd index rm` removes them."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir()
            and not p.name.startswith(".")
            and not (p / "manifest.json").exists()
            and ((p / "journal").exists() or (p / ".lock").exists())
        )

    def manifest(self, name: str) -> Manifest:
        """The manifest of index `name`; raises IndexNotFound when there is none, IndexFormatError when it is
        unreadable or too new."""
        if not name.strip():
            raise UsageError(
                "an empty index name: give one (`csd index list` names them), or leave --index out for the current index"
            )
        p = self.path(name) / "manifest.json"
        if not p.exists() and name in self.unfinished():  # it said "no index named ..." of a listed one
            raise IndexNotFound(self.unfinished_note(name))
        if not p.exists():
            have = ", ".join(self.names()) or "none yet"
            raise IndexNotFound(
                f"no index named {name!r} in {self.root} (indexes: {have}); build one with `csd index build`"
            )
        m = Manifest.load(p)
        # the folder is the index: a copied or renamed one kept the old name inside, and
        # `csd index update copy` updated the original
        if m.name != name:
            m.name = name
        return m

    def open(self, name: str | None = None) -> tuple[Manifest, Generation | ShardedGeneration]:
        """The manifest and its current generation (every shard's, for a sharded index), held
        open against concurrent builds. Raises IndexNotFound, IndexFormatError, and UsageError when
        no name is given and no index is current while several exist."""
        name = (
            self.current() if name is None else name
        )  # "" is no name (an unset shell variable), not "the current one"
        seen = None
        while True:
            m = self.manifest(name)
            if m.build.get("shards"):
                return m, ShardedGeneration(self.path(name), m)
            try:
                gen = Generation(self.path(name) / f"gen-{m.generation}", m.dim, m.build.get("ann", "hnswlib"))
                check_complete(gen, m)
                return m, gen
            except FileNotFoundError:
                if m.generation == seen:
                    raise IndexFormatError(
                        f"index {name!r}: its generation folder gen-{m.generation} is missing; "
                        f"rebuild it (csd index rm {shlex.quote(name)}, then csd index build)"
                    ) from None
                seen = m.generation  # a build replaced that generation between the two reads: read again

    def current(self) -> str:
        """The name of the index in use: the one named in <root>/.current if it exists, else the only index.

        Raises IndexNotFound when there is no index, UsageError when there are several and none is chosen.
        """
        p = self.root / CURRENT_FILE
        if p.exists():
            name = p.read_text().strip()
            if self.exists(name):
                return name
        names = self.names()
        if len(names) == 1:
            return names[0]
        if not names:
            raise IndexNotFound(f"no index in {self.root}; build one with `csd index build FOLDER --model SPEC`")
        raise UsageError(f"several indexes exist ({', '.join(names)}); pick one with --index or `csd index use NAME`")

    def use(self, name: str) -> None:
        """Make `name` the index in use (written to <root>/.current); raises IndexNotFound when it does not exist."""
        self.manifest(name)
        try:  # already in use: nothing is written (a no-op update on a read-only disk wrote it)
            if (self.root / CURRENT_FILE).read_text(encoding="utf-8").strip() == name:
                return
        except (OSError, UnicodeDecodeError):
            pass
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.root / CURRENT_FILE, name + "\n")

    def remove(self, name: str, wait: bool = False) -> None:
        """Delete index `name` whole (renamed away under its write lock, then removed) and forget it as the index in
        use; also an unfinished first build or an index whose manifest is unreadable (what else could remove
        them). Raises IndexNotFound when there is no such folder, or IndexLocked when a writer holds it and not
        `wait`."""
        if not self.path(name).is_dir():
            self.manifest(name)  # raises IndexNotFound, naming the indexes there are
        with self.lock(name, wait=wait):
            tomb = self.path(name).with_name(f".{name}.removing-{os.getpid()}")
            os.replace(self.path(name), tomb)  # atomic: the index vanishes whole
        shutil.rmtree(tomb, ignore_errors=True)
        cur = self.root / CURRENT_FILE
        if cur.exists() and cur.read_text().strip() == name:
            cur.unlink()

    def size_on_disk(self, name: str) -> int:
        """Bytes of every file under index `name`'s folder (all generations, journal and shards included)."""
        return sum(f.stat().st_size for f in self.path(name).rglob("*") if f.is_file())

    def writer(self, name: str) -> str | None:
        """Who holds index `name`'s write lock ("pid N", as it wrote there), or None when no writer
        does; creates nothing."""
        p = self.path(name) / ".lock"
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:  # no lock file: never written, or removed
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def probe_lock(self, name: str) -> None:
        """Raise IndexLocked now when a writer holds index `name` (a build then fails before its
        model loads and its progress bar starts, not after); creates nothing."""
        if holder := self.writer(name):
            raise _locked(name, holder)

    def unfinished_note(self, name: str) -> str:
        """What to say of `name`, one of unfinished(): a first build running now (by whom), or one that
        stopped (of which model, from where: only those resume it)."""
        meta = journal_meta(self.path(name) / "journal")
        of = f" of {meta.get('spec')} from {meta.get('source')}" if meta else ""
        if holder := self.writer(name):  # it was called abandoned while it ran
            return f"index {name!r} is a first build{of} still running ({holder}); it is listed and searchable when it finishes"
        return (
            f"index {name!r} is a first build{of} that did not finish; run the command that started it again "
            f"(`csd index build` or `csd eval`) to resume it, or remove it with `csd index rm {shlex.quote(name)}`"
        )

    @contextlib.contextmanager
    def lock(self, name: str, wait: bool = False) -> Iterator[None]:
        """One writer per index. Readers never lock: they read the current generation."""
        d = self.path(name)
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd = os.open(d / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise io_error(e, d) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                raise _locked(name, os.pread(fd, 64, 0).decode(errors="replace").strip()) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
            yield
        finally:
            os.close(fd)


def journal_meta(journal: Path) -> dict[str, Any] | None:
    """The model and source a build's journal folder was written for ({spec, fingerprint, dim,
    source}, its model.json), or None (none yet, or an older csd's)."""
    try:
        meta = json.loads((journal / "model.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _locked(name: str, holder: str) -> IndexLocked:
    """The error for index `name` whose lock another writer holds (`holder`: the "pid N" it wrote there)."""
    return IndexLocked(
        f"index {name!r} is being written by {holder or 'another process'}; wait for it to finish or pass --wait"
    )


# numpy writing an array to a full disk says only this (an OSError without an errno)
SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


def full_or_read_only(e: OSError) -> bool:
    """Whether `e` says the disk is full (ENOSPC, EDQUOT, numpy's short write) or read-only."""
    return e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) or (
        e.errno is None and bool(SHORT_WRITE.search(str(e)))
    )


def io_error(e: OSError, where: Path) -> Exception:
    """A CsdError for an OSError met while writing under `where`, with the fix for a read-only place or a full disk."""
    from csdclip_cli.errors import CsdError

    if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return CsdError(f"cannot write to {where}: {e.strerror}; choose a writable --index-dir")
    if full_or_read_only(e):
        return CsdError(f"disk full while writing {where}; free space and re-run (committed batches are kept)")
    return CsdError(f"{where}: {e.strerror or e}")


# Sharded indexes (written by index.shards): <index>/shards/shard-<i>/ are ordinary indexes.
SHARDS_DIR = "shards"
STATS_SAMPLE = 4096  # vectors in a generation's calibration sample (stats.npz "sample")


def shard_name(i: int) -> str:
    """The folder of shard `i` under <index>/shards/."""
    return f"shard-{i}"


class ShardedGeneration:
    """The current generation of every shard, read as one gallery: global row = the shard's
    offset (rows of the shards before it) + its own row.

    `alive` bool [rows]; `offsets` int64 [shards + 1]; `stats["sample"]` float16 [<= 4096, d],
    drawn from each shard's stored sample in proportion to its live images (one calibration
    sample for the whole gallery)."""

    def __init__(self, path: Path, manifest: Manifest):
        self.path = path
        self.manifest = manifest
        sub = IndexStore(path / SHARDS_DIR)
        self.shards: list[tuple[Manifest, Generation]] = []
        for i in range(int(manifest.build["shards"])):
            m, g = sub.open(shard_name(i))
            if not isinstance(g, Generation):
                raise IndexFormatError(f"{path}: shard {m.name} is itself sharded; rebuild the index")
            self.shards.append((m, g))
        rows = [len(g.vectors) for _, g in self.shards]
        self.offsets = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        self.alive = np.concatenate([g.alive for _, g in self.shards]) if rows else np.zeros(0, bool)
        self.ann_kind = manifest.build.get("ann", "hnswlib")
        self._stats: dict[str, np.ndarray] | None = None

    def locate(self, rows: np.ndarray) -> np.ndarray:
        """The shard of each global row (int64 [len(rows)])."""
        return np.searchsorted(self.offsets, rows, side="right") - 1

    def rows_for(self, rows: list[int]) -> dict[int, tuple[str, str]]:
        """{global row: (key, path)} for those of `rows` that hold a live image, looked up in their shards."""
        out: dict[int, tuple[str, str]] = {}
        arr = np.asarray(rows, np.int64)
        where = self.locate(arr)
        for s, (_, g) in enumerate(self.shards):
            local = arr[where == s] - self.offsets[s]
            for r, v in g.rows_for([int(x) for x in local]).items():
                out[int(r + self.offsets[s])] = v
        return out

    def items(self) -> Iterator[ItemRow]:
        """Every live image with its global row, shard after shard."""
        for s, (_, g) in enumerate(self.shards):
            off = int(self.offsets[s])
            for it in g.items():
                yield it._replace(row=it.row + off)

    def errors(self) -> list[dict[str, Any]]:
        """The images skipped in every shard (errors.json entries), sorted by key."""
        return sorted((e for _, g in self.shards for e in g.errors()), key=lambda e: e["key"])

    @property
    def ann(self) -> Any:
        """Always None: each shard has its own candidate index (search.sharded searches them)."""
        return None  # each shard has its own; see search.sharded

    @property
    def stats(self) -> dict[str, np.ndarray]:
        """The calibration statistics: "sample" float16 [<= 4096, d] alone (no mean), from each shard in proportion
        to its live images."""
        if self._stats is None:
            live = np.array([int(g.alive.sum()) for _, g in self.shards], float)
            take = np.floor(STATS_SAMPLE * live / max(live.sum(), 1)).astype(int)
            parts = [
                g.stats.get("sample", np.zeros((0, self.manifest.dim), np.float16))[:t]
                for (_, g), t in zip(self.shards, take)
            ]
            self._stats = {"sample": np.concatenate(parts) if parts else np.zeros((0, self.manifest.dim), np.float16)}
        return self._stats

    def close(self) -> None:
        """Release every shard's generation (database and reader lock)."""
        for _, g in self.shards:
            g.close()
