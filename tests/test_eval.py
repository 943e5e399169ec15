"""Metrics against hand-computed rankings, dataset loaders on generated fixtures in every
layout, and an end-to-end evaluation producing the report files."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import COLOURS, invoke
from PIL import Image

from csdclip_cli.errors import DatasetError
from csdclip_cli.eval import metrics as M
from csdclip_cli.eval.datasets import load_dataset
from csdclip_cli.sources.lmdb_source import write_lmdb_images

HR, MR = {"a", "b"}, {"c"}


def test_metrics_by_hand() -> None:
    ranking = ["x", "a", "c", "y", "b"]
    assert M.recall_at(ranking, HR, 1) == 0.0 and M.recall_at(ranking, HR, 2) == 1.0
    # GRP@3: gains 0 + 1 + 0.5 = 1.5; ideal top 3 = 1 + 1 + 0.5 = 2.5
    assert M.grp_at(ranking, HR, MR, 3) == pytest.approx(1.5 / 2.5)
    # NIPR@5: HR at positions 2 and 5 -> (1/2 + 1/5) / (1 + 1/2)
    assert M.nipr_at(ranking, HR, 5) == pytest.approx((0.5 + 0.2) / 1.5)
    # NIPR@1 with one place: no HR in it -> 0; ideal uses min(k, #HR) = 1 term
    assert M.nipr_at(ranking, HR, 1) == 0.0
    dcg = 1 / math.log2(3) + 0.5 / math.log2(4) + 1 / math.log2(6)
    idcg = 1 + 1 / math.log2(3) + 0.5 / math.log2(4)
    assert M.ndcg_at(ranking, HR, MR, 5) == pytest.approx(dcg / idcg)
    assert M.average_precision(ranking, HR) == pytest.approx((1 / 2 + 2 / 5) / 2)
    assert M.precision_at(ranking, HR, 5) == pytest.approx(2 / 5)
    assert M.precision_at(ranking, HR | MR, 5) == pytest.approx(3 / 5)


def test_metrics_edge_cases() -> None:
    # fewer than k results: missing places count as misses for P, and GRP uses the ideal
    assert M.precision_at(["a"], HR, 10) == pytest.approx(0.1)
    assert M.grp_at(["a"], HR, MR, 10) == pytest.approx(1 / 2.5)
    # no HR: R / NIPR / AP undefined (NaN), GRP still defined through MR
    assert math.isnan(M.recall_at(["c"], set(), 5)) and math.isnan(M.nipr_at(["c"], set(), 5))
    assert M.grp_at(["c"], set(), {"c"}, 5) == 1.0
    assert math.isnan(M.grp_at(["x"], set(), set(), 5))
    # lenient P counts MR as relevant, so an MR-only query has it (it was NaN and left out of the mean)
    q = M.query_metrics(["a", "b", "c", "d"], set(), {"a", "b"}, [2])
    assert q["P_lenient@2"] == 1.0 and math.isnan(q["P_strict@2"])
    assert math.isnan(M.query_metrics(["a"], set(), set(), [1])["P_lenient@1"])
    # perfect ranking scores 1 everywhere
    q = M.query_metrics(["a", "b", "c"], HR, MR, [1, 3])
    assert all(v == pytest.approx(1.0) for k, v in q.items() if not k.startswith("P_"))
    # ties keep gallery order, so equal scores rank deterministically
    assert M.rank_by_score(["p", "q", "r"], [0.5, 0.9, 0.5]) == ["q", "p", "r"]


def test_recall_matches_clip_benchmark_convention() -> None:
    """CLIP_benchmark's text->image recall@k: for each caption, 1 if any of its positive
    images is in the top k of the score matrix, averaged over captions."""
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((6, 8))  # captions x images
    positives = [{i % 8} for i in range(6)]  # one image per caption, as in COCO / Flickr
    positives[2] = {1, 5}
    ids = [str(i) for i in range(8)]
    for k in (1, 3, 5):
        topk = np.argsort(-scores, axis=1)[:, :k]  # the reference computation
        reference = np.mean([any(j in pos for j in row) for row, pos in zip(topk, positives)])
        ours = np.mean(
            [M.recall_at(M.rank_by_score(ids, s), {str(p) for p in pos}, k) for s, pos in zip(scores, positives)]
        )
        assert ours == pytest.approx(reference)


def test_bootstrap_and_paired_difference() -> None:
    mean, lo, hi = M.bootstrap_ci([0.0, 1.0] * 50)
    assert mean == 0.5 and lo < 0.5 < hi
    d, dlo, dhi = M.paired_difference([1.0] * 20, [0.0] * 20)
    assert (d, dlo, dhi) == (1.0, 1.0, 1.0)
    assert M.paired_difference([1.0, math.nan], [0.0, 0.0])[0] == 1.0


def png(rgb: tuple[int, int, int]) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (16, 16), rgb).save(b, format="PNG")
    return b.getvalue()


def make_tigr(root: Path, arranged: bool, bad_line: bool = False, lmdb: bool = True) -> Path:
    """A tiny TIGR-format dataset over colour images: ids c0..c11, 3 per colour."""
    names = list(COLOURS)
    images = {f"c{i}": png(COLOURS[names[i % 4]]) for i in range(12)}
    colour_of = {iid: names[i % 4] for i, iid in enumerate(images)}
    d = root / "tigr100k" if arranged else root / "download"
    d.mkdir(parents=True)
    lines = []
    for i, (c, other) in enumerate([("red", "blue"), ("green", "yellow"), ("yellow", "red"), ("blue", "green")]):
        text = (
            f"{c}, no {other} | Time: none, place: none, person: none | Search intention: complex | Phrase, "
            f"word expression optimization: {c} | Multi-agent logical relationship analysis: -AND: < {c} >"
            + (f", -NOT: < {other} >" if i % 2 == 0 else "")
            + "\n"
        )
        hr = [k for k, v in colour_of.items() if v == c]
        mr = [k for k, v in colour_of.items() if v == other]
        lines.append(json.dumps({"text_id": f"t{i}", "text": text, "image_ids": hr, "image_xiangsi_ids": mr}))
    if bad_line:
        lines.insert(2, "{not json")
    name = "en_tigr100k.jsonl" if arranged else "en_complex_1044_final.jsonl"
    (d / name).write_text("\n".join(lines) + "\n")
    if lmdb:
        write_lmdb_images(d / "lmdb" / "imgs", iter(images.items()))
    (d / "imgs").mkdir()
    for k, v in list(images.items())[:6]:
        (d / "imgs" / f"{k}.png").write_bytes(v)
    return d


def test_loaders_both_tigr_layouts(tmp_path: Path) -> None:
    make_tigr(tmp_path, arranged=True)
    ds = load_dataset("tigr100k", data_dir=tmp_path)
    assert len(ds.queries) == 4 and ds.gallery.name == "imgs" and ds.gallery.parent.name == "lmdb"
    q = ds.queries[0]
    assert q.raw == "red, no blue" and q.hr == {"c0", "c4", "c8"} and q.mr == {"c2", "c6", "c10"}
    assert q.gold is not None and q.gold.not_ == ["blue"] and q.has_not
    assert not ds.queries[1].has_not
    d = make_tigr(tmp_path, arranged=False)
    ds2 = load_dataset(str(d))
    assert len(ds2.queries) == 4 and not ds2.warnings


def test_loader_falls_back_to_imgs_with_warning(tmp_path: Path) -> None:
    d = make_tigr(tmp_path, arranged=False, lmdb=False)
    ds = load_dataset(str(d))
    assert ds.gallery == d / "imgs" and "irrelevant images are missing" in ds.warnings[0]
    assert ds.image_id("c3.png") == "c3"


def test_bad_line_reported_with_number(tmp_path: Path) -> None:
    d = make_tigr(tmp_path, arranged=False, bad_line=True)
    with pytest.raises(DatasetError, match=r"en_complex_1044_final.jsonl:3: bad line .*--skip-bad"):
        load_dataset(str(d))
    ds = load_dataset(str(d), skip_bad=True)
    assert len(ds.queries) == 4 and ":3: bad line" in ds.warnings[0]


def add_lines(d: Path, *rows: dict) -> Path:
    """Append query lines to the TIGR file make_tigr wrote in `d` (lines 5, 6, ...)."""
    f = next(d.glob("en_*.jsonl"))
    f.write_text(f.read_text() + "".join(json.dumps(r) + "\n" for r in rows))
    return f


def test_an_image_graded_both_hr_and_mr_is_warned_and_counts_as_hr(tmp_path: Path) -> None:
    """A query listing an image in image_ids and image_xiangsi_ids was taken silently, and a
    perfect ranking then scored nDCG@10 0.76 (the ideal ranking counted the image twice)."""
    d = make_tigr(tmp_path, arranged=False)
    add_lines(d, {"text_id": "t9", "text": "a red square", "image_ids": ["c0"], "image_xiangsi_ids": ["c0", "c1"]})
    ds = load_dataset(str(d))
    q = next(q for q in ds.queries if q.text_id == "t9")
    assert q.hr == {"c0"} and q.mr == {"c1"}
    assert any("both as highly and as moderately relevant (e.g. line 5: 'c0')" in w for w in ds.warnings), ds.warnings


def test_duplicate_text_id_is_a_bad_line(runner, tmp_path: Path) -> None:
    """A second line with a text_id replaced the first query's ranking while n still counted both."""
    d = make_tigr(tmp_path, arranged=False)
    add_lines(d, {"text_id": "t1", "text": "a red square", "image_ids": ["c0"]})
    with pytest.raises(DatasetError, match=r"jsonl:5: bad line \(text_id 't1' is also on line 2\).*--skip-bad"):
        load_dataset(str(d))
    ds = load_dataset(str(d), skip_bad=True)
    assert [q.text_id for q in ds.queries] == ["t0", "t1", "t2", "t3"] and ds.queries[1].raw == "green, no yellow"
    assert any(":5: bad line (text_id 't1'" in w for w in ds.warnings)


