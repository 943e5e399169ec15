"""Encoders through the real loading paths: specs, the registry and its entry point, open_clip
custom configs and checkpoints, cn_clip, Long-CLIP, offline failure, library chatter."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import add_entry_point_plugin, invoke
from PIL import Image

from csdclip_cli.encoders import ModelSpec, families, load_encoder
from csdclip_cli.encoders.openclip import arch_name, merge_longclip_state_dict
from csdclip_cli.errors import ModelFileMissing, UnknownModel


def test_spec_parsing() -> None:
    assert ModelSpec.parse("clip:ViT-L/14") == ModelSpec("clip", "ViT-L/14")
    assert ModelSpec.parse("openclip:ViT-B-32@laion2b_s34b_b79k") == ModelSpec(
        "openclip", "ViT-B-32", "laion2b_s34b_b79k"
    )
    assert ModelSpec.parse("openclip:./my@dir/cfg.json").name == "./my@dir/cfg.json"
    assert arch_name("ViT-B/16") == arch_name("vit-b-16") == "ViT-B-16"
    with pytest.raises(UnknownModel, match="FAMILY:NAME"):
        ModelSpec.parse("ViT-B/16")
    with pytest.raises(UnknownModel, match="RN50"):
        arch_name("ViT-Q/99")


def test_registry_has_builtins_and_the_entry_point_plugin() -> None:
    fams = families()
    assert {"clip", "openclip", "cnclip", "longclip", "hf", "fgclip", "demo"} <= set(fams)
    assert "fake" in fams  # registered only through the csdclip.encoders entry point
    enc = load_encoder("fake:colour")
    v = enc.encode_texts(["red", "something else"])
    assert v.shape == (2, 16) and np.allclose(np.linalg.norm(v, axis=1), 1)


def test_a_plugin_that_raises_is_left_out_whole(monkeypatch, runner) -> None:
    """A third-party plugin that registers one family and then raises: none of its families is
    registered, the built-ins and the other plugins still load, and asking for its family (or
    `csd models list`) says which plugin failed and why. It was a traceback on every command."""
    from csdclip_cli.encoders import Family, plugin_errors

    def register_broken(register) -> None:
        register(Family("halfway", lambda spec, opts: None, "registered before the error"))
        raise RuntimeError("needs libfoo 2")

    add_entry_point_plugin(monkeypatch, "broken", register_broken)
    fams = families()
    assert "halfway" not in fams and {"clip", "demo", "fake"} <= set(fams)
    assert plugin_errors() == {"broken": "csd_test_plugin_broken:register: RuntimeError: needs libfoo 2"}
    with pytest.raises(UnknownModel, match=r"plugin 'broken' failed to load \(.*needs libfoo 2\)"):
        load_encoder("halfway:x")
    r = invoke(runner, "models", "list")
    assert r.exit_code == 0 and "encoder plugin 'broken' failed to load" in r.stderr, r.output
    assert "Traceback" not in r.output


def test_openclip_config_and_checkpoint_round_trip(tiny_openclip, tmp_path: Path, capsys) -> None:
    import open_clip
    import torch

    cfg, ckpt = tiny_openclip
    enc = load_encoder(f"openclip:{cfg}", weights=ckpt, device="cpu")
    assert enc.spec == "openclip:tiny-test-clip" and enc.dim == 32 and enc.fingerprint.startswith("sha256q:")
    img = Image.new("RGB", (50, 40), (200, 30, 30))
    x = enc.preprocess(img)
    assert x.shape == (3, 32, 32) and x.dtype == np.float32
    fi = enc.encode_images(np.stack([x, x]))
    ft = enc.encode_texts(["a red square", "a blue circle"])
    assert fi.shape == (2, 32) and ft.shape == (2, 32) and fi.dtype == np.float32
    assert np.allclose(np.linalg.norm(fi, axis=1), 1, atol=1e-5) and np.allclose(np.linalg.norm(ft, axis=1), 1)
    # the same weights as the model that was saved
    sd = torch.load(ckpt, weights_only=True)["state_dict"]
    model = open_clip.create_model("tiny-test-clip")
    model.load_state_dict({k.removeprefix("module."): v for k, v in sd.items()})
    with torch.no_grad():
        ref = model.encode_image(torch.from_numpy(x)[None], normalize=True).numpy()
    assert np.allclose(ref[0], fi[0], atol=1e-5)
    # safetensors too, and a different checkpoint has a different fingerprint
    from safetensors.torch import save_file

    st = tmp_path / "w.safetensors"
    save_file({k.removeprefix("module."): v.contiguous() for k, v in sd.items()}, str(st))
    enc2 = load_encoder(f"openclip:{cfg}", weights=st)
    assert np.allclose(enc2.encode_texts(["a red square"]), ft[:1], atol=1e-5)
    assert enc2.fingerprint != enc.fingerprint
    assert "No pretrained weights" not in capsys.readouterr().out  # no library chatter on stdout


def test_openclip_wrong_checkpoint_and_missing_file(tiny_openclip, tmp_path: Path) -> None:
    import torch

    cfg, _ = tiny_openclip
    torch.save({"visual.proj": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileMissing, match="does not hold weights for openclip"):
        load_encoder(f"openclip:{cfg}", weights=tmp_path / "other.pt")
    with pytest.raises(ModelFileMissing, match="no such file"):
        load_encoder(f"openclip:{cfg}", weights=tmp_path / "absent.pt")
    # bytes that are no checkpoint, a truncated safetensors, a folder: one line each (KeyError,
    # SafetensorError and "no such file" for an existing folder before)
    (tmp_path / "junk.pt").write_bytes(b"junk\n")
    (tmp_path / "cut.safetensors").write_bytes(b"\x10" + b"\x00" * 7 + b'{"a":1')
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "empty.pt").write_bytes(b"")
    for weights, message in (
        (tmp_path / "junk.pt", "is not a readable checkpoint"),
        (tmp_path / "cut.safetensors", "is not a readable safetensors file"),
        (tmp_path, "is a folder; pass the checkpoint file"),
        (tmp_path / "empty.safetensors", r"is empty \(0 bytes\); download it again"),  # "not readable"
        (tmp_path / "empty.pt", r"is empty \(0 bytes\); download it again"),
    ):
        with pytest.raises(ModelFileMissing, match=message):
            load_encoder(f"openclip:{cfg}", weights=weights)
    # demo:tiny took any --weights and built with the shipped model, recording the wrong path
    with pytest.raises(ModelFileMissing, match="no such file"):
        load_encoder("demo:tiny", weights=tmp_path / "absent.pt")
    with pytest.raises(ModelFileMissing, match="does not hold weights for demo:tiny"):
        load_encoder("demo:tiny", weights=tmp_path / "other.pt")
    (tmp_path / "notes.jsonl").write_text('{"a": 1}\n')  # a text file was said to hold "pickled objects"
    with pytest.raises(ModelFileMissing, match="is not a readable checkpoint .neither a torch archive nor a pickle"):
        load_encoder("demo:tiny", weights=tmp_path / "notes.jsonl")


def test_every_family_reads_weight_files_through_one_reader(tmp_path: Path) -> None:
    """Chinese-CLIP read its checkpoint on its own: an empty download or bytes that are no
    checkpoint were "failed while loading: EOFError" and "KeyError: 174812789"."""
    import pickle

    import torch

    store = tmp_path / "store"
    store.mkdir()
    (store / "clip_cn_rn50.pt").write_bytes(b"")
    with pytest.raises(ModelFileMissing, match=r"clip_cn_rn50.pt is empty \(0 bytes\)"):
        load_encoder("cnclip:RN50", models_dir=store)
    (tmp_path / "junk.pt").write_bytes(b"junk\n")
    with pytest.raises(ModelFileMissing, match="junk.pt is not a readable checkpoint"):
        load_encoder("cnclip:RN50", weights=tmp_path / "junk.pt")
    with open(tmp_path / "objects.pt", "wb") as f:
        pickle.dump({"state_dict": {"w": torch.zeros(1)}, "cfg": ModelSpec.parse("a:b")}, f, protocol=2)
    from csdclip_cli.errors import UnsafeCheckpoint

    with pytest.raises(UnsafeCheckpoint, match="holds pickled objects"):
        load_encoder("cnclip:RN50", weights=tmp_path / "objects.pt")


def test_missing_openai_weights_fail_fast_with_advice(tmp_path: Path) -> None:
    t = time.time()
    with pytest.raises(ModelFileMissing) as e:
        load_encoder("clip:ViT-B/16", models_dir=tmp_path)
    assert time.time() - t < 20  # no hub retries (they take ~47 s)
    msg = str(e.value)
    assert "clip:ViT-B/16" in msg and str(tmp_path / "ViT-B-16.pt") in msg and "openaipublic" in msg


def test_cli_missing_weights_is_one_line(runner, colour_folder: Path) -> None:
    r = invoke(runner, "index", "build", str(colour_folder), "--model", "longclip:ViT-L/14")
    assert r.exit_code == 1 and "longclip-L.pt" in r.stderr and "Traceback" not in r.output
    r = invoke(runner, "models", "list")
    assert r.exit_code == 0 and "cnclip" in r.stdout and "fake" in r.stdout and "missing" in r.stdout


def test_longclip_merge() -> None:
    import torch

    pos = torch.arange(248 * 4, dtype=torch.float32).reshape(248, 4)
    res = -pos
    merged = merge_longclip_state_dict({"positional_embedding": pos, "positional_embedding_res": res})
    mask1 = torch.zeros(248, 1)
    mask1[:20] = 1
    assert torch.equal(merged["positional_embedding"], pos * mask1 + res * (1 - mask1))
    assert "positional_embedding_res" not in merged
    assert merge_longclip_state_dict({"positional_embedding": pos})["positional_embedding"] is pos


@pytest.mark.slow
def test_longclip_checkpoint_keeps_248_positions(tmp_path: Path) -> None:
    """A random OpenAI-format ViT-B/16 with 248 positions plus the _res residual loads with
    all 248 positions and a 248-token tokenizer (77 would silently degrade it)."""
    import open_clip
    import torch

    model = open_clip.create_model("ViT-B-16-quickgelu", pretrained=None, force_context_length=248)
    sd = {k: v.half() for k, v in model.state_dict().items()}
    sd["positional_embedding_res"] = sd["positional_embedding"].clone() + 1
    torch.save(sd, tmp_path / "longclip-B.pt")
    enc = load_encoder("longclip:ViT-B/16", models_dir=tmp_path)
    assert enc.spec == "longclip:ViT-B-16" and enc.context_length == 248
    assert enc.model.positional_embedding.shape[0] == 248
    expect = torch.cat([sd["positional_embedding"][:20], sd["positional_embedding_res"][20:]]).float()
    assert torch.allclose(enc.model.positional_embedding.detach(), expect)
    long_text = " ".join(["a red car next to a tree"] * 20)  # ~120 tokens
    assert enc.tokenizer([long_text]).shape == (1, 248)
    assert enc.encode_texts([long_text]).shape == (1, 512)


@pytest.mark.slow
def test_cnclip_random_model_through_real_path(tmp_path: Path, capfd) -> None:
    import torch
    from cn_clip.clip.utils import create_model

    model = create_model("RN50@RBT3-chinese")
    torch.save({"state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, tmp_path / "clip_cn_rn50.pt")
    capfd.readouterr()
    enc = load_encoder("cnclip:RN50", models_dir=tmp_path)
    assert capfd.readouterr().out == ""  # cn_clip's config dump never reaches stdout
    assert enc.spec == "cnclip:RN50" and enc.dim == 1024 and enc.context_length == 52
    t = enc.encode_texts(["一只红色的猫", "一只狗"])
    i = enc.encode_images(np.stack([enc.preprocess(Image.new("RGB", (300, 200), (10, 200, 10)))]))
    assert t.shape == (2, 1024) and i.shape == (1, 1024)
    assert np.allclose(np.linalg.norm(t, axis=1), 1, atol=1e-4)


def test_help_and_index_list_are_fast_and_import_no_torch(tmp_path: Path) -> None:
    code = (
        "import sys, runpy; sys.argv=['csd','index','list']; "
        "from csdclip_cli.cli.app import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'open_clip' not in sys.modules, 'heavy import'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def _tiny_hf_clip(d: Path) -> Path:
    """A random-weight HuggingFace CLIPModel with its own tiny tokenizer, saved to a folder."""
    import json

    import transformers as T

    d.mkdir()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for w in ["a</w>", "red</w>", "car</w>", "tree</w>", "dog</w>"] + list("abcdefghijklmnopqrstuvwxyz"):
        vocab[w] = len(vocab)
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n")
    T.CLIPTokenizer(str(d / "vocab.json"), str(d / "merges.txt")).save_pretrained(d)
    text = {
        "vocab_size": len(vocab),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 16,
        "eos_token_id": 1,
        "bos_token_id": 0,
        "pad_token_id": 1,
    }
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
    }
    T.CLIPModel(T.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)).save_pretrained(d)
    T.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(d)
    return d


def test_hf_clip_like_model_from_local_dir(tmp_path: Path, runner) -> None:
    d = _tiny_hf_clip(tmp_path / "tiny-hf")
    enc = load_encoder(f"hf:{d}")
    assert enc.spec == f"hf:{d}" and enc.dim == 16 and enc.context_length == 16
    x = enc.preprocess(Image.new("RGB", (50, 40), (200, 0, 0)))
    assert x.shape == (3, 32, 32)
    v = enc.encode_images(np.stack([x, x]))
    t = enc.encode_texts(["a red car", "a dog"])
    assert v.shape == (2, 16) and t.shape == (2, 16) and np.allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    # the local model store is searched for repo ids (models/<org>--<name>)
    store = tmp_path / "store"
    (store).mkdir()
    d.rename(store / "acme--tiny-clip")
    assert load_encoder("hf:acme/tiny-clip", models_dir=store).dim == 16
    with pytest.raises(ModelFileMissing, match="huggingface-cli download acme/absent"):
        load_encoder("hf:acme/absent", models_dir=store)
    # a path to no folder, or to a file, is no hub name (it was told to `huggingface-cli download /abs/path`)
    for missing in (str(tmp_path / "nonexist"), "./nonexist", "a/b/c"):
        with pytest.raises(ModelFileMissing, match=f"^hf:{re.escape(missing)}: no such folder; check the path"):
            load_encoder(f"hf:{missing}", models_dir=store)
    with pytest.raises(ModelFileMissing, match="is a file; hf: takes a model folder"):
        load_encoder(f"hf:{next((store / 'acme--tiny-clip').glob('*.safetensors'))}", models_dir=store)
    with pytest.raises(UnknownModel, match="ViT-B/16 or ViT-L/14"):
        load_encoder("fgclip:RN50")
    # --weights is honoured or refused, never passed over for the model store's copy
    inside = store / "acme--tiny-clip"
    assert load_encoder("hf:acme/tiny-clip", weights=inside, models_dir=tmp_path).dim == 16
    weights_file = next(inside.glob("*.safetensors"))
    with pytest.raises(ModelFileMissing, match=f"is a file;.*pass --weights {inside}$"):
        load_encoder("hf:acme/tiny-clip", weights=weights_file, models_dir=store)
    with pytest.raises(ModelFileMissing, match="no such folder"):
        load_encoder("hf:acme/tiny-clip", weights=tmp_path / "typo", models_dir=store)
    # a folder without the tokenizer: transformers made a 2-token one, and every query the same vector
    bare = tmp_path / "no-tokenizer"
    bare.mkdir()
    for f in inside.iterdir():
        if f.name in ("config.json", "preprocessor_config.json") or f.suffix == ".safetensors":
            (bare / f.name).write_bytes(f.read_bytes())
    with pytest.raises(ModelFileMissing, match="no tokenizer in .*no-tokenizer .*copy the model's tokenizer files"):
        load_encoder(f"hf:{bare}")
    # a --weights folder that does not load: why, not "looked in ... the huggingface cache"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    (broken / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelFileMissing, match=f"cannot load hf:acme/tiny-clip from {broken}: "):
        load_encoder("hf:acme/tiny-clip", weights=broken, models_dir=store)
    with pytest.raises(ModelFileMissing, match=f"cannot load hf:{broken} from {broken}: "):  # not "Download ..."
        load_encoder(f"hf:{broken}")
    # a truncated weights file, and a config that does not fit the weights: one line, no traceback
    for name, edit in (("truncated", "weights"), ("resized", "config")):
        bad = tmp_path / name
        bad.mkdir()
        for f in inside.iterdir():
            (bad / f.name).write_bytes(f.read_bytes())
        if edit == "weights":
            w = next(bad.glob("*.safetensors"))
            w.write_bytes(w.read_bytes()[:200])
        else:
            cfg = json.loads((bad / "config.json").read_text())
            cfg["projection_dim"] = 24
            (bad / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(ModelFileMissing, match=f"cannot load hf:acme/tiny-clip from {bad}: "):
            load_encoder("hf:acme/tiny-clip", weights=bad, models_dir=store)


def _weights_column(table: str) -> set[str]:
    """The "local weights" cells of `csd models list`'s table (its last column)."""
    return {line.split("│")[-1].strip() for line in table.splitlines() if "│" in line}


