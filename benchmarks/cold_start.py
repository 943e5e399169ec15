"""Cold-start wall time and peak RSS of fresh `csd` processes on a 300-image demo index,
median of 5 each, next to `python -c "import torch"` measured in the same run (the
reference: a search path that imports torch cannot be faster than that).

    python benchmarks/cold_start.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from common import demo_index

CSD = [sys.executable, "-m", "csdclip_cli"]
TIME = "/usr/bin/time"  # GNU time: peak RSS of the child alone (%M, KiB)


def run(cmd: list[str], env: dict[str, str], n: int = 5) -> tuple[list[float], list[float]]:
    walls, rss = [], []
    for _ in range(n):
        t = time.perf_counter()
        r = subprocess.run([TIME, "-f", "%M", *cmd], env=env, capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - t)
        rss.append(int(r.stderr.strip().splitlines()[-1]) / 1024)
    return walls, rss


def main() -> None:
    _, env = demo_index("csd-cold-", "cold")
    torch_env = dict(env, CSD_TEXT_BACKEND="torch")
    rows = [
        ("python -c 'import torch' (reference)", [sys.executable, "-c", "import torch"], env),
        ("csd --help", [*CSD, "--help"], env),
        ("csd index list", [*CSD, "index", "list"], env),
        ("csd search --plain", [*CSD, "search", "a red car", "--plain", "--index", "cold"], env),
        ("csd search composite", [*CSD, "search", "a red car and a tree, no dog", "--index", "cold"], env),
        (
            "csd search composite, torch text",
            [*CSD, "search", "a red car and a tree, no dog", "--index", "cold"],
            torch_env,
        ),
    ]
    ref = None
    for label, cmd, e in rows:
        walls, rss = run(cmd, e)
        med = statistics.median(walls)
        ref = ref or med
        print(
            f"{label:38} median {med:6.3f} s  (min {min(walls):.3f}, max {max(walls):.3f})  "
            f"x{med / ref:4.2f} of import torch   peak RSS {statistics.median(rss):6.0f} MiB"
        )


if __name__ == "__main__":
    main()
