"""Reliability: bad images, crash safety (kill -9), locking, safe loading, resource faults."""

from __future__ import annotations

import errno
import io
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
from conftest import invoke, make_colour_folder
from PIL import Image

from csdclip_cli.errors import CsdError, IndexLocked
from csdclip_cli.index import IndexStore
from csdclip_cli.search.searcher import Searcher
from csdclip_cli.sources.decode import BadImage, decode_image
from csdclip_cli.sources.safe_pickle import UnsafePickle, safe_loads

CSD = [sys.executable, "-m", "csdclip_cli"]


def jpeg(img: Image.Image, **kw) -> bytes:
    b = io.BytesIO()
    img.save(b, format="JPEG", **kw)
    return b.getvalue()


def bomb_png() -> bytes:
    """A valid 1x1 PNG whose header claims 20000 x 20000 pixels."""
    b = io.BytesIO()
    Image.new("RGB", (1, 1)).save(b, format="PNG")
    data = bytearray(b.getvalue())
    ihdr = struct.pack(">II", 20000, 20000) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def odd_images(folder: Path) -> dict[str, str | None]:
    """Write every awkward kind of file; name -> expected skip reason (None: decodes)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(jpeg(Image.new("RGB", (64, 64), (200, 10, 10)))[:300])
    (folder / "text.jpg").write_text("this is not an image")
    (folder / "bomb.png").write_bytes(bomb_png())
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    Image.new("I;16", (16, 16), 40000).save(folder / "deep16.png")
    p = Image.new("P", (16, 16), 0)
    p.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    p.info["transparency"] = 0
    p.save(folder / "palette.png", transparency=0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    (folder / "rotated.jpg").write_bytes(jpeg(Image.new("RGB", (40, 20), (0, 200, 0)), exif=exif.tobytes()))
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 255, 0), (0, 0, 0))]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(folder / "anim.webp", save_all=True, append_images=frames[1:], duration=100)
    return {
        "empty.jpg": "empty",
        "truncated.jpg": "cannot decode",
        "text.jpg": "not a recognised image",
        "bomb.png": "decompression-bomb",
        "cmyk.jpg": None,
        "deep16.png": None,
        "palette.png": None,
        "rotated.jpg": None,
        "anim.gif": None,
        "anim.webp": None,
    }


def test_decode_each_awkward_kind(tmp_path: Path) -> None:
    expected = odd_images(tmp_path)
    for name, reason in expected.items():
        data = (tmp_path / name).read_bytes()
        if reason is None:
            img = decode_image(data)
            assert img.mode == "RGB", name
        else:
            with pytest.raises(BadImage, match=reason):
                decode_image(data)
    assert decode_image((tmp_path / "rotated.jpg").read_bytes()).size == (20, 40)  # EXIF orientation applied
    assert decode_image((tmp_path / "anim.gif").read_bytes()).getpixel((8, 8)) == (255, 255, 0)  # first frame
    assert decode_image((tmp_path / "palette.png").read_bytes()).getpixel((0, 0)) == (255, 255, 255)  # alpha on white
    # 16-bit 40000 is 8-bit 156 (40000 / 257), not stretched to white
    assert decode_image((tmp_path / "deep16.png").read_bytes()).getpixel((0, 0))[0] == 156


def test_build_skips_bad_files_and_lists_them(runner, tmp_path: Path) -> None:
    expected = odd_images(tmp_path / "odd")
    r = invoke(runner, "index", "build", str(tmp_path / "odd"), "--model", "fake:colour", "--name", "odd")
    assert r.exit_code == 0 and "Traceback" not in r.output
    assert "6 images (encoded 6" in r.stderr and "4 files could not be read" in r.stderr
    listed = dict(line.split("\t") for line in invoke(runner, "index", "info", "odd", "--errors").stdout.splitlines())
    assert set(listed) == {k for k, v in expected.items() if v}
    for name, reason in expected.items():
        if reason:
            assert reason in listed[name]
    # unchanged bad files are not retried
    r = invoke(runner, "index", "build", str(tmp_path / "odd"), "--model", "fake:colour", "--name", "odd")
    assert "encoded 0" in r.stderr


def _csd_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CSD_INDEXES"] = str(tmp / "indexes")
    return env


def _keys(name: str) -> list[str]:
    _, gen = IndexStore().open(name)
    return [k for _, k, *_ in gen.items()]


def _committed(journal: Path) -> int:
    total = 0
    for f in journal.glob("batch-*.json"):
        try:
            total += len(json.loads(f.read_text()))
        except (OSError, json.JSONDecodeError):  # being written (renamed into place when whole)
            pass
    return total


@pytest.mark.slow
@pytest.mark.parametrize("batches", [1, 3, 8])
def test_kill_during_first_build_resumes_without_reencoding(tmp_path: Path, batches: int) -> None:
    folder = make_colour_folder(tmp_path / "imgs", n=400)
    cmd = CSD + ["index", "build", str(folder), "--model", "fake:slow", "--name", "k", "--batch-size", "8"]
    p = subprocess.Popen(cmd, env=_csd_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = tmp_path / "indexes" / "k" / "journal"
    deadline = time.monotonic() + 120
    while _committed(journal) < 8 * batches and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.02)
    assert p.poll() is None, "the build finished before it could be killed mid-way"
    p.send_signal(signal.SIGKILL)
    p.wait()
    committed = _committed(journal)
    assert 8 * batches <= committed < 400  # killed mid-build, after `batches` commits
    out = subprocess.run(cmd, env=_csd_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"resumed {committed}" in out.stderr
    assert f"encoded {400 - committed}" in out.stderr
    keys = _keys("k")
    assert len(keys) == len(set(keys)) == 400


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [0.5, 1.5])
def test_kill_during_update_keeps_last_state_searchable(tmp_path: Path, kill_after: float) -> None:
    folder = make_colour_folder(tmp_path / "imgs", n=40)
    env = _csd_env(tmp_path)
    base = CSD + ["index", "build", str(folder), "--model", "fake:slow", "--name", "u", "--batch-size", "8"]
    assert subprocess.run(base, env=env, capture_output=True, timeout=120).returncode == 0
    for i in range(300):
        Image.new("RGB", (24, 24), (0, 0, 255)).save(folder / f"more-{i:03d}.png")
    p = subprocess.Popen(base, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    p.send_signal(signal.SIGKILL)
    p.wait()
    # the last committed generation loads and searches while the update is unfinished
    s = Searcher.open("u")
    assert s.manifest.count == 40 and len(s.search_plain("red", 5)) == 5
    out = subprocess.run(base, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    keys = _keys("u")
    assert len(keys) == len(set(keys)) == 340


def test_lock_refuses_second_writer_and_wait_waits(runner, colour_folder: Path) -> None:
    invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "l")
    store = IndexStore()
    with store.lock("l"):
        r = invoke(runner, "index", "update", "l")
        assert r.exit_code == 1 and "is being written by pid" in r.stderr and "--wait" in r.stderr
        # refused before the model loaded and an empty progress bar was drawn
        assert "loading" not in r.stderr and "indexing" not in r.stderr, r.stderr
        assert invoke(runner, "index", "rm", "l").exit_code == 1
        # searches keep working while the index is being written
        assert len(Searcher.open("l").search_plain("red", 3)) == 3
    release = threading.Event()

    def hold() -> None:
        with store.lock("l"):
            release.wait(5)
            time.sleep(0.3)

    t = threading.Thread(target=hold)
    t.start()
    time.sleep(0.1)
    release.set()
    t0 = time.time()
    r = invoke(runner, "index", "update", "l", "--wait")
    t.join()
    assert r.exit_code == 0 and time.time() - t0 >= 0.2
    with pytest.raises(IndexLocked):
        with store.lock("l"), store.lock("l"):
            pass


class Evil:
    def __reduce__(self):
        return (os.system, ("touch evil-was-here",))


def test_restricted_unpickler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert safe_loads(pickle.dumps((1000, 1, "红色图片"))) == (1000, 1, "红色图片")
    with pytest.raises(UnsafePickle, match="posix.system|os.system"):
        safe_loads(pickle.dumps(Evil()))
    assert not (tmp_path / "evil-was-here").exists()


def test_lmdb_pairs_read_safely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lmdb

    from csdclip_cli.sources.lmdb_source import read_pairs

    monkeypatch.chdir(tmp_path)
    env = lmdb.open(str(tmp_path / "pairs"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        txn.put(b"0", pickle.dumps((1000, 1, "a red image")))
        txn.put(b"num_samples", b"1")
    env.close()
    assert list(read_pairs(tmp_path / "pairs")) == [(1000, 1, "a red image")]
    env = lmdb.open(str(tmp_path / "pairs"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        txn.put(b"1", pickle.dumps(Evil()))
    env.close()
    with pytest.raises(UnsafePickle):
        list(read_pairs(tmp_path / "pairs"))
    assert not (tmp_path / "evil-was-here").exists()


def test_checkpoint_with_code_is_refused(runner, tmp_path: Path, tiny_openclip, monkeypatch) -> None:
    import torch

    monkeypatch.chdir(tmp_path)
    cfg, _ = tiny_openclip
    bad = tmp_path / "bad.pt"
    torch.save({"state_dict": Evil()}, bad)
    make_colour_folder(tmp_path / "imgs", n=4)
    r = invoke(runner, "index", "build", str(tmp_path / "imgs"), "--model", f"openclip:{cfg}", "--weights", str(bad))
    assert r.exit_code == 1 and "refusing to load it" in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "evil-was-here").exists()


def test_newer_format_version_is_refused(runner, colour_folder: Path) -> None:
    invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "v")
    mpath = IndexStore().path("v") / "manifest.json"
    m = json.loads(mpath.read_text())
    m["format_version"] = 99
    mpath.write_text(json.dumps(m))
    r = invoke(runner, "index", "info", "v")
    assert r.exit_code == 1 and "format version 99" in r.stderr and "upgrade csd" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_source_and_unknown_model(runner, tmp_path: Path) -> None:
    r = invoke(runner, "index", "build", str(tmp_path / "nope"), "--model", "fake:colour")
    assert r.exit_code == 1 and "does not exist" in r.stderr and "Traceback" not in r.output
    make_colour_folder(tmp_path / "imgs", n=2)
    r = invoke(runner, "index", "build", str(tmp_path / "imgs"), "--model", "nosuch:thing")
    assert r.exit_code == 1 and "unknown model family 'nosuch'" in r.stderr and "clip" in r.stderr


def test_disk_full_keeps_previous_generation(colour_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from csdclip_cli.encoders import load_encoder
    from csdclip_cli.index import build_index
    from csdclip_cli.index.build import Journal
    from csdclip_cli.sources import FolderSource

    enc = load_encoder("fake:colour")
    build_index(FolderSource(colour_folder), enc, "full", IndexStore())
    Image.new("RGB", (24, 24), (0, 0, 255)).save(colour_folder / "new.png")

    def no_space(self, items, vectors):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Journal, "commit", no_space)
    with pytest.raises(CsdError, match="disk full"):
        build_index(FolderSource(colour_folder), enc, "full", IndexStore())
    assert Searcher.open("full").manifest.count == 24


def test_read_only_index_dir_is_one_clear_error(runner, colour_folder: Path, monkeypatch) -> None:
    real_open = os.open

    def deny(path, flags, *a):
        if str(path).endswith(".lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *a)

    monkeypatch.setattr(os, "open", deny)
    r = invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour")
    assert r.exit_code == 1 and "cannot write to" in r.stderr and "--index-dir" in r.stderr


def test_index_names_with_url_and_uri_characters_build_and_search(runner, colour_folder: Path) -> None:
    name = "shots #1? 100%"  # items.sqlite is opened through a file: URI, where these mean something
    r = invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", name)
    assert r.exit_code == 0, r.output
    r = invoke(runner, "search", "red", "--index", name, "--json", "-k", "3")
    assert r.exit_code == 0, r.output
    assert len([json.loads(line) for line in r.stdout.splitlines()]) == 3  # JSON lines, one a result
    for bad in (".hidden", "a/b", "journal", "", "   ", " lead", "trail ", "new\nline", "-dash", "a" * 201, "é" * 101):
        r = invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", bad)
        assert r.exit_code == 2 and "invalid index name" in r.output and "Traceback" not in r.output, bad
    r = invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "é" * 100)
    assert r.exit_code == 0, r.output  # 200 bytes: the longest name


def test_command_lists_show_each_summary_unbroken() -> None:
    """A command list shows the docstring's first paragraph; Typer kept its line breaks there,
    so summaries broke mid-sentence ("drop deleted ones (a sharded" / "index updates ...")."""
    import subprocess
    import sys

    from csdclip_cli.cli.app import app

    groups = [app, *(g.typer_instance for g in app.registered_groups)]
    commands = [c for g in groups for c in g.registered_commands]
    assert len(commands) >= 15
    for c in commands:
        assert c.short_help and "\n" not in c.short_help, c.name
    env = {**__import__("os").environ, "COLUMNS": "200"}
    code = "import sys; sys.argv=['csd', 'index', '--help']\nfrom csdclip_cli.cli.app import main\nmain()"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert "drop deleted ones (a sharded index updates each shard" in r.stdout, r.stdout
    code = "import sys; sys.argv=['csd', 'index', 'build', '--help']\nfrom csdclip_cli.cli.app import main\nmain()"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert "#recycle, ...) are skipped;" in r.stdout, r.stdout  # a later paragraph broke mid-sentence too
    assert "Example: csd index build" in r.stdout


def test_paths_only_and_json_give_the_files_on_disk_for_odd_names(runner, tmp_path: Path) -> None:
    """--paths-only printed the index's printable key ('red\\\\car.png', 'bad\\xffname.png'): no such
    file, or, where a file literally named 'bad\\xffname.png' exists too, the wrong image."""
    import json
    import os

    from conftest import invoke
    from PIL import Image

    root = tmp_path / "odd"
    root.mkdir()
    names = [b"red\\car.png", b"red\xffname.png", b"red\\xffname.png", b"plain red.png"]
    for i, name in enumerate(names):
        Image.new("RGB", (24, 24), (200 + i * 10, 10, 10)).save(os.path.join(os.fsencode(root), name), format="PNG")
    expected = {os.path.join(os.fsencode(root.resolve()), n) for n in names}
    assert invoke(runner, "index", "build", str(root), "--model", "fake:colour", "--name", "odd").exit_code == 0
    r = invoke(runner, "search", "red", "-i", "odd", "-k", "4", "--paths-only", "--no-server")
    assert r.exit_code == 0 and set(r.stdout_bytes.splitlines()) == expected
    r = invoke(runner, "search", "red", "-i", "odd", "-k", "4", "--json", "--no-server")
    paths = {os.fsencode(json.loads(line)["path"]) for line in r.stdout_bytes.decode("utf-8").splitlines()}
    assert paths == expected
    # and through csd serve (a name byte that is not UTF-8 made the search a 500)
    from starlette.testclient import TestClient

    from csdclip_cli.serve.app import create_app
    from csdclip_cli.serve.service import Service

    client = TestClient(create_app(Service(Path(os.environ["CSD_INDEXES"]))))
    resp = client.post("/api/search", json={"query": "red", "k": 4, "index": "odd"})
    assert resp.status_code == 200, resp.text
    assert {os.fsencode(x["path"]) for x in json.loads(resp.content)["results"]} == expected


def test_print0_ends_each_path_with_nul_for_names_holding_a_newline(runner, tmp_path: Path, monkeypatch) -> None:
    """--paths-only splits a name holding a newline into two lines that name no file; -0 / --print0
    ends each path with NUL (xargs -0), here and through csd serve's answer."""
    import os

    from conftest import invoke
    from PIL import Image

    import csdclip_cli.cli.search_cmd as search_cmd

    root = tmp_path / "nl"
    root.mkdir()
    names = ["red\ncar.png", "dark red.png", "red.png"]
    for i, name in enumerate(names):
        Image.new("RGB", (24, 24), (200 + i * 20, 10, 10)).save(root / name, format="PNG")
    expected = {os.fsencode(root.resolve() / n) for n in names}
    assert invoke(runner, "index", "build", str(root), "--model", "fake:colour", "--name", "nl").exit_code == 0
    for flag in ("-0", "--print0"):
        r = invoke(runner, "search", "red", "-i", "nl", "-k", "3", flag, "--no-server")
        assert r.exit_code == 0 and r.stdout_bytes.endswith(b"\0"), r.output
        assert set(r.stdout_bytes[:-1].split(b"\0")) == expected
    r = invoke(runner, "search", "red", "-i", "nl", "-0", "--json", "--no-server")
    assert r.exit_code == 2 and "--json and --print0 are two output forms" in r.stderr
    # --paths-only cannot help it, but says so (it printed two lines that name no file, silently)
    r = invoke(runner, "search", "red", "-i", "nl", "-k", "3", "--paths-only", "--no-server")
    assert r.exit_code == 0 and "holds a newline" in r.stderr and "use -0" in r.stderr, r.output
    # a running server's answer is written the same way
    answer = {"method": "csd", "index": "nl", "model": "fake:colour", "plan": {}, "results": []}
    answer["results"] = [{"rank": i, "key": n, "path": str(root / n), "score": 1.0} for i, n in enumerate(names)]
    monkeypatch.setattr(search_cmd, "_remote", lambda *a, **kw: answer)
    r = invoke(runner, "search", "red", "-i", "nl", "-k", "3", "-0")
    assert r.exit_code == 0 and r.stdout_bytes.split(b"\0")[:-1] == [os.fsencode(root / n) for n in names]


