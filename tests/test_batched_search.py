"""Batched search ([nq, d] in, [nq, k] out) gives each query exactly what it gets alone: on
exact galleries with duplicate rows (ties), through an HNSW candidate index, for every method,
and for a whole evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csdclip_cli.index import build as build_mod
from csdclip_cli.index.build import import_vectors
from csdclip_cli.index.store import IndexStore
from csdclip_cli.rewrite.plan import Plan
from csdclip_cli.search import gallery as G
from csdclip_cli.search.composite import PlanVectors
from csdclip_cli.search.gallery import Gallery
from csdclip_cli.search.methods import METHODS, rank, rank_many


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class MemoryGeneration:
    def __init__(self, vectors: np.ndarray):
        self.vectors = vectors.astype(np.float16)
        self.alive = np.ones(len(vectors), bool)
        self.alive[::17] = False  # deleted rows are never returned
        self.ann = None
        self.stats = {"sample": self.vectors}

    def rows_for(self, rows: list[int]) -> dict[int, tuple[str, str]]:
        return {r: (f"img{r}", f"/x/img{r}.png") for r in rows}


@pytest.fixture
def exact_gallery() -> Gallery:
    rng = np.random.default_rng(3)
    base = _unit(rng.standard_normal((600, 16)))
    return Gallery(None, MemoryGeneration(np.concatenate([base, base])))  # type: ignore[arg-type]


def _reference(gal: Gallery, q: np.ndarray, k: int) -> np.ndarray:
    """Exact float64 cosines rounded to float32, live rows only, ties in row order."""
    s = (np.asarray(gal.vectors, np.float64) @ q.astype(np.float64)).astype(np.float32)
    s[~gal.alive] = -np.inf
    return np.argsort(-s, kind="stable")[:k]


@pytest.mark.parametrize("chunk", [1 << 18, 100])
def test_exact_batch_equals_each_query_alone_and_the_reference(
    exact_gallery: Gallery, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(G, "CHUNK", chunk)  # several blocks of the scan, too
    rng = np.random.default_rng(4)
    queries = _unit(np.concatenate([np.asarray(exact_gallery.vectors[:20], np.float32), rng.standard_normal((20, 16))]))
    rows, scores = exact_gallery.exact_top_many(queries, 25)
    assert rows.shape == scores.shape == (40, 25)
    for j, q in enumerate(queries):
        one_rows, one_scores = exact_gallery.exact_top(q, 25)
        assert (rows[j] == one_rows).all() and (scores[j] == one_scores).all()
        assert (rows[j] == _reference(exact_gallery, q, 25)).all()
        assert exact_gallery.alive[rows[j]].all()


def test_k_beyond_the_gallery_and_an_empty_batch(exact_gallery: Gallery) -> None:
    live = exact_gallery.count
    rows, scores = exact_gallery.top_many(_unit(np.ones((2, 16))), live + 50)
    assert rows.shape == (2, live) and np.isfinite(scores).all()
    assert len(set(rows[0].tolist())) == live
    empty_rows, empty_scores = exact_gallery.top_many(np.zeros((0, 16), np.float32), 5)
    assert empty_rows.shape == (0, 5) and empty_scores.shape == (0, 5)


@pytest.mark.slow
def test_hnsw_batch_equals_each_query_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_mod, "EXACT_LIMIT", 100)  # 3,000 rows get an HNSW graph
    rng = np.random.default_rng(5)
    vectors = _unit(rng.standard_normal((3000, 32)))
    store = IndexStore(tmp_path / "idx")
    import_vectors(store, "v", vectors, [f"k{i}" for i in range(3000)], "fake:v", "fake:v")
    m, gen = store.open("v")
    gal = Gallery(m, gen)
    assert gal.uses_ann  # the candidate index is really in use
    queries = _unit(vectors[:30] + 0.3 * rng.standard_normal((30, 32)))
    rows, scores = gal.top_many(queries, 10)
    assert rows.shape == (30, 10)
    for j, q in enumerate(queries):
        one_rows, one_scores = gal.top(q, 10)
        assert (rows[j] == one_rows).all() and (scores[j] == one_scores).all()
    gen.close()


def _plan_vectors(rng: np.random.Generator, n: int) -> list[PlanVectors]:
    out = []
    for i in range(n):
        plan = Plan(raw=f"q{i}", intent="complex", optimized=f"q{i}", and_=["a", "b"], not_=["c"] if i % 2 else [])
        out.append(
            PlanVectors(
                plan,
                _unit(rng.standard_normal(16)),
                _unit(rng.standard_normal((2, 16))),
                _unit(rng.standard_normal((len(plan.not_), 16))) if plan.not_ else np.zeros((0, 16), np.float32),
                [],
                _unit(rng.standard_normal(16)),
            )
        )
    return out


@pytest.mark.parametrize("method", METHODS)
def test_rank_many_equals_rank(exact_gallery: Gallery, method: str) -> None:
    pvs = _plan_vectors(np.random.default_rng(6), 12)
    many = rank_many(exact_gallery, method, pvs, 15)
    assert len(many) == len(pvs)
    for pv, got in zip(pvs, many):
        want = rank(exact_gallery, method, pv, 15)
        assert (got.rows == want.rows).all() and np.allclose(got.scores, want.scores, rtol=0, atol=0)


def test_evaluation_batched_equals_one_query_at_a_time(tmp_path: Path) -> None:
    from csdclip_cli.demo import benchmark
    from csdclip_cli.eval.datasets import load_dataset
    from csdclip_cli.eval.runner import evaluate_model
    from csdclip_cli.sources import open_source

    root = tmp_path / "data" / "demo"
    benchmark.write_benchmark(root, n_gallery=300, n_queries=40)
    from csdclip_cli.encoders import load_encoder
    from csdclip_cli.index.build import build_index
    from csdclip_cli.search.searcher import Searcher

    enc = load_encoder("demo:tiny")
    store = IndexStore(tmp_path / "idx")
    build_index(open_source(root / "imgs"), enc, "d", store)
    s = Searcher.open("d", index_dir=store.root, encoder=enc)
    ds = load_dataset("demo", data_dir=tmp_path / "data")
    plans = {q.text_id: q.gold for q in ds.queries if q.gold is not None}
    one = evaluate_model(s, ds, ds.queries, plans, METHODS, batch=1)
    many = evaluate_model(s, ds, ds.queries, plans, METHODS, batch=16)
    assert one == many
    assert all(len(r) == 100 for r in one["plain"].values())  # DEPTH rows for every query


class ShortAnn:
    """A candidate index that finds only `found` rows per query and pads with -1, as faiss IVF
    does when the probed lists hold fewer than n vectors."""

    kind = "fake"

    def __init__(self, found: int):
        self.found = found

    def search(self, queries: np.ndarray, n: int, effort: int) -> np.ndarray:
        out = np.full((len(queries), n), -1, np.int64)
        out[:, : self.found] = np.arange(self.found)
        return out


def test_a_query_short_of_candidates_is_padded_and_the_padding_never_ranks() -> None:
    gen = MemoryGeneration(_unit(np.random.default_rng(7).standard_normal((300, 16))))
    gen.alive[:] = True
    gen.ann = ShortAnn(found=4)
    gal = Gallery(None, gen, ef=16)  # type: ignore[arg-type]
    assert gal.uses_ann
    queries = _unit(np.random.default_rng(8).standard_normal((3, 16)))
    rows, scores = gal.top_many(queries, 10)
    assert rows.shape == (3, 10)
    assert (rows[:, :4] >= 0).all() and (rows[:, 4:] == -1).all() and np.isneginf(scores[:, 4:]).all()
    one_rows, _ = gal.top(queries[0], 10)
    assert len(one_rows) == 4 and set(one_rows.tolist()) == {0, 1, 2, 3}
    for method in ("plain", "arith", "deo"):
        for r in rank_many(gal, method, _plan_vectors(np.random.default_rng(9), 3), 10):
            assert len(r.rows) == 4 and (r.rows >= 0).all() and np.isfinite(r.scores).all()