def test_models_list_finds_weights_under_the_names_the_loaders_look_for(runner, isolated: Path) -> None:
    """`csd models list` asks each family's own file-name table, the one its loader searches."""
    import torch
    from safetensors.numpy import save_file

    store = isolated / "models"
    save_file({"w": np.zeros(4, np.float32)}, str(store / "clip-ViT-B-16.safetensors"))  # a name only the loader knew
    torch.save({"w": torch.zeros(4)}, store / "clip_cn_vit-l-14.pt")
    torch.save({"w": torch.zeros(4)}, store / "clip_cn_rn50.pt")  # every Chinese-CLIP release is listed, RN50 too
    (store / "qihoo360--fg-clip-base").mkdir()
    (store / "qihoo360--fg-clip-base" / "config.json").write_text("{}")
    r = invoke(runner, "models", "list")
    assert r.exit_code == 0, r.output
    rows = {re.sub(r" \([^()]*(?:B|folder)\)$", "", row) for row in _weights_column(r.stdout)}  # sizes apart
    assert "clip:ViT-B/16: clip-ViT-B-16.safetensors" in rows
    assert "clip:ViT-L/14: missing" in rows
    assert "cnclip:ViT-L-14: clip_cn_vit-l-14.pt" in rows
    assert "cnclip:RN50: clip_cn_rn50.pt" in rows and "cnclip:ViT-H-14: missing" in rows
    assert "fgclip:ViT-B/16: qihoo360--fg-clip-base" in rows
    assert "demo:tiny: csd-demo-tiny.safetensors" in rows  # shipped in the package, not the store
    assert "fake:colour: no files listed" in rows  # a plugin that names no files is not "missing"
    from csdclip_cli.encoders.hf import hf_local_names

    assert hf_local_names(ModelSpec.parse("fgclip:ViT-L/14")) == ["qihoo360--fg-clip-large"]


