"""The Encoder protocol every model family implements."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from PIL import Image


class Encoder(ABC):
    """A CLIP-family model: images and texts in, L2-normalised float32 vectors out.

    `preprocess` runs in decode workers (thread pool), so it must be thread-safe and
    return a float32 CHW array; `encode_images` takes a stacked batch of those.
    """

    spec: str  # canonical model spec, stored in every index built with it
    dim: int
    fingerprint: str  # identifies the weights; an index refuses other weights
    context_length: int = 77
    device: str = "cpu"

    @abstractmethod
    def preprocess(self, image: Image.Image) -> np.ndarray:
        """PIL image -> the model's input: float32 CHW [3, h, w], resized and normalised as the model was
        trained. Runs in decode worker threads: must be thread-safe."""

    @abstractmethod
    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        """A stacked batch of `preprocess` outputs, float32 [n, 3, h, w] -> float32 [n, dim], L2-normalised."""

    @abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> float32 [n, dim], L2-normalised; each text is cut to `context_length` tokens."""

    def load_image(self, data: bytes) -> np.ndarray:
        """Decode image bytes into the model's input (first frame, EXIF orientation applied)."""
        from csdclip_cli.sources.decode import decode_image

        return self.preprocess(decode_image(data))


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """`x` as float32 with every vector (last axis) scaled to unit L2 norm; zero vectors stay zero
    (the norm is floored at 1e-12)."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def resolve_device(device: str = "auto") -> str:
    """auto|cpu|cuda|cuda:N|mps -> a torch device string (imports torch)."""
    import torch

    from csdclip_cli.errors import UsageError

    given, device = device, device.strip().lower()  # "CPU" was refused
    mps = getattr(torch.backends, "mps", None)
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if not re.fullmatch(r"cpu|mps|cuda(?::\d+)?", device):  # "cudafoo" and "cuda:x" passed, to fail later
        raise UsageError(f"--device {given!r} is not one of auto, cpu, cuda, cuda:N, mps")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {given}: no CUDA device is available here; use --device cpu or auto")
        if ":" in device and int(device.split(":")[1]) >= torch.cuda.device_count():
            raise UsageError(
                f"--device {given}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                f"numbered from 0; use --device cuda:0 or auto"
            )
    if device == "mps" and not (mps is not None and mps.is_available()):  # it failed after the model loaded
        raise UsageError(f"--device {given}: no Apple MPS device is available here; use --device cpu or auto")
    return device


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Keep library chatter off the user's stdout (cn_clip prints its config; open_clip
    logs a random-init warning and a failed download on the root logger). Chatter goes nowhere unless
    CSD_VERBOSE=1, in which case it goes to stderr."""
    import os

    verbose = os.environ.get("CSD_VERBOSE") == "1"
    sink = sys.stderr if verbose else io.StringIO()
    previous = logging.root.manager.disable
    if not verbose:  # open_clip logs a failed download at ERROR, before csd's own error line
        logging.disable(logging.ERROR)
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        logging.disable(previous)


def cpu_float32_copy(model: Any) -> Any:
    """A float32 CPU copy of a torch model on another device or dtype (ONNX export needs
    the CPU and float32)."""
    import copy

    return copy.deepcopy(model).float().cpu()
