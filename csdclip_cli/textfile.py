"""The user's text files. Reading (query lists, plan and annotation files): UTF-8 with or
without a byte-order mark; any other encoding is one clear error naming the file and line.
Writing (--output, --html, --report): checked before the work, written atomically.
"-" is standard input to read and standard output to write (it read and wrote a file named "-")."""

from __future__ import annotations

import os
import shlex
import stat
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from csdclip_cli.errors import UsageError

STDIO = "-"  # standard input or output, as Unix tools read it


def is_stdio(path: str | Path | None) -> bool:
    """Whether `path` is "-": standard input to read, standard output to write."""
    return path is not None and str(path) == STDIO


def read_text(path: str | Path, what: str = "file") -> str:
    """The text of `path` decoded as UTF-8 (a leading BOM dropped, CRLF kept for splitlines()).

    Raises UsageError for a missing file, and for undecodable bytes with the line, the column
    and a conversion command (e.g. a GBK or Latin-1 file).
    """
    p = Path(path)
    try:
        if is_stdio(path):
            if sys.stdin is None:
                raise UsageError(f"{what} -: standard input is closed")
            data = sys.stdin.buffer.read()
            p = Path("(standard input)")
        else:
            data = p.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {p}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {p} is a folder, not a file") from None
    except OSError as e:
        raise UsageError(f"cannot read {what} {p}: {e.strerror or e}") from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with its BOM (Windows "Unicode" text)
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if b"\0" in data[:8192]:
            raise UsageError(f"{what} {p} is a binary file, not text") from None
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise UsageError(
            f"{what} {p}: line {line}, column {col} is not UTF-8 (byte 0x{data[e.start]:02x}); "
            f"save it as UTF-8, e.g. iconv -f ENCODING -t UTF-8 {shlex.quote(str(p))} > "
            f"{shlex.quote(str(p.with_name(p.stem + '.utf8' + p.suffix)))} "  # beside it, not in the working folder
            "(ENCODING: GBK for Chinese Windows files, latin1 or cp1252 for Western ones)"
        ) from None


def check_output(path: str | Path, what: str, inputs: Sequence[str | Path] = ()) -> Path:
    """`path` as a file csd may write: not a folder, under a folder (not a file), not one of
    the command's `inputs`; "-" (standard output) as it is. Raises UsageError naming the option;
    call it before the work."""
    if is_stdio(path):
        return Path(STDIO)
    p = Path(path).expanduser()
    if p.is_dir():
        raise UsageError(f"{what} {p} is a folder; give a file name inside it")
    anc = p.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise UsageError(f"{what} {p}: {anc} is a file, not a folder")
    for inp in inputs:
        if p.exists() and Path(inp).exists() and p.samefile(inp):
            raise UsageError(
                f"{what} {p} is also the input file; writing it would destroy the input: choose another name"
            )
    return p


@contextmanager
def output_file(path: str | Path, what: str, inputs: Sequence[str | Path] = ()) -> Iterator[IO[str]]:
    """Write a text file atomically: a temporary file beside it, renamed over it at the end (over
    a link's target, keeping the file's permissions; a device or a pipe is written into).

    The temporary file is created on entry, so an unwritable place fails before any work is
    done; an exception inside the block leaves an existing file untouched. "-" is standard
    output. Raises UsageError."""
    if is_stdio(path):
        yield sys.stdout
        sys.stdout.flush()
        return
    p = check_output(path, what, inputs)
    try:
        st = os.stat(p)  # through links
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        # a device, a pipe, /dev/fd/N: written into, never replaced (-o /dev/null made it a file)
        try:
            f = p.open("w", encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write {what} {p}: {e.strerror or e}") from None
        with f:
            yield f
        return
    p = p.resolve() if p.is_symlink() else p  # a link's target is written, the link kept
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        f = tmp.open("w", encoding="utf-8")
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))  # a private file stays private
    except OSError as e:
        raise UsageError(f"cannot write {what} {p}: {e.strerror or e}") from None
    try:
        with f:
            yield f
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str, what: str = "file") -> Path:
    """Write `text` to `path` atomically (see output_file); returns the path."""
    with output_file(path, what) as f:
        f.write(text)
    return Path(path).expanduser()


def check_output_dir(path: str | Path, what: str) -> Path:
    """A folder csd may write files into (created if missing). Raises UsageError (for "-" too: a
    folder cannot be standard output; it made a folder named "-")."""
    if is_stdio(path):
        raise UsageError(f"{what} - : give a folder (standard output cannot hold a folder of files)")
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise UsageError(f"{what} {p} is a file; give a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / f".csd-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write in {what} {p}: {e.strerror or e}") from None
    return p
