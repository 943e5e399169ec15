"""Sharded indexes: one gallery split by key hash over N ordinary indexes.

Layout (the top manifest is an ordinary manifest.json, so listing, `use` and `rm` need nothing
new; its build parameters carry `shards` and `engine`):

    <indexes>/<name>/manifest.json          count / rows / errors summed over the shards
    <indexes>/<name>/shards/shard-<i>/      an ordinary index (generations, journal, lock)

An image goes to shard crc32(key) mod N, so an update re-scans the source once and each shard
diffs, resumes and finalises on its own (index.build). Search opens every shard's current
generation and numbers rows shard after shard (ShardedGeneration); search.sharded fans out.
"""

from __future__ import annotations

import shlex
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from csdclip_cli.encoders.base import Encoder
from csdclip_cli.errors import CsdError, IndexModelMismatch
from csdclip_cli.index.build import (
    BuildReport,
    Progress,
    Stream,
    build_index,
    check_compatible,
    refuse_emptying,
)
from csdclip_cli.index.store import SHARDS_DIR, IndexStore, Manifest, SourceRef, shard_name
from csdclip_cli.sources.base import Item, Source, key_bytes


def shard_of(key: str, shards: int) -> int:
    """The shard of an image key: crc32 of its bytes mod `shards` (stable across runs and
    machines, unlike Python's salted hash())."""
    return zlib.crc32(key_bytes(key)) % shards


def partition(items: Iterable[Item], shards: int) -> list[list[Item]]:
    """`items` split by shard_of, in their order within each shard."""
    parts: list[list[Item]] = [[] for _ in range(shards)]
    for it in items:
        parts[shard_of(it.key, shards)].append(it)
    return parts


def shard_store(store: IndexStore, name: str) -> IndexStore:
    """The store that holds the shards of index `name` (<index>/shards/); raises UsageError for an invalid name."""
    return IndexStore(store.path(name) / SHARDS_DIR)


def is_sharded(manifest: Manifest) -> bool:
    """Whether the manifest is a sharded index's top manifest (build parameter `shards` > 0)."""
    return int(manifest.build.get("shards", 0) or 0) > 0


class ShardSource:
    """The items of a source that fall in one shard (listed once by the caller)."""

    def __init__(self, inner: Source, items: list[Item]):
        self.inner = inner
        self.kind = inner.kind
        self.location = inner.location
        self.exclude = tuple(getattr(inner, "exclude", ()))
        self._items = items

    def items(self) -> Iterator[Item]:
        """The items given at construction, in their order."""
        yield from self._items

    def read(self, key: str) -> bytes:
        """The inner source's bytes for `key`."""
        return self.inner.read(key)


@dataclass
class ShardedReport(BuildReport):
    """A BuildReport summed over the shards, with each shard's own report."""

    shards: list[BuildReport] = field(default_factory=list)


def build_sharded(
    source: Source,
    encoder: Encoder,
    name: str,
    shards: int,
    store: IndexStore | None = None,
    engine: str = "local",
    stream: Stream | None = None,
    batch_size: int = 64,
    workers: int = 2,
    progress: Progress | None = None,
    wait: bool = False,
    build_params: dict[str, Any] | None = None,
    allow_empty: bool = False,
) -> ShardedReport:
    """Create or update sharded index `name`: `shards` ordinary indexes built one after the
    other by `stream` (default: threads here; index.ray_engine.RayEngine.stream on Ray).

    Safe to interrupt: each shard keeps its journal, and a re-run resumes them. Raises
    IndexModelMismatch for another model or shard count, CsdError for another source, and
    SourceError when the source is empty but the index is not (unless `allow_empty`)."""
    if shards < 1:
        raise CsdError(f"--shards {shards}: give at least 1")
    store = store or IndexStore()
    t0 = time.time()
    report = ShardedReport(name)
    with store.lock(name, wait=wait):
        old = store.manifest(name) if store.exists(name) else None
        if old is not None:
            _check(old, encoder, source, shards)
        current = list(source.items())
        if not current and not allow_empty:
            refuse_emptying(source, old)
        parts = partition(current, shards)
        sub = shard_store(store, name)
        params = dict(build_params or {})
        done_before = 0
        for i, items in enumerate(parts):
            # later shards count all their images until they know which ones need encoding
            def shard_progress(
                n: int, total: int, base: int = done_before, rest: int = sum(map(len, parts[i + 1 :]))
            ) -> None:
                if progress:
                    progress(base + n, base + total + rest)

            rep = build_index(
                ShardSource(source, items),
                encoder,
                shard_name(i),
                sub,
                batch_size=batch_size,
                workers=workers,
                progress=shard_progress,
                build_params=params,
                allow_empty=True,  # checked above for the whole source
                stream=stream,
            )
            done_before += rep.encoded + rep.skipped
            report.shards.append(rep)
        for field_ in ("total", "encoded", "resumed", "unchanged", "removed", "skipped"):
            setattr(report, field_, sum(getattr(r, field_) for r in report.shards))
        report.errors = [e for r in report.shards for e in r.errors]
        manifests = [sub.manifest(shard_name(i)) for i in range(shards)]
        now = time.time()
        first = manifests[0]
        Manifest(
            name=name,
            model=encoder.spec,
            fingerprint=encoder.fingerprint,
            dim=encoder.dim,
            source=SourceRef(source.kind, source.location, tuple(getattr(source, "exclude", ()))),
            count=sum(m.count for m in manifests),
            generation=(old.generation if old else 0) + 1,
            rows=sum(m.rows for m in manifests),
            errors=sum(m.errors for m in manifests),
            build=first.build | params | {"shards": shards, "engine": engine},
            created=old.created if old else now,
            updated=now,
        ).save(store.path(name) / "manifest.json")
    report.seconds = time.time() - t0
    return report


def unchanged_sharded_report(source: Source, store: IndexStore, name: str, old: Manifest) -> ShardedReport | None:
    """index.build.unchanged_report for sharded index `name`: the source listed once, each
    shard compared with its share, without the model (or Ray). None when any shard has work."""
    from csdclip_cli.index.build import unchanged_report

    t0 = time.time()
    shards = int(old.build["shards"])
    parts = partition(source.items(), shards)
    sub = shard_store(store, name)
    report = ShardedReport(name)
    for i, items in enumerate(parts):
        if not sub.exists(shard_name(i)):
            return None
        rep = unchanged_report(ShardSource(source, items), sub, shard_name(i), sub.manifest(shard_name(i)))
        if rep is None:
            return None
        report.shards.append(rep)
    for field_ in ("total", "unchanged", "skipped"):
        setattr(report, field_, sum(getattr(r, field_) for r in report.shards))
    report.errors = [e for r in report.shards for e in r.errors]
    report.seconds = time.time() - t0
    return report


def _check(old: Manifest, encoder: Encoder, source: Source, shards: int) -> None:
    if not is_sharded(old):
        raise IndexModelMismatch(
            f"index {old.name!r} is not sharded; pick another --name, or remove it with `csd index rm {shlex.quote(old.name)}`"
        )
    check_compatible(old, encoder, source)
    if int(old.build["shards"]) != shards:
        raise IndexModelMismatch(
            f"index {old.name!r} has {old.build['shards']} shards, not {shards}; keep --shards "
            f"{old.build['shards']} or build another --name"
        )