@pytest.mark.parametrize("key", ["image_ids", "image_xiangsi_ids"])
@pytest.mark.parametrize("value", ["c0", {"c0": 1}, [["c0"]], [True], None])
def test_relevance_ids_must_be_a_list_of_ids(tmp_path: Path, key: str, value: object) -> None:
    """'image_ids': 'd000006' was read as the ids {'d', '0', '6'}."""
    d = make_tigr(tmp_path, arranged=False)
    add_lines(d, {"text_id": "t9", "text": "a red square", key: value})
    with pytest.raises(DatasetError, match=rf"jsonl:5: bad line \({key} must be a list of string or integer ids"):
        load_dataset(str(d))
    ds = load_dataset(str(d), skip_bad=True)
    assert [q.text_id for q in ds.queries] == ["t0", "t1", "t2", "t3"]


def test_integer_relevance_ids_are_read_as_strings(tmp_path: Path) -> None:
    d = make_tigr(tmp_path, arranged=False)
    add_lines(d, {"text_id": "t9", "text": "a red square", "image_ids": [7, "c1"], "image_xiangsi_ids": []})
    q = load_dataset(str(d)).queries[-1]
    assert q.hr == {"7", "c1"} and q.mr == set()


@pytest.mark.parametrize("split", [None, 5, ["test"]])
def test_split_must_be_a_string(runner, tmp_path: Path, split: object) -> None:
    """'split': null or 5 crashed with a TypeError traceback (sorting the splits), --skip-bad or not."""
    d = make_tigr(tmp_path, arranged=False)
    add_lines(d, {"text_id": "t9", "text": "a red square", "image_ids": ["c0"], "split": split})
    with pytest.raises(DatasetError, match=r"jsonl:5: bad line \(split must be a string, got .*--skip-bad"):
        load_dataset(str(d))
    ds = load_dataset(str(d), skip_bad=True)
    assert len(ds.queries) == 4 and ds.splits == ("test",)
    r = invoke(runner, "eval", str(d), "--model", "fake:colour")
    assert r.exit_code == 1 and "jsonl:5: bad line (split must be a string" in r.stderr
    assert "Traceback" not in r.output


