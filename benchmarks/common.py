"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import numpy as np


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p))


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def realistic_vectors(
    n: int, dim: int = 512, latent: int = 48, noise: float = 0.3, seed: int = 0, with_projection: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Low intrinsic dimension like CLIP galleries: X = Z[n, 48] @ A[48, dim] + noise * N(0, 1),
    L2-normalised, float16 (the recipe of shared/research/environment-notes.md section 4b;
    i.i.d. random vectors are HNSW's worst case). `noise` is in units of one latent
    coordinate's spread: 0.3 puts ~0.2% of a vector's energy in isotropic noise; 0.3 * sqrt(48)
    (~9%) already drops HNSW recall@10 at 1M to 0.74 at ef 512."""
    rng = np.random.default_rng(seed)
    proj = rng.standard_normal((latent, dim)).astype(np.float32)
    out = np.empty((n, dim), np.float16)
    for i in range(0, n, 100_000):
        m = min(100_000, n - i)
        x = rng.standard_normal((m, latent)).astype(np.float32) @ proj
        x += noise * rng.standard_normal((m, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[i : i + m] = x
    return (out, proj) if with_projection else out


def machine() -> str:
    return f"{os.cpu_count()} cores, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}"


def demo_index(prefix: str, name: str, images: int = 300) -> tuple[object, dict[str, str]]:
    """A temp folder with the demo world (`images` images) indexed as `name` with demo:tiny by
    fresh `csd` processes; returns (folder, env with CSD_INDEXES / CSD_DATA pointing into it)."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    csd = [sys.executable, "-m", "csdclip_cli"]
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    env = dict(os.environ, CSD_INDEXES=str(tmp / "indexes"), CSD_DATA=str(tmp / "data"))
    subprocess.run(
        [*csd, "demo", "data", "--images", str(images), "--queries", "10"], env=env, capture_output=True, check=True
    )
    imgs = str(tmp / "data" / "demo" / "imgs")
    subprocess.run(
        [*csd, "index", "build", imgs, "--model", "demo:tiny", "--name", name], env=env, capture_output=True, check=True
    )
    return tmp, env