def test_an_unfinished_first_build_and_a_broken_manifest_are_listed_and_removable(runner, colour_folder: Path) -> None:
    """A first build stopped by Ctrl-C left indexes/NAME (a journal, a lock, no manifest) that
    `index list` did not show and `index rm` refused ('no index named ...'); an unreadable
    manifest made `index rm` repeat its own advice to run `index rm`."""
    import os

    from conftest import invoke

    root = Path(os.environ["CSD_INDEXES"])
    assert invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "ok").exit_code == 0
    (root / "partial" / "journal").mkdir(parents=True)  # as an interrupted first build leaves it
    (root / "partial" / ".lock").write_text("")
    r = invoke(runner, "index", "list")
    assert r.exit_code == 0 and "'partial' is a first build that did not finish" in r.stderr and "ok" in r.stdout
    assert "(`csd index build` or `csd eval`)" in r.stderr  # an interrupted eval leaves one too
    from csdclip_cli.index.store import IndexStore

    with IndexStore().lock("partial"):  # a first build running now was called one that did not finish
        for args in (["index", "list"], ["index", "info", "partial"], ["search", "red", "-i", "partial"]):
            r = invoke(runner, *args)
            assert f"'partial' is a first build still running (pid {os.getpid()})" in r.stderr, (args, r.output)
            assert "did not finish" not in r.stderr, (args, r.output)
    for args in (["index", "info", "partial"], ["index", "update", "partial"], ["search", "red", "-i", "partial"]):
        r = invoke(runner, *args)  # they said "no index named 'partial'" of a listed one
        assert r.exit_code != 0 and "a first build that did not finish" in r.stderr, (args, r.output)
    assert invoke(runner, "index", "rm", "partial").exit_code == 0 and not (root / "partial").exists()
    (root / "ok" / "manifest.json").write_text("{not json")
    r = invoke(runner, "index", "list")
    assert r.exit_code == 0 and "manifest unreadable" in r.stdout
    r = invoke(runner, "index", "rm", "ok")
    assert r.exit_code == 0 and not (root / "ok").exists()
    r = invoke(runner, "index", "rm", "never")
    assert r.exit_code != 0 and "no index named 'never'" in r.stderr


