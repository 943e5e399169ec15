"""Real-world inputs replayed from other tools' bug reports, each with a small generated input:
odd file names and LMDB keys, emptied sources, concurrent updates, AVIF / HEIC, huge photos,
NAS thumbnail folders, Rich markup in user text, '~' in paths, empty queries, foreign encodings."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, make_colour_folder
from PIL import Image

from csdclip_cli.encoders import load_encoder
from csdclip_cli.index import IndexStore, build_index
from csdclip_cli.search.searcher import Searcher
from csdclip_cli.sources import open_source
from csdclip_cli.sources.decode import decode_image, to_rgb


def solid(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (24, 24), fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, rgb).save(path, format=fmt)


def build(runner, *args: str):
    return invoke(runner, "index", "build", *args, "--model", "fake:colour")


# 1. a file name that is not UTF-8 -------------------------------------------------------------


def test_non_utf8_file_name_is_indexed_under_an_escaped_key(runner, tmp_path: Path) -> None:
    folder = make_colour_folder(tmp_path / "imgs", n=10)
    odd = os.path.join(os.fsencode(folder), b"caf\xe9.png")  # Latin-1 'café.png'
    with open(odd, "wb") as f:
        b = io.BytesIO()
        Image.new("RGB", (24, 24), (255, 0, 255)).save(b, format="PNG")
        f.write(b.getvalue())
    r = build(runner, str(folder), "--name", "odd")
    assert r.exit_code == 0 and "Traceback" not in r.output
    assert "11 images (encoded 11" in r.stderr
    keys = [k for _, k, *_ in IndexStore().open("odd")[1].items()]
    assert "caf\\xe9.png" in keys
    # the escaped key still reads the file back (thumbnails, re-encoding)
    assert open_source(folder).read("caf\\xe9.png")[:4] == b"\x89PNG"
    r = invoke(runner, "search", "purple", "--index", "odd", "--plain", "-k", "11", "--json")
    assert r.exit_code == 0 and "caf\\\\xe9.png" in r.stdout
    assert "encoded 0" in build(runner, str(folder), "--name", "odd").stderr  # rerun: nothing new


# 2. an unmounted or emptied source ----------------------------------------------------------


def test_emptied_source_is_refused_and_allow_empty_empties(runner, tmp_path: Path) -> None:
    folder = make_colour_folder(tmp_path / "imgs", n=20)
    assert build(runner, str(folder), "--name", "e").exit_code == 0
    moved = tmp_path / "elsewhere"
    folder.rename(moved)
    folder.mkdir()  # the mount point is still there, empty
    r = invoke(runner, "index", "update", "e")
    assert r.exit_code == 1 and "has no images now" in r.stderr and "--allow-empty" in r.stderr
    assert r.stderr.count("error:") == 1 and "Traceback" not in r.output
    assert "?." not in r.stderr  # "is a drive unmounted or a folder emptied?. Nothing was changed"
    assert IndexStore().manifest("e").count == 20  # nothing lost
    folder.rmdir()
    r = invoke(runner, "index", "update", "e")  # root missing altogether
    assert r.exit_code == 1 and "does not exist" in r.stderr
    moved.rename(folder)
    r = invoke(runner, "index", "update", "e")
    assert r.exit_code == 0 and "encoded 0, unchanged 20" in r.stderr  # the drive came back: no re-encoding
    for p in list(folder.rglob("*.png")):
        p.unlink()
    r = invoke(runner, "index", "update", "e", "--allow-empty")
    assert r.exit_code == 0 and IndexStore().manifest("e").count == 0


def test_a_source_whose_files_all_turn_unreadable_is_refused_like_an_empty_one(runner, tmp_path: Path) -> None:
    """Every image replaced by an unreadable file of the same name (cloud-sync placeholders, a
    failed copy) emptied the index (0 images, removed 20) where an emptied folder is refused."""
    folder = make_colour_folder(tmp_path / "imgs", n=20)
    assert build(runner, str(folder), "--name", "u").exit_code == 0
    for p in folder.rglob("*.png"):
        p.write_bytes(b"")  # a placeholder: the name is there, the bytes are not
    r = invoke(runner, "index", "update", "u")
    assert r.exit_code == 1 and "no image of source" in r.stderr and "--allow-empty" in r.stderr, r.output
    assert "empty file" in r.stderr and r.stderr.count("error:") == 1 and "Traceback" not in r.output
    assert IndexStore().manifest("u").count == 20  # nothing lost
    hits = invoke(runner, "search", "red", "-i", "u", "--paths-only", "--no-server")
    assert hits.exit_code == 0 and len(hits.stdout.splitlines()) == 10
    r = invoke(runner, "index", "update", "u", "--allow-empty")
    assert r.exit_code == 0 and IndexStore().manifest("u").count == 0


# 3. a search while the index is updated -----------------------------------------------------


def test_search_keeps_the_generation_it_opened_through_two_updates(tmp_path: Path) -> None:
    folder = make_colour_folder(tmp_path / "imgs", n=12)
    enc = load_encoder("fake:colour")
    build_index(open_source(folder), enc, "c", IndexStore())
    s = Searcher.open("c")  # opened; the model is not loaded yet
    for i in range(2):  # two updates commit meanwhile
        solid(folder / f"new-{i}.png", (255, 0, 255))
        build_index(open_source(folder), enc, "c", IndexStore())
    res = s.search_plain("red", 3)  # the old generation's item database is still there
    assert len(res) == 3 and all(r.key.split("/")[-1].startswith("red") for r in res)
    old = s.gallery.gen.path
    s.gallery.gen.close()
    solid(folder / "new-2.png", (255, 0, 255))
    build_index(open_source(folder), enc, "c", IndexStore())
    assert not old.exists()  # released generations are removed by the next build
    assert [p.name for p in (IndexStore().path("c")).glob("gen-*")] == [f"gen-{IndexStore().manifest('c').generation}"]


# 4. an LMDB key that is not UTF-8 -----------------------------------------------------------


def test_a_source_given_as_a_link_follows_the_link(runner, tmp_path: Path) -> None:
    """`csd index build Photos` with Photos -> 2024: the index kept 2024 (named "2024-..."), so
    after `ln -sfn 2025 Photos` an update still indexed 2024 and a build made a second index."""
    make_colour_folder(tmp_path / "2024", n=6)
    make_colour_folder(tmp_path / "2025", n=9, seed=1)
    link = tmp_path / "Photos"
    link.symlink_to("2024")
    r = build(runner, str(link))
    assert r.exit_code == 0 and "Photos-fake-colour: 6 images" in r.output, r.output
    link.unlink()
    link.symlink_to("2025")
    r = invoke(runner, "index", "update")
    assert r.exit_code == 0 and "Photos-fake-colour: 9 images" in r.output, r.output
    r = build(runner, str(link))
    assert r.exit_code == 0 and "Photos-fake-colour: 9 images (encoded 0, unchanged 9" in r.output, r.output
    assert IndexStore().names() == ["Photos-fake-colour"]


def test_a_link_to_an_indexed_folder_is_a_source_of_its_own(runner, tmp_path: Path) -> None:
    """An index built on 2024 must not start following a link "Photos" -> 2024 (a build through
    the link took it over, and after `ln -sfn 2025 Photos` it held 2025). The link gets its own
    index, with a note naming the other (which older csd made for the link itself)."""
    make_colour_folder(tmp_path / "2024", n=6)
    link = tmp_path / "Photos"
    link.symlink_to("2024")
    assert build(runner, str(tmp_path / "2024")).exit_code == 0
    r = build(runner, str(link))
    assert r.exit_code == 0 and "Photos-fake-colour: 6 images (encoded 6" in r.output, r.output
    assert "index '2024-fake-colour' indexes" in r.output and "csd index rm 2024-fake-colour" in r.output
    r = build(runner, str(link), "--name", "2024-fake-colour")
    assert r.exit_code == 1 and f"indexes {tmp_path / '2024'}, not {link}" in r.stderr, r.output
    assert IndexStore().manifest("2024-fake-colour").source.location == str(tmp_path / "2024")


def test_non_utf8_lmdb_key_is_indexed_escaped(runner, tmp_path: Path) -> None:
    import lmdb

    from csdclip_cli.sources.lmdb_source import write_lmdb_images

    def png(rgb: tuple[int, int, int]) -> bytes:
        b = io.BytesIO()
        Image.new("RGB", (16, 16), rgb).save(b, format="PNG")
        return b.getvalue()

    env_dir = tmp_path / "ds" / "lmdb" / "imgs"
    write_lmdb_images(env_dir, iter((str(1000 + i), png((255, 0, 0) if i % 2 else (0, 0, 255))) for i in range(19)))
    import base64

    env = lmdb.open(str(env_dir), map_size=1 << 26)
    with env.begin(write=True) as txn:
        txn.put(b"img-\xff\xfe", base64.urlsafe_b64encode(png((0, 255, 0))))
    env.close()
    r = build(runner, str(tmp_path / "ds"), "--name", "lm")
    assert r.exit_code == 0 and "Traceback" not in r.output
    assert "20 images (encoded 20" in r.stderr
    r = invoke(runner, "search", "green", "--index", "lm", "--plain", "-k", "1", "--json")
    assert json.loads(r.stdout)["key"] == "img-\\xff\\xfe"
    assert open_source(tmp_path / "ds").read("img-\\xff\\xfe")[:4] == b"\x89PNG"


def test_lmdb_values_that_are_not_base64_are_skipped_not_a_traceback(runner, tmp_path: Path) -> None:
    """A value that is not base64 text (raw PNG bytes, '!!!notbase64***') stopped the whole build
    with a traceback, on every rerun; it is one skipped image with its reason now."""
    import lmdb

    from csdclip_cli.sources.lmdb_source import write_lmdb_images

    def png(rgb: tuple[int, int, int]) -> bytes:
        b = io.BytesIO()
        Image.new("RGB", (16, 16), rgb).save(b, format="PNG")
        return b.getvalue()

    env_dir = tmp_path / "ds" / "lmdb" / "imgs"
    write_lmdb_images(env_dir, iter((str(i), png((200, 10 * i, 0))) for i in range(8)))
    env = lmdb.open(str(env_dir), map_size=1 << 26)
    with env.begin(write=True) as txn:
        txn.put(b"raw", png((0, 255, 0)))  # the image bytes themselves
        txn.put(b"junk", b"!!!notbase64***")
    env.close()
    r = build(runner, str(tmp_path / "ds"), "--name", "b64")
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "8 images" in r.stderr
    r = invoke(runner, "index", "info", "b64", "--errors")
    assert r.exit_code == 0 and r.stdout.count("not base64") == 2, r.stdout


# 5. AVIF and HEIC ---------------------------------------------------------------------------


HEIC_HEADER = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64


def test_avif_is_indexed_and_heic_without_pillow_heif_is_listed(runner, tmp_path: Path, monkeypatch) -> None:
    import builtins

    folder = tmp_path / "imgs"
    solid(folder / "holiday.avif", (255, 0, 0), fmt="AVIF")
    solid(folder / "b.png", (0, 0, 255))
    (folder / "IMG_0001.HEIC").write_bytes(HEIC_HEADER)
    real_import = builtins.__import__

    def no_heif(name: str, *a, **k):
        if name == "pillow_heif":
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_heif)
    r = build(runner, str(folder), "--name", "f")
    # the index holds 2: the unreadable file is not counted among its images (it said "3 images")
    assert r.exit_code == 0 and "2 images (encoded 2" in r.stderr and "1 file could not be read" in r.stderr
    errs = invoke(runner, "index", "info", "f", "--errors").stdout
    assert "IMG_0001.HEIC\t" in errs and "install csd" in errs and "[heif]" in errs
    assert invoke(runner, "search", "red", "--index", "f", "--plain", "-k", "1", "--json").stdout.count("holiday.avif")


def test_heic_decodes_through_pillow_heif(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif", reason="the optional [heif] extra")  # the test extra installs it
    pillow_heif.register_heif_opener()
    b = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 200, 0)).save(b, format="HEIF")
    img = decode_image(b.getvalue())
    assert img.size == (32, 32) and img.getpixel((16, 16))[1] > 150


# 6. large photos ----------------------------------------------------------------------------


def test_108_megapixel_jpeg_decodes_at_reduced_size(tmp_path: Path) -> None:
    big = Image.new("RGB", (12000, 9000), (90, 140, 200))
    b = io.BytesIO()
    big.save(b, format="JPEG", quality=85)
    del big
    img = decode_image(b.getvalue())
    assert img.mode == "RGB" and 1024 <= min(img.size) and max(img.size) <= 3000  # draft mode, not 12000 px
    assert abs(img.getpixel((10, 10))[2] - 200) < 8


@pytest.mark.parametrize("size", [(100000, 1), (2, 50000)])
def test_an_extreme_strip_is_cut_to_its_centre(size: tuple[int, int]) -> None:
    """A 100000x1 PNG (372 bytes) passed the bomb checks, and a model's resize of its short side
    made it a 1.8 GB image: the long side is cut to MAX_ASPECT times the short one, around the centre."""
    from csdclip_cli.sources.decode import MAX_ASPECT

    strip = Image.new("RGB", size, (0, 0, 255))
    w, h = size
    strip.paste((255, 0, 0), (w // 2, h // 2, w // 2 + 1, h // 2 + 1))  # a red centre survives
    b = io.BytesIO()
    strip.save(b, format="PNG")
    img = decode_image(b.getvalue())
    assert max(img.size) == MAX_ASPECT * min(img.size)
    assert (255, 0, 0) in [img.getpixel((x, y)) for x in range(img.width) for y in range(img.height)]
    assert decode_image(_png(400, 100)).size == (400, 100)  # a panorama stays whole


def _png(w: int, h: int) -> bytes:
    b = io.BytesIO()
    Image.new("RGB", (w, h), (9, 9, 9)).save(b, format="PNG")
    return b.getvalue()


def test_real_bombs_are_still_refused() -> None:
    from test_hardening import bomb_png

    with pytest.raises(Exception, match="decompression-bomb"):
        decode_image(bomb_png())


@pytest.mark.parametrize("mode", ["1", "L", "P", "LA", "PA", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I", "F"])
def test_every_pillow_mode_decodes_like_its_8bit_equivalent(mode: str) -> None:
    base = Image.new("RGB", (8, 8), (255, 255, 255))
    img = base.convert(mode) if mode not in ("LAB", "HSV", "I", "F") else None
    if mode == "I":
        img = Image.new("I", (8, 8), 255 * 257)  # a 16-bit white in a 32-bit container
    elif mode == "F":
        img = Image.new("F", (8, 8), 1.0)
    elif mode == "HSV":
        img = Image.new("HSV", (8, 8), (0, 0, 255))
    elif mode == "LAB":
        img = Image.new("LAB", (8, 8), (255, 128, 128))
    out = to_rgb(img)
    assert out.mode == "RGB"
    assert min(out.getpixel((4, 4))) >= 240, (mode, out.getpixel((4, 4)))  # white stays white


# 7. NAS thumbnail folders and --exclude ------------------------------------------------------


def test_junk_folders_skipped_and_exclude_recorded(runner, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    solid(folder / "red.jpg", (255, 0, 0))
    solid(folder / "blue.jpg", (0, 0, 255))
    for junk in ("@eaDir/red.jpg/SYNOPHOTO_THUMB_M.jpg", ".thumbnails/x.png", "__MACOSX/._red.jpg", "#recycle/r.png"):
        solid(folder / junk, (255, 0, 0), fmt="PNG")
    solid(folder / ".Trash-1000/files/r.png", (255, 0, 0))
    solid(folder / "raw" / "r1.png", (255, 0, 0))
    solid(folder / "keep" / "r2.png", (250, 0, 0))
    r = build(runner, str(folder), "--name", "nas", "--exclude", "raw/*")
    assert r.exit_code == 0 and "3 images" in r.stderr
    keys = sorted(k for _, k, *_ in IndexStore().open("nas")[1].items())
    assert keys == ["blue.jpg", "keep/r2.png", "red.jpg"]
    assert IndexStore().manifest("nas").source.exclude == ("raw/*",)
    solid(folder / "raw" / "r3.png", (255, 0, 0))
    r = invoke(runner, "index", "update", "nas")  # the manifest's excludes are used again
    assert "3 images (encoded 0" in r.stderr
    r = invoke(runner, "index", "update", "nas", "--exclude", "")  # '' clears them (it kept them)
    assert r.exit_code == 0 and "5 images (encoded 2" in r.stderr, r.output
    assert IndexStore().manifest("nas").source.exclude == ()


@pytest.mark.parametrize("glob", ["./raw/*", "ABS/raw/*", "raw/", "./raw"])
def test_an_exclude_glob_written_as_a_path_is_read_inside_the_source(runner, tmp_path: Path, glob: str) -> None:
    """-x './raw/*' and -x '/abs/photos/raw/*' excluded nothing without a word (only 'raw/*' did)."""
    folder = tmp_path / "photos"
    solid(folder / "red.jpg", (255, 0, 0))
    solid(folder / "raw" / "r1.png", (255, 0, 0))
    r = build(runner, str(folder), "--name", "x", "--exclude", glob.replace("ABS", str(folder.resolve())))
    assert r.exit_code == 0 and ": 1 image (" in r.stderr, r.output
    assert IndexStore().manifest("x").source.exclude[0] in ("raw/*", "raw")


def test_an_exclude_path_outside_the_source_is_refused(runner, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    solid(folder / "red.jpg", (255, 0, 0))
    r = build(runner, str(folder), "--name", "x", "--exclude", str(tmp_path / "elsewhere" / "*"))
    assert r.exit_code == 1 and "is outside the source folder" in r.stderr and "Traceback" not in r.output


def test_every_format_pillow_decodes_is_indexed(runner, tmp_path: Path) -> None:
    """.ppm, .tga, .ico, .jp2 and .qoi files were skipped without a word while the README says
    'everything Pillow reads'; a video (.mpg) or a document (.eps) beside them is not tried."""
    folder = tmp_path / "formats"
    folder.mkdir()
    for ext, fmt in ((".ppm", "PPM"), (".tga", "TGA"), (".ico", "ICO"), (".jp2", "JPEG2000"), (".qoi", "QOI")):
        Image.new("RGB", (32, 32), (200, 20, 20)).save(folder / f"red{ext}", format=fmt)
    (folder / "clip.mpg").write_bytes(b"\x00\x00\x01\xba" + b"\0" * 64)
    (folder / "doc.eps").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n")
    r = build(runner, str(folder), "--name", "fmt")
    assert r.exit_code == 0 and "5 images" in r.stderr, r.output
    r = invoke(runner, "index", "info", "fmt", "--errors")
    assert "clip.mpg" not in r.stdout and "doc.eps" not in r.stdout


# 8. Rich markup in paths and queries ---------------------------------------------------------


def test_markup_in_paths_and_queries_is_printed_verbatim(runner, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    solid(folder / "IMG_0001 [edited].png", (255, 0, 0))
    solid(folder / "odd [/x] name.png", (0, 0, 255))
    assert build(runner, str(folder), "--name", "m").exit_code == 0
    r = invoke(runner, "search", "red [/x] thing, no [bold]dog", "--index", "m", "-k", "2", "--show-plan")
    assert r.exit_code == 0
    assert "IMG_0001 [edited].png" in r.stdout and "odd [/x] name.png" in r.stdout
    assert "[bold]dog" in r.stderr or "[bold]" in r.stderr  # the plan shows the user's text as typed
    r = invoke(runner, "search", "red", "--index", "no[/x]such")
    assert r.exit_code != 0 and "no[/x]such" in r.stderr and "Traceback" not in r.output


# 9. '~' in output options --------------------------------------------------------------------


def test_tilde_is_expanded_in_every_path_option(runner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = make_colour_folder(tmp_path / "imgs", n=8)
    assert build(runner, str(folder), "--name", "t").exit_code == 0
    r = invoke(runner, "search", "red", "--index", "t", "--html=~/result.html")
    assert r.exit_code == 0 and (tmp_path / "result.html").is_file()  # HOME is tmp_path in tests
    (tmp_path / "q.txt").write_text("a red car, no dog\n")
    r = invoke(runner, "rewrite", "--file", "~/q.txt", "--output=~/plans.jsonl")
    assert r.exit_code == 0 and (tmp_path / "plans.jsonl").is_file()
    assert not (tmp_path / "~").exists()


# 10. punctuation-only and empty queries ------------------------------------------------------


# "or" and 或者 alone searched the literal word, every result marked as failing
@pytest.mark.parametrize("query", [",,, !!!", "", "   ", "…?!", "，。！", "or", "或者", "、还是", "and, or"])
@pytest.mark.parametrize("method", ["csd", "plain", "arith", "deo"])
def test_empty_queries_are_refused(runner, colour_folder: Path, query: str, method: str) -> None:
    assert build(runner, str(colour_folder), "--name", "q").exit_code == 0
    r = invoke(runner, "search", query, "--index", "q", "--method", method)
    assert r.exit_code == 2 and "empty query" in r.stderr and not r.stdout.strip()
    r = invoke(runner, "rewrite", query)
    assert r.exit_code == 2 and "empty query" in r.stderr


# 11. query files in other encodings ----------------------------------------------------------


def test_gbk_query_file_is_one_clear_error(runner, tmp_path: Path) -> None:
    q = tmp_path / "q.txt"
    q.write_bytes("a red car\n一只猫，没有狗\n".encode("gbk"))
    r = invoke(runner, "rewrite", "--file", str(q))
    assert r.exit_code == 2 and "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "line 2" in lines[0] and "UTF-8" in lines[0] and str(q) in lines[0]


def test_utf8_bom_query_file_reads(runner, tmp_path: Path) -> None:
    q = tmp_path / "q.txt"
    q.write_bytes("\ufeffa red car, no dog\r\n一只猫，没有狗\r\n".encode())
    r = invoke(runner, "rewrite", "--file", str(q))
    assert r.exit_code == 0
    plans = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert plans[0]["raw"] == "a red car, no dog" and plans[1]["raw"] == "一只猫，没有狗"


def test_printing_survives_any_output_encoding(tmp_path: Path) -> None:
    import subprocess

    folder = tmp_path / "imgs"
    solid(folder / "猫 café.png", (255, 0, 0))
    env = dict(os.environ, PYTHONIOENCODING="ascii", CSD_INDEXES=str(tmp_path / "ix"), LC_ALL="C")
    cmd = [sys.executable, "-m", "csdclip_cli"]
    r = subprocess.run(
        [*cmd, "index", "build", str(folder), "--model", "fake:colour", "--name", "enc"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    for extra in ([], ["--json"], ["--paths-only"]):
        r = subprocess.run(
            [*cmd, "search", "红 red", "--index", "enc", *extra], env=env, capture_output=True, timeout=120
        )
        assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
        assert np.any([b"caf" in r.stdout])


# Output paths (found by trying csd as a new user): checked before the work, never a traceback,
# never the input file, written atomically.


@pytest.mark.parametrize("where", ["dir", "under-a-file", "proc"])
def test_unwritable_outputs_are_one_error_before_any_work(runner, tmp_path: Path, where: str) -> None:
    folder = make_colour_folder(tmp_path / "imgs", n=8)
    assert build(runner, str(folder), "--name", "o").exit_code == 0
    q = tmp_path / "q.txt"
    q.write_text("a red car\na dog, no cat\n")
    bad = {"dir": tmp_path, "under-a-file": q / "x.out", "proc": Path("/proc/csd-test.out")}[where]
    for args in (["search", "red", "--index", "o", "--html", str(bad)], ["rewrite", "--file", str(q), "-o", str(bad)]):
        r = invoke(runner, *args)
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        assert r.stderr.count("error:") == 1 and str(bad) in r.stderr
        assert "rewriting" not in r.stderr  # refused before the batch ran
    assert q.read_text() == "a red car\na dog, no cat\n"


def test_output_equal_to_input_is_refused(runner, tmp_path: Path) -> None:
    q = tmp_path / "q.txt"
    q.write_text("a red car\n")
    r = invoke(runner, "rewrite", "--file", str(q), "-o", str(q))
    assert r.exit_code == 2 and "also the input file" in r.stderr
    assert q.read_text() == "a red car\n"
    r = invoke(runner, "rewrite", "a red car", "-o", str(tmp_path / "x.jsonl"))
    assert r.exit_code == 2 and "--file" in r.stderr


def test_batch_reports_an_empty_line_and_goes_on(runner, tmp_path: Path) -> None:
    q = tmp_path / "q.txt"
    q.write_text("a red car\n!!!\n\na dog, no cat\n")
    out = tmp_path / "p.jsonl"
    r = invoke(runner, "rewrite", "--file", str(q), "-o", str(out))
    assert r.exit_code == 0
    assert [json.loads(ln)["raw"] for ln in out.read_text().splitlines()] == ["a red car", "a dog, no cat"]
    assert "line 2" in r.stderr and "empty query" in r.stderr


def test_binary_file_as_query_file(runner, tmp_path: Path) -> None:
    b = tmp_path / "model.gguf"
    b.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 4)
    r = invoke(runner, "rewrite", "--file", str(b))
    assert r.exit_code == 2 and "binary file" in r.stderr and "iconv" not in r.stderr


def test_unwritable_report_dir(runner, tmp_path: Path) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    r = invoke(runner, "eval", "demo", "--report", str(f))
    assert r.exit_code == 2 and "is a file" in r.stderr and "Traceback" not in r.output


# ---- from a third fresh-clone try --------------------------------------------------------------


def test_escaped_and_literal_backslash_names_stay_two_images(runner, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    b = io.BytesIO()
    Image.new("RGB", (24, 24), (255, 0, 0)).save(b, format="PNG")
    for raw in (b"caf\xe9.png", b"caf\\xe9.png"):  # Latin-1 'café.png', and a name with a backslash
        with open(os.path.join(os.fsencode(folder), raw), "wb") as f:
            f.write(b.getvalue())
    r = build(runner, str(folder), "--name", "bs")
    assert r.exit_code == 0 and "2 images (encoded 2" in r.stderr
    keys = sorted(k for _, k, *_ in IndexStore().open("bs")[1].items())
    assert keys == ["caf\\\\xe9.png", "caf\\xe9.png"]
    src = open_source(folder)
    assert all(src.read(k)[:4] == b"\x89PNG" for k in keys)


def test_heic_skipped_without_pillow_heif_is_retried_once_it_is_installed(runner, tmp_path: Path, monkeypatch) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    import builtins

    pillow_heif.register_heif_opener()
    folder = tmp_path / "imgs"
    solid(folder / "a.png", (255, 0, 0))
    b = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 200, 0)).save(b, format="HEIF")
    (folder / "IMG_0001.HEIC").write_bytes(b.getvalue())
    real_import = builtins.__import__

    def no_heif(name: str, *a, **k):
        if name == "pillow_heif":
            raise ImportError(name)
        return real_import(name, *a, **k)

    from PIL import Image as PILImage

    with monkeypatch.context() as m:
        m.setattr(builtins, "__import__", no_heif)
        m.setattr(PILImage, "ID", [i for i in PILImage.ID if i != "HEIF"])  # as if never registered
        r = build(runner, str(folder), "--name", "h")
        assert "1 file could not be read" in r.stderr
        assert "install csd[heif]" in invoke(runner, "index", "info", "h", "--errors").stdout
    r = invoke(runner, "index", "update", "h")
    assert r.exit_code == 0 and "encoded 1" in r.stderr and "could not be read" not in r.stderr


def test_emoji_codes_in_names_print_verbatim(runner, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    solid(folder / "emoji :smile: shot.png", (255, 0, 0))
    assert build(runner, str(folder), "--name", "em").exit_code == 0
    r = invoke(runner, "search", "red", "--index", "em", "-k", "1")
    assert ":smile:" in r.stdout and "😄" not in r.stdout


def test_utf16_query_file_and_the_encoding_hint(runner, tmp_path: Path) -> None:
    q = tmp_path / "q.txt"
    q.write_bytes("a red car, no dog\r\n".encode("utf-16"))
    r = invoke(runner, "rewrite", "--file", str(q))
    assert r.exit_code == 0 and json.loads(r.stdout)["not"] == ["dog"]
    q.write_bytes("café\n".encode("latin1"))
    r = invoke(runner, "rewrite", "--file", str(q))
    assert r.exit_code == 2 and "latin1" in r.stderr and "GBK" in r.stderr


def test_rebuild_without_exclude_keeps_the_remembered_globs(runner, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    solid(folder / "a.png", (255, 0, 0))
    solid(folder / "raw" / "r.png", (255, 0, 0))
    assert ": 1 image (" in build(runner, str(folder), "--name", "x", "--exclude", "raw/*").stderr
    assert ": 1 image (" in build(runner, str(folder), "--name", "x").stderr


def test_a_full_or_read_only_disk_is_one_line(runner, tmp_path: Path, monkeypatch) -> None:
    """A full disk (numpy: '8192 requested and 4032 written', or ENOSPC) and a read-only index
    folder (csd index use) were tracebacks; a no-op update on a read-only disk wrote .current
    again and failed."""
    import errno

    import numpy as np

    import csdclip_cli.index.build as build_mod
    import csdclip_cli.index.store as store_mod

    folder = make_colour_folder(tmp_path / "imgs", n=12)
    assert build(runner, str(folder), "--name", "a").exit_code == 0
    assert build(runner, str(folder), "--name", "b").exit_code == 0
    assert IndexStore().current() == "a"

    def read_only(path, text):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    with monkeypatch.context() as m:
        m.setattr(store_mod, "atomic_write_text", read_only)
        r = invoke(runner, "index", "use", "b")
        assert r.exit_code == 1 and "Read-only file system" in r.stderr and ".current" in r.stderr, r.output
        assert "Traceback" not in r.output and r.stderr.count("error:") == 1
        r = invoke(runner, "index", "update", "a")  # nothing changed and a is in use: nothing to write
        assert r.exit_code == 0 and "unchanged 12" in r.stderr, r.output

    make_colour_folder(folder / "more", n=6, seed=3)

    def full(path, arr, *a, **kw):
        raise OSError("8192 requested and 4032 written")

    with monkeypatch.context() as m:
        m.setattr(build_mod.np, "save", full)
        r = invoke(runner, "index", "update", "a")
    assert r.exit_code == 1 and "disk full while writing" in r.stderr and "Traceback" not in r.output, r.output
    assert IndexStore().manifest("a").count == 12  # the generation in use is kept
    assert np.save is not full
    r = invoke(runner, "index", "update", "a")  # space again
    assert r.exit_code == 0 and "18 images" in r.stderr, r.output


def test_ctrl_c_inside_a_library_import_is_an_interruption(runner, colour_folder: Path, monkeypatch) -> None:
    """Ctrl-C during `import torch` arrived wrapped in a RuntimeError: 200 lines of traceback."""
    import csdclip_cli.encoders as encoders

    def wrapped(*a, **kw):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance 'artifact_names'") from e

    monkeypatch.setattr(encoders, "load_encoder", wrapped)
    r = invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour")
    assert r.exit_code == 130 and "interrupted" in r.stderr and "Traceback" not in r.output, r.output


def test_an_update_rebuilds_an_index_whose_generation_folder_is_gone(runner, tmp_path: Path) -> None:
    """`csd index update` of an index whose gen-N/ was deleted was a FileNotFoundError traceback
    (from the check for nothing to do); it rebuilds the index from its source."""
    import shutil

    folder = make_colour_folder(tmp_path / "imgs", n=9)
    assert build(runner, str(folder), "--name", "g").exit_code == 0
    m = IndexStore().manifest("g")
    shutil.rmtree(IndexStore().path("g") / f"gen-{m.generation}")
    r = invoke(runner, "index", "update", "g")
    assert r.exit_code == 0 and "9 images (encoded 9" in r.stderr and "Traceback" not in r.output, r.output
    r = invoke(runner, "search", "red", "-i", "g", "--paths-only", "--no-server", "-k", "3")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 3


def test_image_files_beside_a_cn_clip_lmdb_are_named(runner, tmp_path: Path) -> None:
    """A folder holding lmdb/imgs and image files was indexed as the LMDB alone: the files beside
    it were left out without a word."""
    from csdclip_cli.sources.lmdb_source import write_lmdb_images

    def png(rgb: tuple[int, int, int]) -> bytes:
        b = io.BytesIO()
        Image.new("RGB", (16, 16), rgb).save(b, format="PNG")
        return b.getvalue()

    root = tmp_path / "mixed"
    write_lmdb_images(root / "lmdb" / "imgs", iter((str(i), png((250, 10, 10))) for i in range(5)))
    for i in range(3):
        (root / f"loose{i}.png").write_bytes(png((10, 10, 250)))
    r = build(runner, str(root), "--name", "mx")
    assert r.exit_code == 0 and "5 images" in r.stderr
    assert "the 3 image files beside it are not" in r.stderr, r.stderr
    r = build(runner, str(root / "lmdb"), "--name", "mx2")  # the LMDB named itself: nothing to say
    assert r.exit_code == 0 and "beside it" not in r.stderr


def test_a_name_that_indexes_another_folder_is_refused_before_the_model_loads(runner, tmp_path: Path) -> None:
    """'index n indexes A, not B; pick another --name' came after the model had loaded (minutes
    for a large one)."""
    a, b = make_colour_folder(tmp_path / "a", n=4), make_colour_folder(tmp_path / "b", n=4, seed=2)
    assert build(runner, str(a), "--name", "n").exit_code == 0
    r = build(runner, str(b), "--name", "n")
    assert r.exit_code == 1 and "indexes" in r.stderr and "pick another --name" in r.stderr, r.output
    assert "loading" not in r.stderr


def test_an_indexed_image_that_turns_unreadable_counts_as_removed(runner, tmp_path: Path) -> None:
    """Two images left the index (one deleted, one now unreadable) and the summary said 'removed 1'."""
    folder = make_colour_folder(tmp_path / "imgs", n=6)
    assert build(runner, str(folder), "--name", "r").exit_code == 0
    files = sorted(folder.rglob("*.png"))
    files[0].unlink()
    files[1].write_bytes(b"not an image any more")
    r = invoke(runner, "index", "update", "r")
    assert r.exit_code == 0 and "4 images" in r.stderr and "removed 2" in r.stderr, r.output
    assert "1 file could not be read" in r.stderr


def test_an_image_given_as_the_source_folder_is_named_a_file(runner, tmp_path: Path) -> None:
    """`csd index build photo.png` said the image 'does not exist or is not a folder'."""
    folder = make_colour_folder(tmp_path / "imgs", n=3)
    image = next(folder.rglob("*.png"))
    r = build(runner, str(image), "--name", "f")
    assert r.exit_code != 0 and "is a file; give the folder that holds the images" in r.stderr, r.output
    assert "does not exist" not in r.stderr


def test_one_passing_image_is_one_image() -> None:
    from csdclip_cli.search.searcher import passed_summary

    assert passed_summary(1, None, None) == "1 image passes every AND clause and OR group"
    assert passed_summary(2, 10, 10).startswith("2 images pass ")


def test_image_files_no_decoder_reads_are_counted(runner, tmp_path: Path) -> None:
    """A folder of camera RAW files (and SVGs) was indexed as empty, or partly, without a word."""
    folder = make_colour_folder(tmp_path / "imgs", n=3)
    for name in ("a.cr2", "b.CR2", "c.svg", "notes.txt", "skip/d.nef"):
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_bytes(b"raw")
    r = build(runner, str(folder), "--name", "raw", "--exclude", "skip")
    assert r.exit_code == 0 and "left out 3 image files no installed decoder reads (2 .cr2, 1 .svg)" in r.stderr
    r = invoke(runner, "index", "update", "raw")  # nothing to do: still said
    assert r.exit_code == 0 and "left out 3 image files" in r.stderr


def test_a_copied_or_renamed_index_is_the_folder_it_is_in(runner, tmp_path: Path) -> None:
    """`csd index update a2-copy` (a copy of a2's folder) updated a2, and a renamed index was
    re-encoded under its old name: the name inside manifest.json was taken for the index."""
    import shutil

    folder = make_colour_folder(tmp_path / "imgs", n=6)
    assert build(runner, str(folder), "--name", "a2").exit_code == 0
    root = IndexStore().root
    shutil.copytree(root / "a2", root / "a2-copy")
    solid(folder / "new.png", (1, 2, 3), fmt="PNG")
    r = invoke(runner, "index", "update", "a2-copy")
    assert r.exit_code == 0 and "a2-copy: 7 images (encoded 1" in r.stderr, r.output
    assert IndexStore().manifest("a2-copy").count == 7 and IndexStore().manifest("a2").count == 6
    (root / "a2").rename(root / "renamed")
    r = invoke(runner, "index", "update", "renamed")
    assert r.exit_code == 0 and "renamed: 7 images (encoded 1" in r.stderr, r.output
    assert not (root / "a2").exists()


@pytest.mark.parametrize("exclude", ["sub dir", "sub dir/*", "sub*"])
def test_a_folder_reached_through_a_link_is_keyed_and_excluded_by_where_it_is(tmp_path: Path, exclude: str) -> None:
    """`dirlink -> sub dir`: the image was keyed 'dirlink/u/yellow.png' (the link sorts first), so
    --exclude 'sub dir' kept it, and changing the excludes re-encoded it under the other key."""
    import os

    from PIL import Image

    from csdclip_cli.sources import FolderSource

    root = tmp_path / "odd"
    (root / "sub dir" / "u").mkdir(parents=True)
    Image.new("RGB", (16, 16), (250, 250, 0)).save(root / "sub dir" / "u" / "yellow.png")
    Image.new("RGB", (16, 16), (250, 0, 0)).save(root / "red.png")
    os.symlink("sub dir", root / "dirlink")
    assert list(FolderSource(root).keys()) == ["red.png", "sub dir/u/yellow.png"]
    assert list(FolderSource(root, exclude=[exclude]).keys()) == ["red.png"]
    assert list(FolderSource(root, exclude=["dirlink"]).keys()) == ["red.png", "sub dir/u/yellow.png"]
