"""Evaluation on the layouts people already have, with the numbers of the reference tools.

Each layout is generated small: a gallery that is exactly the split's images (a warning for
the rest), splits chosen or refused with the choices listed, captions parsed as the reference
tool parses them, ties in gallery order, and R@k equal to a plain float32 computation (and, in
a slow test, to LAION's CLIP_benchmark itself) with --exact."""

from __future__ import annotations

import io
import json
import random
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke
from PIL import Image

from csdclip_cli.encoders import load_encoder
from csdclip_cli.errors import DatasetError
from csdclip_cli.eval.datasets import load_dataset
from csdclip_cli.sources.decode import decode_image

COLOURS = {"red": (230, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 230), "yellow": (230, 230, 20)}


def jpeg_bytes(rgb: tuple[int, int, int], size: int = 24) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(b, format="JPEG", quality=95)
    return b.getvalue()


def shade(name: str, i: int) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + (i * 7) % 40 - 20)) for c in COLOURS[name])  # type: ignore[return-value]


def colour_images(folder: Path, names: list[tuple[str, str]]) -> None:
    """(file name, colour) -> a solid, slightly shaded image."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (fname, colour) in enumerate(names):
        (folder / fname).write_bytes(jpeg_bytes(shade(colour, i)))


def reference_recall(enc, images: list[bytes], captions: list[tuple[int, str]], ks=(1, 5, 10)) -> dict:
    """Plain float32 text->image recall: any positive in the top k (CLIP_benchmark's definition),
    ties in gallery order."""
    iv = enc.encode_images(np.stack([enc.preprocess(decode_image(b)) for b in images])).astype(np.float32)
    tv = enc.encode_texts([t for _, t in captions]).astype(np.float32)
    scores = tv @ iv.T
    out = {}
    for k in ks:
        hits = [target in np.argsort(-scores[i], kind="stable")[:k] for i, (target, _) in enumerate(captions)]
        out[f"R@{k}"] = float(np.mean(hits))
    return out


def run_eval(runner, root: Path, *extra: str, model: str = "fake:colour") -> tuple:
    out = root.parent / f"report-{root.name}-{'-'.join(extra) or 'default'}".replace("/", "_")
    r = invoke(
        runner, "eval", str(root), "--model", model, "--methods", "plain", "-k", "1,5,10", "--report", str(out), *extra
    )
    assert r.exit_code == 0, r.output
    rows = json.loads((out / "summary.json").read_text())
    row = next(x for x in rows if x["subset"] == "all")
    return {k: v["mean"] for k, v in row["metrics"].items() if k.startswith("R@")}, r


# ---- CLIP_benchmark's flickr root, with distractors -------------------------------------------


def clip_benchmark_flickr(root: Path, n: int = 12, distractors: int = 8, duplicates: bool = False) -> list:
    colours = list(COLOURS)
    named = [(f"{1000 + i}.jpg", colours[i % 4]) for i in range(n)]
    colour_images(root, named)
    colour_images(root / "extra", [(f"x{i}.jpg", colours[i % 4]) for i in range(distractors)])
    if duplicates:  # an exact copy of an earlier image, later in the file
        (root / "1999.jpg").write_bytes((root / "1000.jpg").read_bytes())
        named.append(("1999.jpg", colours[0]))
    lines = ["image,caption"]
    captions = []
    for i, (fname, colour) in enumerate(named):
        for cap in (f"a {colour} square", f"{colour}, plain and simple"):  # a comma in the caption
            lines.append(f"{fname},{cap}")
            captions.append((i, cap))
    (root / "flickr30k_test_karpathy.txt").write_text("\n".join(lines) + "\n")
    return [(root / f).read_bytes() for f, _ in named], captions


def test_flickr_gallery_is_the_split_with_a_warning(runner, tmp_path: Path) -> None:
    root = tmp_path / "flickr30k"
    images, captions = clip_benchmark_flickr(root)
    ds = load_dataset(str(root))
    assert ds.split == "test" and len(ds.gallery_keys) == 12 and len(ds.queries) == 24
    assert ds.queries[1].raw == "red, plain and simple"  # split at '.jpg,' like CLIP_benchmark
    assert any("8 images under" in w and "left out of the gallery" in w for w in ds.warnings)
    got, r = run_eval(runner, root, "--exact")
    assert "left out of the gallery" in r.stderr
    assert got == reference_recall(load_encoder("fake:colour"), images, captions)
    assert got["R@1"] < 1.0  # shaded look-alikes: a real ranking, not a trivial one


def test_missing_split_is_an_error_listing_choices(runner, tmp_path: Path) -> None:
    root = tmp_path / "flickr30k"
    clip_benchmark_flickr(root)
    with pytest.raises(DatasetError, match="no split 'val'.*test"):
        load_dataset(str(root), split="val")
    r = invoke(runner, "eval", str(root), "--model", "fake:colour", "--split", "val")
    assert r.exit_code == 1 and "splits: test" in r.stderr and "Traceback" not in r.output


def test_duplicate_images_rank_in_gallery_order(runner, tmp_path: Path) -> None:
    root = tmp_path / "flickr30k"
    clip_benchmark_flickr(root, duplicates=True)
    out = tmp_path / "rep"
    r = invoke(runner, "eval", str(root), "--model", "fake:colour", "--methods", "plain", "--report", str(out))
    assert r.exit_code == 0, r.output
    for line in (out / "rankings.jsonl").read_text().splitlines():
        ranking = json.loads(line)["ranking"]
        if "1000" in ranking and "1999" in ranking:
            assert ranking.index("1999") == ranking.index("1000") + 1  # exact tie: file order kept


# ---- Karpathy dataset_*.json ------------------------------------------------------------------


def test_karpathy_gallery_is_the_split_and_split_is_chosen(runner, tmp_path: Path) -> None:
    root = tmp_path / "karpathy"
    colours = list(COLOURS)
    images = []
    for i in range(18):
        split = ("train", "val", "test")[i % 3]
        images.append(
            {"filename": f"{i}.jpg", "split": split, "sentences": [{"raw": f"a {colours[i % 4]} thing", "sentid": i}]}
        )
    colour_images(root / "images", [(f"{i}.jpg", colours[i % 4]) for i in range(18)])
    (root / "dataset_flickr30k.json").write_text(json.dumps({"images": images}))
    ds = load_dataset(str(root))
    assert ds.split == "test" and ds.gallery_keys == [f"{i}.jpg" for i in range(2, 18, 3)]
    assert ds.splits == ("test", "train", "val")
    assert any("12 images" in w for w in ds.warnings)
    val = load_dataset(str(root), split="val")
    assert val.gallery_keys == [f"{i}.jpg" for i in range(1, 18, 3)]
    got, _ = run_eval(runner, root, "--exact")
    test_imgs = [(root / "images" / k).read_bytes() for k in ds.gallery_keys]
    caps = [(j, q.raw) for j, q in enumerate(ds.queries)]
    assert got == reference_recall(load_encoder("fake:colour"), test_imgs, caps)


# ---- Chinese-CLIP dataset folder ---------------------------------------------------------------


def chinese_clip_folder(root: Path) -> None:
    from csdclip_cli.sources.lmdb_source import write_lmdb_images

    colours = list(COLOURS)
    for split, base in (("valid", 100), ("test", 200)):
        write_lmdb_images(
            root / "lmdb" / split / "imgs",
            iter((str(base + i), jpeg_bytes(shade(colours[i % 4], i))) for i in range(8)),
        )
        with (root / f"{split}_texts.jsonl").open("w") as f:
            for i in range(8):
                f.write(json.dumps({"text_id": base + i, "text": colours[i % 4], "image_ids": [base + i]}) + "\n")


def test_chinese_clip_folder_uses_the_splits_own_lmdb(runner, tmp_path: Path) -> None:
    root = tmp_path / "cnds"
    chinese_clip_folder(root)
    ds = load_dataset(str(root))
    assert ds.split == "test" and ds.gallery == root / "lmdb" / "test" / "imgs" and ds.lang == "zh"
    got, _ = run_eval(runner, root)
    assert got["R@10"] == 1.0  # the test texts find the test images (scored 0.000 before)
    got_valid, _ = run_eval(runner, root, "--split", "valid")
    assert got_valid["R@10"] == 1.0
    names = sorted(p.name for p in (tmp_path / "indexes").iterdir() if p.is_dir())
    assert names == ["cnds-test-fake-colour", "cnds-valid-fake-colour"]  # one gallery per split


def test_chinese_clip_folder_without_test_split_is_ambiguous(tmp_path: Path) -> None:
    root = tmp_path / "cnds"
    chinese_clip_folder(root)
    (root / "test_texts.jsonl").unlink()
    (root / "train_texts.jsonl").write_text((root / "valid_texts.jsonl").read_text())
    with pytest.raises(DatasetError, match="several splits.*--split.*train, valid"):
        load_dataset(str(root))


# ---- CLIP_benchmark mscoco_captions root -------------------------------------------------------


def test_clip_benchmark_coco_root(runner, tmp_path: Path) -> None:
    root = tmp_path / "mscoco"
    colours = list(COLOURS)
    files = [(f"COCO_val2014_{i:012d}.jpg", colours[i % 4]) for i in range(10)]
    colour_images(root / "val2014", files)
    colour_images(root / "val2014", [("COCO_val2014_999999999999.jpg", "red")])  # not in the split
    coco = {
        "images": [{"id": 10 - i, "file_name": f} for i, (f, _) in enumerate(files)],
        "annotations": [
            {"id": j, "image_id": 10 - i, "caption": f"a {c} tile"} for j, (i, (_, c)) in enumerate(enumerate(files))
        ],
    }
    (root / "coco_test_karpathy.json").write_text(json.dumps(coco))
    ds = load_dataset(str(root))
    assert ds.gallery_keys[0] == files[-1][0]  # images by sorted id, as torchvision's CocoCaptions
    assert any("1 images under" in w for w in ds.warnings)
    got, _ = run_eval(runner, root, "--exact")
    order = [root / "val2014" / k for k in ds.gallery_keys]
    caps = [(ds.gallery_keys.index(f), f"a {c} tile") for f, c in files]
    caps.sort(key=lambda x: x[0])
    assert got == reference_recall(load_encoder("fake:colour"), [p.read_bytes() for p in order], caps)


# ---- retrieval webdataset --------------------------------------------------------------------


def test_retrieval_webdataset_shards(runner, tmp_path: Path) -> None:
    root = tmp_path / "wds_flickr"
    (root / "test").mkdir(parents=True)
    (root / "dataset_type.txt").write_text("retrieval\n")
    colours = list(COLOURS)
    images, captions = [], []
    for shard in range(2):
        with tarfile.open(root / "test" / f"{shard}.tar", "w") as tar:
            for j in range(5):
                i = shard * 5 + j
                data = jpeg_bytes(shade(colours[i % 4], i))
                text = f"a {colours[i % 4]} patch\n{colours[i % 4]}\n".encode()
                for name, payload in ((f"s{i:04d}.jpg", data), (f"s{i:04d}.txt", text)):
                    info = tarfile.TarInfo(name)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
                images.append(data)
                captions += [(i, f"a {colours[i % 4]} patch"), (i, colours[i % 4])]
    (root / "test" / "nshards.txt").write_text("2\n")
    ds = load_dataset(str(root))
    assert ds.gallery_kind == "wds" and ds.gallery_keys[:2] == ["s0000", "s0001"] and len(ds.queries) == 20
    got, _ = run_eval(runner, root, "--exact")
    assert got == reference_recall(load_encoder("fake:colour"), images, captions)


# ---- Flickr30k results.csv and caption CSV files ----------------------------------------------


def test_flickr30k_results_csv_pipe_separated(tmp_path: Path) -> None:
    root = tmp_path / "f30k"
    colour_images(root / "flickr30k_images", [("1.jpg", "red"), ("2.jpg", "blue"), ("3.jpg", "green")])
    (root / "results.csv").write_text(
        "image_name| comment_number| comment\n"
        "1.jpg| 0| A red square .\n"
        '1.jpg| 1| "A square, red" said nobody\n'
        "2.jpg| 0| A blue square .\n"
    )
    ds = load_dataset(str(root))
    assert [q.raw for q in ds.queries] == ["A red square .", "A square, red said nobody", "A blue square ."]
    assert ds.gallery_keys == ["1.jpg", "2.jpg"]
    assert any("1 images under" in w for w in ds.warnings)


def test_caption_csv_quotes_are_parsed(tmp_path: Path) -> None:
    root = tmp_path / "caps"
    colour_images(root / "images", [("a.jpg", "red"), ("b.jpg", "blue")])
    (root / "captions.txt").write_text('image,caption\na.jpg,"a red, shiny square"\nb.jpg,"the ""blue"" one"\n')
    ds = load_dataset(str(root))
    assert [q.raw for q in ds.queries] == ["a red, shiny square", 'the "blue" one']
    assert ds.split is None and ds.gallery_keys == ["a.jpg", "b.jpg"]


def test_caption_csv_unquoted_commas_stay_in_the_caption(tmp_path: Path) -> None:
    """Flickr8k's captions.txt with an unquoted comma kept only the caption's last part ("no people")."""
    root = tmp_path / "caps"
    colour_images(root / "images", [("a.jpg", "red"), ("b.jpg", "blue")])
    (root / "captions.txt").write_text("image,caption\na.jpg,a red car, with a tree behind it, no people\nb.jpg,blue\n")
    ds = load_dataset(str(root))
    assert [q.raw for q in ds.queries] == ["a red car, with a tree behind it, no people", "blue"]


def test_a_caption_file_names_the_bad_line_by_its_number(tmp_path: Path) -> None:
    """captions.txt:4 was named for the bad third line (rows were counted after blank lines were
    dropped, and a header was assumed)."""
    root = tmp_path / "caps"
    colour_images(root / "images", [(f"o{i}.jpg", "red") for i in range(1, 5)])
    (root / "captions.txt").write_text("o1.jpg,a red car\no2.jpg,a dog\no3.jpg,\no4.jpg,a house\n")
    with pytest.raises(DatasetError, match=r"captions.txt:3: bad line \(no caption\)"):
        load_dataset(str(root))
    (root / "captions.txt").write_text("image,caption\no1.jpg,a\n\n\no2.jpg,b\no3.jpg,\n")
    with pytest.raises(DatasetError, match=r"captions.txt:6: bad line"):
        load_dataset(str(root))


def test_file_names_shared_by_two_folders_are_warned_and_counted_once(runner, tmp_path: Path) -> None:
    """A Karpathy file with a/img0.jpg and b/img0.jpg: both are id img0, and the ranking listed it
    twice (GRP@10 1.400, mAP 1.264) without a word."""
    root = tmp_path / "karp"
    images = [(f"{d}/img{i}.jpg", c) for d in ("a", "b") for i, c in enumerate(["red", "blue", "green"])]
    for d in ("a", "b"):
        (root / "images" / d).mkdir(parents=True)
    colour_images(root / "images", images)
    split = [
        {"filepath": name.split("/")[0], "filename": name.split("/")[1], "split": "test", "sentences": [{"raw": c}]}
        for name, c in images
    ]
    (root / "dataset_mine.json").write_text(json.dumps({"images": split}))
    ds = load_dataset(str(root))
    assert any("are names of several files" in w for w in ds.warnings), ds.warnings
    rep = tmp_path / "rep"
    r = invoke(
        runner, "eval", str(root), "--model", "fake:colour", "--methods", "plain", "-k", "5", "--report", str(rep)
    )
    assert r.exit_code == 0, r.output
    rows = json.loads((rep / "summary.json").read_text())
    means = {(row["subset"], m): v["mean"] for row in rows for m, v in row["metrics"].items()}
    assert means and all(v <= 1.0 for v in means.values()), means


# ---- --exact against a float32 reference, and CLIP_benchmark itself ---------------------------


def demo_world_flickr(root: Path, n: int = 120, distractors: int = 40) -> tuple[list[bytes], list[tuple[int, str]]]:
    from csdclip_cli.demo import world

    root.mkdir(parents=True)
    rng = random.Random(1)
    lines, images, captions = ["image,caption"], [], []
    for i in range(n + distractors):
        scene = world.sample_scene(50_000 + i, seed=3)
        b = io.BytesIO()
        world.render(scene).save(b, format="JPEG", quality=95)
        name = f"{2_000_000 + i}.jpg"
        (root / name).write_bytes(b.getvalue())
        if i < n:
            images.append(b.getvalue())
            for _ in range(2):
                cap = world.caption(scene, rng)
                lines.append(f"{name},{cap}")
                captions.append((i, cap))
    (root / "flickr30k_test_karpathy.txt").write_text("\n".join(lines) + "\n")
    return images, captions


def test_exact_matches_float32_reference_on_demo_model(runner, tmp_path: Path) -> None:
    root = tmp_path / "flickr30k"
    images, captions = demo_world_flickr(root)
    ref = reference_recall(load_encoder("demo:tiny"), images, captions)
    exact, _ = run_eval(runner, root, "--exact", model="demo:tiny")
    assert exact == ref, (exact, ref)  # identical, not close
    default, _ = run_eval(runner, root, model="demo:tiny")
    assert all(abs(default[k] - ref[k]) <= 2 / len(captions) for k in ref)  # float16 storage: at most a hit or two
    print(f"\nreference fp32 {ref}\ncsd --exact    {exact}\ncsd float16    {default}")


@pytest.mark.slow
def test_matches_clip_benchmark_itself(runner, tmp_path: Path) -> None:
    """LAION's CLIP_benchmark (its Flickr loader and zeroshot_retrieval metric, fp32, no AMP) on
    the same folder, model weights and preprocessing."""
    import torch
    from clip_benchmark.datasets.builder import build_dataset, image_captions_collate_fn
    from clip_benchmark.metrics import zeroshot_retrieval

    root = tmp_path / "flickr30k"
    demo_world_flickr(root)
    enc = load_encoder("demo:tiny")
    ds = build_dataset(
        "flickr30k", root=str(root), transform=enc._preprocess, split="test", download=False, task="zeroshot_retrieval"
    )
    loader = torch.utils.data.DataLoader(ds, batch_size=64, collate_fn=image_captions_collate_fn)
    ref = zeroshot_retrieval.evaluate(enc.model, loader, enc.tokenizer, "cpu", amp=False, recall_k_list=[1, 5, 10])
    exact, _ = run_eval(runner, root, "--exact", model="demo:tiny")
    theirs = {f"R@{k}": ref[f"image_retrieval_recall@{k}"] for k in (1, 5, 10)}
    print(f"\nCLIP_benchmark {theirs}\ncsd --exact    {exact}")
    for k in theirs:
        assert abs(exact[k] - theirs[k]) < 1e-6, (exact, theirs)


def test_split_gallery_index_is_not_updated_by_index_update(runner, tmp_path: Path) -> None:
    root = tmp_path / "flickr30k"
    clip_benchmark_flickr(root)
    run_eval(runner, root)
    r = invoke(runner, "index", "update", "flickr30k-test-fake-colour")
    assert r.exit_code == 2 and "csd eval" in r.stderr


def test_two_folders_of_one_layout_get_their_own_indexes(runner, tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "flickr30k", tmp_path / "b" / "flickr30k"
    clip_benchmark_flickr(a)
    clip_benchmark_flickr(b, n=8)
    run_eval(runner, a)
    got, _ = run_eval(runner, b)  # was: "index ... indexes a, not b; pick another --name"
    assert got["R@10"] == 1.0
    assert len([p for p in (tmp_path / "indexes").iterdir() if p.name.startswith("flickr30k-test-fake-colour")]) == 2


@pytest.mark.parametrize(
    "args, message",
    [(["-k", "0"], "at least 1"), (["-k", "5,-1"], "at least 1"), (["--methods", "plain,bogus"], "choose from")],
)
def test_eval_options_checked_before_any_work(runner, tmp_path: Path, args: list, message: str) -> None:
    root = tmp_path / "flickr30k"
    clip_benchmark_flickr(root)
    r = invoke(runner, "eval", str(root), "--model", "fake:colour", *args)
    assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "indexes").exists() or not any((tmp_path / "indexes").iterdir())


def test_terminal_table_shows_every_recall_cut_off(runner, tmp_path: Path) -> None:
    root = tmp_path / "flickr30k"
    clip_benchmark_flickr(root)
    r = invoke(runner, "eval", str(root), "--model", "fake:colour", "--methods", "plain")
    assert "R@1" in r.stdout and "R@5" in r.stdout and "R@10" in r.stdout


def test_a_dataset_folder_named_bare_from_where_it_is(runner, tmp_path: Path, monkeypatch) -> None:
    """'csd eval capds' said the dataset was not found although ./capds existed (the README
    says a folder may be given); './capds' worked."""
    clip_benchmark_flickr(tmp_path / "capds")
    monkeypatch.chdir(tmp_path)
    r = invoke(runner, "eval", "capds", "--model", "fake:colour", "--methods", "plain")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("inside", [".", "images"])
def test_a_dataset_given_as_dot_is_named_after_its_folder(runner, tmp_path: Path, monkeypatch, inside: str) -> None:
    """`csd eval .` in a caption-file dataset (and `..` from its images) failed: the index was named
    '-demo-tiny' ('..-demo-tiny'), an invalid name the user never chose."""
    root = tmp_path / "captxt"
    colour_images(root / "images", [("a.jpg", "red"), ("b.jpg", "blue")])
    (root / "captions.txt").write_text("image,caption\na.jpg,a red square\nb.jpg,a blue square\n")
    monkeypatch.chdir(root / inside if inside != "." else root)
    where = "." if inside == "." else ".."
    assert load_dataset(where).name == "captxt"
    r = invoke(runner, "eval", where, "--model", "fake:colour", "--methods", "plain", "-k", "1")
    assert r.exit_code == 0, r.output
    assert "captxt-fake-colour" in invoke(runner, "index", "list").output


def test_a_run_that_can_measure_nothing_stops_in_every_layout(runner, tmp_path: Path) -> None:
    """A caption file naming files that are not there built a gallery of 0 images, printed an
    all-zero table and exited 0; so did a query file whose every image_ids is empty."""
    caps = tmp_path / "capnone"
    colour_images(caps / "images", [("a.jpg", "red")])
    (caps / "captions.txt").write_text("image,caption\nmissing0.png,a red square\nmissing1.png,a blue one\n")
    r = invoke(runner, "eval", str(caps), "--model", "fake:colour", "--methods", "plain", "-k", "1")
    assert r.exit_code != 0 and "none of the images the queries of" in r.stderr and "nothing was evaluated" in r.stderr
    assert "Traceback" not in r.output and "NIPR" not in r.output and "R@1" not in r.stdout, r.output
    empty = tmp_path / "tjempty"
    colour_images(empty / "imgs", [("a.png", "red")])
    (empty / "en_x.jsonl").write_text(json.dumps({"text_id": "q", "text": "a red square", "image_ids": []}) + "\n")
    r = invoke(runner, "eval", str(empty), "--model", "fake:colour", "--methods", "plain", "-k", "1")
    assert r.exit_code != 0 and "names a relevant image, so there is nothing to measure" in r.stderr, r.output


def test_a_dataset_folder_named_with_a_leading_dot_or_dash_gets_a_valid_index(runner, tmp_path: Path) -> None:
    """`csd eval .hid` stopped with "invalid index name '.hid-fake-colour'" (csd eval has no --name)."""
    for folder in (".hid", "-neg"):
        root = tmp_path / folder
        colour_images(root / "images", [("a.jpg", "red"), ("b.jpg", "blue")])
        (root / "captions.txt").write_text("image,caption\na.jpg,a red square\nb.jpg,a blue square\n")
        r = invoke(runner, "eval", str(root), "--model", "fake:colour", "--methods", "plain", "-k", "1")
        assert r.exit_code == 0, r.output
    assert {"hid-fake-colour", "neg-fake-colour"} <= set(invoke(runner, "index", "list").stdout.split())