@pytest.mark.parametrize("damage", ["vectors", "items", "no-vectors"])
def test_a_damaged_index_file_is_one_line_with_the_way_out(runner, colour_folder: Path, damage: str) -> None:
    """A truncated vectors.npy (ValueError: EOF) or a junk items.sqlite (DatabaseError) gave
    tracebacks from search, info and build."""
    import json
    import os

    from conftest import invoke

    root = Path(os.environ["CSD_INDEXES"])
    assert invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "d").exit_code == 0
    gen = root / "d" / f"gen-{json.loads((root / 'd' / 'manifest.json').read_text())['generation']}"
    if damage == "vectors":
        data = (gen / "vectors.npy").read_bytes()
        (gen / "vectors.npy").write_bytes(data[:40])
    elif damage == "no-vectors":  # an IndexError at search, and a build saw nothing to do
        (gen / "vectors.npy").unlink()
    else:
        (gen / "items.sqlite").write_bytes(b"this is no database" * 100)
    build = ["index", "build", str(colour_folder), "--model", "fake:colour", "--name", "d"]
    for args in (["search", "red", "-i", "d", "--no-server"], build):
        r = invoke(runner, *args)  # an exception other than the CLI's exit fails the test here
        assert r.exit_code != 0
        assert r.stderr.strip().splitlines()[-1].startswith("error: index 'd' is damaged"), r.stderr
        assert "csd index rm d" in r.stderr
    assert invoke(runner, "index", "rm", "d").exit_code == 0 and invoke(runner, *build).exit_code == 0


