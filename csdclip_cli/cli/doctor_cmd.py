"""csd doctor"""

from __future__ import annotations

from pathlib import Path

import typer

from csdclip_cli.cli.common import guard


@guard
def doctor(
    llm: Path | None = typer.Option(
        None, "--llm", help="GGUF file to test (default: the one --rewriter llm would use)."
    ),
    timeout: float = typer.Option(120.0, "--timeout", min=0.1, help="Seconds each check may take."),
) -> None:
    """Check the llama.cpp build (version, CPU features), load the GGUF and run a test decode.

    Every check runs in a child process: a build that crashes is reported, not fatal.
    Exits 1 when a check fails.

    Example: [bold]csd doctor --llm models/qwen2.5-1.5b-instruct-q4_k_m.gguf[/]
    """
    from rich.markup import escape
    from rich.table import Table

    from csdclip_cli.doctor import diagnose
    from csdclip_cli.errors import CsdError
    from csdclip_cli.render import out
    from csdclip_cli.rewrite.llm import resolve_model

    gguf: Path | None
    adapter: Path | None
    note_missing: str | None
    try:
        gguf, adapter = resolve_model(llm)
    except CsdError as e:  # no base model installed: reported as a failed check, not a crash
        gguf, adapter = None, None
        note_missing = str(e)
    else:
        note_missing = None
    checks = diagnose(gguf, timeout=timeout, adapter=adapter, missing=note_missing)
    t = Table(show_edge=False, show_header=False)
    t.add_column("")
    t.add_column("check")
    t.add_column("value", overflow="fold")
    for c in checks:
        mark = {True: "[green]ok[/]", False: "[bold red]FAIL[/]", None: ""}[c.ok]
        t.add_row(mark, c.name, escape(c.value))
    out().print(t)
    if any(c.ok is False for c in checks):
        raise typer.Exit(1)
