"""Reading the user's text files (query lists, plan and annotation files, settings): UTF-8 with
or without a byte-order mark; any other encoding is one clear error naming the file and line."""

from __future__ import annotations

from pathlib import Path

from csdclip_cli.errors import UsageError


def read_text(path: str | Path, what: str = "file") -> str:
    """The text of `path` decoded as UTF-8 (a leading BOM dropped, CRLF kept for splitlines()).

    Raises UsageError for a missing file, and for undecodable bytes with the line, the column
    and a conversion command (e.g. a GBK or Latin-1 file).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {p}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {p} is a folder, not a file") from None
    except OSError as e:
        raise UsageError(f"cannot read {what} {p}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise UsageError(
            f"{what} {p}: line {line}, column {col} is not UTF-8 (byte 0x{data[e.start]:02x}); "
            f"save it as UTF-8, e.g. iconv -f GBK -t UTF-8 {p} > {p.stem}.utf8{p.suffix}"
        ) from None
