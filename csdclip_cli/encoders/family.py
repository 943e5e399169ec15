"""What a model family is: its name, its loader and the facts `csd models list` shows. Plugins
build a `Family` and hand it to the registry's `register` hook (encoders.registry)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from csdclip_cli.encoders.base import Encoder
from csdclip_cli.encoders.spec import ModelSpec


@dataclass(frozen=True)
class LoadOptions:
    weights: Path | None = None
    device: str = "auto"
    trust_remote_code: bool = False
    models_dir: Path = Path("models")


@dataclass(frozen=True)
class Family:
    name: str
    load: Callable[[ModelSpec, LoadOptions], Encoder]
    description: str
    examples: tuple[str, ...] = ()
    # spec -> local weight file names looked for in the model store (for `csd models list`)
    local_files: Callable[[ModelSpec], list[str]] = field(default=lambda spec: [])
