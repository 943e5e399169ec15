"""The CLI edge: typed library errors become one stderr line and an exit code."""

from __future__ import annotations

import functools
import inspect
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from csdclip_cli.errors import CsdError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


class ClosedOutput(UsageError):
    """Raised on a write to a standard output the shell closed (`csd search ... >&-`)."""

    def __init__(self) -> None:
        super().__init__("standard output is closed; nowhere to write the results (redirect it to a file or /dev/null)")


class ClosedStdout(io.TextIOBase):
    """sys.stdout when the shell closed it. Python leaves None there, and print() and Rich then
    dropped every result without a word, with exit 0; here each write raises ClosedOutput, so a
    command that writes nothing to stdout still runs, as coreutils' do."""

    def writable(self) -> bool:
        """True: writes are accepted, and each raises."""
        return True

    def write(self, s: Any) -> int:
        """Raises ClosedOutput."""
        raise ClosedOutput

    @property
    def buffer(self) -> ClosedStdout:
        """Itself: write_paths writes bytes to sys.stdout.buffer."""
        return self

    def isatty(self) -> bool:
        """False: no terminal."""
        return False


def _expand(value: Any) -> Any:
    """`~` in every path option (a shell leaves `--html=~/x.html` unexpanded)."""
    if isinstance(value, Path):
        return value.expanduser()
    if isinstance(value, list) and value and all(isinstance(v, Path) for v in value):
        return [v.expanduser() for v in value]
    return value


def _interrupted(e: BaseException) -> bool:
    """Whether a KeyboardInterrupt is among the causes of `e`."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def guard(fn: F) -> F:
    """The CLI edge: expands `~` in path options; a CsdError becomes one stderr line (user text
    printed verbatim, never read as Rich markup) and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **{k: _expand(v) for k, v in kwargs.items()})
        except typer.Exit:  # a command that said why it stops (a RuntimeError, whose cause may be Ctrl-C)
            raise
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
        except OSError as e:  # a full or read-only disk met outside a build (index use, eval reports)
            from csdclip_cli.index.store import full_or_read_only, io_error

            if not full_or_read_only(e):
                raise
            from rich.markup import escape

            from csdclip_cli.render import err

            # no file name: the output itself (`csd search ... > /dev/full` named the working
            # folder, and advice about index batches)
            why = io_error(e, Path(e.filename)) if e.filename else f"{e.strerror or e} while writing the output"
            err().print(f"[bold red]error:[/] {escape(str(why))}", soft_wrap=True)
            raise typer.Exit(1) from None
        except RuntimeError as e:  # Ctrl-C inside `import torch` arrives wrapped in a RuntimeError
            if not _interrupted(e):
                raise
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

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


def check_device(device: str) -> None:
    """Refuse an unknown --device, or a CUDA one where there is no CUDA, before any work, as
    `csd index build` does when its model loads (encoders.base.resolve_device): search embeds
    queries with ONNX and an index already built loads no model, so a bogus --device went unnoticed."""
    if device in ("auto", "cpu"):  # always valid: no torch import (seconds) to say so
        return
    from csdclip_cli.encoders.base import resolve_device

    resolve_device(device)
