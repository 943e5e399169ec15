"""Indexing on Ray (`csd index build ... --engine ray`): Ray Data reads the images to encode,
decodes them in CPU tasks and encodes them in an actor pool (one GPU an actor when the
cluster has GPUs); the driver commits each encoded batch to the shard's journal, so the index
files are written exactly as a local build writes them (index.build, index.shards).

Workers re-open the source from its location (folder, CN-CLIP LMDB or WebDataset shards on a
file system every node sees) and load the encoder from its spec, so neither is pickled. A
worker that dies is replaced by Ray and its block retried; if the whole job fails, the
batches already committed stay in the journals and a re-run encodes only the rest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from csdclip_cli.encoders.base import Encoder
from csdclip_cli.errors import CsdError
from csdclip_cli.index.build import Batches, model_input, read_image
from csdclip_cli.sources.base import Item, Source


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise CsdError("--engine ray needs Ray: pip install 'csdclip-cli[ray]' (ray[data])") from None
    return ray


def connect(address: str | None = None, num_cpus: int | None = None) -> Any:
    """The `ray` module, initialised: joined to the cluster at `address` ("auto" for the one
    `ray start` made here), or a local one-machine cluster. Raises CsdError when it cannot."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    if address:
        _check_reachable(address)
    # offline and quiet: no usage report, no metrics agent to fail to reach, no device override
    for var, value in (
        ("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0"),
        ("RAY_USAGE_STATS_ENABLED", "0"),
        ("RAY_enable_metrics_collection", "0"),
    ):
        os.environ.setdefault(var, value)
    kw: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False, "configure_logging": False}
    try:
        if address:
            ray.init(address=address, **kw)
        else:
            # "local": a new cluster of our own, even when `ray start` left one on this machine
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, **kw)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        raise CsdError(f"cannot start or join {where}: {str(e).splitlines()[0][:200]}") from None
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # csd draws its own bar
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # advice on object-store sizing
    return ray


def _check_reachable(address: str) -> None:
    """CsdError unless something listens at HOST:PORT (ray.init retries an address that does
    not answer for minutes). "auto" and ray:// client addresses are left to Ray."""
    import socket

    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
    except (OSError, ValueError):
        raise CsdError(
            f"--address {address}: no Ray cluster answers there; start one with `ray start --head`, "
            "or leave --address out to use a local one"
        ) from None


_SOURCES: dict[tuple[str, tuple[str, ...]], Source] = {}


def _decode(batch: dict[str, np.ndarray], location: str, exclude: tuple[str, ...]) -> dict[str, Any]:
    """CPU task: image bytes -> RGB uint8 arrays [h, w, 3] (an empty one and the reason for a
    file that cannot be decoded)."""
    from csdclip_cli.sources import open_source

    src = _SOURCES.get((location, exclude))
    if src is None:
        src = _SOURCES[(location, exclude)] = open_source(location, exclude=exclude)
    pixels, errors = [], []
    for key in batch["key"]:
        image = read_image(src, str(key))
        if isinstance(image, str):
            pixels.append(np.zeros((0, 0, 3), np.uint8))
            errors.append(image)
        else:
            pixels.append(np.asarray(image, dtype=np.uint8))
            errors.append("")
    return {"key": batch["key"], "pixels": pixels, "error": np.asarray(errors, dtype=object)}


class _Encode:
    """Actor: loads the encoder once, then preprocesses and encodes batches of decoded images."""

    def __init__(self, recipe: dict[str, Any]):
        from csdclip_cli.encoders import load_encoder

        self.encoder = load_encoder(**recipe)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        from PIL import Image

        errors = [str(e) for e in batch["error"]]
        inputs: list[np.ndarray] = []
        ok: list[int] = []
        for i, (px, why) in enumerate(zip(batch["pixels"], errors)):
            if why:
                continue
            x = model_input(self.encoder, Image.fromarray(np.asarray(px, dtype=np.uint8), "RGB"))
            if isinstance(x, str):
                errors[i] = x
            else:
                inputs.append(x)
                ok.append(i)
        vectors = np.zeros((len(errors), self.encoder.dim), np.float32)
        if inputs:
            from csdclip_cli.encoders.checked import image_batch, image_vectors

            vectors[ok], unusable = image_vectors(self.encoder, image_batch(self.encoder, inputs))
            for j, why in unusable.items():  # NaN or zero rows: skipped images, as in a local build
                errors[ok[j]] = why
        return {"key": batch["key"], "vector": vectors, "error": np.asarray(errors, dtype=object)}


class RayEngine:
    """Encodes with Ray Data. `recipe`: load_encoder's arguments (spec, weights, device,
    trust_remote_code) for the actors; `actors`: pool size (default: one a GPU, else 1)."""

    def __init__(self, recipe: dict[str, Any], address: str | None = None, actors: int | None = None):
        self.recipe = dict(recipe)
        self.address = address
        self.ray = connect(address)
        gpus = int(self.ray.cluster_resources().get("GPU", 0))
        self.gpus_per_actor = 1 if gpus else 0
        self.actors = actors or max(1, gpus)
        if gpus:
            self.recipe["device"] = "cuda"
        elif self.recipe.get("device") not in (None, "auto", "cpu"):
            self.recipe["device"] = "cpu"

    def stream(self, source: Source, encoder: Encoder, items: list[Item], batch_size: int, workers: int) -> Batches:
        """build_index's stream: (encoded items, vectors float32 [n, d], skipped items with reasons)
        per batch, in the order Ray finishes them."""
        if not items:
            return
        ray = self.ray
        by_key = {it.key: it for it in items}
        inner = getattr(source, "inner", source)
        location, exclude = inner.location, tuple(getattr(inner, "exclude", ()))
        ds = ray.data.from_items(
            [{"key": it.key} for it in items], override_num_blocks=max(1, len(items) // batch_size)
        )
        ds = ds.map_batches(
            _decode, fn_kwargs={"location": location, "exclude": exclude}, batch_size=batch_size, max_retries=-1
        )
        ds = ds.map_batches(
            _Encode,
            fn_constructor_kwargs={"recipe": self.recipe},
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=self.actors),
            num_gpus=self.gpus_per_actor,
            max_restarts=-1,
            max_task_retries=-1,
        )
        yield from self._batches(ds, by_key)

    @staticmethod
    def _batches(ds: Any, by_key: dict[str, Item]) -> Iterator[tuple[list[Item], np.ndarray, list[tuple[Item, str]]]]:
        for b in ds.iter_batches(batch_size=None, batch_format="numpy"):
            keys = [str(k) for k in b["key"]]
            errors = [str(e) for e in b["error"]]
            good = [i for i, e in enumerate(errors) if not e]
            yield (
                [by_key[keys[i]] for i in good],
                np.asarray(b["vector"], dtype=np.float32)[good],
                [(by_key[keys[i]], errors[i]) for i, e in enumerate(errors) if e],
            )
