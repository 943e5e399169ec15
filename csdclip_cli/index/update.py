"""Build or update an index from a source and a model spec: the orchestration behind
`csd index build` and `csd index update` (open the source, keep what an existing index was
made with, load the encoder, build locally or sharded on Ray, make it current, export the
text encoder), callable without the CLI."""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from csdclip_cli.index.build import BuildReport

ProgressFactory = Callable[..., AbstractContextManager[Callable[[int, int], None]]]


@contextlib.contextmanager
def no_progress(description: str, unit: str = "img") -> Iterator[Callable[[int, int], None]]:
    """A progress factory that shows nothing (render.progress_bar has the same shape)."""
    yield lambda done, total: None


class _ScannedOnce:
    """A source whose items() and signature() are read once and then repeated: the no-model
    check and the build after it see one listing, its signature taken before it (as a build
    takes them), so a write meanwhile makes the next update rescan."""

    _UNREAD = object()

    def __init__(self, source: Any):
        self._source = source
        self._items: list[Any] | None = None
        self._signature: Any = self._UNREAD
        if hasattr(source, "signature"):
            self.signature = self._signature_once

    def _signature_once(self) -> Any:
        if self._signature is self._UNREAD:
            self._signature = self._source.signature()
        return self._signature

    def items(self) -> Iterator[Any]:
        if self._items is None:
            if hasattr(self._source, "signature"):
                self._signature_once()  # before the listing
            self._items = list(self._source.items())
        return iter(self._items)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


def _same_model(old: Any, model: str, weights: str | Path | None, trust_remote_code: bool) -> bool:
    """Whether an update names the model, weights and trust the index was built with (another
    one must reach the build's compatibility check, which loads it)."""
    given = str(Path(weights).resolve()) if weights else None
    return (
        model == old.build.get("model_input", old.model)
        and given == old.build.get("weights")
        and bool(trust_remote_code) == bool(old.build.get("trust_remote_code"))
    )


def loose_images(folder: Path) -> int:
    """How many image files lie directly in `folder` (by extension; 0 for a file or an unreadable folder)."""
    from csdclip_cli.sources.folder import image_extensions

    try:
        with os.scandir(folder) as entries:
            return sum(1 for e in entries if e.is_file() and Path(e.name).suffix.lower() in image_extensions())
    except OSError:
        return 0


