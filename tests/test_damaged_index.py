"""A damaged index generation (a file deleted, or replaced by a shorter array) and a broken
manifest: one line that names the damage and the way out, from the CLI and from `csd serve`,
and one broken index does not hide the others."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

NAME = "d"
FIX = f"csd index rm {NAME}"


def build(runner, folder: Path, name: str = NAME) -> Path:
    """Build index `name` of `folder` with fake:colour; its current generation's folder."""
    r = invoke(runner, "index", "build", str(folder), "--model", "fake:colour", "--name", name)
    assert r.exit_code == 0, r.output
    root = Path(os.environ["CSD_INDEXES"]) / name
    return root / f"gen-{json.loads((root / 'manifest.json').read_text())['generation']}"


def damage(gen: Path, how: str) -> None:
    dim = np.load(gen / "vectors.npy", mmap_mode="r").shape[1]
    if how == "no-items":
        (gen / "items.sqlite").unlink()
    elif how == "short-vectors":  # alive.npy still has every row
        np.save(gen / "vectors.npy", np.zeros((3, dim), np.float16))
    elif how == "short-vectors-and-alive":  # only the manifest's row count tells
        np.save(gen / "vectors.npy", np.zeros((3, dim), np.float16))
        np.save(gen / "alive.npy", np.ones(3, bool))
    elif how == "wrong-width":
        np.save(gen / "vectors.npy", np.zeros((24, dim + 1), np.float16))
    elif how == "all-dead":  # an empty table and exit 0, the manifest counting 24 images
        np.save(gen / "alive.npy", np.zeros(24, bool))
    elif how == "junk-errors":  # a JSONDecodeError traceback from `index info --errors` and `index update`
        (gen / "errors.json").write_text("{bad")
    elif how == "no-vectors":  # it said "alive.npy has 24 rows, vectors.npy 0"
        (gen / "vectors.npy").unlink()
    elif how == "objects-in-alive":  # numpy's message advised loading it with allow_pickle
        np.save(gen / "alive.npy", np.array([{"a": 1}] * 24, dtype=object), allow_pickle=True)
    else:
        raise AssertionError(how)


