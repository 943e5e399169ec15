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
    from rich.table import Table

    from csdclip_cli import config
    from csdclip_cli.encoders import ModelSpec, families, plugin_errors
    from csdclip_cli.render import out, warn

    store = config.models_dir(models_dir)
    t = Table(show_edge=False)
    for c in ("family", "specs", "description", "local weights"):
        t.add_column(c)
    for name, fam in sorted(families().items()):
        found = []
        for ex in fam.examples:
            spec = ModelSpec.parse(ex.split()[0])
            files = fam.local_files(spec)
            hit = [Path(f).name for f in files if (store / f).exists()]  # f may be absolute
            state = (
                "[green]" + ", ".join(hit) + "[/]" if hit else "[dim]missing[/]" if files else "[dim]no files listed[/]"
            )
            found.append(f"{ex.split()[0]}: {state}")
        t.add_row(name, "\n".join(fam.examples), fam.description, "\n".join(found))
    out().print(t)
    out().print(f"model store: {store.resolve()}  (set CSD_MODELS or --models-dir)")
    for name, err in sorted(plugin_errors().items()):
        warn(f"encoder plugin {name!r} failed to load and is left out: {err}")