def test_relevant_ids_missing_from_gallery_warned_once(tmp_path: Path) -> None:
    """Relevant ids the gallery lacks were counted as misses without a word."""
    d = make_tigr(tmp_path, arranged=False)
    add_lines(
        d,
        {"text_id": "t9", "text": "red", "image_ids": ["c0", "zz1"], "image_xiangsi_ids": ["zz2"]},
        {"text_id": "t10", "text": "blue", "image_ids": ["zz3"]},
    )
    ds = load_dataset(str(d))
    missing = [w for w in ds.warnings if "not in the gallery" in w]
    assert len(missing) == 1 and not ds.errors
    assert "2 of 6 queries" in missing[0] and "t9: zz1, zz2; t10: zz3" in missing[0] and "misses" in missing[0]
    # an imgs/ gallery (6 of the 12 images): ids are file names without their extension
    d = make_tigr(tmp_path / "folder", arranged=False, lmdb=False)
    ds = load_dataset(str(d))
    assert any("4 of 4 queries" in w and "t0: c10, c6" in w for w in ds.warnings) and not ds.errors


def test_files_of_one_name_in_two_folders_are_warned_about(tmp_path: Path) -> None:
    """In a folder gallery ids are file names without their extension: a/c0.png and b/c0.png
    were one id without a word, and a relevant one could be either."""
    d = make_tigr(tmp_path, arranged=False, lmdb=False)
    (d / "imgs" / "more").mkdir()
    (d / "imgs" / "more" / "c0.png").write_bytes((d / "imgs" / "c1.png").read_bytes())
    ds = load_dataset(str(d))
    shared = [w for w in ds.warnings if "names of several files" in w]
    assert len(shared) == 1 and "'c0': c0.png, more/c0.png" in shared[0], ds.warnings
    from csdclip_cli.sources.folder import FolderSource

    src = FolderSource(d / "imgs")  # the check lists names only; they are the keys a build gives
    assert list(src.keys()) == [it.key for it in src.items()] and "more/c0.png" in list(src.keys())


