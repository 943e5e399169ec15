"""Chinese-CLIP adapter (`cnclip:`) through the cn_clip package: its own BERT tokenizer
(context 52) and its squash-resize transform."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csdclip_cli.encoders.base import Encoder, cpu_float32_copy, quiet_libraries, resolve_device
from csdclip_cli.encoders.checkpoint import read_state_dict
from csdclip_cli.encoders.family import LoadOptions
from csdclip_cli.encoders.spec import ModelSpec
from csdclip_cli.encoders.text_clean import cnclip_text
from csdclip_cli.encoders.torch_clip import TorchClipEncoder
from csdclip_cli.errors import ModelFileMissing, UnknownModel
from csdclip_cli.fingerprint import file_fingerprint

# spec name -> (cn_clip struct name, input resolution, release file name)
CNCLIP_MODELS = {
    "RN50": ("RN50@RBT3-chinese", 224, "clip_cn_rn50.pt"),
    "ViT-B-16": ("ViT-B-16@RoBERTa-wwm-ext-base-chinese", 224, "clip_cn_vit-b-16.pt"),
    "ViT-L-14": ("ViT-L-14@RoBERTa-wwm-ext-base-chinese", 224, "clip_cn_vit-l-14.pt"),
    "ViT-L-14-336": ("ViT-L-14-336@RoBERTa-wwm-ext-base-chinese", 336, "clip_cn_vit-l-14-336.pt"),
    "ViT-H-14": ("ViT-H-14@RoBERTa-wwm-ext-large-chinese", 224, "clip_cn_vit-h-14.pt"),
}


def cnclip_name(name: str) -> str:
    """The CNCLIP_MODELS key for `name` ('vit-b/16' -> 'ViT-B-16': any case, '/' or '-').
    Raises UnknownModel for a model Chinese-CLIP does not release."""
    key = name.replace("/", "-")
    for k in CNCLIP_MODELS:
        if k.upper() == key.upper():
            return k
    raise UnknownModel(f"unknown Chinese-CLIP model {name!r}; choose one of {', '.join(CNCLIP_MODELS)}")


class CnClipEncoder(TorchClipEncoder):
    """A Chinese-CLIP model through cn_clip: its BERT tokenizer (context 52) and `image_transform`
    (squash resize to the model's resolution, no crop, CLIP mean/std). float16 on CUDA, float32
    elsewhere."""

    context_length = 52

    def __init__(self, model: Any, resolution: int, spec: str, fingerprint: str, device: str):
        from cn_clip.clip import image_transform

        self._transform = image_transform(resolution)
        super().__init__(model, spec, fingerprint, device, probe="照片")

    def preprocess(self, image: Any) -> np.ndarray:
        """PIL image -> float32 [3, r, r] through cn_clip's image_transform (r: 224, or 336 for
        ViT-L-14-336)."""
        return self._transform(image).numpy()

    def tokenize(self, texts: Sequence[str]) -> Any:
        """Texts cleaned as Chinese-CLIP's `_preprocess_text` does (cnclip_text), then cn_clip's
        `tokenize`: int64 [n, 52] ([CLS] + tokens + [SEP], cut to 52 tokens)."""
        from cn_clip.clip import tokenize

        return tokenize([cnclip_text(t) for t in texts], context_length=self.context_length)

    def export_text(self, folder: Path) -> Any:
        """The BERT text tower as ONNX plus cn_clip's WordPiece vocabulary as a `tokenizers` JSON."""
        import torch
        from cn_clip.clip import _tokenizer, tokenize
        from tokenizers.implementations import BertWordPieceTokenizer

        from csdclip_cli.encoders import onnx_text

        vocab = dict(_tokenizer.vocab)
        BertWordPieceTokenizer(vocab, lowercase=True, handle_chinese_chars=True, clean_text=True).save(
            str(folder / "tokenizer.json")
        )
        model = self.model if self.device == "cpu" and self.dtype == torch.float32 else cpu_float32_copy(self.model)
        tower = onnx_text.text_tower(model, lambda m, ids: m.encode_text(ids))
        ids = tokenize(["照片"], context_length=self.context_length).long()
        onnx_text.export_module(tower, {"input_ids": ids}, folder / "text.onnx")
        return onnx_text.TextRecipe(
            "wordpiece",
            self.context_length,
            "cnclip",
            vocab["[CLS]"],
            vocab["[SEP]"],
            vocab["[PAD]"],
            ("input_ids",),
            self.dim,
            self.spec,
            self.fingerprint,
        )


def cnclip_local_names(spec: ModelSpec) -> list[str]:
    """The checkpoint name of cnclip:NAME (as Chinese-CLIP's releases name it, CNCLIP_MODELS).
    Raises UnknownModel for an unknown name."""
    return [CNCLIP_MODELS[cnclip_name(spec.name)][2]]


def load_cnclip(spec: ModelSpec, opts: LoadOptions) -> Encoder:
    """cnclip:NAME from a local checkpoint: --weights, then `models_dir`/clip_cn_*.pt, then
    ~/.cache/clip/ (read with weights_only=True; `module.` prefixes and BERT pooler weights dropped).
    Raises UnknownModel for an unknown name, ModelFileMissing when no file is found or it holds
    other weights, UnsafeCheckpoint when it holds pickled objects other than plain weights."""

    name = cnclip_name(spec.name)
    struct, resolution, filename = CNCLIP_MODELS[name]
    path = opts.weights
    if path is not None and not path.is_file():
        raise ModelFileMissing(f"--weights {path}: no such file; check the path")
    candidates = [opts.models_dir / filename, Path.home() / ".cache" / "clip" / filename]
    path = path or next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise ModelFileMissing(
            f"no weights for cnclip:{name}: looked in --weights (not given), {candidates[0]}, {candidates[1]}. "
            f"Download {filename} (huggingface.co/OFA-Sys, chinese-clip) into {opts.models_dir}/ or pass --weights FILE."
        )
    device = resolve_device(opts.device)
    with quiet_libraries():
        from cn_clip.clip.utils import create_model

        sd = {k: v for k, v in read_state_dict(path).items() if "bert.pooler" not in k}
        try:
            model = create_model(struct, {"state_dict": sd})
        except RuntimeError as e:
            raise ModelFileMissing(
                f"{path} does not hold weights for cnclip:{name}: {str(e).splitlines()[0]}"
            ) from None
    return CnClipEncoder(model.float(), resolution, f"cnclip:{name}", file_fingerprint(path), device)
