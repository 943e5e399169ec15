"""The Ray engine on a real local Ray cluster (loopback only, 2 CPUs): a 3-shard index built
by Ray Data answers `csd search` with the single index's top 10, and an encoder worker killed
mid-build costs nothing but a re-run (no duplicates)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_distinct_folder

from csdclip_cli.index import IndexStore

pytest.importorskip("ray", reason="the Ray engine's tests need ray[data] (installed by make install-test)")
pytestmark = pytest.mark.slow

CSD = [sys.executable, "-m", "csdclip_cli"]
RAY = str(Path(sys.executable).with_name("ray"))
QUERIES = ["red", "green", "a blue square, no yellow", "green and red"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """`ray start --head` on loopback with 2 CPUs; its address. A start can fail for reasons
    of the moment (a port taken between our probe and Ray's bind, a slow raylet on a loaded
    machine), so it is tried up to 3 times, each on a fresh port and temp dir; the last
    failure's output is shown."""
    failures = []
    for _ in range(3):
        tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
        port = free_port()
        # the cluster and every csd client share one HOME: Ray keeps an auth token in ~/.ray,
        # and a client reading another HOME's token (or none) is refused (InvalidAuthToken)
        env = dict(os.environ, HOME=tmp, RAY_USAGE_STATS_ENABLED="0", RAY_enable_metrics_collection="0")
        r = subprocess.run(
            [RAY, "start", "--head", "--num-cpus", "2", "--node-ip-address", "127.0.0.1", "--port", str(port),
             "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", tmp],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if r.returncode == 0:
            break
        failures.append(f"port {port}, exit {r.returncode}:\n{r.stdout[-1500:]}\n{r.stderr[-3000:]}")
        stop_cluster(tmp)  # whatever half-started
    else:
        pytest.fail("`ray start --head` failed 3 times; the last:\n" + failures[-1])
    if failures:  # visible in the run's summary, so a flaky start is not silently absorbed
        warnings.warn("`ray start --head` needed a retry: " + failures[0], stacklevel=1)
    os.environ["CSD_TEST_RAY_HOME"] = tmp
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop_cluster(tmp)


def stop_cluster(temp_dir: str) -> None:
    """Stop this cluster's processes only (their command lines name its temp dir); `ray stop`
    would stop every Ray cluster on the machine."""
    import psutil

    procs = [p for p in psutil.process_iter(["cmdline"]) if temp_dir in " ".join(p.info["cmdline"] or [])]
    for p in procs:
        p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=15)
    for p in alive:
        p.kill()


def client_env() -> dict[str, str]:
    return dict(os.environ, HOME=os.environ["CSD_TEST_RAY_HOME"])


def csd(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*CSD, *args], capture_output=True, text=True, timeout=timeout, env=client_env())


def top10(name: str, query: str, *extra: str) -> list[str]:
    r = csd("search", query, "-i", name, "--json", "--no-server", *extra)
    assert r.returncode == 0, r.stderr
    return [json.loads(line)["key"] for line in r.stdout.splitlines()]


def encode_workers() -> list:
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        line = " ".join(p.info["cmdline"] or [])
        if line.startswith("ray::") and ("_Encode" in line or "MapWorker" in line):
            found.append(p)
    return found


def test_ray_three_shards_match_one_index_and_survive_a_killed_worker(cluster: str, tmp_path: Path) -> None:
    folder = make_distinct_folder(tmp_path / "imgs", 90)
    r = csd("index", "build", str(folder), "-m", "fake:colour", "-n", "one")
    assert r.returncode == 0, r.stderr

    # start the Ray build with small batches; kill the encoder actor once a batch is committed
    cmd = [*CSD, "index", "build", str(folder), "-m", "fake:colour", "-n", "three", "--engine", "ray",
           "--shards", "3", "--address", cluster, "--batch-size", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=client_env())
    shards = Path(os.environ["CSD_INDEXES"]) / "three" / "shards"
    killed = None
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        committed = list(shards.glob("shard-*/journal/batch-*.json"))
        workers = encode_workers()
        if committed and workers:
            killed = workers[0].pid
            os.kill(killed, signal.SIGKILL)
            break
        time.sleep(0.2)
    still_running = proc.poll() is None  # the kill came mid-build
    out, err = proc.communicate(timeout=600)
    assert killed is not None, f"the build ended before a worker could be killed (rc {proc.returncode}): {err[-2000:]}"
    assert still_running, "the build had finished when the worker was killed"
    assert "Traceback" not in err, err

    # whether Ray recovered on its own or the build stopped, a re-run completes without duplicates
    r = csd("index", "build", str(folder), "-m", "fake:colour", "-n", "three", "--engine", "ray",
            "--shards", "3", "--address", cluster)  # fmt: skip
    assert r.returncode == 0, r.stderr
    m, gen = IndexStore().open("three")
    keys = [k for _, k, *_ in gen.items()]
    assert m.count == 90 and len(keys) == len(set(keys)) == 90 and m.build["engine"] == "ray"
    assert not list(shards.glob("shard-*/journal"))
    assert len(gen.shards) == 3 and all(len(g.vectors) == g.alive.sum() > 0 for _, g in gen.shards)

    for q in QUERIES:
        want = top10("one", q)
        assert top10("three", q) == want, q
        assert top10("three", q, "--plain") == top10("one", q, "--plain"), q
    # fan-out as Ray tasks on the cluster gives the same answers
    assert top10("three", QUERIES[2], "--address", cluster) == top10("one", QUERIES[2])

    # an update through Ray encodes only the new image
    from PIL import Image

    Image.new("RGB", (24, 24), (1, 2, 3)).save(folder / "zz-new.png")
    r = csd("index", "update", "three", "--address", cluster)
    assert r.returncode == 0 and "encoded 1," in r.stderr, r.stderr
    assert IndexStore().manifest("three").count == 91
