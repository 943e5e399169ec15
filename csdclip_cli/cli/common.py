"""The CLI edge: typed library errors become one stderr line and an exit code."""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from csdclip_cli.errors import CsdError

F = TypeVar("F", bound=Callable[..., Any])


def _expand(value: Any) -> Any:
    """`~` in every path option (a shell leaves `--html=~/x.html` unexpanded)."""
    if isinstance(value, Path):
        return value.expanduser()
    if isinstance(value, list) and value and all(isinstance(v, Path) for v in value):
        return [v.expanduser() for v in value]
    return value


def guard(fn: F) -> F:
    """The CLI edge: expands `~` in path options; a CsdError becomes one stderr line (user text
    printed verbatim, never read as Rich markup) and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **{k: _expand(v) for k, v in kwargs.items()})
        except CsdError as e:
            from rich.markup import escape

            from csdclip_cli.render import err

            err().print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)  # a build says what it kept (index_cmd.build_source)
            raise typer.Exit(130) from None
        except BrokenPipeError:  # `csd search ... | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


class _App(typer.Typer):
    """typer.Typer whose command list and --help show each docstring paragraph as one flowing
    line: with Rich markup Typer keeps the docstring's line breaks."""

    def command(self, name: str | None = None, **kw: Any) -> Callable[[F], F]:
        def register(f: F) -> F:
            if f.__doc__:
                paragraphs = [
                    p if p.startswith("Example") else " ".join(p.split())  # examples keep a line each
                    for p in inspect.cleandoc(f.__doc__).split("\n\n")
                ]
                if kw.get("short_help") is None:
                    kw["short_help"] = " ".join(paragraphs[0].split())
                if kw.get("help") is None:  # --help too kept the line breaks of later paragraphs
                    kw["help"] = "\n\n".join(paragraphs)
            return typer.Typer.command(self, name, **kw)(f)

        return register


def new_app(help_text: str) -> typer.Typer:
    """A Typer app or sub-app with csd's settings: Rich markup in help, help when called without arguments, no
    shell-completion options and no locals in tracebacks."""
    return _App(
        help=help_text,
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        rich_markup_mode="rich",
        add_completion=False,
    )


IndexDir = typer.Option(None, "--index-dir", envvar="CSD_INDEXES", help="Index root (default ./indexes).")
Device = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N | mps.")
