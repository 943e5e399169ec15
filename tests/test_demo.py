"""The demo world, its benchmark, and the shipped tiny CLIP (demo:tiny)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

from csdclip_cli.demo import benchmark, world
from csdclip_cli.eval.datasets import load_dataset

# (kind, colour) single-attribute queries and their phrases
SINGLE = [
    ("car", "red"),
    ("car", "blue"),
    ("house", "yellow"),
    ("house", "white"),
    ("person", "green"),
    ("boat", "white"),
    ("dog", "black"),
    ("balloon", "purple"),
    ("tree", None),
    ("sun", None),
]


def test_world_is_deterministic() -> None:
    a = [world.png_bytes(world.sample_scene(i, 2)) for i in range(20)]
    b = [world.png_bytes(world.sample_scene(i, 2)) for i in range(20)]
    assert a == b
    assert world.sample_scene(3, 2) != world.sample_scene(3, 1)  # the seed matters


def test_captions_never_negate() -> None:
    import random

    rng = random.Random(0)
    caps = [world.caption(world.sample_scene(i, 1), rng) for i in range(2000)]
    assert not any(w in c.split() for c in caps for w in ("no", "not", "without", "except"))


def test_benchmark_is_deterministic_and_parses_like_tigr(tmp_path: Path) -> None:
    d1 = benchmark.write_benchmark(tmp_path / "a", n_gallery=300, n_queries=30)
    d2 = benchmark.write_benchmark(tmp_path / "b", n_gallery=300, n_queries=30)
    digest = lambda d: hashlib.sha256(
        b"".join(p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file() and "lmdb" not in p.parts)
    ).hexdigest()
    assert digest(d1) == digest(d2)
    ds = load_dataset(str(d1))  # the same loader that reads TIGR-100k
    assert len(ds.queries) == 30 and ds.gallery == d1 / "lmdb" / "imgs"
    scenes = {
        json.loads(x)["image_id"]: world.Scene.from_dict(json.loads(x))
        for x in (d1 / "scenes.jsonl").read_text().splitlines()
    }
    for q in ds.queries:
        assert q.gold is not None and 2 <= len(q.gold.and_) <= 3 and q.hr
        assert q.hr.isdisjoint(q.mr) and q.hr <= set(scenes)
        assert q.has_not == bool(q.gold.not_)
    assert any(q.has_not for q in ds.queries) and any(not q.has_not for q in ds.queries)


def test_a_benchmark_written_over_another_keeps_nothing_of_it(tmp_path: Path, monkeypatch) -> None:
    """`csd demo data --images 40` over a 60-image benchmark: the LMDB (the gallery `csd eval`
    searches) and imgs/ held the 60 old images, 20 of them without a scene record, so graded as
    irrelevant whatever they showed."""
    import lmdb

    from csdclip_cli.demo import run
    from csdclip_cli.errors import DatasetError

    d = benchmark.write_benchmark(tmp_path / "d", n_gallery=60, n_queries=10)
    (d / "imgs" / "dog.png").write_bytes(b"the user's")  # never written by csd: not ours
    (d / "imgs" / "d000099.png").write_bytes(b"the user's too")  # named like one, but no run wrote it
    benchmark.write_benchmark(d, n_gallery=40, n_queries=12)
    ids = {json.loads(x)["image_id"] for x in (d / "scenes.jsonl").read_text().splitlines()}
    assert len(ids) == 40 and {p.stem for p in (d / "imgs").glob("d??????.png")} == ids | {"d000099"}
    assert (d / "imgs" / "dog.png").read_bytes() == b"the user's"
    assert (d / "imgs" / "d000099.png").read_bytes() == b"the user's too"
    env = lmdb.open(str(d / "lmdb" / "imgs"), readonly=True, lock=False)
    with env.begin() as txn:
        assert {k.decode() for k, _ in txn.cursor()} == ids | {"num_images"}
    env.close()
    assert load_dataset(str(d)).gallery == d / "lmdb" / "imgs" and len(load_dataset(str(d)).queries) == 12
    # the example queries come from the test split as written, not from the default query count
    assert [q.split for q in run.load_queries(d)] == ["tune"] * 5 + ["test"] * 7
    annotated = "a red car | Search intention: complex | -AND: < a red car >, -NOT: < dog >"
    made = [run.DemoQuery(f"q{i:04d}", "a red car, no dog", annotated, {f"d{j}" for j in range(10)}, set(),
                          "tune" if i < 5 else "test") for i in range(12)]  # fmt: skip
    assert [q.text_id for q in run.example_queries(made, n=3)] == ["q0005", "q0007", "q0009"]

    # a gallery too small for the queries asked: one error, nothing written, the old data intact
    monkeypatch.setattr(benchmark, "STALL_LIMIT", 2000)
    before = (d / "en_demo.jsonl").read_bytes()
    with pytest.raises(DatasetError, match="give only .* distinct demo queries, not 100000; ask for fewer"):
        benchmark.write_benchmark(d, n_gallery=10, n_queries=100_000)
    assert (d / "en_demo.jsonl").read_bytes() == before and len(list((d / "imgs").glob("d??????.png"))) == 41

    # a file where a folder goes: one error before anything is written (it was a traceback
    # after the queries and images were written)
    for where in ("imgs", "lmdb/imgs"):
        e = tmp_path / where.replace("/", "-")
        (e / where).parent.mkdir(parents=True)
        (e / where).write_text("x")
        with pytest.raises(DatasetError, match=f"{e / where} is a file where the demo benchmark writes a folder"):
            benchmark.write_benchmark(e, n_gallery=20, n_queries=3)
        assert not (e / "en_demo.jsonl").exists()
    # what the file system refuses while writing: one error, not a traceback
    f = tmp_path / "f"
    (f / "en_demo.jsonl").mkdir(parents=True)
    (f / "scenes.jsonl").write_text("")  # an earlier benchmark's folder
    with pytest.raises(DatasetError, match="cannot write the demo benchmark in .*Is a directory"):
        benchmark.write_benchmark(f, n_gallery=20, n_queries=3)
    # a folder of the user's own files: refused, nothing overwritten (README.txt and
    # imgs/d000001.png were replaced without a word)
    g = tmp_path / "mydocs"
    (g / "imgs").mkdir(parents=True)
    (g / "README.txt").write_text("my notes")
    (g / "imgs" / "d000001.png").write_text("mine")
    with pytest.raises(DatasetError, match="mydocs is not empty and holds no demo benchmark"):
        benchmark.write_benchmark(g, n_gallery=20, n_queries=3)
    assert (g / "README.txt").read_text() == "my notes" and (g / "imgs" / "d000001.png").read_text() == "mine"
    assert sorted(p.name for p in g.rglob("*")) == ["README.txt", "d000001.png", "imgs"]


def test_relevance_rule() -> None:
    f = benchmark.Fact
    scene = world.Scene(0, "beach", (world.Thing("car", "red"), world.Thing("tree")))
    assert benchmark.relevance(scene, [f("car", "red"), f("tree")], []) == 2
    assert benchmark.relevance(scene, [f("car", "red"), f("tree")], [f("dog")]) == 2
    assert benchmark.relevance(scene, [f("car", "red"), f("tree")], [f("tree")]) == 1  # all AND, NOT violated
    assert benchmark.relevance(scene, [f("car", "blue"), f("tree")], []) == 1  # one AND fails
    assert benchmark.relevance(scene, [f("car", "blue"), f("dog")], []) == 0
    assert benchmark.relevance(scene, [f("car", "red"), f(background="beach")], []) == 2


@pytest.fixture(scope="module")
def demo_vectors():
    from csdclip_cli.encoders import load_encoder

    enc = load_encoder("demo:tiny", device="cpu")
    scenes = benchmark.gallery_scenes(600)
    x = np.stack([enc.preprocess(world.render(s)) for s in scenes])
    return enc, scenes, enc.encode_images(x)


def test_shipped_model_retrieves_single_attributes(demo_vectors) -> None:
    enc, scenes, img = demo_vectors
    assert enc.spec == "demo:tiny" and enc.dim == 128
    texts = [world.thing_phrase(world.Thing(k, c)) for k, c in SINGLE]
    sims = enc.encode_texts(texts) @ img.T
    precisions = []
    for (k, c), row in zip(SINGLE, sims):
        top = np.argsort(-row)[:10]
        precisions.append(np.mean([scenes[i].has(k, c) for i in top]))
    chance = np.mean([np.mean([s.has(k, c) for s in scenes]) for k, c in SINGLE])
    print(
        f"\ndemo:tiny single-attribute P@10 {np.mean(precisions):.3f} (chance {chance:.3f}): "
        + ", ".join(f"{t}={p:.1f}" for t, p in zip(texts, precisions))
    )
    assert np.mean(precisions) >= 0.8 and min(precisions) >= 0.5  # measured 0.97 / 0.8 when trained
    assert np.mean(precisions) > 4 * chance


def test_shipped_model_file_is_small_safetensors() -> None:
    from csdclip_cli.encoders.openclip import DEMO_DIR

    w = DEMO_DIR / "csd-demo-tiny.safetensors"
    assert w.stat().st_size < 20 * 2**20
    assert json.loads((DEMO_DIR / "csd-demo-tiny.json").read_text())["embed_dim"] == 128


@pytest.mark.slow
def test_csd_demo_end_to_end(runner, tmp_path: Path) -> None:
    r = invoke(runner, "demo", "-k", "5")
    assert r.exit_code == 0, r.output
    assert "plain CLIP" in r.stdout and "csd composite" in r.stdout and "highly relevant" in r.stdout
    page = Path(r.stdout.split("HTML page with thumbnails:")[1].split()[0])
    text = page.read_text()
    assert text.count("data:image/png;base64,") >= 40
    r = invoke(runner, "demo", "-k", "5")
    assert "encoded 0" in r.stderr  # the index is reused
    from csdclip_cli.index import IndexStore

    assert IndexStore().current() == "demo-tiny"  # so a following `csd search` searches the demo


def test_demo_train_leaves_the_shipped_model_alone_by_default(runner, tmp_path: Path, monkeypatch) -> None:
    """`csd demo train --steps 2` replaced the shipped model with a barely trained one, and
    `csd eval demo` then refused the demo's indexes."""
    from conftest import invoke

    import csdclip_cli.demo.train as trainer

    seen: list[Path] = []
    monkeypatch.setattr(trainer, "train", lambda steps, batch, out, *a, **kw: seen.append(Path(out)))
    monkeypatch.chdir(tmp_path)
    assert invoke(runner, "demo", "train", "--steps", "2", "--batch", "8").exit_code == 0
    assert seen == [Path("runs/demo-model")]
    assert invoke(runner, "demo", "train", "--steps", "2", "--out", str(tmp_path / "m")).exit_code == 0
    assert seen[-1] == tmp_path / "m"