def test_an_empty_folder_warns_at_build_and_its_index_says_so_at_search(runner, tmp_path: Path) -> None:
    """An empty folder was indexed without a word, and a search of it printed 15 lines of numpy
    warnings (a calibration over no images) and an empty table."""
    import warnings

    from conftest import invoke

    (tmp_path / "e").mkdir()
    r = invoke(runner, "index", "build", str(tmp_path / "e"), "--model", "fake:colour", "--name", "e")
    assert r.exit_code == 0 and "index 'e' is empty" in r.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning fails the test
        for method in ("csd", "plain"):
            r = invoke(runner, "search", "a car, no dog", "-i", "e", "--method", method, "--no-server", "--json")
            assert r.exit_code == 0 and r.stdout.strip() == ""
            assert "index 'e' holds no images" in r.stderr and "Warning" not in r.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (["--json", "--paths-only"], "--json and --paths-only are two output forms"),  # it printed JSON
        (["--open"], "--open opens the --html page"),  # it did nothing
        (["--plain", "--method", "deo"], "--plain is --method plain"),  # it ran plain
    ],
)
def test_search_flags_that_ask_for_two_things_are_refused(runner, colour_folder: Path, args: list, says: str) -> None:
    from conftest import invoke

    assert invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour").exit_code == 0
    r = invoke(runner, "search", "red", "--no-server", *args)
    assert r.exit_code == 2 and says in r.stderr, r.output


