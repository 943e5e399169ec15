"""Sharded indexes with the local engine: the same results as one index, per-shard updates
and resume, clear refusals. The Ray engine is tested in test_ray.py."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, make_colour_folder, make_distinct_folder
from PIL import Image

from csdclip_cli.encoders import load_encoder
from csdclip_cli.errors import IndexModelMismatch
from csdclip_cli.index import IndexStore, build_index
from csdclip_cli.index.shards import build_sharded, shard_of, shard_store
from csdclip_cli.index.store import ShardedGeneration
from csdclip_cli.search.searcher import Searcher
from csdclip_cli.sources import open_source

QUERIES = ["red", "green", "blue", "yellow", "a red square, no blue", "green and yellow"]


def keys_of(results: list) -> list[str]:
    return [r.key for r in results]


def test_sharded_index_returns_the_single_index_top10(runner, tmp_path: Path) -> None:
    folder = make_distinct_folder(tmp_path / "imgs", 40)
    assert invoke(runner, "index", "build", str(folder), "-m", "fake:colour", "-n", "one").exit_code == 0
    r = invoke(runner, "index", "build", str(folder), "-m", "fake:colour", "-n", "three", "--shards", "3")
    assert r.exit_code == 0 and "encoded 40" in r.output, r.output
    m, gen = IndexStore().open("three")
    assert isinstance(gen, ShardedGeneration) and m.count == 40 and m.build["shards"] == 3
    keys = [k for _, k, *_ in gen.items()]
    assert len(keys) == len(set(keys)) == 40
    for s, (_, g) in enumerate(gen.shards):  # each image sits in the shard its key hashes to
        assert all(zlib.crc32(k.encode()) % 3 == s for _, k, *_ in g.items())
    assert min(len(g.vectors) for _, g in gen.shards) > 0
    one, three = Searcher.open("one"), Searcher.open("three")
    for q in QUERIES:
        assert keys_of(three.search_plain(q, 10)) == keys_of(one.search_plain(q, 10)), q
        a, b = one.search(q, 10), three.search(q, 10)
        assert keys_of(b) == keys_of(a), q
        assert np.allclose([x.score for x in b], [x.score for x in a], atol=1e-4)
    info = invoke(runner, "index", "info", "three")
    assert '"shards": 3' in info.stdout and "3 shards: exact" in info.stdout
    listed = invoke(runner, "index", "list")
    assert "three" in listed.stdout


def test_sharded_update_and_resume_per_shard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_colour_folder(tmp_path / "imgs", n=30)
    enc = load_encoder("fake:colour")
    store = IndexStore()
    assert build_sharded(open_source(folder), enc, "sh", 3, store).encoded == 30
    # add three, change one, delete two: only the four new or changed images are encoded
    for i in range(3):
        Image.new("RGB", (24, 24), (0, 200 + i, 0)).save(folder / f"new-{i}.png")
    victim = sorted(folder.glob("red-*.png"))[0]
    Image.new("RGB", (24, 24), (0, 0, 250)).save(victim)
    gone = sorted(folder.glob("blue-*.png"))[:2]
    for f in gone:
        f.unlink()
    rep = build_sharded(open_source(folder), enc, "sh", 3, store)
    assert (rep.encoded, rep.removed, rep.total) == (4, 2, 31)
    m, gen = store.open("sh")
    assert m.count == 31 and m.generation == 2
    keys = {k for _, k, *_ in gen.items()}
    assert "new-0.png" in keys and not {f.name for f in gone} & keys

    # a crash in the middle of shard 1 keeps what was committed; a re-run finishes it
    for i in range(12):
        Image.new("RGB", (24, 24), (i * 20, 0, 0)).save(folder / f"more-{i:02d}.png")
    import csdclip_cli.index.build as b

    real = b.encode_stream
    calls = {"n": 0}

    def crashing(source, encoder, items, batch_size, workers):
        for batch in real(source, encoder, items, 1, workers):
            calls["n"] += 1
            if calls["n"] == 5:
                raise KeyboardInterrupt
            yield batch

    with pytest.raises(KeyboardInterrupt):
        build_sharded(open_source(folder), enc, "sh", 3, store, stream=crashing)
    rep = build_sharded(open_source(folder), enc, "sh", 3, store)
    # 4 batches of one image were committed before the crash: in shards already finalised
    # (unchanged now) or in the crashed shard's journal (resumed); the other 8 are encoded
    assert rep.resumed >= 1 and rep.encoded == 8 and rep.total == 43 and rep.unchanged == 31 + 4 - rep.resumed
    m, gen = store.open("sh")
    keys = [k for _, k, *_ in gen.items()]
    assert m.count == 43 and len(keys) == len(set(keys)) == 43
    assert not any((store.path("sh") / "shards" / f"shard-{i}" / "journal").exists() for i in range(3))


def test_sharded_refusals_are_one_line(runner, tmp_path: Path) -> None:
    folder = make_colour_folder(tmp_path / "imgs", n=12)
    assert (
        invoke(runner, "index", "build", str(folder), "-m", "fake:colour", "-n", "sh", "--shards", "2").exit_code == 0
    )
    r = invoke(runner, "index", "build", str(folder), "-m", "fake:colour", "-n", "sh", "--shards", "3")
    assert r.exit_code == 1 and "has 2 shards, not 3" in r.stderr and "Traceback" not in r.output
    assert "sh (2 shards)" in invoke(runner, "index", "list").stdout  # a sharded index is marked
    assert "loading" not in r.stderr  # refused before the model loads
    assert invoke(runner, "index", "build", str(folder), "-m", "fake:colour", "-n", "plain").exit_code == 0
    r = invoke(runner, "index", "build", str(folder), "-m", "fake:colour", "-n", "plain", "--shards", "2")
    assert r.exit_code == 1 and "is not sharded" in r.stderr
    r = invoke(runner, "search", "red", "-i", "plain", "--address", "127.0.0.1:1")
    assert r.exit_code == 2 and "is not sharded" in r.stderr
    r = invoke(runner, "search", "red", "-i", "sh", "--address", "127.0.0.1:1")  # nothing listens there
    assert r.exit_code == 1 and "no Ray cluster answers there" in r.stderr
    r = invoke(
        runner,
        "index",
        "build",
        str(folder),
        "-m",
        "fake:colour",
        "-n",
        "sh",
        "--engine",
        "ray",
        "--address",
        "127.0.0.1:1",
    )
    assert r.exit_code == 1 and "no Ray cluster answers there" in r.stderr
    r = invoke(runner, "index", "build", str(folder), "-m", "fake:colour", "-n", "y", "--address", "127.0.0.1:1")
    assert r.exit_code == 2 and "add --engine ray" in r.stderr and not IndexStore().exists("y")
    r = invoke(runner, "index", "build", str(folder), "-m", "fake:colour", "-n", "plain", "--engine", "ray")
    assert r.exit_code == 2 and "is not sharded" in r.stderr
    r = invoke(runner, "index", "build", str(folder), "-m", "fake:colour", "-n", "x", "--engine", "spark")
    assert r.exit_code == 2 and "choose local or ray" in r.stderr
    # rebuilding or updating without --shards keeps the index sharded
    (folder / "red-000.png").unlink()
    r = invoke(runner, "index", "build", str(folder), "-m", "fake:colour", "-n", "sh")
    assert r.exit_code == 0 and "removed 1" in r.output
    assert invoke(runner, "index", "update", "sh").exit_code == 0
    m, gen = IndexStore().open("sh")
    assert m.count == 11 and isinstance(gen, ShardedGeneration)
    for f in folder.rglob("*.png"):
        f.unlink()
    r = invoke(runner, "index", "update", "sh")
    assert r.exit_code == 1 and "has no images now" in r.stderr
    assert IndexStore().manifest("sh").count == 11  # nothing lost
    with pytest.raises(IndexModelMismatch, match="is sharded"):  # the library refuses to flatten it
        build_index(open_source(folder), load_encoder("fake:colour"), "sh", IndexStore(), allow_empty=True)
    assert invoke(runner, "index", "rm", "sh").exit_code == 0 and not IndexStore().exists("sh")


def test_calibration_sample_is_proportional_to_the_shards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import csdclip_cli.index.build as b
    import csdclip_cli.index.store as st

    monkeypatch.setattr(b, "STATS_SAMPLE", 40)
    monkeypatch.setattr(st, "STATS_SAMPLE", 40)
    folder = make_colour_folder(tmp_path / "imgs", n=90)
    store = IndexStore()
    build_sharded(open_source(folder), load_encoder("fake:colour"), "sh", 3, store)
    m, gen = store.open("sh")
    live = [int(g.alive.sum()) for _, g in gen.shards]
    sample = gen.stats["sample"]
    assert len(sample) == sum(40 * n // 90 for n in live) and 36 <= len(sample) <= 40
    assert shard_of("a", 3) == zlib.crc32(b"a") % 3
    assert shard_store(store, "sh").names() == ["shard-0", "shard-1", "shard-2"]


def test_large_gallery_rescoring_reads_rows_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above DENSE_LIMIT candidates are read with pread (no memory map): the same float64
    scores as from the array, in float16 and float32 indexes."""
    import csdclip_cli.search.gallery as gal
    from csdclip_cli.index.build import import_vectors

    monkeypatch.setattr(gal, "DENSE_LIMIT", 10)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    store = IndexStore()
    for dtype in ("float16", "float32"):
        import_vectors(store, dtype, x, [f"k{i}" for i in range(300)], "m", "fp", build_params={"dtype": dtype})
        m, gen = store.open(dtype)
        assert gen.vectors.dtype == np.dtype(dtype)
        # a float32 index keeps the input exactly (the journal used to store float16 whatever the dtype)
        assert np.array_equal(np.asarray(gen.vectors), x.astype(dtype))
        g = gal.Gallery(m, gen)
        assert g.dense is None
        rows = np.array([299, 0, 17, 18, 150])
        q = x[:3]
        want = np.asarray(gen.vectors, np.float64)[rows] @ q.T.astype(np.float64)
        assert np.array_equal(g.scores(rows, q), want.astype(np.float32))
        assert np.array_equal(gen.read_rows(np.sort(rows)), np.asarray(gen.vectors)[np.sort(rows)])
        gen.close()