def test_no_relevant_id_in_gallery_is_one_error_line(runner, tmp_path: Path) -> None:
    """Integer ids (6) for gallery keys like 'c6': every metric 0.000, without a word; then an
    "error:" line with exit 0, the run going on to print and save all-zero tables."""
    d = make_tigr(tmp_path, arranged=False)
    f = next(d.glob("en_*.jsonl"))
    rows = [json.loads(line) for line in f.read_text().splitlines()]
    for r in rows:
        r["image_ids"] = [int(i[1:]) for i in r["image_ids"]]
        r["image_xiangsi_ids"] = [int(i[1:]) for i in r["image_xiangsi_ids"]]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset(str(d))
    assert len(ds.errors) == 1 and not any("not in the gallery" in w for w in ds.warnings)
    assert "no image id in en_complex_1044_final.jsonl is in the gallery" in ds.errors[0]
    assert "'0'" in ds.errors[0] and "'c0'" in ds.errors[0] and "every metric will be 0" in ds.errors[0]
    rep = tmp_path / "rep"  # made to check it is writable, it was left behind empty
    r = invoke(runner, "eval", str(d), "--model", "fake:colour", "--methods", "plain", "-k", "1", "--report", str(rep))
    assert r.exit_code != 0 and "Traceback" not in r.output and "NIPR" not in r.output, r.output
    assert not rep.exists()
    assert [line for line in r.stderr.splitlines() if "gallery" in line] == [
        f"error: {ds.errors[0]}; nothing was evaluated"
    ]


