"""What a model family is: its name, its loader and the facts `csd models list` shows. Plugins
build a `Family` and hand it to the registry's `register` hook (encoders.registry)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from csdclip_cli.encoders.base import Encoder
from csdclip_cli.encoders.spec import ModelSpec


def _no_local_files(spec: ModelSpec) -> list[str]:
    """spec -> the local weight file names looked for in the model store (for `csd models list`);
    none by default."""
    return []


def _languages_unknown(spec: ModelSpec) -> frozenset[str] | None:
    """spec -> the languages its text tower was trained on (ISO 639-1 codes), or None when not
    known (then csd never warns about a query's language)."""
    return None


ENGLISH = frozenset({"en"})


def english_only(spec: ModelSpec) -> frozenset[str] | None:
    """The languages of a family whose text towers all read English only (OpenAI CLIP, Long-CLIP)."""
    return ENGLISH


@dataclass(frozen=True)
class LoadOptions:
    """How to load an encoder: an explicit checkpoint or folder (`--weights`), the torch device
    ("auto" | "cpu" | "cuda[:N]" | "mps"), whether HuggingFace remote code may run, and the
    model store where weights are looked for by name."""

    weights: Path | None = None
    device: str = "auto"
    trust_remote_code: bool = False
    models_dir: Path = Path("models")


@dataclass(frozen=True)
class Family:
    """A model family: its name (the FAMILY of FAMILY:NAME specs), its loader (spec, options ->
    Encoder), the description and example specs `csd models list` shows, `local_files` and
    `languages`."""

    name: str
    load: Callable[[ModelSpec, LoadOptions], Encoder]
    description: str
    examples: tuple[str, ...] = ()
    # spec -> local weight file names looked for in the model store (for `csd models list`)
    local_files: Callable[[ModelSpec], list[str]] = field(default=_no_local_files)
    # spec -> the languages its text tower reads, None when not known: a query in another
    # language gets a warning (a Chinese query on OpenAI CLIP ranks close to at random)
    languages: Callable[[ModelSpec], frozenset[str] | None] = field(default=_languages_unknown)
