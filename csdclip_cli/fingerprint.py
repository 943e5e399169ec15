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


def folder_fingerprint(folder: str | Path) -> str | None:
    """Fingerprint of every weight shard in a model folder (*.safetensors, else *.bin): a change to
    any shard changes it. One shard gives its file_fingerprint; None when the folder has none."""
    d = Path(folder)
    shards = sorted(d.glob("*.safetensors")) or sorted(d.glob("*.bin"))
    if len(shards) <= 1:
        return file_fingerprint(shards[0]) if shards else None
    h = hashlib.sha256()
    for s in shards:
        h.update(f"{s.name}={file_fingerprint(s)}\n".encode())
    return "sha256q:" + h.hexdigest()[:16]


# the files that make a HuggingFace tokenizer (vocabulary, merges, special tokens, settings)
TOKENIZER_STATE = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


def tokenizer_fingerprint(folder: str | Path) -> str:
    """Fingerprint of the tokenizer files (TOKENIZER_STATE) in a model folder, by name and
    content: a text export made with one tokenizer is stale once any of them changes."""
    h = hashlib.sha256()
    for name in TOKENIZER_STATE:
        f = Path(folder) / name
        if f.is_file():
            h.update(f"{name}={f.stat().st_size}\n".encode())
            h.update(f.read_bytes())
    return "sha256:" + h.hexdigest()[:16]


def text_fingerprint(*parts: Any) -> str:
    """A fingerprint of weights known by name rather than by file (a hub tag, a demo seed)."""
    return "id:" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]
