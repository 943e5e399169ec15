"""Building and incrementally updating an index.

Decoding runs in a thread pool ahead of the encoder (PIL and torch release the GIL), so
the slower of the two stages sets the pace. Encoded batches are committed to a journal
as they finish; finalising turns the previous generation plus the journal into a new
generation and swaps the manifest. New and changed images are encoded, unchanged ones
are not, deleted ones are dropped.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from csdclip_cli.encoders.base import Encoder
from csdclip_cli.encoders.checked import image_batch, image_vectors
from csdclip_cli.errors import CsdError, IndexModelMismatch, SourceError
from csdclip_cli.index.ann import DEFAULT_ANN, ann_file, check_kind, write_ann
from csdclip_cli.index.store import (
    EXACT_LIMIT,
    STATS_SAMPLE,
    Generation,
    IndexStore,
    ItemRow,
    Manifest,
    ModelRef,
    SourceRef,
    check_complete,
    damaged,
    full_or_read_only,
    io_error,
    journal_meta,
    remove_unread_generations,
    require_model,
)
from csdclip_cli.sources.base import Item, Source
from csdclip_cli.sources.decode import BadImage, decode_image

COMPACT_DEAD_FRACTION = 0.25

Progress = Callable[[int, int], None]
Batches = Iterator[tuple[list[Item], np.ndarray, list[tuple[Item, str]]]]
# encode_stream's signature: (source, encoder, items, batch_size, workers) -> batches; the Ray
# engine (index.ray_engine) supplies another one
Stream = Callable[[Source, Encoder, list[Item], int, int], Batches]


@dataclass
class BuildReport:
    """What one build or update did: image counts by outcome, wall seconds, and the images
    that could not be decoded (key, path, size, mtime, error)."""

    name: str
    total: int = 0  # images in the source now
    encoded: int = 0  # encoded in this run
    resumed: int = 0  # taken from the journal of an interrupted run
    unchanged: int = 0
    removed: int = 0  # indexed images that left the index: their file gone, or no longer readable
    skipped: int = 0  # could not be decoded (listed by `csd index info --errors`)
    seconds: float = 0.0
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        """Encoding speed of this run: images encoded per second of wall time (0.0 before any time passed)."""
        return self.encoded / self.seconds if self.seconds > 0 else 0.0


class Journal:
    """Committed batches of a build in progress: batch-N.npy (vectors) then batch-N.json
    (items, the commit point: a batch exists only once its .json was renamed in)."""

    def __init__(self, path: Path, dtype: npt.DTypeLike = np.float16):
        self.path = path
        self.dtype = np.dtype(dtype)
        self.path.mkdir(parents=True, exist_ok=True)
        self._next = 1 + max((int(p.stem.split("-")[1]) for p in path.glob("batch-*.json")), default=0)

    def batches(self) -> Iterator[tuple[list[dict[str, Any]], np.ndarray]]:
        """Every committed batch in commit order: its items (dicts of key, path, size, mtime, and error for a skipped
        image) and the vectors of the items without error, [n, d] in the journal's dtype."""
        for meta in sorted(self.path.glob("batch-*.json"), key=lambda p: int(p.stem.split("-")[1])):
            items = json.loads(meta.read_text())
            vec = meta.with_suffix(".npy")
            yield items, (np.load(vec) if vec.exists() else np.zeros((0, 0), np.float16))

    def entries(self) -> Iterator[dict[str, Any]]:
        """The committed items alone (no vectors read)."""
        for meta in sorted(self.path.glob("batch-*.json"), key=lambda p: int(p.stem.split("-")[1])):
            yield from json.loads(meta.read_text())

    def drop_unfit(self, dim: int) -> int:
        """Delete the committed batches whose vectors do not fit their items or are not `dim` wide
        (an encoder's other shape, journaled before csd checked it, failed every later run); their
        images are encoded again. Returns how many batches were dropped."""
        dropped = 0
        for meta in list(self.path.glob("batch-*.json")):
            vec = meta.with_suffix(".npy")
            try:
                want = sum("error" not in d for d in json.loads(meta.read_text()))
                shape = np.load(vec, mmap_mode="r").shape if vec.exists() else (0, 0)
            except (OSError, ValueError):  # half-written by an older csd, or not JSON / npy
                shape, want = (-1, -1), -1
            if want and shape != (want, dim):
                meta.unlink()
                vec.unlink(missing_ok=True)
                dropped += 1
        return dropped

    def commit(self, items: list[dict[str, Any]], vectors: np.ndarray) -> None:
        """Append one batch durably: `vectors` [n, d] (cast to the journal's dtype) are fsynced and renamed in first,
        then `items`, whose rename is the commit point."""
        n = self._next
        self._next += 1
        vec_tmp, meta_tmp = self.path / f".batch-{n}.npy", self.path / f".batch-{n}.json"
        with vec_tmp.open("wb") as f:
            np.save(f, vectors.astype(self.dtype))
            f.flush()
            os.fsync(f.fileno())
        os.replace(vec_tmp, self.path / f"batch-{n}.npy")
        with meta_tmp.open("w") as f:
            json.dump(items, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(meta_tmp, self.path / f"batch-{n}.json")

    def clear(self) -> None:
        """Delete the journal folder and every batch in it."""
        shutil.rmtree(self.path, ignore_errors=True)

    def claim(self, name: str, model: ModelRef, source: str) -> None:
        """Make this journal the build of `model` from `source`. Raises IndexModelMismatch when it
        holds images another model encoded, or from another source: a first build stopped under
        one --model and run again under another of the same width mixed the two models' vectors
        (another width, or another folder, dropped hours of encoding without a word). A journal of
        an older csd, which names neither, is kept."""
        meta = self.path / "model.json"
        mine = {"spec": model.spec, "fingerprint": model.fingerprint, "dim": model.dim, "source": source}
        theirs = self.meta()
        keys = ("fingerprint", "dim", "source")  # the same weights under another spelling of the spec resume
        done = sum(1 for _ in self.entries()) if theirs and any(theirs.get(k) != mine[k] for k in keys) else 0
        if theirs and done:
            same_model = (theirs.get("fingerprint"), theirs.get("dim")) == (model.fingerprint, model.dim)
            what = f"from {theirs.get('source')}" if same_model else f"of {theirs.get('spec')}"
            raise IndexModelMismatch(
                f"index {name!r} is a first build {what} that did not finish ({done:,} "
                f"images encoded); run it again with the same --model and source to resume it, or remove it "
                f"with `csd index rm {shlex.quote(name)}` to build this one"
            )
        if theirs != mine:
            tmp = meta.with_suffix(".tmp")
            tmp.write_text(json.dumps(mine))
            os.replace(tmp, meta)

    def meta(self) -> dict[str, Any] | None:
        """The model and source this journal was written for (store.journal_meta)."""
        return journal_meta(self.path)


def _retryable_errors() -> tuple[str, ...]:
    """Skip reasons that are tried again: the model's faults (its transform raised, NaN or zero
    vectors), and those that installing something has since removed (pillow-heif for HEIC)."""
    from csdclip_cli.encoders.checked import ENCODER_FAULT
    from csdclip_cli.sources.decode import HEIF_MISSING

    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return (ENCODER_FAULT, PREPROCESS_FAULT)
    return (ENCODER_FAULT, PREPROCESS_FAULT, HEIF_MISSING)


def unchanged_report(source: Source, store: IndexStore, name: str, old: Manifest) -> BuildReport | None:
    """The report of an update with nothing to do, found without the model (loading it took
    ~4 s of a no-op `csd index update`): no interrupted run's journal, and the source lists
    exactly the images of the current generation and its skipped files, with the same sizes
    and times (a skip that an installed decoder may now read counts as a change). None when
    anything differs, or for a sharded index; then the build runs as usual."""
    t0 = time.time()
    root = store.path(name)
    journal_dir = root / "journal"
    if old.build.get("shards") or (journal_dir.is_dir() and any(journal_dir.iterdir())):
        return None
    try:
        gen = Generation(root / f"gen-{old.generation}", old.dim, old.build.get("ann", DEFAULT_ANN))
    except FileNotFoundError:  # its folder is gone (a traceback): the build rebuilds it from the source
        return None
    check_complete(gen, old)
    items = list(gen.items())
    # the items table must fit the vectors before "unchanged" is said (the scan below reads it anyway)
    outside = sum(1 for it in items if not 0 <= it.row < len(gen.vectors))
    if len(items) != old.count or outside:
        why = f"items.sqlite lists {len(items)} images, {outside} past vectors.npy's {len(gen.vectors)} rows"
        raise damaged(gen.path, ValueError(f"{why}; the manifest counts {old.count}"))
    have = {it.key: (it.size, it.mtime) for it in items}
    errors = gen.errors()
    retry = _retryable_errors()
    if any(str(e.get("error", "")).startswith(r) for e in errors for r in retry):
        return None
    known = have | {e["key"]: (e["size"], e["mtime"]) for e in errors}
    signature = SourceRef.of(source).signature
    if not (signature is not None and old.source.signature == signature):  # an LMDB's signature skips the scan
        current = {it.key: (it.size, it.mtime) for it in source.items()}
        if current != known:
            return None
    report = BuildReport(name, total=len(known), unchanged=len(known), skipped=len(errors), errors=errors)
    report.seconds = time.time() - t0
    return report


def vector_dtype(build_params: dict[str, Any]) -> np.dtype:
    """The dtype an index stores its vectors in: float16 (default: half the disk and memory;
    cosine error ~1e-4), or float32 (build parameter dtype='float32', for `csd eval --exact`)."""
    name = build_params.get("dtype", "float16")
    if name not in ("float16", "float32"):
        raise CsdError(f"vector dtype {name!r}: choose float16 or float32")
    return np.dtype(name)


def read_image(source: Source, key: str) -> Image.Image | str:
    """The decoded RGB image of `key`, or the reason it is skipped (errors.json's text)."""
    try:
        return decode_image(source.read(key))
    except BadImage as e:
        return str(e)
    except OSError as e:
        return f"unreadable: {e.strerror or e}"


# how a skipped image's reason starts when the model's transform raised: tried again on every
# update (a mended plugin's preprocess then indexes it), like the encoder's own faults
PREPROCESS_FAULT = "cannot preprocess"


def model_input(encoder: Encoder, image: Image.Image) -> np.ndarray | str:
    """encoder.preprocess(image), or the reason it is skipped."""
    try:
        return encoder.preprocess(image)
    except Exception as e:  # a transform failing on a strange image must not stop the build
        return f"{PREPROCESS_FAULT}: {type(e).__name__}: {str(e)[:100]}"


def _decode_item(source: Source, encoder: Encoder, item: Item) -> np.ndarray | str:
    """Model input for one item, or the reason it was skipped."""
    image = read_image(source, item.key)
    return image if isinstance(image, str) else model_input(encoder, image)


def encode_stream(source: Source, encoder: Encoder, items: list[Item], batch_size: int, workers: int) -> Batches:
    """Yield (encoded items, their vectors, skipped items with reasons) per batch.

    Decoding runs up to three batches ahead of the encoder in `workers` threads.
    """
    lookahead = batch_size * 3
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: deque[tuple[Item, Future]] = deque()
        it = iter(items)

        def fill() -> None:
            while len(pending) < lookahead:
                nxt = next(it, None)
                if nxt is None:
                    return
                pending.append((nxt, pool.submit(_decode_item, source, encoder, nxt)))

        fill()
        while pending:
            ok_items: list[Item] = []
            arrays: list[np.ndarray] = []
            bad: list[tuple[Item, str]] = []
            while pending and len(ok_items) + len(bad) < batch_size:
                item, fut = pending.popleft()
                res = fut.result()
                if isinstance(res, str):
                    bad.append((item, res))
                else:
                    ok_items.append(item)
                    arrays.append(res)
            fill()  # keep the decoders busy while the encoder works
            if not arrays:
                yield ok_items, np.zeros((0, encoder.dim), np.float32), bad
                continue
            vecs, unusable = image_vectors(encoder, image_batch(encoder, arrays))
            if unusable:  # NaN or zero rows are skipped images, not vectors that poison the index
                bad += [(ok_items[i], why) for i, why in unusable.items()]
                keep = [i for i in range(len(ok_items)) if i not in unusable]
                ok_items, vecs = [ok_items[i] for i in keep], vecs[keep]
            yield ok_items, vecs, bad


def build_index(
    source: Source,
    encoder: Encoder,
    name: str,
    store: IndexStore | None = None,
    batch_size: int = 64,
    workers: int = 2,
    progress: Progress | None = None,
    wait: bool = False,
    build_params: dict[str, Any] | None = None,
    allow_empty: bool = False,
    stream: Stream | None = None,
) -> BuildReport:
    """Create index `name` from `source`, or bring it up to date. Safe to interrupt.

    `stream` decodes and encodes the items to (re-)encode (default: encode_stream, threads in
    this process). Raises SourceError when the source now holds no image but the index does
    (an unmounted drive would otherwise drop every vector), unless `allow_empty`.
    """
    store = store or IndexStore()
    t0 = time.time()
    report = BuildReport(name)
    if store.exists(name):  # refuse early, before waiting for a lock
        existing = store.manifest(name)
        if existing.build.get("shards"):
            raise IndexModelMismatch(
                f"index {name!r} is sharded; update it with `csd index update {shlex.quote(name)}` (index.shards.build_sharded)"
            )
        check_compatible(existing, encoder, source)
    with store.lock(name, wait=wait):
        old: Manifest | None = store.manifest(name) if store.exists(name) else None
        if old is not None:  # read again under the lock: another writer may have finished meanwhile
            check_compatible(old, encoder, source)
        try:
            return _build_locked(
                source,
                encoder,
                name,
                store,
                old,
                report,
                batch_size,
                workers,
                progress,
                build_params or {},
                t0,
                allow_empty,
                stream or encode_stream,
            )
        except OSError as e:
            if e.errno == errno.EACCES or full_or_read_only(e):  # numpy's short write on a full disk too
                raise io_error(e, store.path(name)) from None
            raise


def refuse_emptying(source: Source, old: Manifest | None) -> None:
    """Raise SourceError when `source` holds no image now but index `old` does: an unmounted
    drive would otherwise drop every vector (--allow-empty accepts it)."""
    if old is not None and old.count > 0:
        excluded = tuple(getattr(source, "exclude", ()))
        why = (
            f"--exclude {' '.join(excluded)} leaves out every image, or the folder was emptied"
            if excluded
            else "is a drive unmounted or a folder emptied"
        )
        raise SourceError(
            f"source {source.location} has no images now, but index {old.name!r} holds {old.count:,} "
            f"({why}?); nothing was changed; pass --allow-empty to empty the index"
        )


def check_compatible(old: Manifest, encoder: Encoder, source: Source) -> None:
    """Raise IndexModelMismatch when `old` was built by another model, CsdError when it indexes
    another source."""
    require_model(
        old,
        ModelRef.of(encoder),
        # `index update` has no --name: the weights the index was made with are the other way out
        f"Give the weights it was built with (--weights), build another --name with `csd index build`, "
        f"or remove it with `csd index rm {shlex.quote(old.name)}`",
    )
    check_same_source(old, source)


def check_same_source(old: Manifest, source: Source) -> None:
    """Raise CsdError when index `old` indexes another source than `source`."""
    # a link and its target are two sources: an index built on 2024 must not follow a link
    # "Photos" that points elsewhere next year
    if old.source.location != source.location:
        raise CsdError(f"index {old.name!r} indexes {old.source.location}, not {source.location}; pick another --name")


def _build_locked(
    source: Source,
    encoder: Encoder,
    name: str,
    store: IndexStore,
    old: Manifest | None,
    report: BuildReport,
    batch_size: int,
    workers: int,
    progress: Progress | None,
    build_params: dict[str, Any],
    t0: float,
    allow_empty: bool = False,
    stream: Stream = encode_stream,
) -> BuildReport:
    root = store.path(name)
    # the source as the manifest will record it; its signature is taken before the scan, so a
    # write during the build makes the next update rescan
    source_ref = SourceRef.of(source)
    signature = source_ref.signature
    journal_dir = root / "journal"
    if (
        old is not None
        and signature is not None
        and old.source.signature == signature
        and not (journal_dir.is_dir() and any(journal_dir.iterdir()))
    ):
        # an unchanged LMDB: not one value is read (a full rescan checksums every image)
        report.total = report.unchanged = old.count + old.errors
        report.skipped = old.errors
        if old.errors:  # the skipped images, as a rescan would report them (one small JSON file)
            gen = Generation(root / f"gen-{old.generation}", old.dim, old.build.get("ann", DEFAULT_ANN))
            report.errors = gen.errors()
        report.seconds = time.time() - t0
        return report
    current = list(source.items())
    report.total = len(current)
    if not current and not allow_empty:
        refuse_emptying(source, old)
    sig = {it.key: (it.size, it.mtime) for it in current}

    # what the previous generation already has
    prev_gen = None
    if old is not None:
        try:
            prev_gen = Generation(root / f"gen-{old.generation}", old.dim, old.build.get("ann", DEFAULT_ANN))
        except FileNotFoundError:  # a damaged index: rebuilt from the source
            prev_gen = None
        if prev_gen is not None:
            check_complete(prev_gen, old)
    have: dict[str, ItemRow] = {}
    prev_errors: dict[str, dict[str, Any]] = {}
    if prev_gen is not None:
        have = {it.key: it for it in prev_gen.items()}
        prev_errors = {e["key"]: e for e in prev_gen.errors()}

    # what an interrupted run already committed
    if old is not None:  # an update keeps the index's vector dtype and candidate index
        build_params = {"dtype": vector_dtype(old.build).name, "ann": old.build.get("ann", DEFAULT_ANN)} | build_params
        if build_params["ann"] != old.build.get("ann", DEFAULT_ANN):
            raise IndexModelMismatch(
                f"index {name!r} uses the {old.build.get('ann', DEFAULT_ANN)} candidate index, not {build_params['ann']}; "
                "pick another --name"
            )
    dtype = vector_dtype(build_params)
    if old is not None and vector_dtype(old.build) != dtype:
        raise IndexModelMismatch(
            f"index {name!r} stores {vector_dtype(old.build).name} vectors, not {dtype.name}; pick another --name"
        )
    journal = Journal(root / "journal", dtype)
    journal.claim(name, ModelRef.of(encoder), source_ref.location)
    journal.drop_unfit(encoder.dim)
    done = {d["key"]: (d["size"], d["mtime"]) for d in journal.entries()}

    retry = _retryable_errors()

    def unchanged(key: str) -> bool:
        s = sig[key]
        if key in have and (have[key].size, have[key].mtime) == s:
            return True
        e = prev_errors.get(key)
        # a file skipped for want of an optional decoder is tried again once it is installed
        return (
            e is not None
            and (e["size"], e["mtime"]) == s
            and not any(str(e.get("error", "")).startswith(r) for r in retry)
        )

    todo = [it for it in current if not unchanged(it.key) and done.get(it.key) != sig[it.key]]
    report.unchanged = sum(1 for it in current if unchanged(it.key))
    report.resumed = sum(1 for it in current if not unchanged(it.key) and done.get(it.key) == sig[it.key])
    if progress:
        progress(0, len(todo))
    n = 0
    for ok, vecs, bad in stream(source, encoder, todo, batch_size, workers):
        entries = [{"key": it.key, "path": it.path, "size": it.size, "mtime": it.mtime} for it in ok]
        entries += [
            {"key": it.key, "path": it.path, "size": it.size, "mtime": it.mtime, "error": why} for it, why in bad
        ]
        journal.commit(entries, vecs)
        report.encoded += len(ok)
        n += len(ok) + len(bad)
        if progress:
            progress(n, len(todo))

    deleted = (set(have) | set(prev_errors)) - set(sig)
    report.removed = len(set(have) - set(sig))
    if old is not None and not todo and not report.resumed and not deleted:
        journal.clear()  # nothing changed: keep the generation as it is
        if signature is not None and old.source.signature != signature:
            old.source = replace(old.source, signature=signature)  # a write that changed no image
            old.save(root / "manifest.json")
        report.seconds = time.time() - t0
        report.skipped = len(prev_errors)
        report.errors = list(prev_errors.values())
        return report
    _finalise(
        store, name, ModelRef.of(encoder), source_ref, old, prev_gen, journal, sig, report, build_params, allow_empty
    )
    # an indexed image whose file is still there but no longer reads left the index too
    report.removed += len({e["key"] for e in report.errors} & set(have))
    report.seconds = time.time() - t0
    return report


def _finalise(
    store: IndexStore,
    name: str,
    model: ModelRef,
    source: SourceRef,
    old: Manifest | None,
    prev_gen: Generation | None,
    journal: Journal,
    sig: dict[str, tuple[int, float]],
    report: BuildReport,
    build_params: dict[str, Any],
    allow_empty: bool = False,
) -> None:
    root = store.path(name)
    dim = model.dim
    gen_no = (old.generation if old else 0) + 1
    tmp = root / f".gen-{gen_no}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    # live rows of the previous generation that are still current and unchanged
    keep: dict[str, ItemRow] = {}
    errors: dict[str, dict[str, Any]] = {}
    if prev_gen is not None:
        keep = {it.key: it for it in prev_gen.items() if sig.get(it.key) == (it.size, it.mtime)}
        errors = {e["key"]: e for e in prev_gen.errors() if sig.get(e["key"]) == (e["size"], e["mtime"])}
    new_items: list[dict[str, Any]] = []
    new_vecs: list[np.ndarray] = []
    for items, vecs in journal.batches():
        vi = 0
        for d in items:
            if "error" in d:
                if sig.get(d["key"]) == (d["size"], d["mtime"]):
                    errors[d["key"]] = d
                    keep.pop(d["key"], None)
                continue
            v = vecs[vi]
            vi += 1
            if sig.get(d["key"]) != (d["size"], d["mtime"]):
                continue  # changed again or deleted since that batch
            keep.pop(d["key"], None)
            errors.pop(d["key"], None)
            new_items.append(d)
            new_vecs.append(v)
    # every file still there but none readable (cloud placeholders, lost permissions, a failed
    # copy) would drop every vector, as an emptied folder would: refused the same way
    if not keep and not new_items and old is not None and old.count > 0 and not allow_empty:
        shutil.rmtree(tmp, ignore_errors=True)
        first = min(errors.values(), key=lambda e: e["key"]) if errors else None
        example = f", e.g. {first['key']}: {first['error']}" if first else ""
        raise SourceError(
            f"no image of source {source.location} can be read now ({len(errors):,} unreadable{example}), "
            f"but index {name!r} holds {old.count:,}. Nothing was changed; fix the files, or pass "
            "--allow-empty to empty the index"
        )
    # a key encoded twice (an earlier batch, then a later one) keeps the last
    last: dict[str, int] = {d["key"]: i for i, d in enumerate(new_items)}
    order = sorted(last.values())
    new_items = [new_items[i] for i in order]
    dtype = vector_dtype(build_params)
    appended = np.stack([new_vecs[i] for i in order]).astype(dtype) if order else np.zeros((0, dim), dtype)

    prev_rows = len(prev_gen.vectors) if prev_gen is not None else 0
    prev_live = len(have_rows := {it.row for it in keep.values()})
    dead = prev_rows - prev_live
    compact = prev_gen is None or (dead > COMPACT_DEAD_FRACTION * max(prev_rows, 1)) or prev_rows == 0
    rows: list[ItemRow] = []
    if compact:
        kept = sorted(keep.values(), key=lambda it: it.row)
        base = (
            np.asarray(prev_gen.vectors[[it.row for it in kept]])
            if kept and prev_gen is not None
            else np.zeros((0, dim), dtype)
        )
        vectors = np.concatenate([base, appended]) if len(appended) else base
        rows = [it._replace(row=i) for i, it in enumerate(kept)]
        alive = np.ones(len(vectors), bool)
    else:
        assert prev_gen is not None
        vectors = np.concatenate([np.asarray(prev_gen.vectors), appended])
        alive = np.zeros(len(vectors), bool)
        alive[list(have_rows)] = True
        alive[prev_rows:] = True
        rows = list(keep.values())
    start = len(vectors) - len(appended)
    rows += [ItemRow(start + i, d["key"], d["path"], d["size"], d["mtime"]) for i, d in enumerate(new_items)]

    np.save(tmp / "vectors.npy", vectors)
    np.save(tmp / "alive.npy", alive)
    db = sqlite3.connect(tmp / "items.sqlite")
    db.execute("CREATE TABLE items (row INTEGER PRIMARY KEY, key TEXT UNIQUE, path TEXT, size INTEGER, mtime REAL)")
    db.executemany("INSERT INTO items VALUES (?,?,?,?,?)", rows)
    db.commit()
    db.close()
    (tmp / "errors.json").write_text(json.dumps(sorted(errors.values(), key=lambda e: e["key"]), indent=1))
    _write_stats(tmp, vectors, alive)
    live = int(alive.sum())
    kind = check_kind(build_params.get("ann", DEFAULT_ANN))
    params = {"exact_limit": EXACT_LIMIT} | build_params | {"ann": kind}
    if live >= EXACT_LIMIT:
        prev_file = None if compact or prev_gen is None else prev_gen.path / ann_file(kind)
        params |= write_ann(
            kind, tmp / ann_file(kind), vectors, alive, start, prev_file if prev_file and prev_file.exists() else None
        )

    final = root / f"gen-{gen_no}"
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    now = time.time()
    manifest = Manifest(
        name=name,
        model=model.spec,
        fingerprint=model.fingerprint,
        dim=dim,
        source=source,
        count=live,
        generation=gen_no,
        rows=len(vectors),
        errors=len(errors),
        build=params,
        created=old.created if old else now,
        updated=now,
    )
    manifest.save(root / "manifest.json")
    journal.clear()
    if prev_gen is not None:
        prev_gen.close()  # our own reader lock would keep it
    remove_unread_generations(root, keep=final.name)  # searches that still read an old one keep it
    report.skipped = len(errors)
    report.errors = sorted(errors.values(), key=lambda e: e["key"])


def _write_stats(dir_: Path, vectors: np.ndarray, alive: np.ndarray) -> None:
    live = np.flatnonzero(alive)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(live, size=min(STATS_SAMPLE, len(live)), replace=False)) if len(live) else live
    sample = np.asarray(vectors[pick], dtype=np.float16)
    mean = sample.astype(np.float32).mean(0) if len(sample) else np.zeros(vectors.shape[1], np.float32)
    np.savez(dir_ / "stats.npz", mean=mean, sample=sample, sample_rows=pick)


def import_vectors(
    store: IndexStore,
    name: str,
    vectors: np.ndarray,
    keys: list[str],
    model: str,
    fingerprint: str,
    batch: int = 50_000,
    build_params: dict[str, Any] | None = None,
) -> BuildReport:
    """Create an index from precomputed vectors (benchmarks, migrations): the same journal and
    finalise steps as a build, so the result is a normal index."""

    ref = ModelRef(model, fingerprint, int(vectors.shape[1]))
    report = BuildReport(name, total=len(keys), encoded=len(keys))
    t0 = time.time()
    with store.lock(name):
        journal = Journal(store.path(name) / "journal", vector_dtype(build_params or {}))
        for i in range(0, len(keys), batch):
            journal.commit(
                [{"key": k, "path": k, "size": 0, "mtime": 0.0} for k in keys[i : i + batch]], vectors[i : i + batch]
            )
        sig = dict.fromkeys(keys, (0, 0.0))
        source = SourceRef("vectors", f"vectors:{name}")
        _finalise(store, name, ref, source, None, None, journal, sig, report, build_params or {})
    report.seconds = time.time() - t0
    return report
