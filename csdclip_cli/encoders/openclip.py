"""open_clip adapter: OpenAI CLIP (`clip:`), any open_clip model (`openclip:`), the
shipped demo model (`demo:`) and Long-CLIP checkpoints (`longclip:`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from csdclip_cli.encoders.base import Encoder, cpu_float32_copy, quiet_libraries, resolve_device
from csdclip_cli.encoders.checkpoint import read_state_dict
from csdclip_cli.encoders.family import ENGLISH, LoadOptions
from csdclip_cli.encoders.spec import ModelSpec
from csdclip_cli.encoders.torch_clip import TorchClipEncoder
from csdclip_cli.errors import ModelFileMissing, UnknownModel
from csdclip_cli.fingerprint import file_fingerprint, text_fingerprint

CLIP_ARCHS = {
    "RN50": "RN50",
    "VIT-B-16": "ViT-B-16",
    "VIT-B-32": "ViT-B-32",
    "VIT-L-14": "ViT-L-14",
    "VIT-L-14-336": "ViT-L-14-336",
    "RN101": "RN101",
}
OPENAI_URLS = {
    "RN50": "https://openaipublic.azureedge.net/clip/models/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
    "ViT-B-16": "https://openaipublic.azureedge.net/clip/models/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
    "ViT-L-14": "https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
}
LONGCLIP_FILES = {"ViT-B-16": "longclip-B.pt", "ViT-L-14": "longclip-L.pt"}
DEMO_DIR = Path(__file__).resolve().parent.parent / "demo" / "model"
DEMO_MODELS = {"tiny": "csd-demo-tiny"}


def arch_name(name: str) -> str:
    """'ViT-B/16' and 'ViT-B-16' (any case) -> open_clip's 'ViT-B-16'."""
    key = name.replace("/", "-").upper()
    if key not in CLIP_ARCHS:
        raise UnknownModel(f"unknown CLIP architecture {name!r}; choose one of {', '.join(CLIP_ARCHS.values())}")
    return CLIP_ARCHS[key]


class OpenClipEncoder(TorchClipEncoder):
    """An open_clip model (clip:, openclip:, demo:, longclip:) with its image transform and tokenizer.
    `context_length` is the tokenizer's (77; 248 for Long-CLIP); float16 on CUDA, float32
    elsewhere."""

    def __init__(self, model: Any, preprocess: Any, tokenizer: Any, spec: str, fingerprint: str, device: str):
        self._preprocess = preprocess
        self.tokenizer = tokenizer
        self.context_length = int(getattr(tokenizer, "context_length", 77))
        super().__init__(model, spec, fingerprint, device)

    def preprocess(self, image: Any) -> np.ndarray:
        """PIL image -> float32 [3, h, w] through open_clip's eval transform (resize, centre crop, mean/std)."""
        return self._preprocess(image).numpy()

    def tokenize(self, texts: Sequence[str]) -> Any:
        """open_clip's tokenizer: int64 [n, context_length], cut to `context_length` tokens."""
        return self.tokenizer(list(texts))

    def export_text(self, folder: Path) -> Any:
        """The text tower as ONNX plus the CLIP BPE as a `tokenizers` JSON (csdclip_cli.encoders.
        onnx_text); None for tokenizers without a torch-free form (HF-tokenizer open_clip models)."""
        import torch
        from open_clip.tokenizer import SimpleTokenizer

        from csdclip_cli.encoders import onnx_text

        tok = self.tokenizer
        if not isinstance(tok, SimpleTokenizer) or tok.reduction_fn is not None:
            return None
        if getattr(tok.clean_fn, "__name__", "") != "_clean_lower":
            return None
        model = self.model if self.device == "cpu" and self.dtype == torch.float32 else cpu_float32_copy(self.model)
        tower = onnx_text.text_tower(model, lambda m, ids: m.encode_text(ids))
        onnx_text.clip_bpe_tokenizer(tok.encoder, tok.bpe_ranks).save(str(folder / "tokenizer.json"))
        onnx_text.export_module(tower, {"input_ids": tok(["a photo"]).long()}, folder / "text.onnx")
        return onnx_text.TextRecipe(
            "clip-bpe",
            int(tok.context_length),
            "clip",
            tok.sot_token_id,
            tok.eot_token_id,
            0,
            ("input_ids",),
            self.dim,
            self.spec,
            self.fingerprint,
        )


def _missing(spec: ModelSpec, looked: list[str], hint: str) -> ModelFileMissing:
    return ModelFileMissing(f"no weights for {spec}: looked in {'; '.join(looked)}. {hint}")


