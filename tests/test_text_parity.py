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


def test_openclip_family_matches_open_clip_tokenizer(tiny_openclip) -> None:  # noqa: ANN001
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