def test_query_without_relevant_image_n_is_the_queries_averaged(runner, tmp_path: Path) -> None:
    """A query with 'image_ids': [] was left out of the means while the table's n counted it."""
    d = make_tigr(tmp_path, arranged=False)
    add_lines(d, {"text_id": "t9", "text": "a red square", "image_ids": []})
    ds = load_dataset(str(d))
    assert [w for w in ds.warnings if "no relevant image" in w] == [
        "1 of 5 queries in en_complex_1044_final.jsonl have no relevant image (empty image_ids, e.g. t9): "
        "left out of the means"
    ]
    out = tmp_path / "report"
    r = invoke(
        runner,
        "eval",
        str(d),
        "--model",
        "fake:colour",
        "--methods",
        "plain",
        "-k",
        "1",
        "-r",
        "rules",
        "--report",
        str(out),
    )
    assert r.exit_code == 0, r.output
    assert r.stderr.count("no relevant image") == 1
    cells = [[c.strip() for c in line.split("│")] for line in r.stdout.splitlines()]
    assert next(c[3] for c in cells if c[1:3] == ["plain", "all"]) == "4"  # averaged, not the 5 loaded
    assert "## all (5 queries; the means average 4)" in (out / "summary.md").read_text()
    add_lines(d, {"text_id": "t10", "text": "blue", "image_ids": [], "image_xiangsi_ids": ["c1"]})
    (w,) = [w for w in load_dataset(str(d)).warnings if "no relevant image" in w]
    assert w.startswith("2 of 6 queries") and w.endswith("(GRP and nDCG keep the 1 with similar images)")


def test_n_shown_is_a_range_when_metrics_average_different_queries() -> None:
    from csdclip_cli.eval.report import averaged

    row = {"metrics": {"R@1": {"n": 19}, "GRP@1": {"n": 20}, "mAP": {"n": 19}}}
    assert averaged(row, ["R@1", "mAP"]) == "19" and averaged(row, ["R@1", "GRP@1", "mAP"]) == "19–20"


def test_single_relevance_and_karpathy_layouts(tmp_path: Path) -> None:
    d = tmp_path / "data" / "coco"
    d.mkdir(parents=True)
    (d / "en_coco.jsonl").write_text(json.dumps({"text_id": 1, "text": "a red square", "image_ids": [7]}) + "\n")
    write_lmdb_images(d / "lmdb" / "imgs", iter([("7", png((255, 0, 0)))]))
    ds = load_dataset("coco", data_dir=tmp_path / "data")
    assert ds.queries[0].hr == {"7"} and ds.queries[0].gold is None and not ds.graded
    k = tmp_path / "karp"
    (k / "images").mkdir(parents=True)
    (k / "dataset_coco.json").write_text(
        json.dumps(
            {
                "images": [
                    {"filename": "x1.jpg", "split": "test", "sentences": [{"raw": "a cat", "sentid": 5}]},
                    {"filename": "x2.jpg", "split": "train", "sentences": [{"raw": "a dog", "sentid": 6}]},
                ]
            }
        )
    )
    ds = load_dataset(str(k))
    assert [(q.raw, q.hr) for q in ds.queries] == [("a cat", {"x1"})]
    f = tmp_path / "flickr"
    (f / "images").mkdir(parents=True)
    (f / "captions.txt").write_text("image,caption\n1000.jpg,a child in pink\n1001.jpg,a black dog\n")
    ds = load_dataset(str(f))
    assert [(q.raw, q.hr) for q in ds.queries] == [("a child in pink", {"1000"}), ("a black dog", {"1001"})]


def test_unknown_dataset_lists_names(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="known names: tigr100k"):
        load_dataset("nope", data_dir=tmp_path)