def clip_local_names(spec: ModelSpec) -> list[str]:
    """File names clip:ARCH is looked for under in the model store (OpenAI's own name first)."""
    arch = arch_name(spec.name)
    return [f"{arch}.pt", f"clip-{arch}.pt", f"clip-{arch}.safetensors"]


def openclip_local_names(spec: ModelSpec) -> list[str]:
    """File names openclip:NAME@TAG is looked for under in the model store."""
    return [f"{spec.name}-{spec.pretrained}.safetensors", f"{spec.name}-{spec.pretrained}.pt"]


# open_clip models whose text tower reads many languages (XLM-RoBERTa, NLLB, mT5, SigLIP i18n,
# SigLIP 2's Gemma tokenizer); the other pretrained tags are English (LAION-2B-en, DataComp,
# MetaCLIP, DFN, WebLI-en)
MULTILINGUAL_MARKERS = ("xlm", "nllb", "mt5", "i18n", "siglip2", "multilingual")


def openclip_languages(spec: ModelSpec) -> frozenset[str] | None:
    """English for open_clip's English models, None (many, not listed) for the multilingual ones
    and for a custom config, whose text tower csd cannot tell."""
    name = f"{spec.name}@{spec.pretrained or ''}".lower()
    if spec.name.endswith(".json") or any(m in name for m in MULTILINGUAL_MARKERS):
        return None
    return ENGLISH


def longclip_local_names(spec: ModelSpec) -> list[str]:
    """The Long-CLIP checkpoint name of longclip:ViT-B/16 | ViT-L/14 (as BeichenZhang/LongCLIP-* ship it).
    Raises UnknownModel for another architecture."""
    arch = arch_name(spec.name)
    if arch not in LONGCLIP_FILES:
        raise UnknownModel(f"Long-CLIP comes as ViT-B/16 or ViT-L/14, not {spec.name!r}")
    return [LONGCLIP_FILES[arch]]


def demo_local_names(spec: ModelSpec) -> list[str]:
    """The shipped demo weights (an absolute path: they live in the package, not the store).
    Raises UnknownModel for a name other than those of DEMO_MODELS."""
    if spec.name not in DEMO_MODELS:
        raise UnknownModel(f"unknown demo model {spec.name!r}; choose one of {', '.join(DEMO_MODELS)}")
    return [str(DEMO_DIR / f"{DEMO_MODELS[spec.name]}.safetensors")]


def _find_local(opts: LoadOptions, names: list[str]) -> Path | None:
    if opts.weights is not None:
        if opts.weights.is_dir():
            raise ModelFileMissing(f"--weights {opts.weights} is a folder; pass the checkpoint file in it")
        if not opts.weights.is_file():
            raise ModelFileMissing(f"--weights {opts.weights}: no such file; check the path")
        return opts.weights
    for n in names:
        p = opts.models_dir / n
        if p.is_file():
            return p
    return None


# a pretrained tag's preprocessing keys -> open_clip.create_model_and_transforms' arguments
TAG_PREPROCESS = {
    "mean": "image_mean",
    "std": "image_std",
    "interpolation": "image_interpolation",
    "resize_mode": "image_resize_mode",
}


