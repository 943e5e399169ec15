"""The `csd` command: thin wiring from arguments to the library."""

from __future__ import annotations

import sys

import typer

from csdclip_cli.cli import (
    demo_cmd,
    doctor_cmd,
    eval_cmd,
    index_cmd,
    models_cmd,
    rewrite_cmd,
    rewriter_cmd,
    search_cmd,
    serve_cmd,
)
from csdclip_cli.cli.common import ClosedOutput, ClosedStdout, new_app

app = new_app(
    "csd — text-to-image retrieval with complex queries (CsdCLIP).\n\n"
    "Quick start: [bold]csd demo[/] · [bold]csd index build ./imgs --model clip:ViT-L/14[/] · "
    '[bold]csd search "woman in green dress, no shoes"[/] · [bold]csd eval tigr100k[/]'
)


def _version(value: bool) -> None:
    if value:
        from csdclip_cli import __version__

        print(f"csd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    pass


app.add_typer(index_cmd.app, name="index")
app.add_typer(models_cmd.app, name="models")
app.command("search")(search_cmd.search)


app.command("rewrite")(rewrite_cmd.rewrite)
app.add_typer(rewriter_cmd.app, name="rewriter")
app.command("eval")(eval_cmd.eval_)
app.add_typer(
    demo_cmd.app,
    name="demo",
    short_help="The offline demo: a procedural photo world, a tiny trained CLIP, a graded benchmark.",
)
app.command("doctor")(doctor_cmd.doctor)
app.command("serve")(serve_cmd.serve)


def main() -> None:
    """Entry point of the `csd` script: prepares the environment, makes stdout and stderr escape characters they
    cannot encode, and runs the app."""
    from csdclip_cli import config

    config.prepare_environment()
    if sys.stdout is None:  # `>&-`: results written nowhere were lost without a word
        sys.stdout = ClosedStdout()
    # user text (file names, queries) must never crash a print: unencodable characters are escaped
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        app(prog_name="csd")
    except ClosedOutput as e:  # met outside a command's guard: --help, --version
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
