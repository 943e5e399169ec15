"""`csd index update` of an unchanged CN-CLIP LMDB: with the signature check (LMDB's last
transaction id, entry count, data.mdb size and mtime in the manifest) against a full rescan
(every value read and checksummed) of the same index, medians of 5 in one run.

    python benchmarks/lmdb_update.py [--images 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from csdclip_cli.encoders import load_encoder
from csdclip_cli.index import IndexStore, build_index
from csdclip_cli.sources import open_source


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=3000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="csd-lmdb-"))
    env = dict(os.environ, CSD_DATA=str(tmp / "data"))
    subprocess.run(
        [sys.executable, "-m", "csdclip_cli", "demo", "data", "--images", str(args.images), "--queries", "10"],
        env=env,
        capture_output=True,
        check=True,
    )
    src_dir = tmp / "data" / "demo"
    store = IndexStore(tmp / "indexes")
    enc = load_encoder("demo:tiny")
    t = time.perf_counter()
    rep = build_index(open_source(src_dir), enc, "lm", store)
    print(
        f"first build: {rep.encoded} images in {time.perf_counter() - t:.1f} s ({(src_dir / 'lmdb' / 'imgs' / 'data.mdb').stat().st_size / 2**20:.0f} MiB LMDB)"
    )
    manifest = store.path("lm") / "manifest.json"
    fast, full = [], []
    for _ in range(5):
        t = time.perf_counter()
        r = build_index(open_source(src_dir), enc, "lm", store)
        fast.append(time.perf_counter() - t)
        assert r.encoded == 0
        m = json.loads(manifest.read_text())
        m["source"].pop("signature", None)  # as an index built before signatures: a full rescan
        manifest.write_text(json.dumps(m))
        t = time.perf_counter()
        r = build_index(open_source(src_dir), enc, "lm", store)
        full.append(time.perf_counter() - t)
        assert r.encoded == 0
    f, s = statistics.median(fast), statistics.median(full)
    print(f"unchanged update, signature check  median {1000 * f:8.2f} ms")
    print(f"unchanged update, full rescan      median {1000 * s:8.2f} ms   (signature check x{f / s:.4f} of it)")


if __name__ == "__main__":
    main()
