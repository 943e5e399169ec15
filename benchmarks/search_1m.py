"""Search at scale: plain and composite latency, HNSW recall, agreement with exhaustive
composite, RSS and index build time, on N x 512 float16 vectors with low intrinsic
dimension (a 48-d latent projected to 512 plus noise; see common.realistic_vectors).

    python benchmarks/search_1m.py                 # N = 1,000,000 (build ~15 min on 2 cores)
    python benchmarks/search_1m.py --n 200000      # quicker

Latencies exclude text encoding (clause vectors are given). Exact brute force over the
memory-mapped float16 vectors is measured in the same run as the baseline.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
from common import median, pct, realistic_vectors, rss_mib, timed

from csdclip_cli.index.build import import_vectors
from csdclip_cli.index.store import IndexStore
from csdclip_cli.rewrite.plan import Plan
from csdclip_cli.search.composite import CompositeSearch, PlanVectors
from csdclip_cli.search.gallery import Gallery


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--noise", type=float, default=0.3, help="isotropic noise (see common.realistic_vectors)")
    ap.add_argument("--dir", default=None, help="index root to (re)use; default a temp dir")
    ap.add_argument("--ef", type=int, default=None, help="HNSW ef for plain search (default: csd's)")
    args = ap.parse_args()
    root = args.dir or tempfile.mkdtemp(prefix="csd-bench-")
    store = IndexStore(root)
    name = f"bench-{args.n}-noise{args.noise:g}"
    print(f"N = {args.n:,} x 512 float16, low-intrinsic-dimension vectors; index root {root}")
    if not store.exists(name):
        t = time.time()
        x = realistic_vectors(args.n, noise=args.noise)
        print(f"generated vectors in {time.time() - t:.1f}s")
        rep = import_vectors(store, name, x, [f"v{i}" for i in range(args.n)], "bench:synthetic", "bench")
        print(f"index build (vectors + HNSW M=16 efC=200 + stats): {rep.seconds:.1f}s")
        del x
    manifest, gen = store.open(name)
    g = Gallery(manifest, gen, **({"ef": args.ef} if args.ef else {}))
    print(f"search mode: {'HNSW' if g.uses_ann else 'exact'}, default ef {g.ef}; RSS after open {rss_mib():.0f} MiB")

    qs = realistic_vectors(args.queries * 6, seed=7, noise=args.noise).astype(np.float32)
    plain_q = qs[: args.queries]
    g.top(plain_q[0], 10)  # warm the graph and the memory map
    lat_plain = [timed(lambda q=q: g.top(q, 10), 1)[0] for q in plain_q]
    lat_exact = [timed(lambda q=q: g.exact_top(q, 10), 1)[0] for q in plain_q[:20]]
    recalls = []
    for q in plain_q[:100]:
        rows, _ = g.top(q, 10)
        exact, _ = g.exact_top(q, 10)
        recalls.append(len(set(rows.tolist()) & set(exact.tolist())) / 10)
    print(
        f"plain  p50 {median(lat_plain) * 1e3:7.2f} ms  p99 {pct(lat_plain, 99) * 1e3:7.2f} ms  "
        f"recall@10 vs exact {np.mean(recalls):.3f} (100 queries)"
    )
    print(f"exact  p50 {median(lat_exact) * 1e3:7.2f} ms  (brute force over the float16 memory map, 20 queries)")

    cs = CompositeSearch(g)
    lat_comp, agree = [], []
    for i in range(args.queries):
        v = qs[args.queries + 5 * i : args.queries + 5 * i + 5]
        ands, nots = v[:4], v[4:]
        phrase = ands.mean(0)
        phrase /= np.linalg.norm(phrase)
        plan = Plan(raw="q", intent="complex", and_=[f"c{j}" for j in range(4)], not_=["n"])
        pv = PlanVectors(plan, phrase, ands, nots, [], phrase)
        t = time.perf_counter()
        rows, _, _ = cs.search(pv, 10)
        lat_comp.append(time.perf_counter() - t)
        if i < 50:
            ex_rows, _, _ = cs.search(pv, 10, exhaustive=True)
            agree.append(len(set(rows.tolist()) & set(ex_rows.tolist())) / 10)
    print(
        f"csd    p50 {median(lat_comp) * 1e3:7.2f} ms  p99 {pct(lat_comp, 99) * 1e3:7.2f} ms  (4 AND + 1 NOT)  "
        f"top-10 agreement with exhaustive composite {np.mean(agree):.3f} ({len(agree)} queries)"
    )
    print(f"ratio  composite p50 / plain p50 = {median(lat_comp) / median(lat_plain):.2f}")
    print(f"RSS of the search process: {rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
