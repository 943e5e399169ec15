"""Cold-start wall time of `csd --help`, `csd index list` and `csd search` with the demo
model (model load included), median of 5 fresh processes each.

    python benchmarks/cold_start.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CSD = [sys.executable, "-m", "csdclip_cli"]


def wall(args: list[str], env: dict[str, str], n: int = 5) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(CSD + args, env=env, capture_output=True, check=True)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="csd-cold-"))
    env = dict(os.environ, CSD_INDEXES=str(tmp / "indexes"), CSD_DATA=str(tmp / "data"))
    subprocess.run(
        CSD + ["demo", "data", "--images", "300", "--queries", "10"], env=env, capture_output=True, check=True
    )
    subprocess.run(
        CSD + ["index", "build", str(tmp / "data" / "demo" / "imgs"), "--model", "demo:tiny", "--name", "cold"],
        env=env,
        capture_output=True,
        check=True,
    )
    for label, args in (
        ("csd --help", ["--help"]),
        ("csd index list", ["index", "list"]),
        ("csd search --plain (demo:tiny)", ["search", "a red car", "--plain", "--index", "cold"]),
        ("csd search composite (demo:tiny)", ["search", "a red car and a tree, no dog", "--index", "cold"]),
    ):
        times = wall(args, env)
        print(f"{label:36} median {statistics.median(times):6.3f} s   (min {min(times):.3f}, max {max(times):.3f})")


if __name__ == "__main__":
    main()
