"""The built-in families, registered through the same hook as plugins."""

from __future__ import annotations

from collections.abc import Callable

from csdclip_cli.encoders.family import Family
from csdclip_cli.encoders.spec import ModelSpec


def _lazy(module: str, fn: str) -> Callable:
    def load(spec, opts):  # noqa: ANN001, ANN202 - thin trampoline keeps imports lazy
        import importlib

        return getattr(importlib.import_module(f"csdclip_cli.encoders.{module}"), fn)(spec, opts)

    return load


def _clip_files(spec: ModelSpec) -> list[str]:
    n = spec.name.replace("/", "-")
    return [f"{n}.pt", f"clip-{n}.pt"]


def register_builtins(register: Callable[[Family], None]) -> None:
    """Register the built-in families (clip, openclip, demo, longclip, cnclip, hf, fgclip) through
    `register`; each loader imports its adapter module (and torch) only when called."""
    register(
        Family(
            "clip",
            _lazy("openclip", "load_clip"),
            "OpenAI CLIP weights via open_clip",
            ("clip:RN50", "clip:ViT-B/16", "clip:ViT-L/14"),
            _clip_files,
        )
    )
    register(
        Family(
            "openclip",
            _lazy("openclip", "load_openclip"),
            "any open_clip model, tag or custom config",
            ("openclip:ViT-B-32@laion2b_s34b_b79k", "openclip:./my-config.json --weights ckpt.pt"),
            lambda s: [f"{s.name}-{s.pretrained}.safetensors"],
        )
    )
    register(
        Family("demo", _lazy("openclip", "load_demo"), "tiny CLIP trained on the demo world (shipped)", ("demo:tiny",))
    )
    register(
        Family(
            "longclip",
            _lazy("openclip", "load_longclip"),
            "Long-CLIP (248-token text), local checkpoint",
            ("longclip:ViT-B/16", "longclip:ViT-L/14"),
            lambda s: ["longclip-B.pt" if "B" in s.name.upper() else "longclip-L.pt"],
        )
    )
    register(
        Family(
            "cnclip",
            _lazy("cnclip", "load_cnclip"),
            "Chinese-CLIP via cn_clip",
            ("cnclip:ViT-B-16", "cnclip:ViT-L-14"),
            lambda s: [f"clip_cn_{s.name.lower().replace('/', '-')}.pt"],
        )
    )
    register(
        Family(
            "hf",
            _lazy("hf", "load_hf"),
            "HuggingFace CLIP-like model (repo or local dir)",
            ("hf:openai/clip-vit-base-patch32", "hf:./my-model-dir"),
            lambda s: [s.name.replace("/", "--")],
        )
    )
    register(
        Family(
            "fgclip",
            _lazy("hf", "load_hf"),
            "FG-CLIP (alias of hf:qihoo360/fg-clip-*)",
            ("fgclip:ViT-B/16",),
            lambda s: ["qihoo360--fg-clip-base"],
        )
    )
