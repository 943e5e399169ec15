"""Shared fixtures. Every test runs with its own index root, model store, data root and
plan cache, offline, with Rich's width pinned."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

# before anything imports torch / huggingface_hub (they read these at import time)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["COLUMNS"] = "200"
os.environ["TERMINAL_WIDTH"] = "200"
os.environ["_TYPER_FORCE_DISABLE_TERMINAL"] = "1"

from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "yellow": (255, 255, 0)}
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var, sub in (
        ("CSD_INDEXES", "indexes"),
        ("CSD_MODELS", "models"),
        ("CSD_DATA", "data"),
        ("CSD_CACHE", "cache"),
    ):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("CSD_LLM", raising=False)
    monkeypatch.delenv("CSD_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user settings file leaks into a test
    return tmp_path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    from csdclip_cli.cli.app import app

    return runner.invoke(app, list(args), catch_exceptions=False)


def make_colour_folder(root: Path, n: int = 24, seed: int = 0) -> Path:
    """Solid-ish colour images in a nested folder (names say the colour)."""
    rng = random.Random(seed)
    (root / "sub" / "deeper").mkdir(parents=True, exist_ok=True)
    names = list(COLOURS)
    for i in range(n):
        c = names[i % len(names)]
        rgb = tuple(max(0, min(255, v + rng.randint(-30, 30))) for v in COLOURS[c])
        sub = ["", "sub/", "sub/deeper/"][i % 3]
        Image.new("RGB", (24, 24), rgb).save(root / f"{sub}{c}-{i:03d}.png")
    return root


def make_distinct_folder(root: Path, n: int) -> Path:
    """Images of n different colours in nested folders: no two vectors tie, so the top 10 has one
    right order (exact ties rank in row order, and rows differ between sharded and not)."""
    import numpy as np

    rng = np.random.default_rng(1)
    colours = rng.choice(256**3, size=n, replace=False)
    for i, c in enumerate(colours):
        sub = root / ["", "sub", "sub/deeper"][i % 3]
        sub.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (24, 24), (int(c) >> 16, (int(c) >> 8) & 255, int(c) & 255)).save(sub / f"img-{i:03d}.png")
    return root


@pytest.fixture
def colour_folder(tmp_path: Path) -> Path:
    return make_colour_folder(tmp_path / "imgs")


@pytest.fixture(scope="session")
def tiny_openclip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A random-weight open_clip model from a small config, saved as a checkpoint."""
    import open_clip
    import torch

    d = tmp_path_factory.mktemp("tinyclip")
    cfg = d / "tiny-test-clip.json"
    cfg.write_text(json.dumps(TINY_CFG))
    open_clip.add_model_config(cfg)
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-test-clip", pretrained=None)
    ckpt = d / "tiny.pt"
    torch.save({"epoch": 1, "state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, ckpt)
    return cfg, ckpt


def add_entry_point_plugin(monkeypatch: pytest.MonkeyPatch, name: str, register: Any) -> None:
    """Make `register` an entry-point plugin named `name` in group csdclip.encoders, before the
    installed ones, and have the registry load its families afresh (through the real hook)."""
    import importlib.metadata as md
    import sys
    import types

    import csdclip_cli.encoders.registry as registry

    module = types.ModuleType(f"csd_test_plugin_{name}")
    module.register = register  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    real = md.entry_points(group=registry.ENTRY_POINT_GROUP)
    ep = md.EntryPoint(name, f"{module.__name__}:register", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(md, "entry_points", lambda group: [ep, *real])
    for attr, empty in (("_FAMILIES", {}), ("_PLUGIN_ERRORS", {}), ("_ORIGIN", {}), ("_loaded", False)):
        monkeypatch.setattr(registry, attr, empty)