def assert_damaged(r, what: str) -> None:
    assert r.exit_code not in (0, None), r.output
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: index '{NAME}' is damaged (") and what in last and FIX in last, r.stderr
    assert "Traceback" not in r.output


@pytest.mark.parametrize(
    "how, what",
    [
        ("no-items", "items.sqlite is missing"),
        ("short-vectors", "alive.npy has 24 rows, vectors.npy 3"),
        ("short-vectors-and-alive", "vectors.npy has 3 rows; the manifest records 24"),
        ("wrong-width", "vectors.npy holds an array of shape (24, "),
        ("no-vectors", "vectors.npy is missing"),
        ("objects-in-alive", "a .npy file holds objects"),
        ("all-dead", "alive.npy marks 0 rows live; the manifest counts 24 images"),
    ],
)
def test_a_damaged_generation_is_one_line_from_search_update_and_build(
    runner, colour_folder: Path, how: str, what: str
) -> None:
    """A deleted items.sqlite gave an OperationalError traceback from search and update; a
    shorter vectors.npy an IndexError at search, while `index update` called it unchanged."""
    gen = build(runner, colour_folder)
    damage(gen, how)
    for args in (
        ["search", "red", "-i", NAME, "--no-server"],
        ["index", "update", NAME],
        ["index", "build", str(colour_folder), "--model", "fake:colour", "--name", NAME],
    ):
        assert_damaged(invoke(runner, *args), what)
    if how == "no-items":  # opening it did not create an empty database in its place
        assert not (gen / "items.sqlite").exists()
    assert invoke(runner, "index", "rm", NAME).exit_code == 0
    assert invoke(runner, "index", "update", NAME).exit_code != 0
    build(runner, colour_folder)
    assert invoke(runner, "search", "red", "-i", NAME, "--no-server").exit_code == 0


def test_an_update_does_not_call_an_index_unchanged_whose_items_do_not_fit(runner, colour_folder: Path) -> None:
    """items.sqlite that lost rows, or lists a row past vectors.npy: the no-op update path said "unchanged"."""
    gen = build(runner, colour_folder)
    db = sqlite3.connect(gen / "items.sqlite")
    db.execute("UPDATE items SET row = 999 WHERE row = (SELECT MAX(row) FROM items)")
    db.commit()
    db.close()
    assert_damaged(invoke(runner, "index", "update", NAME), "1 past vectors.npy's 24 rows")
    db = sqlite3.connect(gen / "items.sqlite")
    db.execute("DELETE FROM items WHERE row = 999")
    db.commit()
    db.close()
    assert_damaged(invoke(runner, "index", "update", NAME), "items.sqlite lists 23 images")


def test_the_server_names_the_damage(runner, colour_folder: Path) -> None:
    """Through `csd serve` a deleted items.sqlite was a bare 500 "internal error" (then a 400, "your
    request is wrong": it is the server's index, a 500 with its message)."""
    from starlette.testclient import TestClient

    from csdclip_cli.serve.app import create_app
    from csdclip_cli.serve.service import Service

    damage(build(runner, colour_folder), "no-items")
    client = TestClient(create_app(Service(os.environ["CSD_INDEXES"])))
    r = client.post("/api/search", json={"query": "red", "index": NAME})
    assert r.status_code == 500, r.text
    assert r.json()["error"].startswith(f"index '{NAME}' is damaged (") and FIX in r.json()["error"]


def test_api_indexes_lists_the_good_ones_and_flags_a_broken_manifest(runner, colour_folder: Path) -> None:
    """One unreadable manifest.json made GET /api/indexes a 400 for every index."""
    from starlette.testclient import TestClient

    from csdclip_cli.serve.app import create_app
    from csdclip_cli.serve.service import Service

    build(runner, colour_folder, "good")
    build(runner, colour_folder, "bad")
    (Path(os.environ["CSD_INDEXES"]) / "bad" / "manifest.json").write_text("{bad")
    r = TestClient(create_app(Service(os.environ["CSD_INDEXES"]))).get("/api/indexes")
    assert r.status_code == 200, r.text
    by_name = {ix["name"]: ix for ix in r.json()}
    assert set(by_name) == {"bad", "good"}
    assert (
        by_name["good"]["model"] == "fake:colour" and by_name["good"]["count"] == 24 and "error" not in by_name["good"]
    )
    bad = by_name["bad"]
    assert "manifest.json is unreadable" in bad["error"] and "csd index rm" in bad["error"]
    assert bad["model"] is None and bad["count"] is None and "\n" not in bad["error"]


@pytest.mark.slow
def test_the_page_does_not_offer_a_broken_index(runner, colour_folder: Path) -> None:
    """The page's index picker lists the broken index disabled, and picks a good one."""
    from playwright.sync_api import sync_playwright
    from test_serve import RunningServer, _chromium

    root = Path(os.environ["CSD_INDEXES"])
    build(runner, colour_folder, "a-bad")  # first in the list: the picker must not land on it
    build(runner, colour_folder, "good")
    (root / "a-bad" / "manifest.json").write_text("{bad")
    errors: list[str] = []
    with RunningServer(root) as srv, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url + "/")
        page.wait_for_function("document.querySelectorAll('#index option').length === 2")
        options = page.eval_on_selector_all(
            "#index option", "os => os.map(o => [o.value, o.disabled, o.textContent, o.title])"
        )
        chosen = page.eval_on_selector("#index", "s => s.value")
        browser.close()
    assert options[0][:3] == ["a-bad", True, "a-bad (broken)"] and "unreadable" in options[0][3]
    assert options[1][:2] == ["good", False] and chosen == "good"
    assert not errors, errors


def test_a_junk_errors_file_is_one_line(runner, colour_folder: Path) -> None:
    """A corrupt errors.json gave a JSONDecodeError traceback from `index info --errors` and `index update`."""
    gen = build(runner, colour_folder)
    damage(gen, "junk-errors")
    for args in (["index", "info", NAME, "--errors"], ["index", "update", NAME]):
        assert_damaged(invoke(runner, *args), "errors.json does not read")


