"""A searchable view of one index generation: candidate generation (HNSW, or exact
brute force for small galleries) and exact scoring from the stored float16 vectors."""

from __future__ import annotations

import os

import numpy as np

from csdclip_cli.index.store import Generation, Manifest

CHUNK = 1 << 18  # rows per block when scanning the memory-mapped vectors
RESCORE_CHUNK = 1 << 14  # rows per float64 block when re-scoring
TIE_MARGIN = 1e-5  # float32 BLAS error on unit vectors is ~1e-6: rows this close to the k-th are re-scored
DENSE_LIMIT = 100_000  # galleries up to this many rows are searched from a float32 copy
THREADS = max(1, os.cpu_count() or 1)


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest `values`, best first; equal values keep index order (a stable,
    deterministic tie order: duplicate images rank in gallery order). O(n) plus a sort of the
    candidates, which include every value tied with the k-th."""
    n = len(values)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, np.int64)
    if k < n:
        kth = np.partition(values, n - k)[n - k]
        cand = np.flatnonzero(values >= kth)
    else:
        cand = np.arange(n)
    return cand[np.argsort(-values[cand], kind="stable")[:k]]


class Gallery:
    """Search over one generation. `exact=True` never uses the HNSW graph (brute force over the
    stored vectors: evaluation numbers that match a reference tool's exhaustive scoring)."""

    def __init__(self, manifest: Manifest, gen: Generation, ef: int | None = None, exact: bool = False):
        self.manifest = manifest
        self.gen = gen
        self.exact = exact
        self._ef = ef
        self.vectors = gen.vectors
        self.alive = gen.alive
        self.count = int(self.alive.sum())
        self._f32: np.ndarray | None = None
        self._sample: np.ndarray | None = None

    @property
    def dense(self) -> np.ndarray | None:
        """float32 copy of small galleries (numpy's float16 arithmetic is slow); None above DENSE_LIMIT."""
        if self._f32 is None and len(self.vectors) <= DENSE_LIMIT:
            self._f32 = np.asarray(self.vectors, dtype=np.float32)
        return self._f32

    @property
    def sample(self) -> np.ndarray:
        """float32 gallery sample used for score calibration (stored with the index)."""
        if self._sample is None:
            s = self.gen.stats.get("sample")
            if s is None or len(s) < 2:
                s = np.asarray(self.vectors[np.flatnonzero(self.alive)[:4096]])
            self._sample = np.ascontiguousarray(s, dtype=np.float32)
        return self._sample

    @property
    def uses_ann(self) -> bool:
        """Candidates come from the ANN index (not exact, and the generation has one)."""
        return not self.exact and self.gen.ann is not None

    @property
    def ef(self) -> int:
        """Search effort of the candidate index: HNSW's ef, or IVF lists probed (index.ann)."""
        if self._ef is None:
            from csdclip_cli.index.ann import default_effort

            ann = self.gen.ann
            kind = ann.kind if ann is not None else "hnswlib"
            self._ef = default_effort(kind, self.count, getattr(ann, "nlist", None))
        return self._ef

    @ef.setter
    def ef(self, value: int) -> None:
        self._ef = value

    def scores(self, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """Exact cosine of `rows` against every query [nq, d]: float32 [len(rows), nq].

        Accumulated in float64 and rounded to float32, so a value does not depend on where its
        row sits in the batch (float32 BLAS sums rows in different orders by position, which
        broke exact ties between duplicate images at random)."""
        if len(rows) == 0:
            return np.zeros((0, len(queries)), np.float32)
        q = queries.T.astype(np.float64)
        out = np.empty((len(rows), len(queries)), np.float32)
        dense = self.dense
        for i in range(0, len(rows), RESCORE_CHUNK):
            part = rows[i : i + RESCORE_CHUNK]
            if dense is not None:
                out[i : i + len(part)] = dense[part].astype(np.float64) @ q
            else:
                order = np.argsort(part)  # sorted reads go forward through the file
                x = self.gen.read_rows(part[order]).astype(np.float64)
                out[i + order] = x @ q
        return out

    def exact_top(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force top-k rows (int64 [k']) and cosines (float32 [k']) for one query vector
        [d], k' = min(k, live rows); ties in row order.

        A float32 scan keeps every row within TIE_MARGIN of the k-th score; those are re-scored
        exactly (scores()) and sorted stably, so equal vectors rank in gallery order."""
        rows, scores = self.exact_top_many(query[None], k)
        return rows[0], scores[0]

    def exact_top_many(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """exact_top for a batch: queries float32 [nq, d] -> rows int64 [nq, k'], cosines
        float32 [nq, k'], k' = min(k, live rows). One pass over the vectors for the whole batch
        (a matrix product instead of nq matrix-vector products); each query's near rows are
        re-scored on their own, so a query's result does not depend on the batch it is in."""
        k = min(k, self.count)
        nq = len(queries)
        if k <= 0 or nq == 0:
            k = max(k, 0)
            return np.zeros((nq, k), np.int64), np.zeros((nq, k), np.float32)
        keep_rows: list[list[np.ndarray]] = [[] for _ in range(nq)]
        keep_scores: list[list[np.ndarray]] = [[] for _ in range(nq)]
        q = np.ascontiguousarray(queries, dtype=np.float32)
        dense = self.dense
        src = dense if dense is not None else self.vectors
        for start in range(0, len(self.vectors), CHUNK):
            block = np.asarray(src[start : start + CHUNK], dtype=np.float32) @ q.T  # [rows, nq]
            block[~self.alive[start : start + CHUNK]] = -np.inf
            for j in range(nq):
                col = block[:, j]
                kth = col[top_k(col, k)[-1]] if len(col) else np.inf
                near = np.flatnonzero(col >= kth - TIE_MARGIN)
                keep_rows[j].append(near + start)
                keep_scores[j].append(col[near])
        out_rows = np.empty((nq, k), np.int64)
        out_scores = np.empty((nq, k), np.float32)
        for j in range(nq):
            rows, approx = np.concatenate(keep_rows[j]), np.concatenate(keep_scores[j])
            kth = approx[top_k(approx, k)[-1]]
            rows = rows[approx >= kth - TIE_MARGIN]  # ascending row order
            exact = self.scores(rows, q[j : j + 1])[:, 0]
            best = top_k(exact, k)
            out_rows[j], out_scores[j] = rows[best], exact[best]
        return out_rows, out_scores

    def candidates(self, queries: np.ndarray, n: int, ef: int | None = None) -> np.ndarray:
        """Union of the approximate top-n rows of each query (all rows when exact)."""
        if not self.uses_ann:
            return np.flatnonzero(self.alive)
        n = min(n, self.count)
        labels = self.gen.ann.search(queries, n, ef or self.ef).ravel()
        return np.unique(labels[labels >= 0]).astype(np.int64)

    def top(self, query: np.ndarray, k: int, expansion: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows (int64 [k']) and cosines (float32 [k']) for one vector [d]: the candidate
        index's top k * expansion (at least 100) re-scored exactly, or exact search."""
        rows, scores = self.top_many(query[None], k, expansion)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]

    def top_many(self, queries: np.ndarray, k: int, expansion: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """top for a batch: queries float32 [nq, d] -> rows int64 [nq, k'] and cosines float32
        [nq, k'], best first, k' = min(k, live rows). With a candidate index, one batched ANN
        call, and each query's candidates re-scored on their own; a query that got fewer than
        k' candidates is padded with row -1 and score -inf."""
        if not self.uses_ann:
            return self.exact_top_many(queries, k)
        q = np.ascontiguousarray(queries, dtype=np.float32)
        n = min(max(k * expansion, 100), self.count)
        labels = self.gen.ann.search(q, n, self.ef)
        width = min(k, self.count)
        out_rows = np.full((len(q), width), -1, np.int64)
        out_scores = np.full((len(q), width), -np.inf, np.float32)
        for j in range(len(q)):
            rows = np.unique(labels[j][labels[j] >= 0]).astype(np.int64)
            s = self.scores(rows, q[j : j + 1])[:, 0]
            order = np.argsort(-s, kind="stable")[:width]
            out_rows[j, : len(order)], out_scores[j, : len(order)] = rows[order], s[order]
        return out_rows, out_scores
