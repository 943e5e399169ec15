"""Tune the composite fusion weights on the demo benchmark's *tune* split, then report
plain / arith / deo / csd on the held-out *test* split (never tuned on), with gold plans
and with the rule-based rewriter on the raw queries.

    python benchmarks/tune_composite.py            # grid search + report
    python benchmarks/tune_composite.py --report   # report with the current defaults only
"""

from __future__ import annotations

import argparse
import itertools
import os
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from csdclip_cli.demo import run as demo
from csdclip_cli.eval.datasets import load_dataset
from csdclip_cli.eval.metrics import query_metrics
from csdclip_cli.rewrite import RuleRewriter
from csdclip_cli.search.composite import CompositeConfig, PlanVectors
from csdclip_cli.search.methods import rank
from csdclip_cli.search.searcher import Searcher

GRID = {
    "phrase_weight": [0.0, 0.5, 1.0, 2.0, 3.0],
    "and_temperature": [0.3, 0.6, 1.0, 2.0],
    "not_weight": [0.5, 1.0, 2.0],
    "not_margin": [-0.5, 0.0, 0.5],
}


def score(searcher, ds, items, method, cfg, k=10):
    """Mean metrics over (query, plan vectors) items."""
    rows_out = []
    key_of = {it.row: it.key for it in searcher.gallery.gen.items()}
    for q, pv in items:
        rows = rank(searcher.gallery, method, pv, 100, cfg).rows
        ranking = [ds.image_id(key_of[int(r)]) for r in rows]
        rows_out.append(query_metrics(ranking, q.hr, q.mr, [k]))
    return {m: float(np.nanmean([r[m] for r in rows_out])) for m in rows_out[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", action="store_true", help="skip the grid search")
    ap.add_argument("--data-dir", default="data")
    args = ap.parse_args()
    root = demo.ensure_data(Path(args.data_dir) / "demo")
    store, enc, rep = demo.build_demo_index(root, None)
    s = Searcher.open(rep.name, index_dir=store.root, encoder=enc)
    ds = load_dataset("demo", data_dir=args.data_dir)
    rules = RuleRewriter()
    embed = {}
    for q in ds.queries:
        embed[(q.text_id, "gold")] = PlanVectors.embed(q.gold, enc)
        embed[(q.text_id, "rules")] = PlanVectors.embed(rules.rewrite(q.raw), enc)
    tune = [q for q in ds.queries if q.split == "tune"]
    test = [q for q in ds.queries if q.split == "test"]
    best = CompositeConfig()
    if not args.report:
        results = []
        keys = list(GRID)
        # both plan sources, so the defaults suit the rewriter users run as well as the annotations
        items = [(q, embed[(q.text_id, src)]) for q in tune for src in ("gold", "rules")]
        for values in itertools.product(*GRID.values()):
            cfg = replace(CompositeConfig(), **dict(zip(keys, values)))
            m = score(s, ds, items, "csd", cfg)
            results.append((m["NIPR@10"] + m["GRP@10"], values, m))
        results.sort(key=lambda r: -r[0])
        print(
            f"grid search on the tune split ({len(tune)} queries x gold and rules plans), objective NIPR@10 + GRP@10:"
        )
        for _obj, values, m in results[:5]:
            print(f"  {dict(zip(keys, values))}  NIPR@10 {m['NIPR@10']:.3f}  GRP@10 {m['GRP@10']:.3f}")
        best = replace(CompositeConfig(), **dict(zip(keys, results[0][1])))
    print(f"\nheld-out test split ({len(test)} queries; {sum(q.has_not for q in test)} with NOT), config {best}")
    print(
        f"{'plans':6} {'subset':12} {'method':6} {'n':>4} {'R@10':>6} {'GRP@10':>7} {'NIPR@10':>8} {'nDCG@10':>8} {'mAP':>6}"
    )
    for source in ("gold", "rules"):
        for subset, qs in (
            ("all", test),
            ("with NOT", [q for q in test if q.has_not]),
            ("without NOT", [q for q in test if not q.has_not]),
        ):
            for method in ("plain", "arith", "deo", "csd"):
                m = score(s, ds, [(q, embed[(q.text_id, source)]) for q in qs], method, best)
                print(
                    f"{source:6} {subset:12} {method:6} {len(qs):4d} {m['R@10']:6.3f} {m['GRP@10']:7.3f} "
                    f"{m['NIPR@10']:8.3f} {m['nDCG@10']:8.3f} {m['mAP']:6.3f}"
                )


if __name__ == "__main__":
    main()
