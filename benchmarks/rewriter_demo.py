"""Is one rewriter's composite search better than another's on the demo benchmark, or is the
difference noise? `csd eval demo --rewriter X` for rules, llm (the shipped adapter, or --llm /
--adapter) and the gold plans, then per-query NIPR@10 of `--method csd`, each rewriter's mean,
and its paired difference from the rules with a bootstrap 95% interval (queries resampled;
5000 resamples, seed 0), on all queries and on the test split.

    python benchmarks/rewriter_demo.py                 # rules, llm, gold
    python benchmarks/rewriter_demo.py --show 10       # and the 10 queries the llm changes most

The gold plans are the benchmark's own annotation: when they do not beat the rules either,
the benchmark cannot tell rewriters apart at this size.
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from csdclip_cli.demo import run as demo
from csdclip_cli.eval.datasets import load_dataset
from csdclip_cli.eval.metrics import query_metrics
from csdclip_cli.eval.runner import run_evaluation

MODEL = "demo:tiny"
RESAMPLES = 5000


def per_query(rewriter: str, ds, llm: Path | None, adapter: Path | None) -> tuple[dict[str, float], dict]:
    """NIPR@10 of the csd method by text_id, and the plans used."""
    llm_side = rewriter in ("llm", "llm-base")  # the others take neither file
    run = run_evaluation(
        ds,
        [MODEL],
        ["csd"],
        (10,),
        rewriter,
        llm=llm if llm_side else None,
        adapter=adapter if rewriter == "llm" else None,
    )
    ranks = run.rankings[(run.models[0], "csd")]
    return {q.text_id: query_metrics(ranks[q.text_id], q.hr, q.mr, [10])["NIPR@10"] for q in ds.queries}, run.plans


def interval(diffs: list[float]) -> tuple[float, float]:
    """Bootstrap 95% interval of the mean of `diffs` (queries resampled with replacement)."""
    rng = random.Random(0)
    means = sorted(sum(rng.choice(diffs) for _ in diffs) / len(diffs) for _ in range(RESAMPLES))
    return means[int(0.025 * RESAMPLES)], means[int(0.975 * RESAMPLES) - 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--rewriters", default="rules,llm,gold", help="the first is the baseline")
    ap.add_argument("--llm", type=Path, default=None)
    ap.add_argument("--adapter", type=Path, default=None)
    ap.add_argument("--show", type=int, default=0, help="print the N queries whose NIPR@10 moves most")
    args = ap.parse_args()
    demo.ensure_data(Path(args.data_dir) / "demo")
    ds = load_dataset("demo", data_dir=args.data_dir)
    names = args.rewriters.split(",")
    scores, plans = {}, {}
    for name in names:
        scores[name], plans[name] = per_query(name, ds, args.llm, args.adapter)
    base = names[0]
    test = [q.text_id for q in ds.queries if q.split == "test"]
    print(f"demo benchmark, {MODEL}, method csd, NIPR@10; paired differences from {base!r} (bootstrap 95%)")
    for subset, ids in (("all", [q.text_id for q in ds.queries]), ("test split", test)):
        print(f"\n{subset} ({len(ids)} queries)")
        print(
            f"  {'rewriter':10} {'NIPR@10':>9} {'diff':>9} {'95% interval':>22} {'differ':>7} {'better':>7} {'worse':>6}"
        )
        for name in names:
            mean = sum(scores[name][t] for t in ids) / len(ids)
            diffs = [scores[name][t] - scores[base][t] for t in ids]
            lo, hi = interval(diffs)
            better, worse = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
            print(
                f"  {name:10} {mean:9.5f} {sum(diffs) / len(ids):+9.5f} [{lo:+9.5f}, {hi:+9.5f}] "
                f"{better + worse:7d} {better:7d} {worse:6d}"
            )
    if args.show and len(names) > 1:
        other = names[1]
        moved = sorted(ds.queries, key=lambda q: -abs(scores[other][q.text_id] - scores[base][q.text_id]))
        print(f"\nqueries where {other!r} and {base!r} differ most:")
        for q in moved[: args.show]:
            d = scores[other][q.text_id] - scores[base][q.text_id]
            if d == 0:
                break
            a, b = plans[base][q.text_id], plans[other][q.text_id]
            print(
                f"  {d:+.3f} {q.raw}\n     {base}: AND {a.and_} NOT {a.not_}\n     {other}: AND {b.and_} NOT {b.not_}"
            )


if __name__ == "__main__":
    main()
