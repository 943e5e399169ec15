"""csd index ..."""

from __future__ import annotations

import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from csdclip_cli.cli.common import Device, IndexDir, check_device, guard, new_app

app = new_app("Build and manage per-model indexes of image folders and CN-CLIP LMDBs.")
Exclude = typer.Option(
    None,
    "--exclude",
    "-x",
    help="Glob of paths or names to leave out, e.g. 'raw/*' or 'drafts' (repeatable; '' clears the remembered ones).",
)
AllowEmpty = typer.Option(
    False, "--allow-empty", help="Accept a source that now has no images (drops every vector of the index)."
)


def _globs(exclude: list[str] | None) -> list[str] | None:
    """--exclude's globs without empty ones (`--exclude ''` alone: none, clearing the remembered
    globs); None when the option was not given (the index keeps its globs)."""
    return [g for g in exclude if g.strip()] if exclude is not None else None


def build_source(source: str | Path, model: str, **options: Any) -> str:
    """`csd index build` / `update`: index.update.build_or_update(source, model, **options) with
    a progress bar, then its report on stderr; returns the index name."""
    from rich.markup import escape

    from csdclip_cli.index.update import build_or_update
    from csdclip_cli.render import err, note, progress_bar, warn

    try:
        name, rep = build_or_update(source, model, progress=progress_bar, note=note, **options)
    except KeyboardInterrupt:
        print("interrupted; the images encoded so far are kept: run the same command to resume", file=sys.stderr)
        raise typer.Exit(130) from None
    indexed = rep.total - rep.skipped  # the images the index holds: the unreadable files are not among them
    msg = (
        # resumed images were encoded by the interrupted run: neither encoded now nor unchanged
        f"[bold]{escape(name)}[/]: {indexed} image{'' if indexed == 1 else 's'} (encoded {rep.encoded}, "
        f"unchanged {max(0, indexed - rep.encoded - rep.resumed)}, "
        f"removed {rep.removed})"
    )
    if rep.resumed:
        msg += f", resumed {rep.resumed} from an interrupted run"
    if rep.encoded:
        msg += f" ({rep.images_per_second:.1f} images/s)"
    err().print(msg)
    if rep.skipped:
        files = "1 file" if rep.skipped == 1 else f"{rep.skipped} files"
        err().print(
            f"[yellow]{files} could not be read or encoded; see `csd index info {escape(shlex.quote(name))} --errors`[/]"
        )
    if not indexed and rep.errors:  # "check the path" sent a user whose plugin failed on every image astray
        first = min(rep.errors, key=lambda e: e["key"])
        warn(f"index {name!r} is empty: no image of {source} could be indexed (e.g. {first['key']}: {first['error']})")
    elif not indexed:
        warn(f"{source} holds no images the index could read: index {name!r} is empty (check the path and --exclude)")
    return name


@app.command("build")
@guard
def build(
    source: str = typer.Argument(..., help="Image folder or CN-CLIP LMDB directory."),
    model: str = typer.Option(..., "--model", "-m", help="Model spec, e.g. clip:ViT-L/14, demo:tiny."),
    name: str | None = typer.Option(None, "--name", "-n", help="Index name (default: SOURCE-MODEL)."),
    weights: Path | None = typer.Option(None, "--weights", help="Checkpoint file (custom or local weights)."),
    batch_size: int = typer.Option(64, "--batch-size", "-b", min=1),
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Decode threads."),
    device: str = Device,
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow hf: models' own code."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another writer instead of refusing."),
    exclude: list[str] | None = Exclude,
    allow_empty: bool = AllowEmpty,
    ann: str | None = typer.Option(
        None,
        "--ann",
        help="Candidate index above 20,000 images: hnswlib (default) | faiss-ivf-sq8 | faiss-ivf-sq4 | faiss-ivf-pq (see docs/scale.md).",
    ),
    engine: str | None = typer.Option(
        None,
        "--engine",
        help="local (this process, the default) | ray (Ray Data: decode tasks, encode actors; see docs/scale.md). "
        "A sharded index remembers its engine.",
    ),
    shards: int = typer.Option(
        0,
        "--shards",
        min=0,
        help="Split the index by key hash into N shards (default: 1 with --engine ray, else none).",
    ),
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster to join (e.g. auto, or HOST:PORT); default: a local one."
    ),
    actors: int | None = typer.Option(
        None, "--actors", min=1, help="Encoder actors on Ray (default: one a GPU, else 1)."
    ),
    index_dir: Path | None = IndexDir,
) -> None:
    """Create an index, or bring it up to date (only new and changed images are encoded).

    Junk folders (@eaDir, .thumbnails and other hidden folders, __MACOSX, #recycle, ...) are
    skipped; --exclude adds globs and is remembered by `csd index update`.

    Example: [bold]csd index build ./imgs --model clip:ViT-L/14 --exclude 'raw/*'[/]
    """
    if ann is not None:  # before the model loads (seconds), not after
        from csdclip_cli.index.ann import check_kind

        check_kind(ann, installed=True)
    check_device(device)  # before the scan, and for an encoder (a plugin's) that ignores it
    build_source(
        source,
        model,
        name=name,
        weights=weights,
        batch_size=batch_size,
        workers=workers,
        device=device,
        index_dir=index_dir,
        wait=wait,
        trust_remote_code=trust_remote_code,
        exclude=_globs(exclude),
        allow_empty=allow_empty,
        ann=ann,
        engine=engine,
        shards=shards,
        address=address,
        actors=actors,
    )


