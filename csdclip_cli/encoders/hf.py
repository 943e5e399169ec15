"""HuggingFace CLIP-like models (`hf:REPO_OR_DIR`, alias `fgclip:ViT-B/16`): any model
with get_image_features / get_text_features. Remote code runs only with
--trust-remote-code."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csdclip_cli.encoders.base import Encoder, l2_normalise, quiet_libraries, resolve_device
from csdclip_cli.encoders.family import LoadOptions
from csdclip_cli.encoders.spec import ModelSpec
from csdclip_cli.errors import ModelFileMissing, UnknownModel, first_line
from csdclip_cli.fingerprint import folder_fingerprint, text_fingerprint, tokenizer_fingerprint

HF_ALIASES = {("fgclip", "VIT-B-16"): "qihoo360/fg-clip-base", ("fgclip", "VIT-L-14"): "qihoo360/fg-clip-large"}
# a local model folder needs one of these for its tokenizer
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
MIN_VOCAB = 10  # transformers stands in a 2-token tokenizer for missing files; no real one is that small


class HFClipEncoder(Encoder):
    """A HuggingFace CLIP-like model (get_image_features / get_text_features) with its
    AutoImageProcessor and AutoTokenizer. `context_length` is the text config's
    max_position_embeddings; float16 on CUDA, float32 elsewhere."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        tokenizer: Any,
        spec: str,
        fingerprint: str,
        device: str,
        tokenizer_dir: str | None = None,
    ):
        import torch

        self.model = model.eval().to(device)
        self.dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.model.to(self.dtype)
        self.processor, self.tokenizer = processor, tokenizer
        self.spec, self.fingerprint, self.device = spec, fingerprint, device
        self.tokenizer_dir = tokenizer_dir  # the local folder the tokenizer was read from
        self.context_length = int(getattr(model.config, "text_config", model.config).max_position_embeddings)
        self.dim = int(self.encode_texts(["a photo"]).shape[1])

    def preprocess(self, image: Any) -> np.ndarray:
        """PIL image -> float32 [3, h, w]: the image processor's `pixel_values`."""
        return np.asarray(self.processor(images=image, return_tensors="np")["pixel_values"][0], dtype=np.float32)

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        """float32 [n, 3, h, w] -> float32 [n, dim], L2-normalised (get_image_features)."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, self.dtype)
            return l2_normalise(_features(self.model.get_image_features(pixel_values=x)))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> float32 [n, dim], L2-normalised (get_text_features); the model's tokenizer pads and
        cuts them to `context_length` tokens."""
        import torch

        with torch.inference_mode():
            enc = self.tokenizer(
                list(texts), padding="max_length", truncation=True, max_length=self.context_length, return_tensors="pt"
            ).to(self.device)
            out = self.model.get_text_features(input_ids=enc["input_ids"], attention_mask=enc.get("attention_mask"))
            return l2_normalise(_features(out))

    def export_text(self, folder: Path) -> Any:
        """The text model as ONNX (input_ids, attention_mask) plus the fast tokenizer's JSON."""
        import torch

        from csdclip_cli.encoders import onnx_text
        from csdclip_cli.encoders.base import cpu_float32_copy

        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None or self.tokenizer.pad_token_id is None:
            return None
        backend.save(str(folder / "tokenizer.json"))
        model = self.model if self.device == "cpu" and self.dtype == torch.float32 else cpu_float32_copy(self.model)

        def encode(m: Any, input_ids: Any, attention_mask: Any) -> Any:
            out = m.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
            return out if isinstance(out, torch.Tensor) else out.pooler_output

        tower = onnx_text.text_tower(model, encode)
        enc = self.tokenizer(
            ["a photo"], padding="max_length", truncation=True, max_length=self.context_length, return_tensors="pt"
        )
        example = {"input_ids": enc["input_ids"].long(), "attention_mask": enc["attention_mask"].long()}
        onnx_text.export_module(tower, example, folder / "text.onnx")
        return onnx_text.TextRecipe(
            "hf",
            self.context_length,
            "none",
            None,
            None,
            int(self.tokenizer.pad_token_id),
            ("input_ids", "attention_mask"),
            self.dim,
            self.spec,
            self.fingerprint,
            # the weights' fingerprint does not cover the tokenizer files: a changed tokenizer
            # makes the export stale (onnx_text.stale_tokenizer)
            tokenizer_dir=self.tokenizer_dir or "",
            tokenizer_fp=tokenizer_fingerprint(self.tokenizer_dir) if self.tokenizer_dir else "",
        )


def _features(out: Any) -> np.ndarray:
    t = out if hasattr(out, "float") else getattr(out, "pooler_output", out[0])
    return t.float().cpu().numpy()


def hf_repo(spec: ModelSpec) -> str:
    """The HuggingFace repo (or folder) of hf:REPO_OR_DIR or fgclip:ViT-B/16 | ViT-L/14 (HF_ALIASES).
    Raises UnknownModel for an unknown FG-CLIP name."""
    repo = HF_ALIASES.get((spec.family, spec.name.replace("/", "-").upper()), spec.name)
    if spec.family == "fgclip" and repo == spec.name:
        raise UnknownModel(f"unknown FG-CLIP model {spec.name!r}; choose ViT-B/16 or ViT-L/14")
    return repo