def _noise_lmdb(env_dir: Path, n: int = 40) -> Path:
    """A CN-CLIP LMDB of `n` noise PNGs (a few KiB each: the file spans many pages)."""
    import io

    from PIL import Image

    from csdclip_cli.sources.lmdb_source import write_lmdb_images

    rng = np.random.default_rng(0)

    def noise(i: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
        return buf.getvalue()

    write_lmdb_images(env_dir, ((f"im{i:03d}", noise(i)) for i in range(n)))
    return env_dir / "data.mdb"


def test_an_lmdb_cut_short_is_one_line_not_a_bus_error(runner, tmp_path: Path) -> None:
    """A data.mdb cut short (a copy in progress, a truncated download) killed `index build`,
    `index update`, `search --html` and `csd serve` with SIGBUS, printing nothing: the
    environment is memory-mapped without a lock and a read went past the end of the file."""
    import subprocess
    import sys

    data = _noise_lmdb(tmp_path / "good")
    assert data.stat().st_size > 100_000
    # in a child process: a bus error must fail this test, not kill the test run
    script = f"""
import os
from csdclip_cli.errors import SourceError
from csdclip_cli.sources.lmdb_source import LmdbSource
src = LmdbSource({str(data.parent)!r})
keys = [it.key for it in src.items()]
assert len(keys) == 40 and src.read(keys[-1])
os.truncate({str(data)!r}, {data.stat().st_size // 2})
for what in (lambda: src.read(keys[-1]), lambda: list(src.items()), lambda: LmdbSource({str(data.parent)!r})):
    try:
        what()
    except SourceError as e:
        print("refused:", e)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr)
    lines = r.stdout.splitlines()
    assert len(lines) == 3 and all("data.mdb is cut short" in line for line in lines), r.stdout
    # replaced by another file, or written over in place, while open (csd serve): the old map read
    # the old file (SIGBUS once it was cut), or "cut short" was said of a whole smaller LMDB forever;
    # a page damaged inside was an lmdb traceback
    small, data = _noise_lmdb(tmp_path / "small", n=10), _noise_lmdb(tmp_path / "again")
    script = f"""
import os, random, shutil
from csdclip_cli.errors import SourceError
from csdclip_cli.sources.lmdb_source import LmdbSource
data, small = {str(data)!r}, {str(small)!r}
shutil.copy(small, data + ".whole")
src = LmdbSource(os.path.dirname(data))
os.truncate(data, 5)
os.replace(data + ".whole", data)  # a new file at the path
print(len(list(src.items())), len(src.read("im009")) > 0)
with open(small, "rb") as f, open(data, "r+b") as g:  # written over in place, then cut to its size
    g.write(f.read()); g.truncate()
os.utime(data, ns=(1, 1))
print(len(list(src.items())))
blob = bytearray(open(data, "rb").read())
# seeded: about one random damage in ten still kills the reader with SIGBUS (lmdb follows a
# damaged node past the end of the file before any check of csd's can run; left open)
blob[8192 + 16: 8192 * 3] = random.Random(0).randbytes(8192 * 2 - 16)
open(data, "wb").write(bytes(blob))
try:
    list(src.items()); print("read")
except SourceError as e:
    print("refused:", e)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr)
    lines = r.stdout.splitlines()
    assert lines[:2] == ["10 True", "10"], r.stdout
    assert (
        lines[2] == "read"
        or "is damaged or was written over while it was read" in lines[2]
        or "not a readable" in lines[2]
    ), r.stdout
    # a first build of a copy cut short: one line, exit 1, no index left half made
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "data.mdb").write_bytes(data.read_bytes()[:20_000])
    r = invoke(runner, "index", "build", str(cut), "--model", "fake:colour", "--name", "cut")
    assert r.exit_code == 1 and "data.mdb is cut short (20,000 bytes" in r.stderr, r.output
    assert "Traceback" not in r.output


def test_a_page_whose_images_cannot_be_read_says_why(runner, colour_folder: Path, tmp_path: Path) -> None:
    """`search --html` wrote "image unavailable" cards and exit 0 with no word on stderr of why."""
    import shutil

    folder = shutil.copytree(colour_folder, tmp_path / "gallery")
    assert invoke(runner, "index", "build", str(folder), "--model", "fake:colour").exit_code == 0
    for f in folder.rglob("*.png"):
        f.unlink()  # every image gone since the build
    page = tmp_path / "p.html"
    r = invoke(runner, "search", "red", "-k", "2", "--html", str(page), "--no-server")
    assert r.exit_code == 0 and "warning: 2 of 2 images could not be read for the page:" in r.stderr, r.output
    assert page.read_text().count("image unavailable: the file is gone since the index was built") == 2
    # one gone, one there but no image any more: both counted, each with its own reason (the second
    # was not counted and said "moved or deleted?"; the first was a bare "[Errno 2] ...")
    from csdclip_cli.index import IndexStore
    from csdclip_cli.search.searcher import Searcher

    keys = [r.key for r in Searcher.open(IndexStore().current()).search_plain("red", 2)]
    (folder / keys[0]).parent.mkdir(parents=True, exist_ok=True)
    (folder / keys[0]).write_text("garbage")
    r = invoke(runner, "search", "red", "-k", "2", "--html", str(page), "--no-server")
    assert "warning: 2 of 2 images could not be read for the page:" in r.stderr, r.output
    text = page.read_text()
    assert "image unavailable: not a readable image now" in text and "image unavailable: the file is gone" in text
    shutil.rmtree(folder)
    r = invoke(runner, "search", "red", "-k", "2", "--html", str(page), "--no-server")
    assert f"the index's source {folder} cannot be opened" in r.stderr, r.output
