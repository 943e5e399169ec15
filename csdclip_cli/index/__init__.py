"""Index store and build pipeline."""

from csdclip_cli.index.build import BuildReport, build_index
from csdclip_cli.index.store import EXACT_LIMIT, Generation, IndexStore, Manifest

__all__ = ["EXACT_LIMIT", "BuildReport", "Generation", "IndexStore", "Manifest", "build_index"]
