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
    ap.add_argument("--models", default="ViT-B-16,ViT-L-14")
    ap.add_argument("--device", default="cuda", help="cuda (fp16); cpu runs fp32, only to smoke-test the script")
    args = ap.parse_args()
    dev = args.device
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark needs a GPU (or --device cpu for a smoke run)")
    dtype = torch.float16 if dev.startswith("cuda") else torch.float32
    sync = torch.cuda.synchronize if dev.startswith("cuda") else (lambda: None)
    tmp = Path(tempfile.mkdtemp(prefix="csd-gpu-"))
    rng = np.random.default_rng(0)
    for i in range(args.images):
        arr = (rng.random((480, 640, 3)) * 255).astype("uint8")
        b = io.BytesIO()
        Image.fromarray(arr).save(b, format="JPEG", quality=90)
        (tmp / f"{i:05d}.jpg").write_bytes(b.getvalue())
    files = sorted(tmp.glob("*.jpg"))
    gpu = torch.cuda.get_device_name() if dev.startswith("cuda") else "cpu"
    print(f"device {gpu}; {len(files)} JPEGs 640x480; {args.workers} loader workers; {dtype}")
    for name in args.models.split(","):
        model, _, pre = open_clip.create_model_and_transforms(name, pretrained=None)
        model = model.to(dev, dtype).eval()

        class DS(torch.utils.data.Dataset):
            def __init__(self, transform) -> None:
                self.transform = transform

            def __len__(self) -> int:
                return len(files)

            def __getitem__(self, i: int):
                return self.transform(Image.open(files[i]).convert("RGB"))

        for bs in (int(x) for x in args.batches.split(",")):
            x = torch.randn(bs, 3, 224, 224, device=dev, dtype=dtype)
            with torch.inference_mode():
                for _ in range(3):
                    model.encode_image(x)
                sync()
                t = time.perf_counter()
                reps = max(5, 2048 // bs) if dev.startswith("cuda") else 2
                for _ in range(reps):
                    model.encode_image(x)
                sync()
                pure = reps * bs / (time.perf_counter() - t)
                loader = torch.utils.data.DataLoader(
                    DS(pre),
                    batch_size=bs,
                    num_workers=args.workers,
                    pin_memory=dev.startswith("cuda"),
                    persistent_workers=False,
                )
                t = time.perf_counter()
                n = 0
                for batch in loader:
                    model.encode_image(batch.to(dev, dtype, non_blocking=True))
                    n += len(batch)
                sync()
                fed = n / (time.perf_counter() - t)
            print(
                f"{name:9} batch {bs:4d}  pure GPU {pure:9.1f} img/s   DataLoader+JPEG {fed:8.1f} img/s  "
                f"({fed / pure:.2f} of pure)"
            )


if __name__ == "__main__":
    main()