def test_models_list_tells_empty_downloads_and_shows_weights_under_other_names(runner, isolated: Path) -> None:
    """A 0-byte file or an empty folder was shown as present weights, and weights that no example
    spec names (every open_clip tag but one) were not shown at all."""
    store = isolated / "models"
    (store / "longclip-B.pt").write_bytes(b"")  # an interrupted download
    (store / "qihoo360--fg-clip-base").mkdir()
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(625_000, np.float32)}, str(store / "ViT-B-32-openai.safetensors"))
    (store / "half-done.bin").write_bytes(b"")
    r = invoke(runner, "models", "list")
    assert r.exit_code == 0, r.output
    rows = _weights_column(r.stdout)
    assert "longclip:ViT-B/16: empty: longclip-B.pt" in rows
    assert "fgclip:ViT-B/16: empty: qihoo360--fg-clip-base" in rows
    assert "longclip:ViT-L/14: missing" in rows
    lines = [line.strip() for line in r.stdout.splitlines()]
    assert "ViT-B-32-openai.safetensors  2.4 MiB" in lines
    assert "half-done.bin  empty" in lines
    assert not any(line.startswith("longclip-B.pt") for line in lines)  # listed once, in its row
    # a broken link was a traceback; a folder of 0-byte files was shown as present weights
    (store / "broken.pt").symlink_to(store / "nowhere.pt")
    (store / "qihoo360--fg-clip-base" / "model.safetensors").write_bytes(b"")
    r = invoke(runner, "models", "list")
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "broken.pt  broken link" in [line.strip() for line in r.stdout.splitlines()]
    rows = _weights_column(r.stdout)
    assert "fgclip:ViT-B/16: empty: qihoo360--fg-clip-base" in rows
    r = invoke(runner, "models", "list", "--models-dir", str(isolated / "nowhere"))
    assert r.exit_code == 0 and "model store" in r.output and "does not exist" in r.output


