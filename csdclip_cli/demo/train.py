"""Train the tiny demo CLIP (`demo:tiny`) on the procedural world, on the CPU.

    python -m csdclip_cli.demo.train --steps 1500 --out csdclip_cli/demo/model

Contrastive (CLIP) loss over batches that pair every scene with a one-edit twin (a hard
negative), so the model has to bind colours to things instead of counting pixels.
Deterministic for a seed on one thread. Writes `csd-demo-tiny.json` (open_clip model
config) and `csd-demo-tiny.safetensors` (fp16 weights).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np

from csdclip_cli.demo import world

MODEL_NAME = "csd-demo-tiny"
TRAIN_SEED = 1  # the world seed for training scenes; the gallery uses another seed

MODEL_CFG = {
    "embed_dim": 128,
    "quick_gelu": False,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 24, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 3},
}
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def _render_pairs(n: int, seed: int) -> tuple[list[world.Scene], list[world.Scene], np.ndarray]:
    rng = random.Random(seed)
    scenes, twins, pixels = [], [], np.empty((2 * n, world.SIZE, world.SIZE, 3), np.uint8)
    for i in range(n):
        s = world.sample_scene(i, seed)
        t = world.twin_of(s, rng)
        scenes.append(s)
        twins.append(t)
        pixels[2 * i] = np.asarray(world.render(s))
        pixels[2 * i + 1] = np.asarray(world.render(t))
    return scenes, twins, pixels


def _to_tensor(pixels: np.ndarray):  # noqa: ANN202 - torch is imported lazily
    import torch

    x = (pixels.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def single_kind_precision(model, tokenizer, pixels: np.ndarray, scenes: list[world.Scene], k: int = 10) -> float:  # noqa: ANN001
    """Mean P@k over 'a KIND' and 'a COLOUR KIND' queries on held-out scenes."""
    import torch

    queries: list[tuple[str, str | None]] = [(kd, None) for kd in world.KINDS if kd != "sun"]
    queries += [("car", "red"), ("house", "blue"), ("balloon", "yellow"), ("dog", "white")]
    texts = [world.thing_phrase(world.Thing(kd, c)) for kd, c in queries]
    with torch.no_grad():
        fi = model.encode_image(_to_tensor(pixels), normalize=True)
        ft = model.encode_text(tokenizer(texts), normalize=True)
    sims = (ft @ fi.T).numpy()
    precs = []
    for (kd, c), row in zip(queries, sims):
        top = np.argsort(-row)[:k]
        precs.append(np.mean([scenes[i].has(kd, c) for i in top]))
    return float(np.mean(precs))


def train(steps: int, batch: int, out: Path, seed: int = 0, n_scenes: int = 24000, lr: float = 2e-3) -> dict:
    """Train demo:tiny from scratch: `steps` AdamW steps (linear warm-up over the first 5%, then cosine
    decay from `lr`), each on `batch` images (batch // 2 of the `n_scenes` training scenes, each with
    its one-edit twin, freshly captioned), symmetric CLIP loss under bfloat16 autocast. Prints the
    loss and held-out P@10 every 100 steps; writes the open_clip config, the fp16 weights and
    training.json to `out`. Returns the training.json dict."""
    import open_clip
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    random.seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / f"{MODEL_NAME}.json"
    cfg_path.write_text(json.dumps(MODEL_CFG, indent=2) + "\n")
    open_clip.add_model_config(cfg_path)
    from csdclip_cli.encoders.base import quiet_libraries

    with quiet_libraries():  # open_clip's "No pretrained weights loaded" warning reached the user's terminal
        model = open_clip.create_model(MODEL_NAME, pretrained=None)
    tokenizer = open_clip.get_tokenizer(MODEL_NAME)
    n_params = sum(p.numel() for p in model.parameters())

    t0 = time.time()
    scenes, twins, pixels = _render_pairs(n_scenes, TRAIN_SEED)
    held = [world.sample_scene(i, 99) for i in range(600)]
    held_px = np.stack([np.asarray(world.render(s)) for s in held])
    print(f"rendered {2 * n_scenes} training images in {time.time() - t0:.1f}s; model {n_params / 1e6:.2f} M params")

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.1, betas=(0.9, 0.98))
    warm = max(1, steps // 20)
    rng = random.Random(seed)
    half = batch // 2
    t0 = time.time()
    for step in range(steps):
        f = (step + 1) / warm if step < warm else 0.5 * (1 + math.cos(math.pi * (step - warm) / (steps - warm)))
        for g in opt.param_groups:
            g["lr"] = lr * f
        idx = rng.sample(range(n_scenes), half)
        rows = [r for i in idx for r in (2 * i, 2 * i + 1)]
        recs = [s for i in idx for s in (scenes[i], twins[i])]
        images = _to_tensor(pixels[rows])
        texts = tokenizer([world.caption(s, rng) for s in recs])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fi, ft, scale = model(images, texts)
        logits = scale.float() * fi.float() @ ft.float().T
        labels = torch.arange(len(rows))
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % 100 == 0 or step == steps - 1:
            model.eval()
            p10 = single_kind_precision(model, tokenizer, held_px, held)
            model.train()
            print(f"step {step:5d}  loss {loss.item():.3f}  P@10 {p10:.3f}  {time.time() - t0:.0f}s", flush=True)

    model.eval()
    weights = out / f"{MODEL_NAME}.safetensors"
    save_file({k: v.detach().half().contiguous() for k, v in model.state_dict().items()}, str(weights))
    info = {
        "steps": steps,
        "batch": batch,
        "seed": seed,
        "train_scenes": 2 * n_scenes,
        "seconds": round(time.time() - t0, 1),
        "params": n_params,
        "bytes": weights.stat().st_size,
        "held_out_p10": single_kind_precision(model, tokenizer, held_px, held),
    }
    (out / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))
    return info


def main() -> None:
    """Command line (see the module docstring): train with CSD_TRAIN_THREADS torch threads (default 1)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--scenes", type=int, default=24000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "model")
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(int(os.environ.get("CSD_TRAIN_THREADS", "1")))
    train(args.steps, args.batch, args.out, args.seed, args.scenes)


if __name__ == "__main__":
    main()
