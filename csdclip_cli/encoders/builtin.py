"""The built-in families, registered through the same hook as plugins. The model facts
(architectures, file names, repos) live in each adapter module's tables; the adapters import
torch only inside their loaders."""

from __future__ import annotations

from collections.abc import Callable

from csdclip_cli.encoders import cnclip, hf, openclip
from csdclip_cli.encoders.family import Family, english_only


def _lazy(module: str, fn: str) -> Callable:
    def load(spec, opts):  # noqa: ANN001, ANN202 - thin trampoline keeps imports lazy
        import importlib

        return getattr(importlib.import_module(f"csdclip_cli.encoders.{module}"), fn)(spec, opts)

    return load


def register_builtins(register: Callable[[Family], None]) -> None:
    """Register the built-in families (clip, openclip, demo, longclip, cnclip, hf, fgclip) through
    `register`; each loader imports its adapter module (and torch) only when called."""
    register(
        Family(
            "clip",
            _lazy("openclip", "load_clip"),
            "OpenAI CLIP weights via open_clip",
            ("clip:RN50", "clip:ViT-B/16", "clip:ViT-L/14"),
            openclip.clip_local_names,
            languages=english_only,
        )
    )
    register(
        Family(
            "openclip",
            _lazy("openclip", "load_openclip"),
            "any open_clip model, tag or custom config",
            ("openclip:ViT-B-32@laion2b_s34b_b79k", "openclip:./my-config.json --weights ckpt.pt"),
            openclip.openclip_local_names,
            languages=openclip.openclip_languages,
        )
    )
    register(
        Family(
            "demo",
            _lazy("openclip", "load_demo"),
            "tiny CLIP trained on the demo world (shipped)",
            ("demo:tiny",),
            openclip.demo_local_names,
            languages=english_only,  # the demo world's captions
        )
    )
    register(
        Family(
            "longclip",
            _lazy("openclip", "load_longclip"),
            "Long-CLIP (248-token text), local checkpoint",
            ("longclip:ViT-B/16", "longclip:ViT-L/14"),
            openclip.longclip_local_names,
            languages=english_only,
        )
    )
    register(
        Family(
            "cnclip",
            _lazy("cnclip", "load_cnclip"),
            "Chinese-CLIP via cn_clip",
            tuple(f"cnclip:{name}" for name in cnclip.CNCLIP_MODELS),
            cnclip.cnclip_local_names,
            languages=lambda spec: frozenset({"zh"}),  # Chinese RoBERTa / RBT3 text towers
        )
    )
    register(
        Family(
            "hf",
            _lazy("hf", "load_hf"),
            "HuggingFace CLIP-like model (repo or local dir)",
            ("hf:openai/clip-vit-base-patch32", "hf:./my-model-dir"),
            hf.hf_local_names,
        )
    )
    register(
        Family(
            "fgclip",
            _lazy("hf", "load_hf"),
            "FG-CLIP (alias of hf:qihoo360/fg-clip-*)",
            ("fgclip:ViT-B/16",),
            hf.hf_local_names,
            languages=english_only,  # FG-CLIP (v1) base and large
        )
    )
