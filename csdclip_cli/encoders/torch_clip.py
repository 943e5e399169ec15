"""What the torch CLIP adapters (open_clip, cn_clip) share: a model with `encode_image` and
`encode_text`, run under inference mode in float16 on CUDA and float32 elsewhere, with
L2-normalised float32 outputs. A subclass gives its image transform and tokenizer."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from csdclip_cli.encoders.base import Encoder, l2_normalise


class TorchClipEncoder(Encoder):
    """A torch CLIP model (`encode_image`, `encode_text`) on `device`; `dim` is measured by
    encoding one text, so a subclass sets up its tokenizer before calling this __init__."""

    def __init__(self, model: Any, spec: str, fingerprint: str, device: str, probe: str = "a photo"):
        import torch

        self.spec, self.fingerprint, self.device = spec, fingerprint, device
        self.dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.model = model.eval().to(device=device, dtype=self.dtype)
        self.dim = int(self.encode_texts([probe]).shape[1])

    @abstractmethod
    def tokenize(self, texts: Sequence[str]) -> Any:
        """Texts -> an int64 token tensor [n, context_length] for the model's encode_text."""

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        """float32 [n, 3, h, w] (preprocess()'d) -> float32 [n, dim], L2-normalised."""
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, self.dtype)
            return l2_normalise(self.model.encode_image(x).float().cpu().numpy())

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> float32 [n, dim], L2-normalised, through tokenize()."""
        import torch

        with torch.inference_mode():
            tokens = self.tokenize(texts).to(self.device)
            return l2_normalise(self.model.encode_text(tokens).float().cpu().numpy())