def test_end_to_end_eval_writes_report(runner, tmp_path: Path) -> None:
    make_tigr(tmp_path / "data", arranged=True)
    out = tmp_path / "report"
    r = invoke(
        runner,
        "eval",
        "tigr100k",
        "--data-dir",
        str(tmp_path / "data"),
        "--model",
        "fake:colour",
        "--methods",
        "plain,arith,deo,csd",
        "-k",
        "1,3",
        "--report",
        str(out),
    )
    assert r.exit_code == 0, r.output
    assert "csd" in r.stdout and "with NOT" in r.stdout
    for f in ("summary.md", "summary.json", "metrics.png", "index.html", "rankings.jsonl", "queries.jsonl"):
        assert (out / f).is_file(), f
    rows = json.loads((out / "summary.json").read_text())
    assert {r["subset"] for r in rows} == {"all", "with NOT", "without NOT"}
    assert len(rows) == 4 * 3
    csd_all = next(r for r in rows if r["method"] == "csd" and r["subset"] == "all")
    assert {"mean", "low", "high", "n"} <= set(csd_all["metrics"]["GRP@3"])
    assert "diff_vs_plain" in csd_all["metrics"]["NIPR@3"]
    # summary.md promised a Δ column it never had; it says where the differences are
    assert "Δ" not in (out / "summary.md").read_text() and "`diff_vs_plain`" in (out / "summary.md").read_text()
    assert csd_all["metrics"]["R@1"]["mean"] == 1.0  # the fake encoder ranks the colour exactly
    html = (out / "index.html").read_text()
    from csdclip_cli.eval.report import thumb_name

    assert thumb_name("c0") in html and (out / thumb_name("c0")).is_file() and "class='card HR'" in html
    before = (out / "summary.json").read_text()
    (out / "summary.json").unlink()
    r = invoke(runner, "eval", "report", str(out))
    assert r.exit_code == 0 and (out / "summary.json").read_text() == before


def test_chinese_tigr_file(tmp_path: Path) -> None:
    d = make_tigr(tmp_path, arranged=True)
    text = (
        "红色，不要蓝色｜时间：无，地点：无，人物：无｜搜索意图：复杂｜短语优化：红色｜"
        "多主体逻辑关系分析：-AND：＜红色＞，-NOT：＜蓝色＞\n"
    )
    (d / "zh_tigr100k.jsonl").write_text(
        json.dumps(
            {"text_id": "z1", "text": text, "image_ids": ["c0"], "image_xiangsi_ids": ["c2"]}, ensure_ascii=False
        )
        + "\n"
    )
    ds = load_dataset("tigr100k", data_dir=tmp_path, lang="zh")
    q = ds.queries[0]
    assert ds.lang == "zh" and q.raw == "红色，不要蓝色" and q.gold.not_ == ["蓝色"] and q.has_not


def test_chinese_only_folder_names_lang_zh(runner, tmp_path: Path) -> None:
    """A folder with only zh_*.jsonl said 'no en_*.jsonl ...' and listed every layout, with no hint."""
    d = make_tigr(tmp_path, arranged=False)
    f = next(d.glob("en_*.jsonl"))
    f.rename(d / f.name.replace("en_", "zh_"))
    with pytest.raises(
        DatasetError, match=r"no en_\*.jsonl queries but has zh_complex_1044_final.jsonl: pass --lang zh$"
    ):
        load_dataset(str(d))
    r = invoke(runner, "eval", str(d), "--model", "fake:colour")
    assert r.exit_code == 1 and "pass --lang zh" in r.stderr and "Traceback" not in r.output
    assert len(load_dataset(str(d), lang="zh").queries) == 4


def test_ties_rank_in_gallery_order() -> None:
    """Duplicate images score exactly the same: they rank in gallery (row) order, in every
    block of the brute-force scan and across blocks."""
    import numpy as np

    from csdclip_cli.search import gallery as G

    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 8)).astype(np.float32)
    vecs = np.concatenate([base, base])  # row i and row 50 + i are duplicates
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)

    class Gen:
        vectors, alive = vecs.astype(np.float16), np.ones(100, bool)
        ann, stats = None, {}

    gal = G.Gallery(None, Gen())  # type: ignore[arg-type]
    old = G.CHUNK
    try:
        for chunk in (1 << 18, 16, 7):
            G.CHUNK = chunk
            for qi in range(50):
                rows, scores = gal.exact_top(vecs[qi], 100)
                for a, b in zip(range(len(rows) - 1), range(1, len(rows))):
                    if scores[a] == scores[b]:
                        assert rows[a] < rows[b], (chunk, qi, rows[a], rows[b])
                pos = {int(r): i for i, r in enumerate(rows)}
                assert pos[qi] + 1 == pos[qi + 50]  # the duplicate pair is adjacent, lower row first
    finally:
        G.CHUNK = old


