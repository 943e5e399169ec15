"""Candidate indexes (approximate nearest neighbours) of a generation, one file each; search
re-scores their candidates exactly from the memory-mapped vectors, so an ANN structure only
has to find the right rows, not score them.

    hnswlib        hnsw.bin   graph over a float32 copy (d x 4 bytes a vector in RAM), M=16
    faiss-ivf-sq8  ivf.faiss  inverted lists over 8-bit scalar-quantised codes (d bytes a vector)
    faiss-ivf-sq4  ivf.faiss  the same over 4-bit codes (d / 2 bytes a vector: 10^7 x 768 in 3.8 GB)
    faiss-ivf-pq   ivf.faiss  inverted lists over product-quantised codes (d / 8 bytes a vector)

benchmarks/search_scale.py measures them side by side with text-like (shifted) queries; see
docs/scale.md for the figures and the choice.

Labels are gallery rows; deleted rows are tombstoned (hnswlib) or removed (faiss). The kind is
recorded in the manifest (build parameter `ann`); indexes from before carry hnswlib.
"""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from csdclip_cli.errors import UsageError

ANN_KINDS = ("hnswlib", "faiss-ivf-sq8", "faiss-ivf-sq4", "faiss-ivf-pq")
DEFAULT_ANN = "hnswlib"
FILES = {"hnswlib": "hnsw.bin", "faiss-ivf-sq8": "ivf.faiss", "faiss-ivf-sq4": "ivf.faiss", "faiss-ivf-pq": "ivf.faiss"}
FAISS_MISSING = "the faiss candidate indexes need faiss: pip install 'csdclip-cli[faiss]' (faiss-cpu)"
SQ_TYPES = {"faiss-ivf-sq8": "QT_8bit", "faiss-ivf-sq4": "QT_4bit"}
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
TRAIN_SAMPLE = 100_000  # vectors k-means sees when training the inverted lists
BATCH = 50_000


class Ann(Protocol):
    """A generation's candidate index (HNSW via hnswlib, or a faiss IVF index): finds candidate rows that search
    then re-scores exactly."""

    kind: str

    def search(self, queries: np.ndarray, n: int, effort: int) -> np.ndarray:
        """Candidate rows [nq, n] (int64; -1 where fewer were found) for float32 queries [nq, d].
        `effort` is HNSW's ef, or the number of inverted lists probed."""
        ...


def check_kind(kind: str, installed: bool = False) -> str:
    """`kind` itself when it is one of ANN_KINDS; raises UsageError otherwise, and with
    `installed` the CsdError of _faiss() when a faiss kind is asked for without faiss (an index
    of fewer than store.EXACT_LIMIT rows built fine, then every update past them failed)."""
    if kind not in ANN_KINDS:
        raise UsageError(f"--ann {kind!r}: choose one of {', '.join(ANN_KINDS)}")
    if installed and kind.startswith("faiss") and importlib.util.find_spec("faiss") is None:
        from csdclip_cli.errors import CsdError

        raise CsdError(FAISS_MISSING)
    return kind


def ann_file(kind: str) -> str:
    """The file name of a kind's candidate index in a generation folder (hnsw.bin or ivf.faiss); raises UsageError
    for an unknown kind."""
    return FILES[check_kind(kind)]


def nlist_for(n: int) -> int:
    """Inverted lists: 4 * sqrt(N), a power of two in [64, 65536] (4,096 at 1M)."""
    return int(min(65536, max(64, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))))


def default_effort(kind: str, n_live: int, nlist: int | None = None) -> int:
    """HNSW ef = 2.5 sqrt(N) in [256, 4096]; IVF probes half the lists up to 2,048 lists
    (N ~ 260k), 5/16 above, at least 16.

    Text queries sit away from the image cone (the modality gap), so their neighbours spread
    over many lists: at 1M x 512 with shifted queries, recall@10 over 200 queries is 0.66 at
    1/32 of the lists, 0.91 at 1/8, 0.978 at 1/4 and 0.990 at 5/16 (benchmarks/search_scale.py)."""
    if kind == "hnswlib":
        return int(min(4096, max(256, 2.5 * n_live**0.5)))
    nlist = nlist or nlist_for(n_live)
    # small galleries have fewer rows a list, so a query's neighbours span more of them
    # (100k: 0.994 at half of 1,024 lists, < 0.98 at a quarter)
    return max(16, nlist // 2 if nlist <= 2048 else nlist * 5 // 16)


class _Hnsw:
    kind = "hnswlib"

    def __init__(self, index: Any):
        self.index = index

    def search(self, queries: np.ndarray, n: int, effort: int) -> np.ndarray:
        self.index.set_ef(max(effort, n))
        threads = max(1, min(len(queries), os.cpu_count() or 1))
        labels, _ = self.index.knn_query(np.ascontiguousarray(queries, dtype=np.float32), k=n, num_threads=threads)
        return labels.astype(np.int64)


class _Faiss:
    def __init__(self, kind: str, index: Any):
        self.kind, self.index = kind, index
        self.nlist = int(index.nlist)

    def search(self, queries: np.ndarray, n: int, effort: int) -> np.ndarray:
        self.index.nprobe = int(min(self.nlist, max(1, effort)))
        # faiss splits a batch by query; one query (a CLI search) would use one core, so split
        # its probed lists across the threads instead (6.4 ms instead of 10.8 at 1M, 2 cores)
        self.index.parallel_mode = 1 if len(queries) < (os.cpu_count() or 1) else 0
        _, labels = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), n)
        return labels.astype(np.int64)


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        from csdclip_cli.errors import CsdError

        raise CsdError(FAISS_MISSING) from None
    faiss.omp_set_num_threads(max(1, os.cpu_count() or 1))
    return faiss


