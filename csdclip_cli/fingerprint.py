"""Fingerprints that name weights in manifests and caches: an index, a text export or a plan
cache is reused only while the fingerprint of the weights that made it is unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def file_fingerprint(path: str | Path) -> str:
    """Quick, stable fingerprint of a weights file: size plus its first and last 4 MiB."""
    p = Path(path)
    h = hashlib.sha256()
    size = p.stat().st_size
    h.update(str(size).encode())
    with p.open("rb") as f:
        h.update(f.read(4 << 20))
        if size > 8 << 20:
            f.seek(-(4 << 20), 2)
            h.update(f.read())
    return "sha256q:" + h.hexdigest()[:16]


def text_fingerprint(*parts: Any) -> str:
    """A fingerprint of weights known by name rather than by file (a hub tag, a demo seed)."""
    return "id:" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]
