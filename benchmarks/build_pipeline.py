"""Index build throughput: decode-only rate, encode-only rate and the overlapped pipeline,
plus RSS sampled through the build (it should stay flat: images are streamed).

    python benchmarks/build_pipeline.py --n 2000             # demo:tiny on 64-px PNGs
    python benchmarks/build_pipeline.py --n 20000 --workers 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
from common import machine, rss_mib

from csdclip_cli.demo import world
from csdclip_cli.encoders import load_encoder
from csdclip_cli.index import IndexStore, build_index
from csdclip_cli.sources import FolderSource
from csdclip_cli.sources.decode import decode_image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--model", default="demo:tiny")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="csd-build-"))
    folder = tmp / "imgs"
    folder.mkdir()
    t = time.time()
    with ThreadPoolExecutor(4) as pool:
        for i, data in enumerate(pool.map(world.png_bytes, (world.sample_scene(j, 5) for j in range(args.n)))):
            (folder / f"{i:06d}.png").write_bytes(data)
    print(
        f"{args.n} images written in {time.time() - t:.1f}s; model {args.model}; batch {args.batch_size}; "
        f"{args.workers} decode threads; {machine()}"
    )
    enc = load_encoder(args.model, device="cpu")
    src = FolderSource(folder)
    items = list(src.items())

    # decode stage alone (streamed: only one batch is kept, so RSS stays that of a build)
    t = time.time()
    first: list[np.ndarray] = []
    with ThreadPoolExecutor(args.workers) as pool:
        for arr in pool.map(lambda it: enc.preprocess(decode_image(src.read(it.key))), items):
            if len(first) < args.batch_size:
                first.append(arr)
    decode_rate = len(items) / (time.time() - t)

    # encode stage alone, on one preprocessed batch repeated
    batch = np.stack(first)
    enc.encode_images(batch)  # warm-up
    reps = max(10, 4000 // args.batch_size)
    t = time.time()
    for _ in range(reps):
        enc.encode_images(batch)
    encode_rate = reps * len(batch) / (time.time() - t)
    print(f"RSS before the build: {rss_mib():.0f} MiB")

    samples: list[tuple[int, float]] = []

    def progress(done: int, total: int) -> None:
        if total and (not samples or done - samples[-1][0] >= total // 8):
            samples.append((done, rss_mib()))

    rep = build_index(
        src,
        enc,
        "bench",
        IndexStore(tmp / "indexes"),
        batch_size=args.batch_size,
        workers=args.workers,
        progress=progress,
    )
    pipe_rate = rep.encoded / rep.seconds
    slower = min(decode_rate, encode_rate)
    print(f"decode-only  {decode_rate:8.1f} images/s  (read + decode + preprocess, {args.workers} threads)")
    print(f"encode-only  {encode_rate:8.1f} images/s  (model forward on preprocessed batches)")
    print(f"pipeline     {pipe_rate:8.1f} images/s  (csd index build, incl. journal + finalise)")
    print(
        f"pipeline / slower stage = {pipe_rate / slower:.2f}  (the slower stage is "
        f"{'decode' if decode_rate < encode_rate else 'encode'})"
    )
    print("RSS during the build (images done: MiB): " + ", ".join(f"{d}: {m:.0f}" for d, m in samples))


if __name__ == "__main__":
    main()
