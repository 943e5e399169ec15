"""csd: text-to-image retrieval with complex queries (CsdCLIP).

The library works without the CLI; names are imported lazily so `import csdclip_cli`
stays light (torch and friends load only when an encoder is loaded).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Searcher": "csdclip_cli.search.searcher",
    "Result": "csdclip_cli.search.searcher",
    "CompositeConfig": "csdclip_cli.search.composite",
    "CompositeSearch": "csdclip_cli.search.composite",
    "Plan": "csdclip_cli.rewrite.plan",
    "get_rewriter": "csdclip_cli.rewrite",
    "load_encoder": "csdclip_cli.encoders.registry",
    "register": "csdclip_cli.encoders.registry",
    "IndexStore": "csdclip_cli.index.store",
    "build_index": "csdclip_cli.index.build",
    "open_source": "csdclip_cli.sources",
    "load_dataset": "csdclip_cli.eval.datasets",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'csdclip_cli' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
