"""An encoder plugin at fault, through the real registry hook and the real CLI: an exception,
vectors of another shape, NaN, zero or unnormalised vectors. A fresh user's plugin poisoned an
index for good with one NaN, left an index no update could finish with one batch of another
width, and every fault was a traceback of about 90 lines."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import add_entry_point_plugin, invoke, make_distinct_folder

import csdclip_cli.encoders.registry as registry
from csdclip_cli.encoders import Family, families

DIM = 8
FAULT: dict[str, str] = {"mode": ""}


class Faulty:
    """An 8-wide colour encoder whose output goes wrong as FAULT['mode'] says."""

    dim = DIM
    context_length = 77
    device = "cpu"
    spec = "faulty:enc"
    fingerprint = "faulty:v1"

    def preprocess(self, image):
        x = np.asarray(image.convert("RGB").resize((4, 4)), np.float32).reshape(-1, 3).mean(0) / 255
        if FAULT["mode"] == "preprocess-raise":
            raise RuntimeError("preprocess boom")
        if FAULT["mode"] == "preprocess-shapes" and x[0] > x[2]:
            return np.concatenate([x, x])
        if FAULT["mode"] == "preprocess-none":
            return None
        return x

    def encode_images(self, batch):
        m = np.asarray(batch, np.float32)
        v = np.concatenate([m, 1 - m, m[:, :2] * 0.5], 1)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        mode = FAULT["mode"]
        if mode == "raise":
            raise RuntimeError("CUDA out of memory (simulated)")
        if mode == "nan":
            v[0, 0] = np.nan
        if mode == "zero":
            v[0] = 0
        if mode == "wide":
            return np.ones((len(v), 11), np.float32) / 11**0.5
        if mode == "short":
            return v[:-1]
        if mode == "unnormalised":
            return v * np.arange(1, len(v) + 1, dtype=np.float32)[:, None]
        if mode == "strings":
            return [["x"] * DIM for _ in v]
        if mode in ("huge", "tiny"):  # finite, but squaring them overflowed or underflowed float32
            return v * np.float32(1e20 if mode == "huge" else 1e-25)
        if mode == "prints":
            print("hello from the plugin")
        return v

    def encode_texts(self, texts):
        if FAULT["mode"] == "prints":
            print("hello from the plugin")
        if FAULT["mode"] == "text-wide":
            return np.ones((len(texts), 11), np.float32) / 11**0.5
        if FAULT["mode"] == "text-raise":
            raise ValueError("tokenizer exploded")
        rows = [np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)).random(DIM) for t in texts]
        v = np.asarray(rows, np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def load_faulty(spec, opts):
    if FAULT["mode"] == "load":
        raise OSError("weights file is corrupt (simulated)")
    if FAULT["mode"] == "no-spec":

        class NoSpec(Faulty):
            spec = None  # type: ignore[assignment]

        return NoSpec()
    return Faulty()


@pytest.fixture
def plugin(monkeypatch):
    """The family 'faulty', registered as the entry-point plugin 'faultyplug' would register it."""
    families()  # the built-ins and real plugins first
    monkeypatch.setitem(registry._FAMILIES, "faulty", Family("faulty", load_faulty, "faulty test encoder"))
    monkeypatch.setitem(registry._ORIGIN, "faulty", "faultyplug")
    FAULT["mode"] = ""
    yield
    FAULT["mode"] = ""


def build(runner, folder: Path, name: str = "pics"):
    return invoke(runner, "index", "build", str(folder), "--model", "faulty:enc", "--name", name)


def one_line_error(r, *words: str) -> None:
    assert r.exit_code == 1, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in r.output and len(errors) == 1 and r.stderr.strip().endswith(errors[0]), r.stderr
    for w in words:
        assert w in errors[0], r.stderr


def test_a_nan_vector_is_a_skipped_image_and_never_reaches_search(plugin, runner, tmp_path: Path) -> None:
    folder = make_distinct_folder(tmp_path / "pics", 12)
    assert build(runner, folder).exit_code == 0
    (folder / "new.png").write_bytes((folder / "img-003.png").read_bytes())
    FAULT["mode"] = "nan"
    r = invoke(runner, "index", "update", "pics")
    assert r.exit_code == 0 and "1 file could not be read or encoded" in r.output, r.output
    r = invoke(runner, "index", "info", "pics", "--errors")
    assert "new.png" in r.output and "NaN" in r.output, r.output
    FAULT["mode"] = ""
    r = invoke(runner, "index", "update", "pics")  # the plugin mended: the image is tried again
    assert r.exit_code == 0 and "encoded 1" in r.output, r.output
    r = invoke(runner, "search", "a photo, no dogs", "--index", "pics", "-k", "13", "--json")
    assert r.exit_code == 0, r.output
    hits = [json.loads(line) for line in r.stdout.splitlines()]  # strict JSON: a NaN constant would not parse
    assert len(hits) == 13 and len({h["path"] for h in hits}) == 13
    assert all(np.isfinite(h["score"]) for h in hits)


def test_a_zero_vector_is_skipped_and_unnormalised_ones_are_normalised(plugin, runner, tmp_path: Path) -> None:
    folder = make_distinct_folder(tmp_path / "pics", 6)
    FAULT["mode"] = "zero"
    r = build(runner, folder)
    assert r.exit_code == 0 and "1 file could not be read or encoded" in r.output, r.output
    FAULT["mode"] = "unnormalised"
    assert build(runner, folder, "u").exit_code == 0
    FAULT["mode"] = ""
    r = invoke(runner, "search", "a photo", "--index", "u", "--method", "plain", "-k", "6", "--json")
    scores = [json.loads(line)["score"] for line in r.stdout.splitlines()]
    assert all(-1.0001 <= s <= 1.0001 for s in scores), scores  # cosines, not lengths


@pytest.mark.parametrize("mode", ["wide", "short"])
def test_vectors_of_another_shape_are_one_line_and_never_journaled(plugin, runner, tmp_path: Path, mode) -> None:
    folder = make_distinct_folder(tmp_path / "pics", 12)
    assert build(runner, folder).exit_code == 0
    (folder / "new.png").write_bytes((folder / "img-003.png").read_bytes())
    FAULT["mode"] = mode
    r = invoke(runner, "index", "update", "pics")
    one_line_error(r, "encoder plugin 'faultyplug' (model faulty:enc)", "its dim is 8")
    FAULT["mode"] = ""
    r = invoke(runner, "index", "update", "pics")  # the next run is not blocked by the bad batch
    assert r.exit_code == 0 and "encoded 1" in r.output, r.output


def test_a_batch_of_another_width_left_by_an_older_csd_is_encoded_again(plugin, runner, tmp_path: Path) -> None:
    folder = make_distinct_folder(tmp_path / "pics", 4)
    journal = tmp_path / "indexes" / "pics" / "journal"
    journal.mkdir(parents=True)
    items = [{"key": k, "path": str(folder / k), "size": 1, "mtime": 1.0} for k in ("img-000.png", "img-003.png")]
    np.save(journal / "batch-1.npy", np.ones((2, 11), np.float16))
    (journal / "batch-1.json").write_text(json.dumps(items))
    r = build(runner, folder)  # it failed with "all the input array dimensions ..." on every run
    assert r.exit_code == 0 and "4 images" in r.output, r.output


def test_faults_in_the_plugin_are_one_line_naming_it(plugin, runner, tmp_path: Path) -> None:
    folder = make_distinct_folder(tmp_path / "pics", 6)
    FAULT["mode"] = "raise"
    r = build(runner, folder, "r1")
    one_line_error(
        r, "encoder plugin 'faultyplug'", "encoding images: RuntimeError: CUDA out of memory", "--batch-size"
    )
    FAULT["mode"] = "strings"
    one_line_error(build(runner, folder, "r2"), "returned list for", "not an array of numbers")
    FAULT["mode"] = "load"
    one_line_error(build(runner, folder, "r3"), "failed while loading: OSError: weights file is corrupt")
    FAULT["mode"] = "no-spec"
    one_line_error(build(runner, folder, "r4"), "lacks spec")
    FAULT["mode"] = ""
    assert build(runner, folder).exit_code == 0
    for mode, words in (("text-wide", "returned vectors of shape ("), ("text-raise", "encoding text: ValueError")):
        FAULT["mode"] = mode
        for method in ("plain", "csd"):
            r = invoke(runner, "search", "a red car", "--index", "pics", "--method", method, "--no-server")
            one_line_error(r, "encoder plugin 'faultyplug'", words.replace("(1,", "(1," if method == "plain" else "("))


def test_a_plugin_cannot_take_a_built_in_family_name(monkeypatch) -> None:
    """A plugin registering 'demo' replaced csd's demo model without a word."""
    from csdclip_cli.encoders import plugin_errors

    add_entry_point_plugin(
        monkeypatch, "shadow", lambda register: register(Family("demo", load_faulty, "not the demo model"))
    )
    assert families()["demo"].description != "not the demo model"
    assert "registers demo, a family csd has built in" in plugin_errors()["shadow"]
    assert registry.plugin_of("fake") is not None and registry.plugin_of("demo") is None