def test_a_checkpoint_cut_short_is_one_line(tmp_path: Path) -> None:
    """A truncated download gave torch's FutureWarning and 'failed while loading: RuntimeError:
    PytorchStreamReader failed ...' (cut off)."""
    import torch

    whole = tmp_path / "whole.pt"
    torch.save({"w": torch.zeros(1000)}, whole)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole.read_bytes()[:300])
    from csdclip_cli.encoders.checkpoint import read_state_dict

    with pytest.raises(
        ModelFileMissing, match=r"cut.pt is not a readable checkpoint \(cut short\? .*download it again"
    ):
        read_state_dict(cut)


def test_a_change_to_any_weight_shard_changes_the_fingerprint(tmp_path: Path) -> None:
    # indexes are reused while the fingerprint holds: a sharded model whose second shard changed
    # used to keep the first shard's fingerprint
    from csdclip_cli.fingerprint import file_fingerprint, folder_fingerprint

    d = tmp_path / "model"
    d.mkdir()
    assert folder_fingerprint(d) is None
    (d / "model-00001-of-00002.safetensors").write_bytes(b"a" * 100)
    one = folder_fingerprint(d)
    assert one == file_fingerprint(d / "model-00001-of-00002.safetensors")  # one shard: as before
    (d / "model-00002-of-00002.safetensors").write_bytes(b"b" * 100)
    two = folder_fingerprint(d)
    (d / "model-00002-of-00002.safetensors").write_bytes(b"c" * 100)
    assert len({one, two, folder_fingerprint(d)}) == 3
    bins = tmp_path / "bin-model"
    bins.mkdir()
    (bins / "pytorch_model.bin").write_bytes(b"x" * 10)
    assert folder_fingerprint(bins) == file_fingerprint(bins / "pytorch_model.bin")