def load_ann(kind: str, gen_path: Path, dim: int, rows: int) -> Ann | None:
    """The candidate index of a generation, or None when it has none (exact search)."""
    path = gen_path / ann_file(kind)
    if not path.exists():
        return None
    if kind == "hnswlib":
        import hnswlib

        idx = hnswlib.Index(space="ip", dim=dim)
        idx.load_index(str(path), max_elements=rows)
        return _Hnsw(idx)
    return _Faiss(kind, _faiss().read_index(str(path)))


def write_ann(
    kind: str, path: Path, vectors: np.ndarray, alive: np.ndarray, start: int, prev: Path | None
) -> dict[str, Any]:
    """Write the candidate index of `vectors` [rows, d] (live rows only) to `path`.

    With `prev` (the previous generation's file, same kind), rows before `start` come from it:
    deleted ones are tombstoned or removed and rows from `start` on are added, so an update
    does not rebuild (nor retrain) the structure. Returns parameters for the manifest."""
    if kind == "hnswlib":
        return _write_hnsw(path, vectors, alive, start, prev)
    return _write_faiss(kind, path, vectors, alive, start, prev)


def _write_hnsw(path: Path, vectors: np.ndarray, alive: np.ndarray, start: int, prev: Path | None) -> dict[str, Any]:
    import hnswlib

    n, dim = vectors.shape
    idx = hnswlib.Index(space="ip", dim=dim)
    if prev is not None:
        idx.load_index(str(prev), max_elements=n)
        for r in np.flatnonzero(~alive[:start]):
            try:
                idx.mark_deleted(int(r))
            except RuntimeError:
                pass  # already deleted in an earlier generation
        todo = np.arange(start, n)
    else:
        idx.init_index(max_elements=max(n, 1), ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M)
        todo = np.flatnonzero(alive)
    idx.set_num_threads(max(1, os.cpu_count() or 1))
    for i in range(0, len(todo), BATCH):
        chunk = todo[i : i + BATCH]
        idx.add_items(np.asarray(vectors[chunk], dtype=np.float32), chunk)
    idx.save_index(str(path))
    return {"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION}


def _write_faiss(
    kind: str, path: Path, vectors: np.ndarray, alive: np.ndarray, start: int, prev: Path | None
) -> dict[str, Any]:
    faiss = _faiss()
    n, dim = vectors.shape
    if prev is not None:
        index = faiss.read_index(str(prev))
        dead = np.flatnonzero(~alive[:start]).astype(np.int64)
        if len(dead):
            index.remove_ids(faiss.IDSelectorArray(len(dead), faiss.swig_ptr(dead)))
        todo = np.arange(start, n)
    else:
        live = np.flatnonzero(alive)
        nlist = nlist_for(len(live))
        quantizer = faiss.IndexFlatIP(dim)
        if kind in SQ_TYPES:
            qtype = getattr(faiss.ScalarQuantizer, SQ_TYPES[kind])
            index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, qtype, faiss.METRIC_INNER_PRODUCT)
        else:
            # sub-quantizers of 8 dimensions where the width allows; a narrow model (dim < 8) gets one
            m = next(x for x in (dim // 8, dim // 4, dim // 2, dim) if x and dim % x == 0)
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        train = np.sort(rng.choice(live, size=min(len(live), max(TRAIN_SAMPLE, 40 * nlist)), replace=False))
        index.train(np.asarray(vectors[train], dtype=np.float32))
        todo = live
    for i in range(0, len(todo), BATCH):
        chunk = todo[i : i + BATCH]
        index.add_with_ids(np.asarray(vectors[chunk], dtype=np.float32), chunk.astype(np.int64))
    faiss.write_index(index, str(path))
    return {"nlist": int(index.nlist)}
