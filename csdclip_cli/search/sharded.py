"""Search over a sharded index (index.shards): every shard is searched as a Gallery of its own,
in threads here or as Ray tasks on a cluster (`address`), and the candidates are merged and
re-scored exactly from the shards' vectors, with one calibration sample for the whole gallery.

Plain search asks each shard for its top k and merges them, which is the gallery's top k
exactly whenever each shard's is; composite search takes the union of the shards' candidates
for the plan's proxy vector and scores them as one gallery."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from csdclip_cli.index.store import Manifest, ShardedGeneration
from csdclip_cli.search.gallery import Gallery


class ShardedGallery:
    """The Gallery interface (top, exact_top, candidates, scores, sample, alive) over the shards
    of `gen`; rows are global (ShardedGeneration numbering)."""

    def __init__(
        self,
        manifest: Manifest,
        gen: ShardedGeneration,
        ef: int | None = None,
        exact: bool = False,
        address: str | None = None,
    ):
        self.manifest = manifest
        self.gen = gen
        self.exact = exact
        self.parts = [Gallery(m, g, ef, exact) for m, g in gen.shards]
        self.alive = gen.alive
        self.count = int(self.alive.sum())
        self.offsets = gen.offsets
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.parts)), thread_name_prefix="shard")
        self._remote = _RayShards(gen, ef, exact, address) if address else None
        self._sample: np.ndarray | None = None

    @property
    def sample(self) -> np.ndarray:
        """The float32 calibration sample [<= 4096, d] drawn over every shard (ShardedGeneration.stats)."""
        if self._sample is None:
            self._sample = np.ascontiguousarray(self.gen.stats["sample"], dtype=np.float32)
        return self._sample

    @property
    def uses_ann(self) -> bool:
        """Some shard searches through its ANN index."""
        return any(p.uses_ann for p in self.parts)

    @property
    def ef(self) -> int:
        """The largest search effort of the shards; setting it sets every shard's."""
        return max((p.ef for p in self.parts), default=0)

    @ef.setter
    def ef(self, value: int) -> None:
        for p in self.parts:
            p.ef = value

    def _each(self, fn: Any) -> list[Any]:
        return list(self._pool.map(fn, range(len(self.parts))))

    def _merge(self, found: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.concatenate([r + self.offsets[s] for s, (r, _) in enumerate(found)]).astype(np.int64)
        scores = np.concatenate([sc for _, sc in found]).astype(np.float32)
        order = np.lexsort((rows, -scores))[:k]  # best first; ties in row order
        return rows[order], scores[order]

    def scores(self, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """Exact cosine of global `rows` against queries [nq, d]: float32 [len(rows), nq]."""
        out = np.empty((len(rows), len(queries)), np.float32)
        where = self.gen.locate(rows)
        for s, part in enumerate(self.parts):
            mask = where == s
            if mask.any():
                out[mask] = part.scores(rows[mask] - self.offsets[s], queries)
        return out

    def exact_top(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each shard's brute-force top k merged: global rows int64 [k'] and cosines float32 [k']."""
        return self._merge(self._each(lambda s: self.parts[s].exact_top(query, k)), k)

    def top(self, query: np.ndarray, k: int, expansion: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Each shard's top k (its candidates re-scored exactly), merged."""
        if self._remote is not None:
            return self._merge(self._remote.top(query, k, expansion), k)
        return self._merge(self._each(lambda s: self.parts[s].top(query, k, expansion)), k)

    def top_many(self, queries: np.ndarray, k: int, expansion: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """top for a batch [nq, d] -> rows int64 [nq, k'], scores float32 [nq, k'] (Gallery.top_many);
        each query is merged over the shards on its own."""
        found = [self.top(q, k, expansion) for q in np.asarray(queries, np.float32)]
        width = min(k, self.count)
        rows = np.full((len(found), width), -1, np.int64)
        scores = np.full((len(found), width), -np.inf, np.float32)
        for j, (r, s) in enumerate(found):
            rows[j, : len(r)], scores[j, : len(s)] = r[:width], s[:width]
        return rows, scores

    def candidates(self, queries: np.ndarray, n: int, ef: int | None = None) -> np.ndarray:
        """Union of every shard's candidates (global rows, ascending)."""
        if self._remote is not None:
            found = self._remote.candidates(queries, n, ef)
        else:
            found = self._each(lambda s: self.parts[s].candidates(queries, n, ef))
        return np.concatenate([c + self.offsets[s] for s, c in enumerate(found)]).astype(np.int64)


class _RayShards:
    """Shard searches as Ray tasks on the cluster at `address`: each task opens its shard from
    the shared index folder (kept open in the worker) and returns rows and exact scores."""

    def __init__(self, gen: ShardedGeneration, ef: int | None, exact: bool, address: str):
        from csdclip_cli.index.ray_engine import connect

        self.ray = connect(address)
        self.paths = [str(g.path) for _, g in gen.shards]
        self.meta = [(m.dim, m.build.get("ann", "hnswlib")) for m, _ in gen.shards]
        self.ef, self.exact = ef, exact
        self.task = self.ray.remote(_shard_call)

    def _run(self, what: str, *args: Any) -> list[Any]:
        refs = [
            self.task.remote(p, dim, kind, self.ef, self.exact, what, *args)
            for p, (dim, kind) in zip(self.paths, self.meta)
        ]
        return self.ray.get(refs)

    def top(self, query: np.ndarray, k: int, expansion: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return self._run("top", query, k, expansion)

    def candidates(self, queries: np.ndarray, n: int, ef: int | None) -> list[np.ndarray]:
        return self._run("candidates", queries, n, ef)


_OPEN: dict[str, Gallery] = {}


def _shard_call(path: str, dim: int, kind: str, ef: int | None, exact: bool, what: str, *args: Any) -> Any:
    """Runs in a Ray worker: one shard's top() or candidates()."""
    from pathlib import Path

    from csdclip_cli.index.store import Generation

    g = _OPEN.get(path)
    if g is None:
        gen = Generation(Path(path), dim, kind)
        g = _OPEN[path] = Gallery(None, gen, ef, exact)  # type: ignore[arg-type]
    return getattr(g, what)(*args)