def test_a_store_file_of_a_pretrained_tag_is_built_as_the_tag_says(tiny_openclip, tmp_path: Path, monkeypatch) -> None:
    """models/NAME-TAG.safetensors was built from NAME alone: OpenAI's mean / std and bicubic
    resizing where the tag says otherwise (58 tags: MobileCLIP 0 / 1 and bilinear, SigLIP,
    ...), and GELU where it says QuickGELU (every @openai, metaclip and some dfn tags), so the
    same weights gave other vectors from the store than from open_clip's cache."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    import csdclip_cli.encoders.openclip as oc

    _, ckpt = tiny_openclip
    state = {k.removeprefix("module."): v for k, v in torch.load(ckpt, weights_only=True)["state_dict"].items()}
    save_file(state, tmp_path / "tiny-test-clip-faketag.safetensors")
    tag = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "interpolation": "bilinear", "quick_gelu": True}
    real = open_clip.get_pretrained_cfg
    monkeypatch.setattr(
        open_clip,
        "get_pretrained_cfg",
        lambda m, t: dict(tag) if (m, t) == ("tiny-test-clip", "faketag") else real(m, t),
    )
    enc = load_encoder("openclip:tiny-test-clip@faketag", models_dir=tmp_path, device="cpu")
    norm = [t for t in enc._preprocess.transforms if type(t).__name__ == "Normalize"][0]
    resize = enc._preprocess.transforms[0]
    assert tuple(norm.mean) == (0.5, 0.5, 0.5) and "BILINEAR" in str(resize.interpolation).upper()
    assert type(enc.model.transformer.resblocks[0].mlp.gelu).__name__ == "QuickGELU"
    # an index built before (another model from the same file) is refused, not updated with other vectors
    assert enc.fingerprint.endswith("+faketag recipe")
    assert oc.recipe_fingerprint("fp", "tiny-test-clip", "no-such-tag") == "fp"


def test_a_model_named_by_a_relative_path_is_stored_absolute(
    tiny_openclip, tmp_path: Path, runner, monkeypatch
) -> None:
    """`--model openclip:cfg/tiny.json` was stored as typed: `csd index update` from another
    folder failed (config not found), or loaded another folder's cfg/tiny.json."""
    import shutil

    from conftest import make_colour_folder

    cfg, ckpt = tiny_openclip
    work = tmp_path / "work"
    (work / "cfg").mkdir(parents=True)
    shutil.copy(cfg, work / "cfg" / "tiny-test-clip.json")
    make_colour_folder(work / "imgs", n=6)
    monkeypatch.chdir(work)
    r = invoke(runner, "index", "build", "imgs", "--model", "openclip:cfg/tiny-test-clip.json", "--weights", str(ckpt))
    assert r.exit_code == 0, r.output
    monkeypatch.chdir(tmp_path)
    (work / "imgs" / "new.png").write_bytes((work / "imgs" / "red-000.png").read_bytes())
    r = invoke(runner, "index", "update", "--weights", str(ckpt))
    assert r.exit_code == 0 and "encoded 1" in r.output, r.output
    # a model's name that happens to be a folder here is no path ("demo:tiny" became "demo:/…/tiny")
    from csdclip_cli.encoders.spec import absolute_spec

    for spec in ("demo:tiny", "clip:RN50", "openclip:ViT-B-32@laion2b_s34b_b79k"):
        (tmp_path / spec.split(":")[1].split("@")[0]).mkdir()
        assert absolute_spec(spec) == spec


