"""A dataset split's gallery: the images of a source that the split names, in the split's order
(CLIP_benchmark's Flickr / COCO galleries are the split's images, not the whole folder)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from csdclip_cli.sources.base import Item, Source


class SubsetSource:
    """The items of `inner` whose key is in `keys`, yielded in `keys` order (rows, and so the
    order of exact score ties, follow the split). `label` names the subset in the manifest; the
    dataset loader warns about named images that are missing and about the ones left out."""

    def __init__(self, inner: Source, keys: Sequence[str], label: str):
        self.inner = inner
        self.kind = inner.kind
        self.location = inner.location
        self.keys = list(dict.fromkeys(keys))
        self.label = label

    def items(self) -> Iterator[Item]:
        """The inner source's items whose key is in `keys`, in `keys` order (missing keys skipped)."""
        by_key = {it.key: it for it in self.inner.items()}
        for k in self.keys:
            if k in by_key:
                yield by_key[k]

    def read(self, key: str) -> bytes:
        """The inner source's bytes for `key` (any key of the inner source, in the subset or not)."""
        return self.inner.read(key)
