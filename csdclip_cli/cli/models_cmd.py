"""csd models ..."""

from __future__ import annotations

from pathlib import Path

import typer

from csdclip_cli.cli.common import guard, new_app

app = new_app("Model families and which weights are present locally.")


@app.command("list")
@guard
def list_(
    models_dir: Path | None = typer.Option(
        None, "--models-dir", envvar="CSD_MODELS", help="Local model store (default ./models)."
    ),
) -> None:
    """Show the known model families, example specs, and local weights.

    Example: [bold]csd models list[/]
    """
    from rich.markup import escape
    from rich.table import Table

    from csdclip_cli import config
    from csdclip_cli.encoders import ModelSpec, families, plugin_errors
    from csdclip_cli.render import out, warn

    store = config.models_dir(models_dir)
    t = Table(show_edge=False)
    for c in ("family", "specs", "description", "local weights"):
        t.add_column(c)
    named: set[Path] = set()
    for name, fam in sorted(families().items()):
        found = []
        for ex in fam.examples:
            spec = ModelSpec.parse(ex.split()[0])
            files = [store / f for f in fam.local_files(spec)]  # f may be absolute
            named.update(files)
            states = [(f, *_state(f)) for f in files]
            good = [f"{f.name} ({what})" for f, kind, what in states if kind == "ok"]
            bad = [f"{f.name} {what}" for f, kind, what in states if kind == "bad"]
            empty = [f.name for f, kind, _ in states if kind == "empty"]
            state = (
                "[green]" + ", ".join(good) + "[/]"
                if good
                else f"[red]{escape('; '.join(bad))}[/]"
                if bad
                else f"[red]empty: {', '.join(empty)}[/]"
                if empty
                else "[dim]missing[/]"
                if files
                else "[dim]no files listed[/]"
            )
            found.append(f"{ex.split()[0]}: {state}")
        t.add_row(name, "\n".join(fam.examples), fam.description, "\n".join(found))
    out().print(t)
    out().print(f"model store: {store.resolve()}  (set CSD_MODELS or --models-dir)")
    if not store.is_dir():
        warn(f"model store {store} {'is a file' if store.exists() else 'does not exist'}; no local weights found")
    others = (
        sorted(p for p in store.iterdir() if p not in named and not p.name.startswith(".")) if store.is_dir() else []
    )
    if others:
        # weights under names no example spec uses ("ViT-B-32-openai.safetensors" is openclip:ViT-B-32@openai)
        out().print(
            "other files in the model store (the README's Models section says which spec loads each name; "
            "a .gguf is an LLM for --rewriter llm):"
        )
        for p in others:
            kind, what = _state(p)
            shown = f"[dim]{what}[/]" if kind == "ok" else f"[red]{escape(what or kind)}[/]"
            out().print(f"  {escape(p.name)}  {shown}")
    for name, err in sorted(plugin_errors().items()):
        warn(f"encoder plugin {name!r} failed to load and is left out: {err}")


WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".gguf")


def weights_problem(path: Path) -> str | None:
    """What makes `path` no usable weights file, read from its first bytes and its zip directory
    or safetensors header (`models list` called a 5-byte longclip-B.pt and a half-downloaded
    ViT-B-16.pt present); None when it looks whole. A legacy pickle checkpoint is not checked."""
    suffix = path.suffix.lower()
    if path.is_dir():
        return "is a folder, not a weights file" if suffix in WEIGHT_SUFFIXES else None
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as e:
        return f"cannot be read ({e.strerror})"
    if suffix in (".pt", ".pth", ".bin", ".ckpt"):
        import zipfile

        if head == b"PK\x03\x04":  # torch.save's zip format (and TorchScript's)
            return None if zipfile.is_zipfile(path) else "is cut short (its zip directory is missing)"
        return None if head[:1] == b"\x80" else "is not a checkpoint (neither a zip nor a pickle)"
    if suffix == ".safetensors":
        try:
            from safetensors import safe_open

            with safe_open(str(path), "np"):
                return None
        except Exception as e:  # SafetensorError: "incomplete metadata, file not fully covered"
            from csdclip_cli.errors import first_line

            return f"does not read as safetensors ({first_line(e)})"
    if suffix == ".gguf":
        from csdclip_cli.rewrite.llm import model_problem

        problem = model_problem(path)
        return problem[0] if problem else None
    return None


def _state(path: Path) -> tuple[str, str]:
    """(kind, detail) of one model-store path: ("missing" | "broken link" | "empty", ""), ("bad",
    weights_problem's words; a folder named x.gguf is one, not "empty") or ("ok", its size)."""
    from csdclip_cli.render import human_bytes

    if not path.exists():
        return ("broken link" if path.is_symlink() else "missing"), ""
    holds = _holds_something(path)
    if why := weights_problem(path) if holds or path.is_dir() else None:
        return "bad", why
    if not holds:
        return "empty", ""
    return "ok", "folder" if path.is_dir() else human_bytes(path.stat().st_size)


def _holds_something(path: Path) -> bool:
    """A weight file with bytes in it, or a folder with files (a 0-byte download is not weights)."""
    if path.is_dir():  # a folder of 0-byte files is no download either
        return any(f.is_file() and f.stat().st_size > 0 for f in path.rglob("*"))
    return path.is_file() and path.stat().st_size > 0
