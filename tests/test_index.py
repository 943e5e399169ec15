"""Index store, incremental builds and plain search, through the CLI and the library,
with the fake encoder plugin (registered through the real entry point)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, make_colour_folder
from PIL import Image

from csdclip_cli.encoders import load_encoder
from csdclip_cli.index import IndexStore, build_index
from csdclip_cli.index.store import EXACT_LIMIT
from csdclip_cli.search.searcher import Searcher
from csdclip_cli.sources import FolderSource, open_source


def build(folder: Path, name: str = "col"):
    enc = load_encoder("fake:colour")
    return build_index(
        FolderSource(folder), enc, name, IndexStore(), build_params={"model_input": "fake:colour", "weights": None}
    )


def test_build_then_rebuild_encodes_nothing(colour_folder: Path) -> None:
    first = build(colour_folder)
    assert (first.total, first.encoded, first.unchanged) == (24, 24, 0)
    again = build(colour_folder)
    assert (again.encoded, again.unchanged, again.removed) == (0, 24, 0)


def test_incremental_add_modify_delete(colour_folder: Path) -> None:
    build(colour_folder)
    files = sorted(colour_folder.rglob("*.png"))
    files[0].unlink()
    files[1].unlink()
    Image.new("RGB", (24, 24), (0, 0, 255)).save(files[2])  # modified: now blue
    os.utime(files[2], (time.time() + 5, time.time() + 5))
    for i in range(3):
        Image.new("RGB", (24, 24), (255, 255, 255)).save(colour_folder / f"new-{i}.png")
    rep = build(colour_folder)
    assert (rep.encoded, rep.removed, rep.unchanged) == (4, 2, 21)
    m, gen = IndexStore().open("col")
    keys = [k for _, k, *_ in gen.items()]
    assert len(keys) == len(set(keys)) == 25 == m.count
    current = {str(p.relative_to(colour_folder)) for p in colour_folder.rglob("*.png")}
    assert set(keys) == current
    # the modified file's vector is its new colour
    s = Searcher.open("col")
    top = s.search_plain("blue", k=30)
    assert str(files[2].relative_to(colour_folder)) in {r.key for r in top if r.score > 0.99}


def test_touching_files_reencodes_exactly_those(colour_folder: Path) -> None:
    build(colour_folder)
    for p in sorted(colour_folder.rglob("*.png"))[:5]:
        os.utime(p, (time.time() + 10, time.time() + 10))
    assert build(colour_folder).encoded == 5


def test_plain_search_exact_vector_comes_first(colour_folder: Path) -> None:
    from csd_fake_plugin import feature

    build(colour_folder)
    s = Searcher.open("col")
    # a query vector equal to one image's vector ranks that image first with cosine 1
    target = colour_folder / "sub" / "green-001.png"
    vec = feature(np.asarray(Image.open(target).convert("RGB"), np.float32).reshape(-1, 3).mean(0) / 255.0)
    res = s.search_vector(vec, k=3)
    assert res[0].key == "sub/green-001.png"
    assert abs(res[0].score - 1.0) < 1e-3
    assert [r.rank for r in res] == [1, 2, 3]
    assert all(r.key.split("/")[-1].startswith("red") for r in s.search_plain("red", k=6))


def test_cli_build_list_info_use_rm(runner, colour_folder: Path) -> None:
    r = invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "a")
    assert r.exit_code == 0, r.output
    assert "encoded 24" in r.output
    invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "b")
    out = invoke(runner, "index", "list").stdout
    assert "a" in out and "b" in out and "fake:colour" in out and "24" in out
    info = json.loads(invoke(runner, "index", "info", "a").stdout)
    assert info["count"] == 24 and info["dim"] == 16 and info["model"] == "fake:colour"
    assert info["search"] == "exact" and info["format_version"] == 1
    import re

    # times as local dates, not seconds since 1970 as floats; one image is "1 image" (it was "1 images")
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"  # ISO 8601 with its offset
    assert all(re.fullmatch(stamp, info[t]) for t in ("created", "updated")), info
    one = colour_folder.parent / "one"
    one.mkdir()
    next(colour_folder.glob("*.png")).rename(one / "x.png")
    r = invoke(runner, "index", "build", str(one), "--model", "fake:colour", "--name", "one")
    assert r.exit_code == 0 and "one: 1 image (encoded 1" in r.stderr, r.output
    assert invoke(runner, "index", "rm", "one").exit_code == 0
    assert invoke(runner, "index", "use", "b").exit_code == 0
    assert IndexStore().current() == "b"
    assert invoke(runner, "index", "rm", "b").exit_code == 0
    assert IndexStore().names() == ["a"]
    r = invoke(runner, "index", "info", "b")
    assert r.exit_code == 1 and "no index named 'b'" in r.stderr and "Traceback" not in r.output


def test_cli_search_table_json_paths(runner, colour_folder: Path) -> None:
    invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour")
    r = invoke(runner, "search", "red", "--plain", "-k", "4")
    assert r.exit_code == 0 and "red-" in r.stdout and "score" in r.stdout
    lines = invoke(runner, "search", "yellow", "--plain", "-k", "3", "--json").stdout.strip().splitlines()
    rows = [json.loads(x) for x in lines]
    assert len(rows) == 3
    assert set(rows[0]) == {"rank", "key", "path", "score"}
    assert rows[0]["rank"] == 1 and "yellow" in rows[0]["key"] and Path(rows[0]["path"]).is_file()
    paths = invoke(runner, "search", "blue", "--plain", "-k", "2", "--paths-only").stdout.split()
    assert len(paths) == 2 and all(Path(p).is_file() for p in paths)


def test_model_mismatch_is_refused(runner, colour_folder: Path, tiny_openclip) -> None:
    invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "x")
    cfg, ckpt = tiny_openclip
    r = invoke(
        runner,
        "index",
        "build",
        str(colour_folder),
        "--model",
        f"openclip:{cfg}",
        "--weights",
        str(ckpt),
        "--name",
        "x",
    )
    assert r.exit_code == 1 and "was built with fake:colour" in r.stderr
    m, gen = IndexStore().open("x")
    from csdclip_cli.errors import IndexModelMismatch
    from csdclip_cli.search.searcher import load_index_encoder

    try:
        load_index_encoder(m, model=f"openclip:{cfg}", weights=ckpt)
        raise AssertionError("a different model must be refused")
    except IndexModelMismatch as e:
        assert "cannot use it" in str(e) and "Search with the index's model" in str(e)


def test_lmdb_source_indexes_and_searches(tmp_path: Path) -> None:
    import io

    from csdclip_cli.sources import open_source
    from csdclip_cli.sources.lmdb_source import write_lmdb_images

    def png(rgb: tuple[int, int, int]) -> bytes:
        b = io.BytesIO()
        Image.new("RGB", (16, 16), rgb).save(b, format="PNG")
        return b.getvalue()

    images = [("1000", png((255, 0, 0))), ("1001", png((0, 0, 255))), ("1002", b"not a png")]
    write_lmdb_images(tmp_path / "ds" / "lmdb" / "imgs", iter(images))
    src = open_source(tmp_path / "ds")
    assert src.kind == "lmdb"
    assert [it.key for it in src.items()] == ["1000", "1001", "1002"]  # num_images is skipped
    enc = load_encoder("fake:colour")
    rep = build_index(src, enc, "lm", IndexStore(), build_params={"model_input": "fake:colour"})
    assert rep.encoded == 2 and rep.skipped == 1 and [e["key"] for e in rep.errors] == ["1002"]
    # the unchanged-LMDB shortcut reads no image, and still reports the skipped one as before
    again = build_index(src, enc, "lm", IndexStore())
    assert again.encoded == 0 and again.skipped == 1 and again.errors == rep.errors
    assert Searcher.open("lm").search_plain("blue", 1)[0].key == "1001"


def test_paths_of_an_lmdb_index_are_said_to_name_no_file(runner, tmp_path: Path) -> None:
    """--paths-only printed lmdb:///...#KEY lines, which no file tool can open, without a word."""
    import io

    from csdclip_cli.sources.lmdb_source import write_lmdb_images

    b = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 0, 255)).save(b, format="PNG")
    write_lmdb_images(tmp_path / "ds" / "lmdb" / "imgs", iter([("1000", b.getvalue())]))
    assert (
        invoke(runner, "index", "build", str(tmp_path / "ds"), "--model", "fake:colour", "--name", "lm").exit_code == 0
    )
    r = invoke(runner, "search", "blue", "-i", "lm", "-k", "1", "--paths-only", "--no-server")
    assert r.exit_code == 0 and r.stdout.startswith("lmdb://") and "has no file per image" in r.stderr, r.output