def test_a_bad_text_backend_and_ann_kind_are_refused_early(runner, colour_folder: Path, monkeypatch) -> None:
    from conftest import invoke

    r = invoke(runner, "index", "build", str(colour_folder), "--model", "no-such-family:x", "--ann", "foo")
    assert r.exit_code == 2 and "--ann 'foo': choose one of" in r.stderr  # before the model (it loaded first)
    assert invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour").exit_code == 0
    monkeypatch.setenv("CSD_TEXT_BACKEND", "bogus")  # it was ignored
    r = invoke(runner, "search", "red", "--no-server")
    assert r.exit_code == 2 and "CSD_TEXT_BACKEND=bogus: it must be torch or onnx" in r.stderr


def test_ctrl_c_says_what_was_kept_only_where_something_was(runner, colour_folder: Path, monkeypatch) -> None:
    """Search, eval and demo said 'interrupted; committed work is kept' too: only a build keeps work."""
    from conftest import invoke

    import csdclip_cli.index.update as update
    from csdclip_cli.search.searcher import Searcher

    def stop(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(update, "build_or_update", stop)
    r = invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour")
    assert r.exit_code == 130 and "the images encoded so far are kept: run the same command to resume" in r.stderr
    monkeypatch.setattr(Searcher, "open", stop)
    r = invoke(runner, "search", "red", "--no-server")
    assert r.exit_code == 130 and r.stderr.strip() == "interrupted"


def test_library_errors_logged_while_loading_stay_quiet() -> None:
    """open_clip logged 'ERROR:root:Failed to download weights ...' before csd's own error line."""
    import io
    import logging

    from csdclip_cli.encoders.base import quiet_libraries

    seen = io.StringIO()
    handler = logging.StreamHandler(seen)  # as logging's last-resort handler writes to stderr
    logging.getLogger().addHandler(handler)
    try:
        with quiet_libraries():
            logging.getLogger().error("Failed to download weights for tag 'openai'")
        logging.getLogger().error("after loading")  # and logging works again afterwards
    finally:
        logging.getLogger().removeHandler(handler)
    assert seen.getvalue() == "after loading\n"


def test_html_card_of_a_file_gone_says_so(runner, colour_folder: Path, tmp_path: Path) -> None:
    """A result whose file was deleted after the build had an empty <img src=""> and no word."""
    from conftest import invoke

    assert invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour").exit_code == 0
    for f in colour_folder.rglob("red-*.png"):
        f.unlink()
    page = tmp_path / "out.html"
    r = invoke(runner, "search", "red", "-k", "3", "--html", str(page), "--no-server")
    text = page.read_text()
    assert r.exit_code == 0 and 'src=""' not in text and text.count("image unavailable") >= 1


def test_update_with_a_moved_source_or_weights_says_what_to_do(runner, colour_folder: Path, tmp_path: Path) -> None:
    """A moved weights file made 'index update' say '--weights ...: no such file; check the
    path', an option update did not have; a missing source said 'give an image folder', which
    update cannot take. -x '*' said a drive might be unmounted."""
    import shutil

    from conftest import invoke

    import csdclip_cli.demo as demo

    w = tmp_path / "w.safetensors"
    shutil.copy(Path(demo.__file__).parent / "model" / "csd-demo-tiny.safetensors", w)
    build = ["index", "build", str(colour_folder), "--model", "demo:tiny", "--weights", str(w), "--name", "t"]
    assert invoke(runner, *build).exit_code == 0
    moved = w.rename(tmp_path / "moved.safetensors")
    r = invoke(runner, "index", "update", "t")
    assert r.exit_code == 2 and "pass its new place: csd index update t --weights FILE" in r.stderr
    r = invoke(runner, "index", "update", "t", "--weights", str(moved))
    assert r.exit_code == 0, r.output
    r = invoke(runner, "index", "update", "t", "-x", "*", "--weights", str(moved))
    assert r.exit_code != 0 and "--exclude * leaves out every image" in r.stderr
    colour_folder.rename(tmp_path / "elsewhere")
    r = invoke(runner, "index", "update", "t", "--weights", str(moved))
    assert r.exit_code != 0 and "source" in r.stderr and "does not exist (a drive unmounted" in r.stderr
    assert "give an image folder" not in r.stderr


def test_a_moved_open_clip_config_says_to_build_again(runner, colour_folder: Path, tmp_path: Path) -> None:
    """After moving a custom open_clip model's folder, `index update` advised --weights FILE; with it,
    "open_clip config .../w1/....json not found", and update has no option for the config."""
    import shutil

    from conftest import invoke

    import csdclip_cli.demo as demo

    w1 = tmp_path / "w1"
    shutil.copytree(Path(demo.__file__).parent / "model", w1)
    spec = f"openclip:{w1 / 'csd-demo-tiny.json'}"
    build = ["index", "build", str(colour_folder), "--model", spec, "--weights", str(w1 / "csd-demo-tiny.safetensors")]
    assert invoke(runner, *build, "--name", "movew").exit_code == 0
    w2 = w1.rename(tmp_path / "w2")
    r = invoke(runner, "index", "update", "movew", "--weights", str(w2 / "csd-demo-tiny.safetensors"))
    assert r.exit_code == 2 and "the model config of index 'movew'" in r.stderr and "is not there (moved?)" in r.stderr
    assert "--model openclip:NEW.json" in r.stderr and "not found" not in r.stderr, r.stderr


def test_a_broken_symlink_is_listed_among_the_skipped_files(runner, colour_folder: Path) -> None:
    """A dangling symlink was skipped without a word: not counted and not in `index info --errors`."""
    import os

    from conftest import invoke

    (colour_folder / "gone.png").symlink_to(colour_folder / "no-such-target.png")
    r = invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "s")
    assert r.exit_code == 0 and "1 file could not be read" in r.stderr
    errors = invoke(runner, "index", "info", "s", "--errors").stdout
    assert "gone.png\t" in errors and "broken symbolic link" in errors
    r = invoke(runner, "index", "update", "s")  # still listed, not counted as a new image
    assert r.exit_code == 0 and "encoded 0" in r.stderr and "1 file could not be read" in r.stderr
    assert os.path.islink(colour_folder / "gone.png")


