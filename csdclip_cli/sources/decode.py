"""Robust image decoding: first frame, EXIF orientation applied, every mode to 8-bit RGB,
large photos decoded at reduced size, decompression bombs refused with the reason.

Formats: whatever Pillow reads (JPEG, PNG, WebP, GIF, TIFF, BMP, AVIF, ...); HEIC / HEIF
through pillow-heif when it is installed (`pip install 'csdclip-cli[heif]'`).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

# The encoder needs a few hundred pixels; a 108 MP camera JPEG is decoded at 1/2 .. 1/8 scale
# (JPEG draft mode) so it costs a few MB. Other formats decode whole, so they get a lower cap.
# longest side over shortest that is decoded whole (wider panoramas are cut, _central_strip)
MAX_ASPECT = 20
MAX_PIXELS = 1_000_000_000  # declared size beyond which nothing is decoded
MAX_FULL_DECODE_PIXELS = 200_000_000  # formats without reduced-size decoding (~600 MB as RGB)
DRAFT_ABOVE_PIXELS = 16_000_000  # JPEGs above this decode at reduced scale
DRAFT_SIZE = (1024, 1024)  # ... to the smallest scale still at least this large
# Pixels per byte of file: a real photo has well under 100 (a flat-colour 108 MP JPEG has 62);
# a PNG bomb has thousands. Checked above Pillow's own default limit only.
MAX_PIXELS_PER_BYTE = 1000
RATIO_CHECK_ABOVE_PIXELS = 89_478_485
# Pillow's own check runs at open; ours (above) replaces it.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
HEIF_MISSING = "HEIC/HEIF image: install csd[heif]"  # a skip reason that `index update` retries once it is


class BadImage(Exception):
    """An image that cannot be decoded; the message is the reason shown to the user."""


def is_heif(data: bytes) -> bool:
    """ISO-BMFF 'ftyp' box with a HEIF brand (AVIF, also ISO-BMFF, is read by Pillow itself)."""
    return data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS


def _register_heif() -> bool:
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data))
    except Image.UnidentifiedImageError:
        if not is_heif(data):
            raise
        if not _register_heif():
            raise BadImage(f"{HEIF_MISSING} to read it (pip install 'csdclip-cli[heif]', for pillow-heif)") from None
        return Image.open(io.BytesIO(data))


def _check_size(img: Image.Image, nbytes: int) -> None:
    w, h = img.size
    px = w * h
    if px > MAX_PIXELS:
        raise BadImage(
            f"{w}x{h} ({px / 1e6:,.0f} MP) exceeds the decompression-bomb limit of {MAX_PIXELS / 1e6:,.0f} MP"
        )
    if px > RATIO_CHECK_ABOVE_PIXELS and px / max(nbytes, 1) > MAX_PIXELS_PER_BYTE:
        raise BadImage(
            f"{w}x{h} from {nbytes:,} bytes ({px / max(nbytes, 1):,.0f} pixels per byte) exceeds the "
            "decompression-bomb limit on compression ratio"
        )
    if img.format != "JPEG" and px > MAX_FULL_DECODE_PIXELS:
        raise BadImage(
            f"{w}x{h} {img.format or ''} ({px / 1e6:,.0f} MP) exceeds the decompression-bomb limit of "
            f"{MAX_FULL_DECODE_PIXELS / 1e6:,.0f} MP for formats that cannot decode at reduced size"
        )


def decode_image(data: bytes) -> Image.Image:
    """Bytes of an image file -> an 8-bit RGB PIL image (first frame, EXIF orientation applied).

    Raises BadImage with the reason (empty, unrecognised, truncated, a bomb, HEIC without
    pillow-heif).
    """
    if not data:
        raise BadImage("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = _open(data)
            _check_size(img, len(data))
            if img.format == "JPEG" and img.width * img.height > DRAFT_ABOVE_PIXELS:
                img.draft("RGB", DRAFT_SIZE)
            img.seek(0)  # first frame of animations
            img.load()
    except BadImage:
        raise
    except Image.DecompressionBombError:
        raise BadImage("exceeds the decompression-bomb limit") from None
    except Image.UnidentifiedImageError:
        raise BadImage("not a recognised image format") from None
    except Exception as e:  # PIL raises many types for broken files
        raise BadImage(f"cannot decode: {type(e).__name__}: {str(e)[:120]}") from None
    img = ImageOps.exif_transpose(img) or img
    return to_rgb(_central_strip(img))


def _central_strip(img: Image.Image) -> Image.Image:
    """`img` with its long side cut to MAX_ASPECT times its short side, around the centre. A
    100000x1 strip passed every bomb check and a model's resize of its short side made it a
    1.8 GB image; a resize-and-centre-crop transform (CLIP's) sees the same pixels either way."""
    w, h = img.size
    if w > MAX_ASPECT * h:
        keep = MAX_ASPECT * h
        return img.crop(((w - keep) // 2, 0, (w - keep) // 2 + keep, h))
    if h > MAX_ASPECT * w:
        keep = MAX_ASPECT * w
        return img.crop((0, (h - keep) // 2, w, (h - keep) // 2 + keep))
    return img


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB as its 8-bit equivalent would look: transparency composited
    on white, 16-bit and integer images scaled by their bit depth (not stretched), float
    images read as 0..1 when they fit, LAB / HSV / CMYK / YCbCr converted."""
    if img.mode in ("P", "PA", "LA", "La", "RGBA", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    if img.mode.startswith("I") or img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        hi = float(a.max()) if a.size else 0.0
        if img.mode == "F" and hi <= 1.0:
            scale = 255.0
        elif hi <= 255:
            scale = 1.0
        elif hi <= 65535:
            scale = 1 / 257  # 16 bits -> 8 bits
        else:
            scale = 255.0 / hi
        return Image.fromarray(np.clip(a * scale + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode == "LAB":
        from PIL import ImageCms

        lab2rgb = ImageCms.buildTransformFromOpenProfiles(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        return ImageCms.applyTransform(img, lab2rgb) or img.convert("RGB")
    return img.convert("RGB")
