"""Search latency through `csd serve` on a 300-image demo index: the JSON API (query text
encoding, rewriting and composite search included, 60 requests), and `csd search` in fresh
processes with the server running, next to the same command with --no-server in the same run.

    python benchmarks/serve_latency.py
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from common import demo_index

CSD = [sys.executable, "-m", "csdclip_cli"]
QUERIES = [
    "a red car and a tree at night, no person",
    "a white dog on the beach, no boat",
    "a yellow house with a tree in the snow",
    "a person in a blue shirt next to a car, no dog",
    "a boat on the sea at sunset",
    "a balloon over a green meadow, no house",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wall(cmd: list[str], env: dict[str, str], n: int = 7) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    tmp, env = demo_index("csd-serve-", "s")
    search = [*CSD, "search", QUERIES[0], "--index", "s", "-k", "10"]
    local = wall([*search, "--no-server"], env)
    port = free_port()
    server = subprocess.Popen(
        [*CSD, "serve", "--index", "s", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            if (tmp / "indexes" / ".serve.json").exists():
                break
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/api/search"
        api = []
        for i in range(60):
            body = json.dumps({"query": QUERIES[i % len(QUERIES)], "index": "s", "k": 10}).encode()
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            t = time.perf_counter()
            with urllib.request.urlopen(req) as r:
                r.read()
            api.append(time.perf_counter() - t)
        api = api[len(QUERIES) :]  # the first round warms the thumbnail-free caches
        remote = wall(search, env)
    finally:
        server.terminate()
        server.wait(10)
    print(
        f"API search (encode + rewrite + composite)   median {1000 * statistics.median(api):6.1f} ms  "
        f"p90 {1000 * sorted(api)[int(0.9 * len(api))]:6.1f} ms  ({len(api)} requests)"
    )
    print(f"csd search, server running                  median {statistics.median(remote):6.3f} s")
    print(
        f"csd search --no-server (same run)           median {statistics.median(local):6.3f} s  "
        f"(server path x{statistics.median(remote) / statistics.median(local):.2f})"
    )


if __name__ == "__main__":
    main()