def test_a_pipe_or_a_device_named_like_an_image_is_skipped_not_read(runner, colour_folder: Path) -> None:
    """A named pipe called pipe.png blocked the build for good (Ctrl-C did not stop it) and a
    link to /dev/zero filled the memory: only regular files are read; the rest are skipped with
    the reason, and the images beside them are indexed."""
    import os
    import threading

    from conftest import invoke

    os.mkfifo(colour_folder / "pipe.png")
    (colour_folder / "zero.png").symlink_to("/dev/null")  # /dev/zero filled the memory

    def unblock() -> None:  # should the pipe be read again, a writer lets it end: a failure, not a hung test
        if not done.wait(30):
            os.close(os.open(colour_folder / "pipe.png", os.O_WRONLY))

    done = threading.Event()
    threading.Thread(target=unblock, daemon=True).start()
    images = sum(1 for p in colour_folder.rglob("*.png")) - 2
    r = invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "p")
    done.set()
    assert r.exit_code == 0 and "2 files could not be read" in r.stderr
    assert f"encoded {images}," in r.stderr
    errors = invoke(runner, "index", "info", "p", "--errors").stdout
    assert "pipe.png\t" in errors and "zero.png\t" in errors and errors.count("not a regular file") == 2


def test_a_plan_cache_a_lmdb_and_a_config_that_cannot_be_used_are_one_line(
    runner, colour_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    """CSD_CACHE naming a file (FileExistsError), a junk or empty data.mdb (lmdb InvalidError /
    Error) and an open_clip config that is not JSON (JSONDecodeError) gave tracebacks."""
    from conftest import invoke

    from csdclip_cli.errors import UsageError
    from csdclip_cli.rewrite.cache import PlanCache

    (tmp_path / "f").write_text("")
    monkeypatch.setenv("CSD_CACHE", str(tmp_path / "f"))
    with pytest.raises(UsageError, match="CSD_CACHE must name a writable folder"):
        _ = PlanCache().db
    for content in (b"x" * 5000, b""):
        bl = tmp_path / f"bl{len(content)}"
        bl.mkdir()
        (bl / "data.mdb").write_bytes(content)
        r = invoke(runner, "index", "build", str(bl), "--model", "fake:colour")
        assert r.exit_code != 0 and "is not a readable LMDB" in r.stderr, r.output
    cfg = tmp_path / "c.json"
    cfg.write_text('{"bad":')
    r = invoke(runner, "index", "build", str(colour_folder), "--model", f"openclip:{cfg}")
    assert r.exit_code != 0 and "does not parse" in r.stderr, r.output


def test_html_does_not_overwrite_a_file_that_is_no_page(runner, colour_folder: Path) -> None:
    """`--html imgs/red-000.png` replaced the user's image with an HTML page."""
    from conftest import invoke

    assert invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour").exit_code == 0
    image = colour_folder / "red-000.png"
    before = image.read_bytes()
    r = invoke(runner, "search", "red", "--html", str(image), "--no-server")
    assert r.exit_code == 2 and "give a .html file name" in r.stderr and image.read_bytes() == before
    new = colour_folder / "page.png"  # not there yet: HTML was written into a .png
    r = invoke(runner, "search", "red", "--html", str(new), "--no-server")
    assert r.exit_code == 2 and "give a .html file name" in r.stderr and not new.exists()


def test_open_without_a_browser_says_where_the_page_is(
    runner, colour_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    """--open with no browser found exited 0 without a word."""
    import webbrowser

    from conftest import invoke

    assert invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour").exit_code == 0
    monkeypatch.setattr(webbrowser, "open", lambda url: False)
    page = tmp_path / "p.html"
    r = invoke(runner, "search", "red", "--html", str(page), "--open", "--no-server")
    assert r.exit_code == 0 and "no web browser found to open it" in r.stderr and page.as_uri() in r.stderr


@pytest.mark.parametrize("folder, name", [(".photos", "photos-fake-colour"), ("-neg", "neg-fake-colour")])
def test_a_folder_name_with_a_leading_dot_or_dash_gives_a_valid_index_name(
    runner, tmp_path: Path, folder: str, name: str
) -> None:
    """'csd index build .photos' failed: 'invalid index name .photos-demo-tiny' (a name the user never gave)."""
    from conftest import invoke, make_colour_folder

    src = make_colour_folder(tmp_path / folder, n=3)
    r = invoke(runner, "index", "build", str(src), "--model", "fake:colour")
    assert r.exit_code == 0 and f"{name}:" in r.stderr, r.output


def test_an_update_with_nothing_to_do_does_not_load_the_model(runner, colour_folder: Path, monkeypatch) -> None:
    """A no-op `csd index update` took ~4 s: it loaded the model (torch) before finding nothing to do."""
    from conftest import invoke
    from PIL import Image

    import csdclip_cli.encoders as encoders

    assert invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "n").exit_code == 0
    real, loads = encoders.load_encoder, []

    def counted(*a, **kw):
        loads.append(a)
        return real(*a, **kw)

    monkeypatch.setattr(encoders, "load_encoder", counted)
    r = invoke(runner, "index", "update", "n")
    assert r.exit_code == 0 and "24 images (encoded 0, unchanged 24" in r.stderr and not loads, r.output
    assert "loading" not in r.stderr
    Image.new("RGB", (24, 24), (0, 0, 250)).save(colour_folder / "new-blue.png")  # a change: the model is needed
    from csdclip_cli.sources.folder import FolderSource

    listed, walk = [], FolderSource.items
    monkeypatch.setattr(FolderSource, "items", lambda self: listed.append(1) or walk(self))
    r = invoke(runner, "index", "update", "n")
    assert r.exit_code == 0 and "25 images (encoded 1, unchanged 24" in r.stderr and len(loads) == 1, r.output
    assert len(listed) == 1  # the check and the build share one scan of the folder
    r = invoke(runner, "index", "build", str(colour_folder), "--model", "demo:tiny", "--name", "n")
    assert r.exit_code != 0 and "cannot use it" in r.stderr  # another model still meets the compatibility check
    # what to do says --weights too: `index update`, which ends up here, has no --name
    assert "(--weights)" in r.stderr and "csd index rm n" in r.stderr


@pytest.mark.parametrize("args", [["-k", "300"], ["--query-long"]])
def test_a_search_beyond_the_servers_limits_runs_here(runner, colour_folder: Path, monkeypatch, args: list) -> None:
    """With `csd serve` up, `csd search -k 500` and a 5,000-character query failed ("k must be
    between 1 and 200") where the same search without a server worked: they search here now."""
    from conftest import invoke

    import csdclip_cli.serve.client as client

    assert invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour").exit_code == 0
    monkeypatch.setattr(client, "find_server", lambda root: {"url": "http://127.0.0.1:9", "pid": 1})

    def refuse(info, request, timeout=10.0):
        raise AssertionError(f"sent to the server: {request['k']}, {len(request['query'])} characters")

    monkeypatch.setattr(client, "remote_search", refuse)
    query = "red " * 1500 if args == ["--query-long"] else "red"
    r = invoke(runner, "search", query, *(args if args != ["--query-long"] else []), "--paths-only")
    assert r.exit_code == 0, r.output
    assert len(r.stdout.splitlines()) == (24 if args[0] == "-k" else 10)  # the whole folder for -k 300


@pytest.mark.parametrize(
    "args, says",
    [
        (["rewrite", "a cat", "-r", "rules", "--adapter", "x.gguf"], "--adapter is a LoRA adapter for --rewriter llm"),
        (["rewrite", "a cat", "-r", "llm-base", "--adapter", "x.gguf"], "--rewriter llm-base uses none"),
        (["rewrite", "a cat", "--llm", "x.gguf"], "--llm is the GGUF of --rewriter llm or llm-base"),
        (["rewrite", "a cat", "-r", "llm", "--adapter", ""], "--adapter is empty"),
        (["search", "a cat", "--no-server", "--adapter", "x.gguf"], "--rewriter rules uses none"),
        (["eval", "demo", "--adapter", "x.gguf", "--limit", "1"], "--adapter is a LoRA adapter"),
        (["rewriter", "eval", "PLANS", "--rewriters", "rules", "--adapter", "x.gguf"], "add llm to --rewriters"),
        (["rewriter", "eval", "PLANS", "--rewriters", "rules", "--llm", "x.gguf"], "add one to --rewriters"),
    ],
)
def test_llm_files_given_to_a_rewriter_that_uses_none_are_refused(
    runner, isolated: Path, args: list, says: str
) -> None:
    """--adapter and --llm were ignored without a word by the rules (and --adapter by llm-base),
    even naming no file; an empty --adapter was reported as the folder '.'."""
    from conftest import invoke

    plans = isolated / "plans.jsonl"
    plans.write_text('{"raw": "a cat", "and": ["a cat"], "not": [], "or": []}\n')
    r = invoke(runner, *[str(plans) if a == "PLANS" else a for a in args])
    assert r.exit_code == 2 and says in r.stderr and "Traceback" not in r.output, r.output


def test_an_empty_index_name_is_refused_not_read_as_the_current_one(runner, colour_folder: Path) -> None:
    """`csd index info ''` and `csd search --index ''` (an unset shell variable) used the current
    index without a word, while `csd index rm ''` refused the name."""
    assert invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour").exit_code == 0
    for args in (("index", "info", ""), ("search", "red", "--index", "", "--no-server")):
        r = invoke(runner, *args)
        assert r.exit_code == 2 and "an empty index name" in r.stderr, r.output


def test_index_names_in_advice_are_quoted_for_the_shell(runner, colour_folder: Path) -> None:
    """`csd index info my photos --errors` ran something else when pasted."""
    (colour_folder / "broken.png").write_bytes(b"not a png")
    r = invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "my photos;x")
    assert r.exit_code == 0 and "`csd index info 'my photos;x' --errors`" in r.output, r.output


