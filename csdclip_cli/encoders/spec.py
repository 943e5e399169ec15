"""Model spec strings: FAMILY:NAME[@PRETRAINED]."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from csdclip_cli.errors import UnknownModel


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec; str() gives its canonical FAMILY:NAME[@PRETRAINED] form."""

    family: str
    name: str
    pretrained: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """Parse 'FAMILY:NAME[@PRETRAINED]' (blanks around it stripped, family lower-cased). An '@' whose
        tail holds a '/' belongs to a path, not a tag. Raises UnknownModel when the family or the name
        is missing."""
        text = text.strip()
        if ":" not in text:
            raise UnknownModel(
                f"model spec {text!r} has no family: write FAMILY:NAME, e.g. clip:ViT-B/16, "
                "openclip:ViT-B-32@laion2b_s34b_b79k, cnclip:ViT-B-16, demo:tiny (see `csd models list`)"
            )
        family, rest = text.split(":", 1)
        pretrained = None
        # '@' introduces a pretrained tag unless it belongs to a path (openclip:./dir@x/cfg.json)
        if "@" in rest and "/" not in rest.rsplit("@", 1)[1]:
            rest, pretrained = rest.rsplit("@", 1)
        if not rest:
            raise UnknownModel(f"model spec {text!r} has an empty name after '{family}:'")
        return cls(family.lower(), rest, pretrained or None)

    def __str__(self) -> str:
        return f"{self.family}:{self.name}" + (f"@{self.pretrained}" if self.pretrained else "")


def absolute_spec(spec: str) -> str:
    """`spec` with a NAME that is a local path made absolute: an open_clip config (openclip:cfg/x.json)
    or a HuggingFace model folder (hf:./my-model), the families whose NAME may be a path. The
    index stores the spec, and an update or search run from another folder found nothing there,
    or another folder's file of that name. Other specs come back as given ("demo:tiny" with a
    folder "tiny" here is still the demo model)."""
    s = ModelSpec.parse(spec)
    path = os.path.expanduser(s.name)
    local = (s.family == "openclip" and s.name.endswith(".json") and os.path.isfile(path)) or (
        s.family == "hf" and os.path.isdir(path)
    )
    if not local or os.path.isabs(path):
        return spec
    return str(replace(s, name=os.path.abspath(path)))
