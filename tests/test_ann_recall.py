"""The candidate indexes against exact search on a gallery big enough for them to be
approximate (10k clustered vectors; 80 images, as elsewhere, are searched almost exactly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csdclip_cli.index.ann import default_effort, load_ann, nlist_for, write_ann

N, DIM, K = 10_000, 64, 10


def _gallery(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors in 100 clusters, and 100 queries shifted off the gallery's cone (text
    embeddings sit apart from image ones: the modality gap)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, DIM))
    x = centres[rng.integers(0, 100, N)] + 0.6 * rng.standard_normal((N, DIM))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[rng.choice(N, 100, replace=False)] + 0.5 * rng.standard_normal((100, DIM)) + 0.3 * rng.standard_normal(DIM)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x.astype(np.float32), q.astype(np.float32)


def _exact(x: np.ndarray, q: np.ndarray, alive: np.ndarray) -> np.ndarray:
    s = q @ x.T
    s[:, ~alive] = -np.inf
    return np.argsort(-s, axis=1)[:, :K]


def _recall(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.mean([len(set(g) & set(w)) / K for g, w in zip(got, want)]))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hnswlib", "faiss-ivf-sq8"])
def test_default_effort_recall_at_10_against_exact(kind: str, tmp_path: Path) -> None:
    x, q = _gallery()
    alive = np.ones(N, dtype=bool)
    params = write_ann(kind, tmp_path / _file(kind), x, alive, 0, None)
    ann = load_ann(kind, tmp_path, DIM, N)
    assert ann is not None and params
    effort = default_effort(kind, N, nlist_for(N))
    recall = _recall(ann.search(q, K, effort), _exact(x, q, alive))
    assert recall >= 0.95, recall
    # at the least effort the structure is really approximate: the test can tell the two apart
    assert _recall(ann.search(q, K, 1), _exact(x, q, alive)) < recall


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hnswlib", "faiss-ivf-sq8"])
def test_an_update_never_returns_deleted_rows_and_finds_new_ones(kind: str, tmp_path: Path) -> None:
    x, q = _gallery(1)
    first, second = tmp_path / "g1", tmp_path / "g2"
    first.mkdir()
    second.mkdir()
    alive = np.ones(N, dtype=bool)
    alive[N - 500 :] = False  # rows added by the update
    write_ann(kind, first / _file(kind), x, alive, 0, None)
    alive[N - 500 :] = True
    alive[:300] = False  # deleted by the update
    write_ann(kind, second / _file(kind), x, alive, N - 500, first / _file(kind))
    ann = load_ann(kind, second, DIM, N)
    assert ann is not None
    got = ann.search(q, K, default_effort(kind, int(alive.sum()), nlist_for(N)))
    assert not np.isin(got, np.arange(300)).any()
    assert _recall(got, _exact(x, q, alive)) >= 0.95
    new_rows = x[N - 500 : N - 490]  # a new row is its own nearest neighbour
    assert (ann.search(new_rows, 1, default_effort(kind, N, nlist_for(N)))[:, 0] == np.arange(N - 500, N - 490)).all()


def _file(kind: str) -> str:
    from csdclip_cli.index.ann import ann_file

    return ann_file(kind)
