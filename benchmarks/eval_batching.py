"""Evaluation one query at a time against batched (the default), in the same process on the
demo benchmark: same rankings required, then the median seconds of each and their ratio.

    python benchmarks/eval_batching.py [--repeats 5] [--batch 256] [--methods plain,arith,deo,csd]

Batched means: every text of a batch of plans embedded in one encoder call, and plain /
arith / deo searched as one [batch, d] matrix product over the gallery (csd stays per query).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from csdclip_cli.demo import run as demo
from csdclip_cli.eval.datasets import load_dataset
from csdclip_cli.eval.runner import evaluate_model
from csdclip_cli.search.methods import METHODS
from csdclip_cli.search.searcher import Searcher


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma list (csd is searched query by query)")
    args = ap.parse_args()
    root = demo.ensure_data(Path(args.data_dir) / "demo")
    store, enc, rep = demo.build_demo_index(root, None)
    s = Searcher.open(rep.name, index_dir=store.root, encoder=enc)
    ds = load_dataset("demo", data_dir=args.data_dir)
    plans = {q.text_id: q.gold for q in ds.queries if q.gold is not None}
    methods = args.methods.split(",")

    def run(batch: int) -> tuple[float, dict]:
        t0 = time.perf_counter()
        out = evaluate_model(s, ds, ds.queries, plans, methods, batch=batch)
        return time.perf_counter() - t0, out

    run(args.batch)  # warm-up: the float32 gallery copy, BLAS threads
    times: dict[int, list[float]] = {1: [], args.batch: []}
    results = {}
    for _ in range(args.repeats):
        for b in (1, args.batch):  # interleaved, so machine noise hits both alike
            sec, results[b] = run(b)
            times[b].append(sec)
    same = results[1] == results[args.batch]
    one, many = statistics.median(times[1]), statistics.median(times[args.batch])
    n = len(ds.queries)
    print(f"demo: {n} queries x {', '.join(methods)}, gallery {s.gallery.count:,} x {s.manifest.dim}")
    print(f"rankings identical: {same}")
    print(f"one query at a time: median {one:.3f} s ({n / one:.0f} queries/s) over {args.repeats} runs")
    print(f"batches of {args.batch}:    median {many:.3f} s ({n / many:.0f} queries/s)")
    print(f"speed-up: {one / many:.2f}x")
    if not same:
        raise SystemExit("batched rankings differ from one-at-a-time rankings")


if __name__ == "__main__":
    main()