@app.command("update")
@guard
def update(
    name: str | None = typer.Argument(None, help="Index name (default: the current index)."),
    batch_size: int = typer.Option(64, "--batch-size", "-b", min=1),
    workers: int = typer.Option(2, "--workers", "-w", min=1),
    device: str = Device,
    wait: bool = typer.Option(False, "--wait", help="Wait for a running build of the index instead of refusing."),
    exclude: list[str] | None = typer.Option(
        None,
        "--exclude",
        "-x",
        help="Glob to leave out (repeatable); replaces the globs the index was built with ('' clears them).",
    ),
    allow_empty: bool = AllowEmpty,
    address: str | None = typer.Option(None, "--address", help="Ray cluster for an index built with --engine ray."),
    weights: Path | None = typer.Option(
        None, "--weights", help="Where the index's weights file is now, if it moved (the same weights: checked)."
    ),
    index_dir: Path | None = IndexDir,
) -> None:
    """Re-scan an index's source: add new and changed images, drop deleted ones (a sharded
    index updates each shard, with the engine it was built with).

    Example: [bold]csd index update photos-clip-vit-l-14[/]
    """
    from csdclip_cli.index import IndexStore

    check_device(device)
    store = IndexStore(index_dir)
    m = store.manifest(store.current() if name is None else name)
    if m.source.subset:
        from csdclip_cli.errors import UsageError

        raise UsageError(f"index {m.name!r} holds a dataset split's gallery ({m.source.subset}); `csd eval` updates it")
    from csdclip_cli.errors import SourceError, UsageError

    if not Path(m.source.location).expanduser().exists():
        raise SourceError(
            f"the source of index {m.name!r}, {m.source.location}, does not exist (a drive unmounted, or the folder "
            "moved?); mount or restore it, or build an index from where it is now: csd index build PATH"
        )
    w = str(weights) if weights else m.build.get("weights")
    if w and not Path(w).expanduser().exists():
        hint = (
            "check the path"
            if weights
            else f"pass its new place: csd index update {shlex.quote(m.name)} --weights FILE"
        )
        raise UsageError(f"the weights of index {m.name!r}, {w}, are not there; {hint}")
    spec = str(m.build.get("model_input", m.model))
    config = spec.split(":", 1)[1] if spec.startswith("openclip:") and spec.endswith(".json") else ""
    if config and not Path(config).expanduser().exists():  # `--weights` was advised, then the config failed
        raise UsageError(
            f"the model config of index {m.name!r}, {config}, is not there (moved?); update cannot take a new "
            f"one: build it again, csd index build {shlex.quote(m.source.location)} --model openclip:NEW.json "
            f"--weights FILE --name {shlex.quote(m.name)}"
        )
    build_source(
        m.source.location,
        m.build.get("model_input", m.model),
        name=m.name,
        weights=Path(w) if w else None,
        batch_size=batch_size,
        workers=workers,
        device=device,
        index_dir=index_dir,
        wait=wait,
        trust_remote_code=bool(m.build.get("trust_remote_code")),
        exclude=_globs(exclude) if exclude is not None else list(m.source.exclude),  # given: they replace
        allow_empty=allow_empty,
        address=address,
    )