def hf_local_names(spec: ModelSpec) -> list[str]:
    """The model-store folder of a HuggingFace model: OWNER--NAME, as `huggingface-cli download
    --local-dir` is told in the error message."""
    return [hf_repo(spec).replace("/", "--")]


def _check_path_like(repo: str) -> None:
    """Raise ModelFileMissing for an hf: name that is a file, or a path (absolute, ./, ../, ~, or
    more than OWNER/NAME) to no folder: it was told to `huggingface-cli download /abs/path --local-dir
    models/--abs--path`."""
    p = Path(repo).expanduser()
    if p.is_file():
        raise ModelFileMissing(f"hf:{repo} is a file; hf: takes a model folder (config.json and weights) or a hub name")
    if not p.is_dir() and (repo.startswith(("/", "./", "../", "~", ".")) or repo.count("/") > 1):
        raise ModelFileMissing(f"hf:{repo}: no such folder; check the path (a hub name is OWNER/NAME)")


def load_hf(spec: ModelSpec, opts: LoadOptions) -> Encoder:
    """hf:REPO_OR_DIR, or fgclip:ViT-B/16 | ViT-L/14 (qihoo360/fg-clip-base | -large), through
    transformers from --weights DIR, `models_dir`/OWNER--NAME, or the huggingface cache (the CLI
    reaches the hub only with CSD_ONLINE=1). Remote code runs only with trust_remote_code.
    Fingerprint: every weight shard of a local folder (folder_fingerprint), else the spec and source by name.
    Raises UnknownModel when transformers is missing, the FG-CLIP name is unknown, the model
    needs --trust-remote-code or is not CLIP-like; ModelFileMissing when it cannot be loaded, or
    --weights is a file or names no folder."""
    try:
        import transformers
    except ImportError:
        raise UnknownModel(f"{spec} needs the transformers package: pip install transformers") from None
    repo = hf_repo(spec)
    if opts.weights is not None:  # a wrong --weights must not fall back to another copy of the model
        given = Path(opts.weights).expanduser()
        if given.is_file():
            hint = f"--weights {given.parent}" if (given.parent / "config.json").is_file() else "its folder"
            raise ModelFileMissing(
                f"--weights {opts.weights} is a file; {spec} loads from a model folder (config.json and weights): pass {hint}"
            )
        if not given.is_dir():
            raise ModelFileMissing(f"--weights {opts.weights}: no such folder; check the path")
    if spec.family == "hf" and opts.weights is None:
        _check_path_like(repo)
    source = Path(opts.weights or repo).expanduser()
    local = opts.models_dir / hf_local_names(spec)[0]
    where = str(source) if source.is_dir() else (str(local) if local.is_dir() else repo)
    if Path(where).is_dir() and not any((Path(where) / f).is_file() for f in TOKENIZER_FILES):
        # transformers would make a tokenizer of two tokens, and every query the same vector
        raise ModelFileMissing(
            f"no tokenizer in {where} (none of {', '.join(TOKENIZER_FILES)}): copy the model's tokenizer files there"
        )
    device = resolve_device(opts.device)
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    try:
        with quiet_libraries():
            kw = {"trust_remote_code": opts.trust_remote_code}
            model = transformers.AutoModel.from_pretrained(where, **kw)
            tokenizer = transformers.AutoTokenizer.from_pretrained(where, **kw)
            processor = transformers.AutoImageProcessor.from_pretrained(where, **kw)
    except Exception as e:  # OSError, ValueError, SafetensorError, size mismatches: the files' fault
        if "trust_remote_code" in str(e):
            raise UnknownModel(
                f"{spec} runs custom code from the model repo; pass --trust-remote-code if you trust it"
            ) from None
        if Path(where).is_dir():  # a folder the user named (--weights, hf:DIR, the store): why it did not load
            raise ModelFileMissing(f"cannot load {spec} from {where}: {first_line(e)}") from None
        raise ModelFileMissing(
            f"no weights for {spec}: looked in {source}, {local} and the huggingface cache. "
            f"Download {repo} (huggingface-cli download {repo} --local-dir {local}) or pass --weights DIR."
        ) from None
    if len(tokenizer) < MIN_VOCAB:
        raise ModelFileMissing(
            f"the tokenizer in {where} has {len(tokenizer)} tokens; copy the model's own tokenizer files there"
        )
    if not hasattr(model, "get_image_features") or not hasattr(model, "get_text_features"):
        raise UnknownModel(f"{where} is not a CLIP-like model (no get_image_features / get_text_features)")
    fp = (folder_fingerprint(where) if Path(where).is_dir() else None) or text_fingerprint(spec, where)
    canonical = f"hf:{repo}" if spec.family == "hf" else f"fgclip:{spec.name}"
    local_dir = str(Path(where).resolve()) if Path(where).is_dir() else None
    return HFClipEncoder(model, processor, tokenizer, canonical, fp, device, tokenizer_dir=local_dir)