def test_hnsw_above_threshold(tmp_path: Path, monkeypatch) -> None:
    """Galleries above the exact-search limit get an HNSW graph; search re-scores exactly."""
    import csdclip_cli.index.build as b

    monkeypatch.setattr(b, "EXACT_LIMIT", 50)
    folder = make_colour_folder(tmp_path / "many", n=80)
    build(folder, "big")
    m, gen = IndexStore().open("big")
    assert (gen.path / "hnsw.bin").exists() and EXACT_LIMIT > 50
    s = Searcher.open("big")
    assert s.gallery.uses_ann
    top = s.search_plain("green", k=5)
    exact_rows, _ = s.gallery.exact_top(s.encoder.encode_texts(["green"])[0], 5)
    assert len(top) == 5 and all(r.key.split("/")[-1].startswith("green") for r in top)
    assert {r.row for r in top} == set(exact_rows.tolist())
    # an incremental update keeps the graph's labels (rows) and adds the new image
    Image.new("RGB", (24, 24), (0, 255, 0)).save(folder / "zz-green.png")
    (folder / "red-000.png").unlink()
    assert build(folder, "big").encoded == 1
    s = Searcher.open("big")
    assert "zz-green.png" in {r.key for r in s.search_plain("green", k=40)}
    assert "red-000.png" not in {r.key for r in s.search_plain("red", k=40)}