def test_a_faiss_index_without_faiss_is_refused_before_the_build(runner, colour_folder: Path, monkeypatch) -> None:
    """Below 20,000 images no candidate index is built, so `--ann faiss-ivf-sq8` without faiss
    built fine, and every update past 20,000 images failed (and the kind cannot change)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "faiss" else real(name, *a))
    r = invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--ann", "faiss-ivf-sq8")
    assert r.exit_code == 1 and "need faiss: pip install" in r.stderr, r.output
    assert IndexStore().names() == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_output_is_named_as_the_output(tmp_path: Path) -> None:
    """`csd search ... > /dev/full` said "disk full while writing <the working folder>; ... (committed
    batches are kept)": neither the place nor the advice was the output's."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        r = subprocess.run(
            [sys.executable, "-m", "csdclip_cli", "rewrite", "a red car, no dog"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
    assert r.returncode == 1 and r.stderr.strip() == "error: No space left on device while writing the output"


CLOSED = "error: standard output is closed; nowhere to write the results (redirect it to a file or /dev/null)"


@pytest.mark.parametrize("mode", [["--paths-only"], [], ["--json"]])
def test_results_to_a_closed_output_are_one_error_line(tmp_path: Path, colour_folder: Path, mode: list[str]) -> None:
    """`csd search ... --paths-only >&-` was an AttributeError traceback ('NoneType' has no 'flush'),
    and the table and --json were lost without a word, with exit 0 (print() and Rich write nowhere
    when Python's sys.stdout is None)."""
    import subprocess
    import sys

    env = {**os.environ, "CSD_INDEXES": str(tmp_path / "ix"), "CSD_CACHE": str(tmp_path / "cache")}
    cli = [sys.executable, "-m", "csdclip_cli"]
    build = [*cli, "index", "build", str(colour_folder), "--model", "fake:colour"]
    r = subprocess.run(build, env=env, capture_output=True, timeout=300, preexec_fn=lambda: os.close(1))
    assert r.returncode == 0, r.stderr  # a command with nothing for stdout still runs
    r = subprocess.run(
        [*cli, "search", "red", "-k", "2", *mode, "--no-server"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.close(1),
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().endswith(CLOSED), r.stderr


@pytest.mark.parametrize("args", [["rewrite", "a red car, no dog", "--rewriter", "rules"], ["--version"], ["--help"]])
def test_every_command_writing_to_a_closed_output_says_so(args: list[str]) -> None:
    """The same for commands whose output is the point (and --help / --version, written outside a
    command's own error handling)."""
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "csdclip_cli", *args],
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.close(1),
    )
    assert (r.returncode, r.stderr.strip()) == (2, CLOSED)
