"""`csd search` through a running `csd serve` for the same index folder (stdlib only, so the
client process stays light): found by the server's discovery file, skipped when it is gone."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from csdclip_cli.errors import CsdError, IndexNotFound

DISCOVERY = ".serve.json"


def alive(pid: Any) -> bool:
    """Whether process `pid` runs (another user's counts)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def live_entry(entry: Any) -> dict[str, Any] | None:
    """The first discovery record along `entry` and its "previous" chain whose server still runs."""
    while isinstance(entry, dict):
        if alive(entry.get("pid")):
            return entry
        entry = entry.get("previous")
    return None


def settings_in_use() -> str | None:
    """The settings file this process reads (csd.toml of its folder, $CSD_CONFIG, ...), resolved,
    or None: a `csd search` that reads another one searches itself (the server's [composite]
    weights are not its user's)."""
    from csdclip_cli import config

    path = config.config_file()
    return str(path.resolve()) if path is not None else None


def find_server(index_root: Path) -> dict[str, Any] | None:
    """The discovery record of a live server for `index_root` (the one a killed server stood in
    front of, when that one still runs), or None."""
    try:
        return live_entry(json.loads((Path(index_root) / DISCOVERY).read_text()))
    except (OSError, ValueError):
        return None


def _an_answer(a: Any) -> bool:
    """Whether `a` has the shape of Service.search's answer, as `csd search` reads it."""
    results = a.get("results") if isinstance(a, dict) else None
    fields = {"rank", "key", "path", "score"}
    return (
        isinstance(results, list)
        and all(isinstance(a.get(f), str) for f in ("method", "index", "model"))
        and isinstance(a.get("plan"), dict)
        and all(isinstance(r, dict) and fields <= r.keys() for r in results)
    )


def remote_search(info: dict[str, Any], request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any] | None:
    """The server's answer to a search request; None when it cannot be reached (the caller
    then searches locally). A request the server rejects is a CsdError with its message."""
    headers = {"Content-Type": "application/json"}
    if info.get("token"):
        headers["Authorization"] = f"Bearer {info['token']}"
    req = urllib.request.Request(
        info["url"].rstrip("/") + "/api/search", data=json.dumps(request).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            answer = json.loads(r.read())
        # something else at that address ({} or [] was a KeyError traceback): search here instead
        return answer if _an_answer(answer) else None
    except urllib.error.HTTPError as e:
        if e.code in (400, 404):
            try:
                msg = json.loads(e.read()).get("error")
            except ValueError:
                msg = None
            if e.code == 404:  # the index named does not exist there
                raise IndexNotFound(msg or "the csd server has no such index") from None
            raise CsdError(msg or f"the csd server refused the search ({e.code})") from None
        return None
    except (urllib.error.URLError, OSError, ValueError):
        return None
