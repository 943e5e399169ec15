"""Does the index's model read the query's language? A Chinese query on an English-only text
tower (OpenAI CLIP, Long-CLIP, most open_clip models) ranks close to at random, and nothing
else would say so. The languages are model facts each family declares (Family.languages)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Han ideographs (CJK Unified, Extension A, compatibility): the Chinese csd's rewriters read
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
NAMES = {"en": "English", "zh": "Chinese"}


def language_warning(model: str, texts: Iterable[str], subject: str = "the query is") -> str | None:
    """A one-line warning when `texts` hold Chinese and `model` (a FAMILY:NAME spec) reads only
    languages without Chinese; None when they are in a language it reads, or its family does not
    say (plugins, hf: folders, multilingual open_clip models), or the spec does not parse."""
    if not any(HAN.search(t) for t in texts):
        return None
    from csdclip_cli.encoders.registry import get_family
    from csdclip_cli.encoders.spec import ModelSpec
    from csdclip_cli.errors import CsdError

    try:
        spec = ModelSpec.parse(model)
        languages = get_family(spec.family).languages(spec)
    except CsdError:
        return None
    if languages is None or "zh" in languages:
        return None
    reads = " and ".join(NAMES.get(code, code) for code in sorted(languages))
    return (
        f"{model} reads {reads} only and {subject} in Chinese: expect close to random results; "
        "index with a Chinese-CLIP model (cnclip:ViT-B-16) or write in English"
    )