def test_reports_record_their_settings_and_keep_their_own_thumbnails(runner, tmp_path: Path, monkeypatch) -> None:
    """A fresh user: a report did not record the fusion weights, split, limit or --exact; a
    re-render from another folder, or after the index was removed, blanked every thumbnail; a
    second dataset's report in the same folder showed the first one's images; a damaged
    run.json or a missing rankings.jsonl was a traceback."""
    import os
    import shutil

    make_tigr(tmp_path / "data", arranged=True)
    out = tmp_path / "report"
    cfg = tmp_path / "w.toml"
    cfg.write_text("[composite]\nnot_weight = 0.5\n")
    args = ["--data-dir", str(tmp_path / "data"), "--model", "fake:colour", "-k", "1,3", "--report", str(out)]
    r = invoke(runner, "eval", "tigr100k", *args, "--config", str(cfg), "--limit", "3")
    assert r.exit_code == 0, r.output
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert settings["limit"] == 3 and settings["composite"]["not_weight"] == 0.5 and settings["exact"] is False
    assert "limit 3" in (out / "summary.md").read_text() and "not_weight=0.5" in (out / "index.html").read_text()
    shutil.rmtree(Path(os.environ["CSD_INDEXES"]))  # the index is gone; the thumbnails are not
    monkeypatch.chdir(tmp_path / "data")
    r = invoke(runner, "eval", "report", str(out))
    from csdclip_cli.eval.report import thumb_name

    assert (
        r.exit_code == 0
        and 'src=""' not in (out / "index.html").read_text()
        and thumb_name("c0") in (out / "index.html").read_text()
    )
    # another dataset of the same image names into the same folder: its own thumbnails
    (out / thumb_name("c0")).write_bytes(b"stale")
    assert invoke(runner, "eval", "tigr100k", *args).exit_code == 0
    assert (out / thumb_name("c0")).read_bytes() != b"stale"
    for damage in ("run.json", "rankings.jsonl"):
        keep = (out / damage).read_text()
        (out / damage).write_text(keep[: len(keep) // 2]) if damage == "run.json" else (out / damage).unlink()
        r = invoke(runner, "eval", "report", str(out))
        assert r.exit_code == 2 and damage in r.stderr and "Traceback" not in r.output, r.output
        (out / damage).write_text(keep)
    # blank lines at the end (an editor's) are no broken line
    with open(out / "queries.jsonl", "a") as f:
        f.write("\n\n")
    assert invoke(runner, "eval", "report", str(out)).exit_code == 0
    # a line cut short is named by its own number (it was "line 1 column 5" of itself)
    keep = (out / "rankings.jsonl").read_text()
    lines = keep.splitlines()
    (out / "rankings.jsonl").write_text("\n".join([*lines[:2], lines[2][:20], *lines[3:]]) + "\n")
    r = invoke(runner, "eval", "report", str(out))
    assert r.exit_code == 2 and "rankings.jsonl:3 " in r.stderr and "line 1" not in r.stderr, r.stderr


def test_cut_offs_beyond_the_default_depth_are_scored_on_that_many_ranks(tmp_path: Path, monkeypatch) -> None:
    """-k 200 kept 100 ranks and scored GRP@200 on them (0.460 for a true 0.750)."""
    import csdclip_cli.eval.runner as runner_mod

    make_tigr(tmp_path / "data", arranged=True)
    monkeypatch.setattr(runner_mod, "DEPTH", 5)  # a 12-image gallery: 5 ranks by default
    ds = load_dataset("tigr100k", data_dir=tmp_path / "data")
    run = runner_mod.run_evaluation(ds, ["fake:colour"], ["plain"], (1, 9), index_dir=tmp_path / "ix")
    assert {len(r) for r in run.rankings[("fake:colour", "plain")].values()} == {9}


def test_flags_a_re_render_cannot_use_and_a_misspelt_model_are_refused_first(runner, tmp_path: Path) -> None:
    """`csd eval report DIR -k 1 --methods csd` ignored both without a word; a misspelt --model
    was found after every query had been rewritten (minutes with an LLM)."""
    make_tigr(tmp_path / "data", arranged=True)
    out = tmp_path / "report"
    args = ["--data-dir", str(tmp_path / "data"), "-k", "1,3"]
    assert invoke(runner, "eval", "tigr100k", *args, "-m", "fake:colour", "--report", str(out)).exit_code == 0
    r = invoke(runner, "eval", "report", str(out), "-k", "1", "--methods", "csd")
    assert r.exit_code == 2 and "-k, --methods would need a new run" in r.stderr, r.output
    r = invoke(runner, "eval", "tigr100k", *args, "-m", "clipp:ViT-B/16")
    assert r.exit_code != 0 and "unknown model family 'clipp'" in r.stderr and "rewriting" not in r.stderr, r.output


def test_an_index_with_nothing_to_encode_draws_no_progress_bar(runner, tmp_path: Path) -> None:
    """Every eval drew an empty 'indexing … 0/?' bar for an index that was up to date."""
    make_tigr(tmp_path / "data", arranged=True)
    args = ["eval", "tigr100k", "--data-dir", str(tmp_path / "data"), "-m", "fake:colour", "--methods", "plain"]
    first = invoke(runner, *args)
    assert first.exit_code == 0 and "indexing" in first.stderr  # 12 images to encode: a bar
    again = invoke(runner, *args)
    assert again.exit_code == 0 and "indexing" not in again.stderr and "searching" in again.stderr


def test_a_report_names_thumbnails_by_digest_and_escapes_them(tmp_path: Path) -> None:
    """An image id of '../../x' wrote its thumbnail outside --report, and one of "q' onerror='..."
    put a script into index.html: ids are any LMDB key or file name."""
    from csdclip_cli.eval.report import thumb_name

    for iid in ("../../pwned", "/etc/x", "q' onerror='alert(9)", "a\\b"):
        name = thumb_name(iid)
        assert name.startswith("thumbs/") and name.endswith(".png") and "/" not in name[len("thumbs/") :]
        assert all(c.isalnum() or c in "./_" for c in name)
    assert thumb_name("a") != thumb_name("b")


def test_a_report_folder_with_other_files_is_refused_before_the_run(runner, tmp_path: Path) -> None:
    """--report DIR deleted DIR/thumbs and replaced a user's summary.md and index.html."""
    make_tigr(tmp_path / "data", arranged=True)
    out = tmp_path / "mine"
    (out / "thumbs").mkdir(parents=True)
    (out / "thumbs" / "keep.png").write_bytes(b"mine")
    (out / "summary.md").write_text("mine")
    args = ["--data-dir", str(tmp_path / "data"), "--model", "fake:colour", "-k", "1", "--report", str(out)]
    r = invoke(runner, "eval", "tigr100k", *args)
    assert r.exit_code == 2 and "holds other files and no csd report" in r.stderr, r.output
    assert (out / "thumbs" / "keep.png").read_bytes() == b"mine" and (out / "summary.md").read_text() == "mine"
    new = tmp_path / "new"
    assert invoke(runner, "eval", "tigr100k", *args[:-1], str(new)).exit_code == 0
    assert invoke(runner, "eval", "tigr100k", *args[:-1], str(new)).exit_code == 0  # a report of its own: rewritten


def test_a_dataset_annotated_in_part_is_rewritten_by_the_rules_by_default(runner, tmp_path: Path) -> None:
    """A dataset with some plain queries failed with "--rewriter gold needs annotated queries",
    a flag the user never typed."""
    d = make_tigr(tmp_path, arranged=False)
    add_lines(d, {"text_id": "t9", "text": "a red square, no blue", "image_ids": ["c0"]})
    r = invoke(runner, "eval", str(d), "--model", "fake:colour", "--methods", "plain,csd", "-k", "1")
    assert r.exit_code == 0, r.output
    assert "4 of 5 queries are annotated: the rules rewrite every query" in r.stderr
    assert "rewriter rules" in r.stdout
