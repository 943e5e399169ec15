"""GPU image-encoding throughput (needs a CUDA GPU): fp16 ViT-B/16 and ViT-L/14 with random
weights at several batch sizes, (a) on tensors already on the GPU and (b) fed by a torch
DataLoader doing real JPEG decodes + the model's preprocessing.

    python benchmarks/gpu_encode.py --images 2048 --workers 8
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main() -> None:
    import numpy as np
    import open_clip
    import torch
    from PIL import Image

    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--batches", default="32,64,128,256")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs a GPU")
    dev = "cuda"
    tmp = Path(tempfile.mkdtemp(prefix="csd-gpu-"))
    rng = np.random.default_rng(0)
    for i in range(args.images):
        arr = (rng.random((480, 640, 3)) * 255).astype("uint8")
        b = io.BytesIO()
        Image.fromarray(arr).save(b, format="JPEG", quality=90)
        (tmp / f"{i:05d}.jpg").write_bytes(b.getvalue())
    files = sorted(tmp.glob("*.jpg"))
    print(f"GPU {torch.cuda.get_device_name()}; {len(files)} JPEGs 640x480; {args.workers} loader workers")
    for name in ("ViT-B-16", "ViT-L-14"):
        model, _, pre = open_clip.create_model_and_transforms(name, pretrained=None)
        model = model.to(dev).half().eval()

        class DS(torch.utils.data.Dataset):
            def __init__(self, transform) -> None:  # noqa: ANN001
                self.transform = transform

            def __len__(self) -> int:
                return len(files)

            def __getitem__(self, i: int):  # noqa: ANN204
                return self.transform(Image.open(files[i]).convert("RGB"))

        for bs in (int(x) for x in args.batches.split(",")):
            x = torch.randn(bs, 3, 224, 224, device=dev, dtype=torch.float16)
            with torch.inference_mode():
                for _ in range(3):
                    model.encode_image(x)
                torch.cuda.synchronize()
                t = time.perf_counter()
                reps = max(5, 2048 // bs)
                for _ in range(reps):
                    model.encode_image(x)
                torch.cuda.synchronize()
                pure = reps * bs / (time.perf_counter() - t)
                loader = torch.utils.data.DataLoader(
                    DS(), batch_size=bs, num_workers=args.workers, pin_memory=True, persistent_workers=False
                )
                t = time.perf_counter()
                n = 0
                for batch in loader:
                    model.encode_image(batch.to(dev, torch.float16, non_blocking=True))
                    n += len(batch)
                torch.cuda.synchronize()
                fed = n / (time.perf_counter() - t)
            print(
                f"{name:9} batch {bs:4d}  pure GPU {pure:9.1f} img/s   DataLoader+JPEG {fed:8.1f} img/s  "
                f"({fed / pure:.2f} of pure)"
            )


if __name__ == "__main__":
    main()
