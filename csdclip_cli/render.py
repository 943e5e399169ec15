"""Rich output: results on stdout, progress and messages on stderr."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text


def out() -> Console:
    """A console on stdout for results: no highlighting or emoji codes, 200 columns wide when piped."""
    c = Console(highlight=False, soft_wrap=False, emoji=False)  # ':smile:' in a file name stays as typed
    if not c.is_terminal and "COLUMNS" not in os.environ:
        c.width = 200  # piped into a file or pager: do not squeeze tables to 80 columns
    return c


def err() -> Console:
    """A console on stderr for progress, notes and warnings (no highlighting or emoji codes)."""
    return Console(stderr=True, highlight=False, emoji=False)


def note(msg: str) -> None:
    """One line on stderr, printed verbatim: paths and queries may hold '[...]'."""
    err().print(msg, markup=False, soft_wrap=True)


def warn(msg: str, error: bool = False) -> None:
    """'warning: ' + msg on stderr; msg printed verbatim. error: an error-level warning, 'error: '
    in red, for what makes the results meaningless without stopping the run."""
    label = "[bold red]error:[/]" if error else "[yellow]warning:[/]"
    err().print(f"{label} {escape(msg)}", soft_wrap=True)


class RateColumn(ProgressColumn):
    """A progress column showing the speed in `unit`s per second (final speed once the task is done)."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} {self.unit}/s" if speed else f"- {self.unit}/s", style="cyan")


@contextmanager
def progress_bar(description: str, unit: str = "img") -> Iterator[Any]:
    """Yields update(done, total); draws on stderr from the first update with work to do (an
    index with nothing to encode drew an empty "indexing … 0/?" bar on every eval)."""
    prog = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeRemainingColumn(),
        console=err(),
        transient=False,
    )
    task = prog.add_task(description, total=None)
    started = False

    def update(done: int, total: int) -> None:
        nonlocal started
        if not started:
            if not total and not done:
                return
            prog.start()
            started = True
        prog.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if started:
            prog.stop()


def human_bytes(n: float) -> str:
    """A byte count as text in binary units, e.g. "512 B", "1.5 MiB" (TiB at most)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def when(ts: float) -> str:
    """A Unix time (seconds) as local "YYYY-MM-DD HH:MM"."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def results_table(results: Sequence[Any], title: str | None = None, explain: bool = False) -> Table:
    """Results as a table of rank, score and image path (or key); with `explain`, a column per clause with its
    score and whether it passed (clause names from the first result), and the optimized phrase's score."""
    t = Table(title=escape(title) if title else None, title_justify="left", show_edge=False)
    t.add_column("#", justify="right")
    t.add_column("score", justify="right")
    clause_names: list[str] = []
    if explain and results:
        clause_names = list(results[0].clauses)
        for c in clause_names:
            t.add_column(escape(c), justify="right", max_width=22)
    phrase = explain and bool(results) and getattr(results[0], "phrase", None) is not None
    if phrase:
        t.add_column("phrase", justify="right")
    t.add_column("image", overflow="fold")
    for r in results:
        cells = [str(r.rank), f"{r.score:.3f}"]
        for c in clause_names:
            ok = r.passed.get(c, True)
            cells.append(f"[{'green' if ok else 'red'}]{r.clauses.get(c, 0.0):+.2f} {'✓' if ok else '✗'}[/]")
        if phrase:
            cells.append(f"{r.phrase:+.2f}")
        cells.append(escape(r.path or r.key))
        t.add_row(*cells)
    return t


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(obj: Any) -> str:
    """`obj` as one line of JSON, non-ASCII kept as is; a lone surrogate (a file name byte that
    is not UTF-8, as os.fsdecode gives it) is written as its \\uDCxx escape, which json.loads
    and os.fsencode turn back into the byte (it cannot be written as UTF-8 text)."""
    return LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(obj, ensure_ascii=False))


def json_lines(results: Sequence[Any]) -> str:
    """Results as JSON Lines, one `to_dict()` object per result (json_text; no trailing newline)."""
    return "\n".join(json_text(r.to_dict()) for r in results)


def write_paths(paths: Sequence[str], end: bytes = b"\n") -> None:
    """File paths (as os.fsdecode gives them), each followed by `end` (a newline, or NUL for
    `xargs -0`: a file name may hold a newline), as the file system's bytes: for piping, a name
    with a byte that is not UTF-8 is written as it is on disk."""
    import sys

    if uri := next((p for p in paths if p.startswith(("lmdb://", "wds://"))), None):  # no file to hand to ls
        warn(f"an LMDB or webdataset index has no file per image: {uri.split('#')[0]}#KEY names one inside it")
    if end == b"\n" and (broken := next((p for p in paths if "\n" in p), None)):  # it read as two paths
        warn(f"{broken!r} holds a newline, so this list reads it as two lines; use -0 (--print0) and xargs -0")
    sys.stdout.flush()
    sys.stdout.buffer.write(b"".join(os.fsencode(p) + end for p in paths))
    sys.stdout.buffer.flush()