def tag_recipe(name: str, tag: str | None) -> dict[str, Any]:
    """What open_clip's pretrained tag `tag` of model `name` says beyond the weights, as
    create_model_and_transforms arguments: QuickGELU (every @openai, metaclip and some dfn tags)
    and the image preprocessing (mean / std, interpolation, resize mode: 58 tags have their own).
    open_clip applies them only when it loads the tag itself; a model built for a local file of
    those weights had GELU and OpenAI's preprocessing, without a word. {} for no such tag."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(name, tag) if tag else {}
    if not cfg:
        return {}
    kw: dict[str, Any] = {"force_quick_gelu": True} if cfg.get("quick_gelu") else {}
    return kw | {arg: cfg[key] for key, arg in TAG_PREPROCESS.items() if cfg.get(key) is not None}


def recipe_fingerprint(fingerprint: str, name: str, tag: str | None) -> str:
    """`fingerprint`, marked when tag_recipe(name, tag) builds another model than model `name`
    alone (what csd built for a local file before it followed the tag): an index made the old
    way is refused, not updated with vectors of another activation or preprocessing."""
    import open_clip
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    recipe = tag_recipe(name, tag)
    plain = merge_preprocess_dict(PreprocessCfg(), (open_clip.get_model_config(name) or {}).get("preprocess_cfg", {}))
    other = any(
        tuple(recipe[arg]) != tuple(plain[key]) if isinstance(plain[key], (list, tuple)) else recipe[arg] != plain[key]
        for key, arg in TAG_PREPROCESS.items()
        if arg in recipe
    )
    # a "-quickgelu" model config had it already
    gelu = recipe.get("force_quick_gelu", False) and not (open_clip.get_model_config(name) or {}).get("quick_gelu")
    return f"{fingerprint}+{tag} recipe" if gelu or other else fingerprint


def _build(name: str, *, pretrained: str | None = None, tag: str | None = None, **kw: Any) -> tuple[Any, Any, Any]:
    """(model, preprocess, tokenizer) of open_clip model `name`: its `pretrained` weights when
    given, else untrained (for a local checkpoint), built as `tag` (or `pretrained`) says (tag_recipe)."""
    import open_clip

    with quiet_libraries():
        model, _, preprocess = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, **{**tag_recipe(name, tag or pretrained), **kw}
        )
        tokenizer = open_clip.get_tokenizer(name, context_length=kw.get("force_context_length"))
    return model, preprocess, tokenizer


def _load_into(model: Any, sd: dict, spec: ModelSpec, path: Path) -> None:
    for k in ("input_resolution", "context_length", "vocab_size"):
        sd.pop(k, None)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else "state dict mismatch"
        raise ModelFileMissing(f"{path} does not hold weights for {spec}: {first}") from None


def load_clip(spec: ModelSpec, opts: LoadOptions) -> Encoder:
    """clip:ARCH — OpenAI weights: --weights, models/, then the open_clip cache."""
    arch = arch_name(spec.name)
    device = resolve_device(opts.device)
    canonical = f"clip:{arch}"
    local = _find_local(opts, clip_local_names(spec))
    if local is not None:
        model, pre, tok = _build(f"{arch}-quickgelu")
        _load_into(model, read_state_dict(local), spec, local)
        return OpenClipEncoder(model, pre, tok, canonical, file_fingerprint(local), device)
    try:
        model, pre, tok = _build(arch, pretrained="openai")
    except Exception:
        raise _missing(
            spec,
            ["--weights (not given)", f"{opts.models_dir}/{arch}.pt", "the open_clip / huggingface cache"],
            f"Download {OPENAI_URLS.get(arch, 'the OpenAI checkpoint')} into {opts.models_dir}/ "
            "or pass --weights FILE (set CSD_ONLINE=1 to let open_clip download it).",
        ) from None
    # the "openai" tag asks for QuickGELU, which open_clip only warned about (GELU was built)
    return OpenClipEncoder(model, pre, tok, canonical, text_fingerprint(canonical, "openai") + "+quickgelu", device)


def load_openclip(spec: ModelSpec, opts: LoadOptions) -> Encoder:
    """openclip:NAME@TAG, or openclip:path/config.json with --weights."""
    import open_clip

    device = resolve_device(opts.device)
    if spec.name.endswith(".json"):
        cfg = Path(spec.name).expanduser()
        if not cfg.is_file():
            raise UnknownModel(f"open_clip config {cfg} not found; give a path to a model config JSON")
        try:
            body = json.loads(cfg.read_text(encoding="utf-8"))
        except (ValueError, OSError) as e:  # it was a JSONDecodeError traceback
            raise UnknownModel(f"open_clip config {cfg} does not parse ({e}); give a model config JSON") from None
        if not isinstance(body, dict):
            raise UnknownModel(f"{cfg} is not an open_clip model config (a JSON object is expected)")
        if not {"embed_dim", "vision_cfg", "text_cfg"} <= set(body.get("model_cfg", body)):
            raise UnknownModel(f"{cfg} is not an open_clip model config (needs embed_dim, vision_cfg, text_cfg)")
        open_clip.add_model_config(cfg)
        weights = _find_local(opts, [cfg.with_suffix(".safetensors").name, cfg.with_suffix(".pt").name])
        if weights is None:
            sibling = cfg.with_suffix(".safetensors")
            weights = sibling if sibling.is_file() else None
        if weights is None:
            raise _missing(
                spec,
                ["--weights (not given)", str(cfg.with_suffix(".safetensors")), str(opts.models_dir)],
                "Pass the checkpoint with --weights FILE.",
            )
        model, pre, tok = _build(cfg.stem)
        _load_into(model, read_state_dict(weights), spec, weights)
        return OpenClipEncoder(model, pre, tok, f"openclip:{cfg.stem}", file_fingerprint(weights), device)

    name = spec.name
    if name not in open_clip.list_models():
        raise UnknownModel(f"open_clip has no model {name!r}; see open_clip.list_models() (e.g. ViT-B-32, ViT-L-14)")
    local = _find_local(opts, openclip_local_names(spec))
    if local is not None:
        model, pre, tok = _build(name, tag=spec.pretrained)
        _load_into(model, read_state_dict(local), spec, local)
        fingerprint = recipe_fingerprint(file_fingerprint(local), name, spec.pretrained)
        return OpenClipEncoder(model, pre, tok, str(spec), fingerprint, device)
    if spec.pretrained is None:
        raise UnknownModel(
            f"{spec}: name a pretrained tag (openclip:{name}@TAG) or pass --weights FILE; "
            f"tags: {', '.join(t for n, t in open_clip.list_pretrained() if n == name) or 'none'}"
        )
    valid = [t for n, t in open_clip.list_pretrained() if n == name]
    if spec.pretrained not in valid:
        raise UnknownModel(f"{name} has no pretrained tag {spec.pretrained!r}; valid tags: {', '.join(valid)}")
    try:
        model, pre, tok = _build(name, pretrained=spec.pretrained)
    except Exception:
        raise _missing(
            spec,
            [
                "--weights (not given)",
                f"{opts.models_dir}/{name}-{spec.pretrained}.safetensors",
                "the open_clip / huggingface cache",
            ],
            "Download the checkpoint on a machine with network (or set CSD_ONLINE=1).",
        ) from None
    # open_clip applied the tag's preprocessing before, not its QuickGELU
    fingerprint = text_fingerprint(spec) + (
        "+quickgelu" if tag_recipe(name, spec.pretrained).get("force_quick_gelu") else ""
    )
    return OpenClipEncoder(model, pre, tok, str(spec), fingerprint, device)


def load_demo(spec: ModelSpec, opts: LoadOptions) -> Encoder:
    """demo:tiny — the tiny CLIP shipped in the package, trained on the demo world; --weights
    loads another checkpoint of the same architecture (`csd demo train --out`)."""
    import open_clip

    # --weights: a model of your own from `csd demo train --out` (it was silently ignored)
    weights = _find_local(opts, []) or Path(demo_local_names(spec)[0])
    stem = DEMO_MODELS[spec.name]
    cfg = DEMO_DIR / f"{stem}.json"
    if not weights.is_file():
        raise ModelFileMissing(f"demo model weights {weights} are missing; retrain with `csd demo train`")
    open_clip.add_model_config(cfg)
    model, pre, tok = _build(stem)
    _load_into(model, read_state_dict(weights), spec, weights)
    return OpenClipEncoder(model, pre, tok, f"demo:{spec.name}", file_fingerprint(weights), resolve_device(opts.device))


def merge_longclip_state_dict(sd: dict) -> dict:
    """Long-CLIP keeps rows 20.. of its text positions in `positional_embedding_res`;
    its forward uses pos*mask1 + pos_res*mask2, i.e. rows 0-19 from pos, the rest from res."""
    import torch

    sd = dict(sd)
    if "positional_embedding_res" in sd:
        res = sd.pop("positional_embedding_res")
        sd["positional_embedding"] = torch.cat([sd["positional_embedding"][:20], res[20:]], 0)
    return sd


def load_longclip(spec: ModelSpec, opts: LoadOptions) -> Encoder:
    """longclip:ViT-B/16 | ViT-L/14 from a local checkpoint (248 text positions)."""
    arch = arch_name(spec.name)
    local = _find_local(opts, longclip_local_names(spec))
    if local is None:
        raise _missing(
            spec,
            ["--weights (not given)", f"{opts.models_dir}/{LONGCLIP_FILES[arch]}"],
            f"Download {LONGCLIP_FILES[arch]} from huggingface.co/BeichenZhang/LongCLIP-"
            f"{arch[4]} into {opts.models_dir}/ or pass --weights FILE.",
        )
    sd = merge_longclip_state_dict(read_state_dict(local))
    ctx = int(sd["positional_embedding"].shape[0])
    # force_context_length keeps all 248 positions; without it they are interpolated to 77.
    model, pre, tok = _build(f"{arch}-quickgelu", force_context_length=ctx)
    _load_into(model, sd, spec, local)
    return OpenClipEncoder(model, pre, tok, f"longclip:{arch}", file_fingerprint(local), resolve_device(opts.device))