@app.command("list")
@guard
def list_(index_dir: Path | None = IndexDir) -> None:
    """List indexes: name, model, source, images, dim, size on disk, updated.

    Example: [bold]csd index list[/]
    """
    from rich.markup import escape
    from rich.table import Table

    from csdclip_cli.errors import IndexFormatError
    from csdclip_cli.index.store import IndexStore
    from csdclip_cli.render import human_bytes, note, out, when

    store = IndexStore(index_dir)
    names = store.names()
    for n in store.unfinished():
        note(store.unfinished_note(n))
    if not names:
        note(f"no indexes in {store.root}; build one with `csd index build FOLDER --model SPEC`")
        return
    try:
        cur = store.current()
    except Exception:
        cur = None
    t = Table(show_edge=False)
    for col in ("", "name", "model", "source", "images", "dim", "size", "updated"):
        t.add_column(col, justify="right" if col in ("images", "dim", "size") else "left")
    for n in names:
        try:
            m = store.manifest(n)
        except IndexFormatError:  # one broken index must not hide the others
            t.add_row(
                "", escape(n), "[red]manifest unreadable[/]", f"csd index rm {escape(shlex.quote(n))}", "", "", "", ""
            )
            continue
        shards = m.build.get("shards")
        t.add_row(
            "*" if n == cur else "",
            escape(n) + (f" ({shards} shards)" if shards else ""),  # they looked like any other
            escape(m.model),
            escape(m.source.location),
            f"{m.count:,}",
            str(m.dim),
            human_bytes(store.size_on_disk(n)),
            when(m.updated),
        )
    out().print(t)


@app.command("info")
@guard
def info(
    name: str | None = typer.Argument(None, help="Index name (default: the current index)."),
    errors: bool = typer.Option(False, "--errors", help="List the files that could not be indexed."),
    index_dir: Path | None = IndexDir,
) -> None:
    """Show an index's manifest (model, fingerprint, counts, build parameters).

    Example: [bold]csd index info photos-clip-vit-l-14 --errors[/]
    """
    import json

    from csdclip_cli.index.store import IndexStore, ShardedGeneration
    from csdclip_cli.render import human_bytes, out

    store = IndexStore(index_dir)
    m, gen = store.open(name)
    o = out()
    if errors:
        errs = gen.errors()
        for e in errs:
            print(f"{e['key']}\t{e['error']}")  # tab-separated, for scripts
        if not errs:
            o.print("no files were skipped")
        return
    d = m.to_json()
    for stamp in ("created", "updated"):  # seconds since 1970 read as a float: ISO 8601, with the UTC offset
        if isinstance(d.get(stamp), (int, float)):
            d[stamp] = datetime.fromtimestamp(d[stamp]).astimezone().isoformat(timespec="seconds")
    d["size_on_disk"] = human_bytes(store.size_on_disk(m.name))
    if isinstance(gen, ShardedGeneration):
        kinds = {g.ann.kind if g.ann is not None else "exact" for _, g in gen.shards}
        d["search"] = f"{m.build['shards']} shards: {', '.join(sorted(kinds))}"
    else:
        d["search"] = gen.ann.kind if gen.ann is not None else "exact"
    o.print_json(json.dumps(d))


@app.command("rm")
@guard
def rm(
    name: str = typer.Argument(..., help="Index name."),
    wait: bool = typer.Option(False, "--wait", help="Wait for a running build instead of refusing."),
    index_dir: Path | None = IndexDir,
) -> None:
    """Remove an index (its folder, vectors and graph).

    Example: [bold]csd index rm old-index[/]
    """
    from csdclip_cli.index.store import IndexStore
    from csdclip_cli.render import note

    IndexStore(index_dir).remove(name, wait=wait)
    note(f"removed {name}")


@app.command("use")
@guard
def use(name: str = typer.Argument(..., help="Index name."), index_dir: Path | None = IndexDir) -> None:
    """Make NAME the current index (the one `csd search` uses by default).

    Example: [bold]csd index use photos-clip-vit-l-14[/]
    """
    from csdclip_cli.index.store import IndexStore
    from csdclip_cli.render import note

    IndexStore(index_dir).use(name)
    note(f"current index: {name}")