def test_a_no_op_update_of_a_sharded_index_loads_no_model(runner, tmp_path: Path) -> None:
    """The README says an update with nothing to do does not load the model: a sharded index
    loaded it (3.6 s against 0.3 s unsharded), and a Ray one would have started Ray."""
    folder = make_colour_folder(tmp_path / "imgs", n=20)
    r = invoke(runner, "index", "build", str(folder), "--model", "fake:colour", "--name", "sh", "--shards", "3")
    assert r.exit_code == 0, r.output
    r = invoke(runner, "index", "update", "sh")
    assert r.exit_code == 0 and "loading" not in r.output, r.output
    assert "20 images (encoded 0, unchanged 20" in r.output, r.output
    (folder / "red-999.png").write_bytes((folder / "red-000.png").read_bytes())
    r = invoke(runner, "index", "update", "sh")  # a change still reaches its shard
    assert r.exit_code == 0 and "loading" in r.output and "21 images (encoded 1" in r.output, r.output


def test_a_sharded_index_of_another_source_is_refused_before_the_model_loads(runner, tmp_path: Path) -> None:
    a, b = make_colour_folder(tmp_path / "a", n=6), make_colour_folder(tmp_path / "b", n=6, seed=1)
    assert invoke(runner, "index", "build", str(a), "-m", "fake:colour", "-n", "sh", "--shards", "2").exit_code == 0
    r = invoke(runner, "index", "build", str(b), "-m", "fake:colour", "-n", "sh")
    assert r.exit_code == 1 and f"indexes {a}, not {b}" in r.stderr and "loading" not in r.stderr, r.output