def test_unchanged_lmdb_update_reads_no_value(tmp_path: Path, monkeypatch) -> None:
    """An LMDB whose transaction id, entry count and file are unchanged is not rescanned; a
    write is noticed and only then are values read."""
    import io

    import lmdb

    from csdclip_cli.sources import open_source
    from csdclip_cli.sources.lmdb_source import LmdbSource, write_lmdb_images

    def png(rgb: tuple[int, int, int]) -> bytes:
        b = io.BytesIO()
        Image.new("RGB", (8, 8), rgb).save(b, format="PNG")
        return b.getvalue()

    env_dir = tmp_path / "ds" / "lmdb" / "imgs"
    write_lmdb_images(env_dir, iter((str(i), png((i * 20 % 255, 0, 0))) for i in range(30)))
    enc = load_encoder("fake:colour")
    store = IndexStore()
    assert build_index(open_source(tmp_path / "ds"), enc, "lm", store).encoded == 30
    scans = {"n": 0}
    real_items = LmdbSource.items

    def counting(self):
        scans["n"] += 1
        return real_items(self)

    monkeypatch.setattr(LmdbSource, "items", counting)
    rep = build_index(open_source(tmp_path / "ds"), enc, "lm", store)
    assert scans["n"] == 0 and rep.unchanged == 30 and rep.encoded == 0
    from csdclip_cli.sources import lmdb_source

    for env in lmdb_source._ENVS.values():  # let this process write to it
        env.close()
    lmdb_source._ENVS.clear()
    w = lmdb.open(str(env_dir), map_size=1 << 26)
    with w.begin(write=True) as txn:
        txn.put(b"new", __import__("base64").urlsafe_b64encode(png((0, 0, 255))))
    w.close()
    rep = build_index(open_source(tmp_path / "ds"), enc, "lm", store)
    assert scans["n"] == 1 and rep.encoded == 1 and rep.unchanged == 30
    rep = build_index(open_source(tmp_path / "ds"), enc, "lm", store)
    assert scans["n"] == 1 and rep.encoded == 0  # the new state is remembered


