"""What csd takes from an encoder, checked where csd calls it. A family's `load` and its
`encode_images` / `encode_texts` may be a third-party plugin's code: an exception there, vectors
of another shape, or a NaN must cost one error line or one skipped image, never a traceback or an
index that search cannot use (a NaN row made every composite score NaN, and a batch of another
width, once journaled, failed every later update)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from csdclip_cli.encoders.registry import failure, prints_to_stderr, who
from csdclip_cli.errors import CsdError, EncoderError, first_line

# how a skipped image's reason starts when the encoder, not the file, was at fault: tried again
# on every update (a mended plugin or model then indexes it)
ENCODER_FAULT = "the encoder returned"


def _matrix(encoder: Any, raw: Any, n: int, what: str) -> np.ndarray:
    """`raw` as float64 [n, encoder.dim] (squaring 1e20 for a norm overflowed float32); raises
    EncoderError for anything else."""
    count = f"{n} {what if n != 1 else what[:-1]}"
    try:
        v = np.asarray(raw, dtype=np.float64)
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


def image_batch(encoder: Any, inputs: Sequence[Any]) -> np.ndarray:
    """The `preprocess` outputs of one batch stacked: float32 [n, ...]. Raises EncoderError naming
    the encoder when one is not an array of numbers or their shapes differ (np.stack's traceback)."""
    arrays = []
    for x in inputs:
        try:
            a = np.asarray(x, dtype=np.float32)
        except Exception:
            a = np.zeros((), np.float32)
        if a.ndim == 0:
            raise EncoderError(f"{who(encoder)}: its preprocess returned {type(x).__name__}, not an array of numbers")
        arrays.append(a)
    shapes = sorted({a.shape for a in arrays})
    if len(shapes) > 1:
        raise EncoderError(
            f"{who(encoder)}: its preprocess returned arrays of shapes {', '.join(map(str, shapes[:3]))} in one "
            "batch; it must return one shape for every image"
        )
    return np.stack(arrays)


def _unit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float32 rows of float64 [n, d] `v` at unit L2 norm, which rows were finite, which were zero);
    rows that are not finite, or zero, come back zero."""
    finite = np.isfinite(v).all(axis=1)
    v = np.where(finite[:, None], v, 0.0)
    norms = np.linalg.norm(v, axis=1)
    return (v / np.maximum(norms, 1e-300)[:, None]).astype(np.float32), finite, norms == 0


def image_vectors(encoder: Any, batch: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """encoder.encode_images(batch) checked: (float32 [n, dim], each row L2-normalised, and the
    rows that cannot be indexed -> why: NaN or infinity, or a zero vector). Raises EncoderError
    when the encoder raises or returns another shape."""
    n = len(batch)
    try:
        with prints_to_stderr():
            raw = encoder.encode_images(batch)
    except CsdError:
        raise
    except Exception as e:
        raise failure(encoder, "encoding images", e) from e
    # the protocol asks for unit vectors; one that is not would outrank better matches by its length
    v, finite, zero = _unit(_matrix(encoder, raw, n, "images"))
    unusable = {
        int(i): f"{ENCODER_FAULT} NaN or infinity for this image" if not finite[i] else f"{ENCODER_FAULT} a zero vector"
        for i in np.flatnonzero(zero)
    }
    return v, unusable


def text_vectors(encoder: Any, texts: Sequence[str]) -> np.ndarray:
    """encoder.encode_texts(texts) checked: float32 [n, dim], each row L2-normalised. Raises
    EncoderError when the encoder raises, returns another shape, NaN or a zero vector."""
    try:
        with prints_to_stderr():
            raw = encoder.encode_texts(list(texts))
    except CsdError:
        raise
    except Exception as e:
        raise failure(encoder, "encoding text", e) from e
    v, finite, zero = _unit(_matrix(encoder, raw, len(texts), "texts"))
    if zero.any():
        i = int(np.flatnonzero(zero)[0])
        raise EncoderError(
            f"{who(encoder)} returned {'a zero vector' if finite[i] else 'NaN or infinity'} for the text {texts[i]!r}"
        )
    return v
