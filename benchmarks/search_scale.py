"""Candidate indexes side by side at scale, with text-like queries: every structure of
csdclip_cli.index.ann built over the same N x 512 float16 gallery, then searched in a fresh
process each (honest RSS) with queries from a shifted distribution, as CLIP text queries are
(a fixed "modality gap" direction plus the semantic part: query-to-gallery cosines ~0.2-0.35,
not the ~0.9 of gallery-drawn queries).

Per structure: build seconds, RSS after open and after the queries, recall@10 of plain search
against exact brute force, p50 / p99 of plain and of composite search (4 AND + 1 NOT), at the
default search effort csd uses (HNSW ef / IVF lists probed; recall over every query); "least" is
the smallest effort on a ladder reaching recall@10 >= 0.98 on the first 100 queries, for reference.

    python benchmarks/search_scale.py --n 100000
    python benchmarks/search_scale.py --n 1000000 --kinds hnswlib,faiss-ivf-sq8,faiss-ivf-sq4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from csdclip_cli.config import prepare_environment

prepare_environment()  # the thread settings `csd` itself runs with, before numpy loads

import numpy as np  # noqa: E402
from common import realistic_vectors  # noqa: E402

DIM, LATENT = 512, 48
LADDER = {"hnswlib": [256, 512, 1024, 2048, 4096], "ivf": [64, 128, 256, 512, 1024, 1280, 2048]}


def text_queries(proj: np.ndarray, n: int, seed: int = 11) -> np.ndarray:
    """Semantic part (a fresh latent through the same projection) at weight 0.3, a fixed gap
    direction at 0.95, isotropic noise: cosines to their nearest gallery images ~0.3."""
    rng = np.random.default_rng(seed)
    gap = rng.standard_normal(DIM).astype(np.float32)
    gap /= np.linalg.norm(gap)
    sem = rng.standard_normal((n, LATENT)).astype(np.float32) @ proj
    sem /= np.linalg.norm(sem, axis=1, keepdims=True)
    q = 0.3 * sem + 0.95 * gap + 0.05 * rng.standard_normal((n, DIM)).astype(np.float32)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def exact_top10(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    best = np.full((len(q), 10), -1, np.int64)
    best_s = np.full((len(q), 10), -np.inf, np.float32)
    for i in range(0, len(x), 200_000):
        s = q @ np.asarray(x[i : i + 200_000], dtype=np.float32).T
        part = np.argpartition(-s, 10, axis=1)[:, :10]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, part, 1)], 1)
        cand = np.concatenate([best, part + i], 1)
        keep = np.argsort(-cand_s, axis=1)[:, :10]
        best, best_s = np.take_along_axis(cand, keep, 1), np.take_along_axis(cand_s, keep, 1)
    return best


def child(root: str, name: str, qfile: str, truth: str, n_queries: int) -> None:
    """Runs in a fresh process: open, search, print one JSON line."""
    from common import pct, rss_mib

    from csdclip_cli.index.store import IndexStore
    from csdclip_cli.rewrite.plan import Plan
    from csdclip_cli.search.composite import CompositeSearch, PlanVectors
    from csdclip_cli.search.gallery import Gallery

    q = np.load(qfile)
    gold = np.load(truth)
    manifest, gen = IndexStore(root).open(name)
    g = Gallery(manifest, gen)
    kind = gen.ann.kind
    out = {"kind": kind, "rss_open_mib": round(rss_mib()), "default_effort": g.ef}
    g.top(q[0], 10)  # touch the structure

    def recall(rows: range) -> float:
        return float(np.mean([len(set(g.top(q[i], 10)[0].tolist()) & set(gold[i].tolist())) / 10 for i in rows]))

    default = g.ef
    ladder = LADDER["hnswlib" if kind == "hnswlib" else "ivf"]
    smallest = ladder[-1]
    for effort in ladder:  # the least effort reaching 0.98 on the first 100 queries, for reference
        g.ef = effort
        if recall(range(100)) >= 0.98:
            smallest = effort
            break
    g.ef = default  # what csd uses: recall over every query, and the latencies below
    out |= {"smallest_effort": smallest, "recall@10": round(recall(range(len(q))), 3)}
    plain = []
    for i in range(n_queries):
        t = time.perf_counter()
        g.top(q[i], 10)
        plain.append(time.perf_counter() - t)
    cs = CompositeSearch(g)
    comp = []
    rng = np.random.default_rng(3)
    for _ in range(n_queries):
        v = q[rng.choice(len(q), 5, replace=False)]
        plan = Plan(raw="q", intent="complex", and_=[f"c{j}" for j in range(4)], not_=["n"])
        phrase = v[:4].mean(0)
        phrase /= np.linalg.norm(phrase)
        pv = PlanVectors(plan, phrase, v[:4], v[4:], [], phrase)
        t = time.perf_counter()
        cs.search(pv, 10)
        comp.append(time.perf_counter() - t)
    out |= {
        "plain_p50_ms": round(1000 * float(np.median(plain)), 2),
        "plain_p99_ms": round(1000 * pct(plain, 99), 2),
        "csd_p50_ms": round(1000 * float(np.median(comp)), 2),
        "csd_p99_ms": round(1000 * pct(comp, 99), 2),
        "rss_after_mib": round(rss_mib()),
    }
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--kinds", default="hnswlib,faiss-ivf-sq8,faiss-ivf-sq4,faiss-ivf-pq")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child[:4], int(args.child[4]))
        return
    from csdclip_cli.index.build import import_vectors
    from csdclip_cli.index.store import IndexStore

    root = Path(args.dir or tempfile.mkdtemp(prefix="csd-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    store = IndexStore(root)
    t = time.time()
    x, proj = realistic_vectors(args.n, DIM, LATENT, with_projection=True)
    q = text_queries(proj, args.queries)
    cos = (q[:50] @ np.asarray(x[:20000], dtype=np.float32).T).max(1)
    print(
        f"N = {args.n:,} x {DIM} float16; {args.queries} text-like queries (best cosine in the first 20k: "
        f"{np.percentile(cos, 10):.2f}-{np.percentile(cos, 90):.2f}); generated in {time.time() - t:.0f} s"
    )
    gold = exact_top10(x, q)
    np.save(root / "q.npy", q)
    np.save(root / "gold.npy", gold)
    keys = [f"v{i}" for i in range(args.n)]
    rows = []
    for kind in args.kinds.split(","):
        name = f"scale-{kind}"
        if not store.exists(name):
            rep = import_vectors(store, name, x, keys, "bench:synthetic", "bench", build_params={"ann": kind})
            build_s = rep.seconds
        else:
            build_s = float("nan")
        r = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(root),
                name,
                str(root / "q.npy"),
                str(root / "gold.npy"),
                str(args.queries),
            ],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        )
        row = json.loads(r.stdout.strip().splitlines()[-1]) | {"build_s": round(build_s, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(
        f"{'structure':15} {'build s':>8} {'default':>7} {'RSS open':>9} {'RSS after':>9} {'least':>6} {'recall@10':>9} "
        f"{'plain p50':>9} {'p99':>7} {'csd p50':>8} {'p99':>7} {'csd/plain':>9}"
    )
    for r in rows:
        print(
            f"{r['kind']:15} {r['build_s']:8.0f} {r['default_effort']:7d} {r['rss_open_mib']:8d}M {r['rss_after_mib']:8d}M {r['smallest_effort']:6d} "
            f"{r['recall@10']:9.3f} {r['plain_p50_ms']:7.2f}ms {r['plain_p99_ms']:5.1f}ms {r['csd_p50_ms']:6.2f}ms "
            f"{r['csd_p99_ms']:5.1f}ms {r['csd_p50_ms'] / r['plain_p50_ms']:9.2f}"
        )


if __name__ == "__main__":
    main()
