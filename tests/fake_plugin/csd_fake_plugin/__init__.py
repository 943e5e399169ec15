"""A deterministic fake encoder, registered through csd's entry point like any plugin.

Image vectors come from the image's mean colour; a text that names a colour ("red",
"#ff0000") maps to that colour's vector, so a solid red image is the best match for
"red" with cosine 1. Other texts hash to fixed pseudo-random vectors.
"""

from __future__ import annotations

import hashlib

import numpy as np

DIM = 16
COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "white": (1.0, 1.0, 1.0),
    "black": (0.0, 0.0, 0.0),
    "purple": (0.5, 0.0, 0.5),
    "orange": (1.0, 0.5, 0.0),
}
CALLS = {"images": 0, "texts": 0}


def feature(rgb: np.ndarray) -> np.ndarray:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    parts = [
        r,
        g,
        b,
        1 - r,
        1 - g,
        1 - b,
        r * g,
        g * b,
        r * b,
        (1 - r) * (1 - g),
        (1 - g) * (1 - b),
        (1 - r) * (1 - b),
        r * r,
        g * g,
        b * b,
        np.full_like(r, 0.1),
    ]
    v = np.stack(parts, -1).astype(np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


class FakeEncoder:
    dim = DIM
    context_length = 77
    device = "cpu"

    def __init__(self, spec: str):
        self.spec = spec
        self.fingerprint = "fake:" + hashlib.sha256(spec.encode()).hexdigest()[:8]

    def preprocess(self, image) -> np.ndarray:
        small = np.asarray(image.convert("RGB").resize((8, 8)), dtype=np.float32) / 255.0
        return small.reshape(-1, 3).mean(0)

    def load_image(self, data: bytes) -> np.ndarray:
        import io

        from PIL import Image

        return self.preprocess(Image.open(io.BytesIO(data)))

    delay = 0.0  # seconds per batch (fake:slow), so tests can interrupt a build

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        if self.delay:
            import time

            time.sleep(self.delay)
        CALLS["images"] += len(batch)
        return feature(np.asarray(batch, dtype=np.float32))

    def encode_texts(self, texts) -> np.ndarray:
        CALLS["texts"] += len(texts)
        out = []
        for t in texts:
            t = t.strip().lower()
            if t in COLOURS:
                out.append(feature(np.array(COLOURS[t], np.float32)))
            elif t.startswith("#") and len(t) == 7:
                rgb = np.array([int(t[i : i + 2], 16) for i in (1, 3, 5)], np.float32) / 255.0
                out.append(feature(rgb))
            else:
                seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
                v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
                out.append(v / np.linalg.norm(v))
        return np.stack(out)


def load_fake(spec, opts):
    enc = FakeEncoder(f"fake:{spec.name}")
    if spec.name == "slow":
        enc.delay = 0.05
        enc.fingerprint = FakeEncoder("fake:colour").fingerprint
    return enc


def register_encoders(register) -> None:
    from csdclip_cli.encoders import Family

    register(Family("fake", load_fake, "deterministic colour encoder (test plugin)", ("fake:colour",)))
