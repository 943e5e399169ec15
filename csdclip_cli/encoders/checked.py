"""What csd takes from an encoder, checked where csd calls it. A family's `load` and its
`encode_images` / `encode_texts` may be a third-party plugin's code: an exception there, vectors
of another shape, or a NaN must cost one error line or one skipped image, never a traceback or an
index that search cannot use (a NaN row made every composite score NaN, and a batch of another
width, once journaled, failed every later update)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from csdclip_cli.encoders.registry import failure, who
from csdclip_cli.errors import CsdError, EncoderError, first_line

# how a skipped image's reason starts when the encoder, not the file, was at fault: tried again
# on every update (a mended plugin or model then indexes it)
ENCODER_FAULT = "the encoder returned"


def _matrix(encoder: Any, raw: Any, n: int, what: str) -> np.ndarray:
    """`raw` as float32 [n, encoder.dim]; raises EncoderError for anything else."""
    count = f"{n} {what if n != 1 else what[:-1]}"
    try:
        v = np.asarray(raw, dtype=np.float32)
    except Exception as e:  # a CUDA tensor, a list of strings, None
        raise EncoderError(
            f"{who(encoder)} returned {type(raw).__name__} for {count}, not an array of numbers ({first_line(e)})"
        ) from None
    if v.shape != (n, encoder.dim):
        raise EncoderError(
            f"{who(encoder)} returned vectors of shape {v.shape} for {count}; "
            f"its dim is {encoder.dim}, so ({n}, {encoder.dim}) was due"
        )
    return v


def image_vectors(encoder: Any, batch: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """encoder.encode_images(batch) checked: (float32 [n, dim], each row L2-normalised, and the
    rows that cannot be indexed -> why: NaN or infinity, or a zero vector). Raises EncoderError
    when the encoder raises or returns another shape."""
    n = len(batch)
    try:
        raw = encoder.encode_images(batch)
    except CsdError:
        raise
    except Exception as e:
        raise failure(encoder, "encoding images", e) from e
    v = _matrix(encoder, raw, n, "images")
    finite = np.isfinite(v).all(axis=1)
    v[~finite] = 0.0
    norms = np.linalg.norm(v, axis=1)
    unusable = {
        int(i): f"{ENCODER_FAULT} NaN or infinity for this image" if not finite[i] else f"{ENCODER_FAULT} a zero vector"
        for i in np.flatnonzero(norms == 0)
    }
    # the protocol asks for unit vectors; one that is not would outrank better matches by its length
    return v / np.maximum(norms, 1e-12)[:, None], unusable


def text_vectors(encoder: Any, texts: Sequence[str]) -> np.ndarray:
    """encoder.encode_texts(texts) checked: float32 [n, dim], each row L2-normalised. Raises
    EncoderError when the encoder raises, returns another shape, NaN or a zero vector."""
    try:
        raw = encoder.encode_texts(list(texts))
    except CsdError:
        raise
    except Exception as e:
        raise failure(encoder, "encoding text", e) from e
    v = _matrix(encoder, raw, len(texts), "texts")
    norms = np.linalg.norm(v, axis=1)
    bad = np.flatnonzero(~np.isfinite(norms) | (norms == 0))
    if len(bad):
        raise EncoderError(
            f"{who(encoder)} returned {'a zero vector' if np.isfinite(norms[bad[0]]) else 'NaN or infinity'} "
            f"for the text {texts[int(bad[0])]!r}"
        )
    return v / norms[:, None]
