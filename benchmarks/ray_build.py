"""What the Ray engine costs on one machine: the same demo folder indexed with demo:tiny by
fresh `csd index build` processes, in one run: local (one index), local with 3 shards, and
Ray (a local cluster started by csd, 3 shards, one encoder actor). Prints wall seconds,
images/s and the ratio to the local build, and checks that the three return the same top 10.

    python benchmarks/ray_build.py --images 600
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
CSD = [sys.executable, "-m", "csdclip_cli"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="csd-ray-"))
    env = dict(os.environ, CSD_INDEXES=str(tmp / "indexes"), CSD_DATA=str(tmp / "data"))
    subprocess.run([*CSD, "demo", "data", "--images", str(args.images), "--queries", "5"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    folder = tmp / "data" / "demo" / "imgs"
    runs = {
        "local": [],
        "local, 3 shards": ["--shards", "3"],
        "ray, 3 shards": ["--engine", "ray", "--shards", "3"],
    }
    rows = []
    for i, (label, extra) in enumerate(runs.items()):
        t = time.perf_counter()
        r = subprocess.run(
            [*CSD, "index", "build", str(folder), "-m", "demo:tiny", "-n", f"b{i}", "-b", str(args.batch_size), *extra],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        secs = time.perf_counter() - t
        if r.returncode:
            sys.exit(f"{label}: {r.stderr}")
        rows.append((label, secs))
    base = rows[0][1]
    print(
        f"{args.images} demo images, demo:tiny, batch {args.batch_size}, {os.cpu_count()} cores; wall time of the whole command"
    )
    for label, secs in rows:
        print(f"  {label:16} {secs:6.1f} s  {args.images / secs:7.1f} images/s  x{secs / base:.2f}")
    tops = []
    for i in range(len(runs)):
        r = subprocess.run([*CSD, "search", "a red car, no dog", "-i", f"b{i}", "--json", "--no-server"], env=env,
                           capture_output=True, text=True, check=True)  # fmt: skip
        tops.append([json.loads(x)["key"] for x in r.stdout.splitlines()])
    print("same top 10 in all three:", all(t == tops[0] for t in tops))


if __name__ == "__main__":
    main()
