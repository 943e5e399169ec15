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
    adapter: Path | None = typer.Option(
        None, "--adapter", help="LoRA adapter GGUF to load with it, as `csd rewrite -r llm --adapter` does."
    ),
    timeout: float = typer.Option(120.0, "--timeout", min=0.1, help="Seconds each check may take."),
) -> None:
    """Check the llama.cpp build (version, CPU features), load the GGUF (with its LoRA adapter)
    and run a test decode.

    Every check runs in a child process: a build that crashes is reported, not fatal.
    Exits 1 when a check fails.

    Example: [bold]csd doctor --llm models/qwen2.5-1.5b-instruct-q4_k_m.gguf[/]
    """
    from rich.markup import escape
    from rich.table import Table

    from csdclip_cli.doctor import diagnose
    from csdclip_cli.errors import CsdError
    from csdclip_cli.render import out
    from csdclip_cli.rewrite import check_model_files
    from csdclip_cli.rewrite.llm import llm_origin, resolve_model

    check_model_files("llm", llm, adapter)  # an empty --llm / --adapter, as csd rewrite refuses it
    gguf: Path | None
    resolved: Path | None
    note_missing: str | None
    origin = ""
    try:
        gguf, resolved = resolve_model(llm, adapter)
        origin = llm_origin(llm)
    except CsdError as e:  # no base model installed, or a file that cannot be one: a failed check, not a crash
        gguf, resolved = None, None
        note_missing = str(e)
    else:
        note_missing = None
    checks = diagnose(gguf, timeout=timeout, adapter=resolved, missing=note_missing, origin=origin)
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