def test_models_list_tells_junk_and_cut_short_weights_from_whole_ones(runner, tmp_path: Path) -> None:
    """`csd models list` called a 5-byte longclip-B.pt and a half-downloaded ViT-B-16.pt present,
    with no size to give them away, and a folder named like a checkpoint 'empty'."""
    import torch
    from safetensors.numpy import save_file

    store = tmp_path / "m"
    store.mkdir()
    torch.save({"w": torch.zeros(4000)}, store / "RN50.pt")
    whole = (store / "RN50.pt").read_bytes()
    (store / "ViT-B-16.pt").write_bytes(whole[: len(whole) // 2])
    (store / "longclip-B.pt").write_text("junk\n")
    (store / "clip_cn_vit-b-16.pt").mkdir()
    save_file({"w": np.zeros((100, 100), np.float32)}, str(store / "x.safetensors"))
    half = (store / "x.safetensors").read_bytes()
    (store / "y.safetensors").write_bytes(half[: len(half) // 2])
    (store / "text.gguf").write_text("hello\n")
    r = invoke(runner, "models", "list", "--models-dir", str(store))
    lines = {line.split("│")[-1].strip() for line in r.stdout.splitlines()}
    assert r.exit_code == 0
    assert any(line.startswith("clip:RN50: RN50.pt (") and line.endswith(" KiB)") for line in lines), r.stdout
    assert "clip:ViT-B/16: ViT-B-16.pt is cut short (its zip directory is missing)" in lines
    assert "longclip:ViT-B/16: longclip-B.pt is not a checkpoint (neither a zip nor a pickle)" in lines
    assert "cnclip:ViT-B-16: clip_cn_vit-b-16.pt is a folder, not a weights file" in lines
    assert (
        "x.safetensors  39.1 KiB" in lines and "text.gguf  is not a GGUF file (it does not start with 'GGUF')" in lines
    )
    assert any(line.startswith("y.safetensors  does not read as safetensors (") for line in lines), lines
