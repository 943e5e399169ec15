"""Robust image decoding: first frame, EXIF orientation applied, RGB, bomb limit kept."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

# Pillow's own default (~89 MP); a larger image is refused, not decoded into RAM.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS


class BadImage(Exception):
    """An image that cannot be decoded; the message is the reason shown to the user."""


def decode_image(data: bytes) -> Image.Image:
    if not data:
        raise BadImage("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > (MAX_PIXELS or 1 << 62):
                raise BadImage(f"{img.width}x{img.height} exceeds the decompression-bomb limit")
            img.seek(0)  # first frame of animations
            img.load()
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImage("exceeds the decompression-bomb limit") from None
    except Image.UnidentifiedImageError:
        raise BadImage("not a recognised image format") from None
    except Exception as e:  # PIL raises many types for broken files
        raise BadImage(f"cannot decode: {type(e).__name__}: {str(e)[:120]}") from None
    img = ImageOps.exif_transpose(img) or img
    if img.mode in ("P", "PA", "LA", "RGBA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        import numpy as np

        a = np.asarray(img, dtype=np.float32)
        a = (255 * a / max(float(a.max()), 1.0)).astype("uint8")
        return Image.fromarray(a).convert("RGB")
    return img.convert("RGB")
