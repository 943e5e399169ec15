"""`csd index update` with nothing to do, as a user runs it (a new process each time): the
check that needs no model against the same no-op update through the model-loading build path
(forced by naming the index's own --ann kind, which the check leaves to the build), medians of 5.

    python benchmarks/noop_update.py [--images 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def csd(env: dict[str, str], *args: str, noop: bool = True) -> float:
    """Seconds of one `csd ARGS` process; with `noop`, checks that it encoded nothing."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "csdclip_cli", *args], env=env, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr)
    assert not noop or "(encoded 0," in r.stderr, r.stderr
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=500)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="csd-noop-"))
    env = dict(os.environ, CSD_DATA=str(tmp / "data"), CSD_INDEXES=str(tmp / "indexes"))
    subprocess.run(
        [sys.executable, "-m", "csdclip_cli", "demo", "data", "--images", str(args.images), "--queries", "10"],
        env=env,
        capture_output=True,
        check=True,
    )
    imgs = tmp / "data" / "demo" / "imgs"
    print(
        f"first build: {csd(env, 'index', 'build', str(imgs), '--model', 'demo:tiny', '--name', 'n', noop=False):.1f} s"
    )
    check = [csd(env, "index", "update", "n") for _ in range(5)]
    loaded = [
        csd(env, "index", "build", str(imgs), "--model", "demo:tiny", "--name", "n", "--ann", "hnswlib")
        for _ in range(5)
    ]
    c, m = statistics.median(check), statistics.median(loaded)
    print(f"no-op update, no model loaded      median {c:6.2f} s")
    print(f"no-op update, model loaded         median {m:6.2f} s   (no-model check x{c / m:.2f} of it)")


if __name__ == "__main__":
    main()