def build_or_update(
    source: str | Path,
    model: str,
    name: str | None = None,
    weights: Path | None = None,
    batch_size: int = 64,
    workers: int = 2,
    device: str = "auto",
    index_dir: Path | None = None,
    wait: bool = False,
    trust_remote_code: bool = False,
    exclude: list[str] | None = None,
    allow_empty: bool = False,
    ann: str | None = None,
    engine: str | None = None,
    shards: int = 0,
    address: str | None = None,
    actors: int | None = None,
    progress: ProgressFactory = no_progress,
    note: Callable[[str], None] = lambda message: None,
) -> tuple[str, BuildReport]:
    """Build or update index `name` (default SOURCE-MODEL, e.g. photos-clip-vit-l-14) from
    `source` with `model`: (the index name, the build report).

    Locally, or sharded (on Ray with engine "ray"); a rebuild keeps the index's exclude globs,
    shard count and engine unless given. Makes the index current when it is the only one or
    none is chosen, and exports the text encoder for torch-free queries. `progress(description)`
    is a context manager yielding update(done, total); `note` receives progress messages.
    Raises UsageError for a bad engine, address or ann kind, and whatever the source, encoder
    or build raise (SourceError, UnknownModel, IndexModelMismatch, ...).
    """
    from csdclip_cli.encoders import load_encoder
    from csdclip_cli.encoders.onnx_text import ensure_text_export
    from csdclip_cli.encoders.spec import absolute_spec
    from csdclip_cli.errors import UsageError
    from csdclip_cli.index.build import build_index
    from csdclip_cli.index.store import IndexStore, default_name, validate_name
    from csdclip_cli.sources import open_source

    model = absolute_spec(model)  # stored for later updates and searches, from any folder

    src = open_source(source, exclude=exclude or ())
    if src.kind == "lmdb":  # found by its data.mdb: image files beside it were left out without a word
        beside = loose_images(Path(source).expanduser())
        if beside:
            note(
                f"{source} holds a CN-CLIP LMDB ({src.location}): it is what is indexed; the {beside:,} "
                "image files beside it are not (index them as a folder of their own)"
            )
    store = IndexStore(index_dir)
    if name is None:
        name = default_name(src.location, model)
        target = os.path.realpath(src.location)
        twin = default_name(target, model)
        if target != src.location and not store.exists(name) and store.exists(twin):
            if store.manifest(twin).source.location == target:  # csd stored a link's target before
                note(
                    f"index {twin!r} indexes {target}, where {src.location} links now; this builds {name!r}, "
                    f"which follows the link (remove the other with `csd index rm {shlex.quote(twin)}`)"
                )
    name = validate_name(name)
    old = store.manifest(name) if store.exists(name) else None
    if exclude is None and old is not None and old.source.exclude:
        # rebuilding without --exclude keeps the globs the index was made with (as update does);
        # an empty list is none (`csd index update X --exclude ''` kept the old ones)
        src = open_source(source, exclude=old.source.exclude)
    if engine not in (None, "local", "ray"):
        raise UsageError(f"--engine {engine!r}: choose local or ray")
    if old is not None and old.build.get("shards"):
        # a sharded index keeps its shard count, and its engine unless --engine says otherwise
        if shards and shards != int(old.build["shards"]):  # refused before the model loads (it was after)
            from csdclip_cli.errors import IndexModelMismatch

            raise IndexModelMismatch(
                f"index {name!r} has {old.build['shards']} shards, not {shards}; keep --shards "
                f"{old.build['shards']} or build another --name"
            )
        shards = shards or int(old.build["shards"])
        engine = engine or old.build.get("engine", "local")
    elif old is not None and engine == "ray":
        raise UsageError(f"index {name!r} is not sharded, so it cannot be built on Ray; pick another --name")
    engine = engine or "local"
    if address is not None and engine != "ray":
        raise UsageError(f"--address {address} is for the Ray engine; add --engine ray (index {name!r} builds locally)")
    if old is not None:  # refused before the model loads (it was after; for a sharded index too)
        from csdclip_cli.index.build import check_same_source

        check_same_source(old, src)
    if not wait:  # refused before the model loads and the progress bar starts
        store.probe_lock(name)
    sharded = old is not None and bool(old.build.get("shards"))
    if (
        old is not None
        and (engine == "local" or (sharded and address is None))  # a cluster named is a cluster tried
        and (not shards or (sharded and shards == int(old.build["shards"])))
        and ann is None
        and _same_model(old, model, weights, trust_remote_code)
    ):
        from csdclip_cli.index.build import unchanged_report
        from csdclip_cli.index.shards import unchanged_sharded_report

        # nothing to do: no model needed, nor Ray (a missing or stale text export is made by the
        # next search); else the build below uses the same scan (of a million files, not listed twice)
        src = _ScannedOnce(src)
        nothing = (unchanged_sharded_report if sharded else unchanged_report)(src, store, name, old)
        if nothing is not None:
            if len(store.names()) == 1 or not (store.root / ".current").exists():
                store.use(name)
            _tell_passed_over(src, note)
            return name, nothing
    note(f"loading {model} ...")
    enc = load_encoder(model, weights=weights, device=device, trust_remote_code=trust_remote_code)
    params = {
        "model_input": model,
        "weights": str(Path(weights).resolve()) if weights else None,
        "batch_size": batch_size,
        "workers": workers,
        "trust_remote_code": trust_remote_code,
    }
    if ann is not None:
        from csdclip_cli.index.ann import check_kind

        params["ann"] = check_kind(ann, installed=True)
    if engine == "ray" and not shards:
        shards = 1
    stream = None
    if engine == "ray":
        from csdclip_cli.index.ray_engine import RayEngine

        note("starting Ray ..." if address is None else f"joining the Ray cluster at {address} ...")
        recipe = {"spec": model, "weights": weights, "device": device, "trust_remote_code": trust_remote_code}
        stream = RayEngine(recipe, address, actors).stream
    with progress(f"indexing {name}") as update:
        kw: dict[str, Any] = {
            "batch_size": batch_size,
            "workers": workers,
            "progress": update,
            "wait": wait,
            "build_params": params,
            "allow_empty": allow_empty,
        }
        if shards:
            from csdclip_cli.index.shards import build_sharded

            rep: BuildReport = build_sharded(src, enc, name, shards, store, engine=engine, stream=stream, **kw)
        else:
            rep = build_index(src, enc, name, store, **kw)
    if len(store.names()) == 1 or not (store.root / ".current").exists():
        store.use(name)
    why = ensure_text_export(enc, store.root)  # queries then embed without torch
    if why:
        note(f"info: {why}")
    _tell_passed_over(src, note)
    return name, rep


def _tell_passed_over(src: Any, note: Callable[[str], None]) -> None:
    """Name the image files of the folder no installed decoder reads (camera RAW, SVG, EPS):
    a folder of .cr2 photos was indexed as empty without a word."""
    passed = getattr(src, "passed_over", None)
    if passed:
        kinds = ", ".join(f"{n:,} {ext}" for ext, n in sorted(passed.items(), key=lambda kv: (-kv[1], kv[0])))
        note(
            f"info: left out {sum(passed.values()):,} image files no installed decoder reads ({kinds}); "
            "convert them to JPEG, PNG or TIFF to index them"
        )