def test_a_transform_that_raises_is_retried_once_mended(plugin, runner, tmp_path: Path) -> None:
    """A plugin whose preprocess raised left every image skipped for good (exit 0, and a warning
    to check the path and --exclude)."""
    folder = make_distinct_folder(tmp_path / "pics", 6)
    FAULT["mode"] = "preprocess-raise"
    r = build(runner, folder)
    assert (
        r.exit_code == 0
        and "no image of" in r.stderr
        and "cannot preprocess: RuntimeError: preprocess boom" in r.stderr
    )
    assert "check the path" not in r.stderr, r.stderr
    FAULT["mode"] = ""
    r = invoke(runner, "index", "update", "pics")
    assert r.exit_code == 0 and "pics: 6 images (encoded 6" in r.output, r.output


@pytest.mark.parametrize(
    ("mode", "words"),
    [("preprocess-shapes", "arrays of shapes (3,), (6,)"), ("preprocess-none", "its preprocess returned NoneType")],
)
def test_transform_outputs_that_cannot_be_stacked_are_one_line(plugin, runner, tmp_path: Path, mode, words) -> None:
    folder = make_distinct_folder(tmp_path / "pics", 12)
    FAULT["mode"] = mode
    one_line_error(build(runner, folder), "encoder plugin 'faultyplug'", words)


