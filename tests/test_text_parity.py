"""Text preprocessing matches each model family's reference code on tricky strings: csd's text
vectors equal the reference pipeline's (cn_clip's evaluation code, open_clip's tokenizer,
Long-CLIP's `tokenize`, a HuggingFace CLIPProcessor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from csdclip_cli.encoders import load_encoder

TRICKY = [
    'a "red" car',
    "a “red” car and ‘blue’ «bike» „tram“",
    "一只“红色”的猫，没有狗！（在沙发上）：好的；",
    "ＡＢＣ full-width ｆｏｏ，。！？",
    "a dog 🐶 in a car 🚗✨",
    "Tom &amp; Jerry &quot;cartoon&quot; &#39;cat&#39; &lt;b&gt;bold&lt;/b&gt;",
    "tabs\tand\nnew  lines   and trailing  ",
    "CAPITALS And MiXeD case",
    " ".join(["a red car next to a tall tree at night"] * 40),  # longer than every context
]


def _norm(x: torch.Tensor) -> np.ndarray:
    v = x.float().detach().numpy()
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_openclip_family_matches_open_clip_tokenizer(tiny_openclip) -> None:
    import open_clip

    cfg, ckpt = tiny_openclip
    enc = load_encoder(f"openclip:{cfg}", weights=ckpt)
    ref_tok = open_clip.get_tokenizer("tiny-test-clip")
    with torch.inference_mode():
        ref = _norm(enc.model.encode_text(ref_tok(TRICKY)))
    assert np.array_equal(enc.encode_texts(TRICKY), ref)


def test_demo_model_matches_open_clip_tokenizer() -> None:
    enc = load_encoder("demo:tiny")
    with torch.inference_mode():
        ref = _norm(enc.model.encode_text(enc.tokenizer(TRICKY)))
    assert np.array_equal(enc.encode_texts(TRICKY), ref)


@pytest.mark.slow
def test_cnclip_matches_chinese_clip_evaluation_preprocessing(tmp_path: Path) -> None:
    from cn_clip.clip import tokenize
    from cn_clip.clip.utils import create_model
    from cn_clip.eval.data import _preprocess_text  # what cn_clip.eval.extract_features applies

    torch.manual_seed(0)
    model = create_model("RN50@RBT3-chinese")
    torch.save({"state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, tmp_path / "clip_cn_rn50.pt")
    enc = load_encoder("cnclip:RN50", models_dir=tmp_path)
    with torch.inference_mode():
        ref = _norm(enc.model.encode_text(tokenize([_preprocess_text(t) for t in TRICKY], context_length=52)))
    ours = enc.encode_texts(TRICKY)
    assert np.abs(ours - ref).max() < 1e-6
    # the curly quotes are what differed: without the preprocessing the vector changes
    with torch.inference_mode():
        raw = _norm(enc.model.encode_text(tokenize([TRICKY[1]], context_length=52)))
    assert np.abs(raw - ours[1]).max() > 1e-4


def _longclip_reference_tokenize(texts: list[str], context_length: int = 248) -> torch.Tensor:
    """Long-CLIP's model/longclip.py `tokenize(texts, context_length=248, truncate=True)`: OpenAI's
    BPE (SimpleTokenizer), sot + tokens + eot, cut to the context with eot kept last."""
    from open_clip.tokenizer import SimpleTokenizer

    bpe = SimpleTokenizer()
    sot, eot = bpe.sot_token_id, bpe.eot_token_id
    out = torch.zeros(len(texts), context_length, dtype=torch.long)
    for i, t in enumerate(texts):
        toks = [sot, *bpe.encode(t), eot]
        if len(toks) > context_length:
            toks = toks[:context_length]
            toks[-1] = eot
        out[i, : len(toks)] = torch.tensor(toks)
    return out


@pytest.mark.slow
def test_longclip_matches_longclip_tokenize(tmp_path: Path) -> None:
    import open_clip

    model = open_clip.create_model("ViT-B-16-quickgelu", pretrained=None, force_context_length=248)
    torch.save({k: v.half() for k, v in model.state_dict().items()}, tmp_path / "longclip-B.pt")
    enc = load_encoder("longclip:ViT-B/16", models_dir=tmp_path)
    ref = _longclip_reference_tokenize(TRICKY)
    assert torch.equal(enc.tokenizer(TRICKY).long(), ref)
    assert ref[-1, -1].item() == 49407  # the long text was cut with eot last


def test_hf_matches_clip_processor(tmp_path: Path) -> None:
    import transformers as T
    from test_encoders import _tiny_hf_clip

    d = _tiny_hf_clip(tmp_path / "tiny-hf")
    enc = load_encoder(f"hf:{d}")
    proc = T.CLIPProcessor(
        image_processor=T.AutoImageProcessor.from_pretrained(d), tokenizer=T.AutoTokenizer.from_pretrained(d)
    )
    batch = proc(text=TRICKY, padding=True, truncation=True, max_length=16, return_tensors="pt")
    with torch.inference_mode():
        out = enc.model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    ref = _norm(out if isinstance(out, torch.Tensor) else out.pooler_output)
    assert np.abs(enc.encode_texts(TRICKY) - ref).max() < 1e-5


# ---- the torch-free text path: ONNX export + `tokenizers` ------------------------------------


def assert_onnx_parity(enc, tmp: Path) -> None:
    from csdclip_cli.encoders.onnx_text import OnnxTextEncoder, export_text_encoder

    done, why = export_text_encoder(enc, tmp / "export")
    assert done, why
    onnx = OnnxTextEncoder(tmp / "export")
    cos = (onnx.encode_texts(TRICKY) * enc.encode_texts(TRICKY)).sum(1)
    assert cos.min() >= 0.9999, cos


def test_onnx_parity_openclip_custom(tiny_openclip, tmp_path: Path) -> None:
    cfg, ckpt = tiny_openclip
    enc = load_encoder(f"openclip:{cfg}", weights=ckpt)
    assert_onnx_parity(enc, tmp_path)
    from csdclip_cli.encoders.onnx_text import OnnxTextEncoder

    ids = OnnxTextEncoder(tmp_path / "export").tokenize(TRICKY)["input_ids"]
    assert np.array_equal(ids, enc.tokenizer(TRICKY).numpy())  # the same token ids, not just close vectors


def test_onnx_parity_demo_model(tmp_path: Path) -> None:
    assert_onnx_parity(load_encoder("demo:tiny"), tmp_path)


def test_onnx_parity_hf(tmp_path: Path) -> None:
    from test_encoders import _tiny_hf_clip

    assert_onnx_parity(load_encoder(f"hf:{_tiny_hf_clip(tmp_path / 'tiny-hf')}"), tmp_path)


@pytest.mark.slow
def test_onnx_parity_cnclip(tmp_path: Path) -> None:
    from cn_clip.clip.utils import create_model

    torch.manual_seed(0)
    model = create_model("RN50@RBT3-chinese")
    torch.save({"state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, tmp_path / "clip_cn_rn50.pt")
    assert_onnx_parity(load_encoder("cnclip:RN50", models_dir=tmp_path), tmp_path)


@pytest.mark.slow
def test_onnx_parity_longclip_248_tokens(tmp_path: Path) -> None:
    import open_clip

    model = open_clip.create_model("ViT-B-16-quickgelu", pretrained=None, force_context_length=248)
    torch.save({k: v.half() for k, v in model.state_dict().items()}, tmp_path / "longclip-B.pt")
    enc = load_encoder("longclip:ViT-B/16", models_dir=tmp_path)
    assert_onnx_parity(enc, tmp_path)
    from csdclip_cli.encoders.onnx_text import OnnxTextEncoder

    assert OnnxTextEncoder(tmp_path / "export").tokenize(TRICKY)["input_ids"].shape == (len(TRICKY), 248)


def test_cold_search_imports_no_torch_and_stays_small(tmp_path: Path) -> None:
    """`csd search` on an index whose text tower is exported: no torch, open_clip or
    onnx-export code in the process; peak RSS well under the 1 GB a torch process takes."""
    import json as _json
    import subprocess
    import sys

    from csdclip_cli.demo import run

    env_root = tmp_path / "ix"
    data = tmp_path / "data"
    (data / "imgs").mkdir(parents=True)
    from PIL import Image

    for i, c in enumerate([(200, 0, 0), (0, 0, 200), (0, 200, 0), (200, 200, 0)] * 3):
        Image.new("RGB", (64, 64), c).save(data / "imgs" / f"{i}.png")
    run.build_demo_index(data, env_root)
    code = (
        "import sys\n"
        "sys.argv = ['csd', 'search', 'a red car and a tree at night, no person', '-k', '3', '--json']\n"
        "from csdclip_cli.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = [m for m in ('torch', 'open_clip', 'torchvision', 'transformers') if m in sys.modules]\n"
        # VmHWM, not ru_maxrss: the latter carries over the forking parent's peak across exec
        "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0]\n"
        "print('HEAVY', heavy, 'RSS_KB', hwm, file=sys.stderr)\n"
    )
    env = {**__import__("os").environ, "CSD_INDEXES": str(env_root)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stderr, r.stderr
    rss_mb = int(r.stderr.split("RSS_KB")[1].split()[0]) / 1024
    assert rss_mb < 300, rss_mb
    assert len([_json.loads(ln) for ln in r.stdout.splitlines()]) == 3


def test_plugin_without_export_searches_through_its_encoder_with_one_note(runner, colour_folder: Path) -> None:
    from conftest import invoke

    assert invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour", "--name", "p").exit_code == 0
    r = invoke(runner, "search", "red", "--index", "p", "-k", "2")
    assert r.exit_code == 0 and "red" in r.stdout
    notes = [ln for ln in r.stderr.splitlines() if ln.startswith("info:")]
    assert len(notes) == 1 and "no ONNX text export" in notes[0]


def test_a_changed_tokenizer_makes_the_text_export_stale(runner, colour_folder: Path, tmp_path: Path) -> None:
    """The export is named by the weights' fingerprint, which does not cover the tokenizer
    files: after a user fixes a model folder's tokenizer, search and index update must embed
    queries with the new one (they kept the old one's export)."""
    import json

    import transformers as T
    from conftest import invoke
    from test_encoders import _tiny_hf_clip

    from csdclip_cli.search.searcher import Searcher

    d = _tiny_hf_clip(tmp_path / "tiny-hf")
    assert invoke(runner, "index", "build", str(colour_folder), "--model", f"hf:{d}", "--name", "h").exit_code == 0
    old = load_encoder(f"hf:{d}").encode_texts(["a red car"])[0]
    s = Searcher.open("h")
    assert np.allclose(s.text_encoder.encode_texts(["a red car"])[0], old, atol=1e-4) and not s.notes
    # the same weights, another vocabulary: "r" and "c" swap ids (the tiny tokenizer has no merges)
    vocab = json.loads((d / "vocab.json").read_text())
    vocab["r"], vocab["c"] = vocab["c"], vocab["r"]
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "tokenizer.json").unlink()
    T.CLIPTokenizer(str(d / "vocab.json"), str(d / "merges.txt")).save_pretrained(d)
    new = load_encoder(f"hf:{d}").encode_texts(["a red car"])[0]
    assert not np.allclose(new, old, atol=1e-3)  # the change matters to the vectors
    s = Searcher.open("h")
    assert np.allclose(s.text_encoder.encode_texts(["a red car"])[0], new, atol=1e-4)
    assert any("tokenizer files in" in n for n in s.notes), s.notes
    again = Searcher.open("h")  # re-exported once: the next search uses the export quietly
    assert np.allclose(again.text_encoder.encode_texts(["a red car"])[0], new, atol=1e-4) and not again.notes