def test_a_second_data_folder_gets_a_demo_index_of_its_own(tmp_path: Path) -> None:
    """`csd demo` with another CSD_DATA and the same index folder drew 3,000 images and then
    stopped: "index 'demo-tiny' indexes .../data/demo/imgs ...; pick another --name", an option
    `csd demo` does not have."""
    from conftest import make_colour_folder

    from csdclip_cli.demo import run
    from csdclip_cli.encoders import load_encoder
    from csdclip_cli.index import IndexStore, build_index
    from csdclip_cli.sources import FolderSource

    store = IndexStore(tmp_path / "indexes")
    first, second = FolderSource(make_colour_folder(tmp_path / "a", n=4)), make_colour_folder(tmp_path / "b", n=4)
    assert run.demo_index_name(store, first.location) == run.INDEX_NAME  # nothing there yet
    build_index(first, load_encoder("fake:colour"), run.INDEX_NAME, store)
    assert run.demo_index_name(store, first.location) == run.INDEX_NAME  # the same demo: reused
    other = run.demo_index_name(store, FolderSource(second).location)
    assert other.startswith(f"{run.INDEX_NAME}-") and len(other) == len(run.INDEX_NAME) + 9
    build_index(FolderSource(second), load_encoder("fake:colour"), other, store)  # no "pick another --name"
    assert set(store.names()) == {run.INDEX_NAME, other}
    # demo-tiny removed: the second gallery keeps its own index (it took demo-tiny and encoded again)
    store.remove(run.INDEX_NAME)
    assert run.demo_index_name(store, FolderSource(second).location) == other
    assert run.demo_index_name(store, first.location) == run.INDEX_NAME


def test_the_demo_benchmark_under_any_name_is_evaluated_with_the_demo_model(
    runner, tmp_path: Path, monkeypatch
) -> None:
    """`csd eval .` in the demo's folder (or its path) asked for --model, where `csd eval demo` took demo:tiny;
    a folder that is not the demo's still asks."""
    d = benchmark.write_benchmark(tmp_path / "bench", n_gallery=60, n_queries=10)
    monkeypatch.chdir(d)
    r = invoke(runner, "eval", ".", "--methods", "plain", "-k", "5")
    assert r.exit_code == 0 and "demo:tiny" in r.stdout, r.output
    (d / "scenes.jsonl").unlink()  # the same queries, no longer the demo's ground truth
    r = invoke(runner, "eval", str(d), "--methods", "plain", "-k", "5")
    assert r.exit_code == 2 and "name a model: --model" in r.stderr, r.output