@pytest.mark.parametrize("mode", ["huge", "tiny"])
def test_vectors_far_from_unit_length_are_indexed_as_their_directions(plugin, runner, tmp_path: Path, mode) -> None:
    """x 1e20 overflowed float32's norm: every vector was stored as zero, and the build said
    all was well; x 1e-25 underflowed and was skipped as a zero vector."""
    folder = make_distinct_folder(tmp_path / "pics", 6)
    assert build(runner, folder, "ref").exit_code == 0
    FAULT["mode"] = mode
    r = build(runner, folder, "far")
    assert r.exit_code == 0 and "far: 6 images (encoded 6" in r.output and "could not" not in r.output, r.output
    FAULT["mode"] = ""
    got = [
        invoke(runner, "search", "a photo", "--index", n, "--method", "plain", "--json").stdout for n in ("ref", "far")
    ]
    ref, far = ([json.loads(line) for line in g.splitlines()] for g in got)
    assert [h["key"] for h in far] == [h["key"] for h in ref]
    assert np.allclose([h["score"] for h in far], [h["score"] for h in ref], atol=1e-3)


def test_what_a_plugin_prints_stays_off_stdout(plugin, runner, tmp_path: Path) -> None:
    """`csd search --paths-only | xargs ls` got the plugin's print() as its first path."""
    folder = make_distinct_folder(tmp_path / "pics", 4)
    FAULT["mode"] = "prints"
    assert build(runner, folder).exit_code == 0
    for method in ("plain", "csd"):
        r = invoke(runner, "search", "a photo", "--index", "pics", "--method", method, "--paths-only", "-k", "2")
        assert r.exit_code == 0 and "hello" not in r.stdout and "hello" in r.stderr, r.output
        assert all(Path(p).is_file() for p in r.stdout.splitlines())