@pytest.mark.parametrize("dim", [4, 7])
def test_faiss_pq_index_of_a_narrow_model(tmp_path: Path, dim: int) -> None:
    """IVF-PQ for an embedding narrower than 8 (a small plugin model): it divided by zero while
    choosing the number of sub-quantizers. Each vector's nearest entry is itself."""
    import faiss

    from csdclip_cli.index.ann import _write_faiss

    vectors = np.random.default_rng(0).standard_normal((300, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    _write_faiss("faiss-ivf-pq", tmp_path / "pq.faiss", vectors, np.ones(300, bool), 0, None)
    index = faiss.read_index(str(tmp_path / "pq.faiss"))
    index.nprobe = index.nlist
    _, ids = index.search(vectors[:20], 10)
    assert index.ntotal == 300 and all(i in row for i, row in enumerate(ids))


@pytest.mark.parametrize("ann", ["faiss-ivf-sq8", "faiss-ivf-sq4", "faiss-ivf-pq"])
def test_faiss_candidate_index_finds_the_exact_top_and_updates(tmp_path: Path, monkeypatch, ann: str) -> None:
    """--ann faiss-*: trained inverted lists over compressed codes; candidates are re-scored
    exactly, updates remove deleted rows and add new ones without retraining."""
    import csdclip_cli.index.build as b

    monkeypatch.setattr(b, "EXACT_LIMIT", 50)
    folder = make_colour_folder(tmp_path / "many", n=300)
    src = open_source(folder)
    build_index(src, load_encoder("fake:colour"), "ivf", IndexStore(), build_params={"ann": ann})
    m, gen = IndexStore().open("ivf")
    assert m.build["ann"] == ann and (gen.path / "ivf.faiss").exists() and gen.ann.kind == ann
    s = Searcher.open("ivf")
    s.gallery.ef = 10_000  # probe every list: the candidates must contain the exact top
    top = s.search_plain("green", k=5)
    exact_rows, _ = s.gallery.exact_top(s.encoder.encode_texts(["green"])[0], 5)
    assert [r.row for r in top] == exact_rows.tolist()
    Image.new("RGB", (24, 24), (0, 255, 0)).save(folder / "zz-green.png")
    (folder / "red-000.png").unlink()
    assert build_index(open_source(folder), load_encoder("fake:colour"), "ivf", IndexStore()).encoded == 1
    s = Searcher.open("ivf")
    s.gallery.ef = 10_000
    assert s.manifest.build["ann"] == ann  # an update keeps the kind
    assert "zz-green.png" in {r.key for r in s.search_plain("green", k=80)}
    assert "red-000.png" not in {r.key for r in s.search_plain("red", k=300)}
    with pytest.raises(Exception, match="candidate index"):
        build_index(
            open_source(folder), load_encoder("fake:colour"), "ivf", IndexStore(), build_params={"ann": "hnswlib"}
        )


def test_an_interrupted_first_build_resumes_only_with_its_own_weights_and_source(tmp_path: Path) -> None:
    """A first build stopped under one --model and run again under another of the same width
    took the first model's vectors from the journal (one index held two models' vectors); another
    width, or another folder, threw its work away without a word. Both are refused, naming what
    resumes it; the same weights under another spelling of the spec resume."""
    from conftest import make_colour_folder

    from csdclip_cli.errors import IndexModelMismatch
    from csdclip_cli.index.build import build_index

    folder = FolderSource(make_colour_folder(tmp_path / "imgs", n=24))
    other_folder = FolderSource(make_colour_folder(tmp_path / "more", n=4))
    store = IndexStore(tmp_path / "ix")
    a, b = load_encoder("fake:colour"), load_encoder("fake:other")
    assert a.dim == b.dim and a.fingerprint != b.fingerprint

    def stop_after_first_batch(done: int, total: int) -> None:
        if done >= 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index(folder, a, "ix", store, batch_size=8, progress=stop_after_first_batch)
    with pytest.raises(
        IndexModelMismatch, match="'ix' is a first build of fake:colour that did not finish \\(8 images"
    ):
        build_index(folder, b, "ix", store, batch_size=8)
    with pytest.raises(IndexModelMismatch, match=f"'ix' is a first build from {tmp_path / 'imgs'} that did not"):
        build_index(other_folder, a, "ix", store, batch_size=8)
    assert (
        f"'ix' is a first build of fake:colour from {tmp_path / 'imgs'} that did not finish"
        in store.unfinished_note("ix")
    )
    slow = load_encoder("fake:slow")  # the test plugin gives it fake:colour's fingerprint
    rep = build_index(folder, slow, "ix", store, batch_size=8)
    assert (rep.resumed, rep.encoded) == (8, 16)
