"""Where should a clause "pass"? Precision and recall of `z >= pass_z` for single facts on the
demo gallery, against the scene records (the ground truth the images were drawn from), for a
range of thresholds: micro-averaged (every fact-image pair pooled) and macro-averaged (the
mean over facts), with the F1 optimum of each.

Facts: every kind ("a car"), every colour-kind pair present in at least 5 images ("a red
car"), every background ("on the grass"); z is the calibrated score composite search uses
(csdclip_cli.search.composite.calibration over the index's stored sample).

    python benchmarks/pass_threshold.py
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from csdclip_cli.demo import run as demo
from csdclip_cli.demo.world import BACKGROUND_PHRASES, Scene, Thing, thing_phrase
from csdclip_cli.search.composite import CompositeConfig, calibration
from csdclip_cli.search.searcher import Searcher

THRESHOLDS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5]


def facts(scenes: dict[str, Scene]) -> dict[str, set[str]]:
    """Fact text -> the image keys that hold it."""
    out: dict[str, set[str]] = {}
    for key, s in scenes.items():
        for t in s.things:
            out.setdefault(thing_phrase(Thing(t.kind)), set()).add(key)
            if t.color:
                out.setdefault(thing_phrase(t), set()).add(key)
        out.setdefault(BACKGROUND_PHRASES[s.background][0], set()).add(key)
    return {f: keys for f, keys in out.items() if len(keys) >= 5}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="data")
    args = ap.parse_args()
    root = demo.ensure_data(Path(args.data_dir) / "demo")
    store, enc, rep = demo.build_demo_index(root, None)
    s = Searcher.open(rep.name, index_dir=store.root, encoder=enc)
    scenes = {}
    for line in (root / "scenes.jsonl").read_text().splitlines():
        d = json.loads(line)
        scenes[d["image_id"] + ".png"] = Scene.from_dict(d)
    truth = facts(scenes)
    texts = sorted(truth)
    vecs = enc.encode_texts(texts)
    rows = np.flatnonzero(s.gallery.alive)
    keys = [s.gallery.gen.rows_for([int(r)])[int(r)][0] for r in rows]
    mu, sigma = calibration(s.gallery, vecs)
    z = (s.gallery.scores(rows, vecs) - mu) / sigma  # [images, facts]
    held = np.array([[k in truth[f] for f in texts] for k in keys])
    print(
        f"demo gallery: {len(keys)} images, {len(texts)} facts ({held.sum()} fact-image pairs hold); "
        f"pass_z now {CompositeConfig().pass_z}"
    )
    print(f"{'pass_z':>7} {'micro P':>8} {'micro R':>8} {'micro F1':>9} {'macro P':>8} {'macro R':>8} {'macro F1':>9}")
    best: dict[str, tuple[float, float]] = {}
    for t in THRESHOLDS:
        passed = z >= t
        tp = (passed & held).sum()
        micro_p, micro_r = tp / max(passed.sum(), 1), tp / held.sum()
        per_p = [
            (passed[:, j] & held[:, j]).sum() / passed[:, j].sum() for j in range(len(texts)) if passed[:, j].any()
        ]
        per_r = [(passed[:, j] & held[:, j]).sum() / held[:, j].sum() for j in range(len(texts))]
        macro_p, macro_r = float(np.mean(per_p)), float(np.mean(per_r))
        f1 = {
            "micro": 2 * micro_p * micro_r / (micro_p + micro_r),
            "macro": 2 * macro_p * macro_r / (macro_p + macro_r),
        }
        for avg, v in f1.items():
            if v > best.get(avg, (0.0, -1.0))[1]:
                best[avg] = (t, v)
        print(
            f"{t:7.2f} {micro_p:8.3f} {micro_r:8.3f} {f1['micro']:9.3f} {macro_p:8.3f} {macro_r:8.3f} {f1['macro']:9.3f}"
        )
    for avg, (t, v) in best.items():
        print(f"F1 optimum ({avg}-averaged): pass_z {t} (F1 {v:.3f})")


if __name__ == "__main__":
    main()
