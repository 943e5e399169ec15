"""csd serve"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from csdclip_cli.cli.common import IndexDir, guard


@guard
def serve(
    index: list[str] | None = typer.Option(
        None, "--index", "-i", help="Index to open at start (repeatable; default: the current)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (another than loopback needs a token)."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="TCP port to listen on."),
    token: str | None = typer.Option(
        None, "--token", envvar="CSD_SERVE_TOKEN", help="Required on every request (generated off loopback)."
    ),
    open_page: bool = typer.Option(False, "--open", help="Open the page in a browser."),
    index_dir: Path | None = IndexDir,
) -> None:
    """Keep models and indexes warm and serve a search page and a JSON API.

    `csd search` uses a running server for the same index folder automatically (--no-server
    to bypass). Files are served by index row only.

    Example: [bold]csd serve --open[/]
    """
    import errno
    import secrets
    import socket
    import webbrowser
    from urllib.parse import quote

    from csdclip_cli.errors import IndexFormatError, UsageError, first_line
    from csdclip_cli.render import note, warn
    from csdclip_cli.serve.app import LOOPBACK, create_app, remove_discovery, write_discovery
    from csdclip_cli.serve.service import Service

    if token is not None and (token != token.strip() or not token):  # a header's spaces are stripped: no match
        raise UsageError(f"--token {token!r} is empty or starts or ends with a space; give one without")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME-WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as e:
            hint = "pick another --port" if e.errno == errno.EADDRINUSE else "check --host"
            raise UsageError(f"cannot listen on {host}:{port} ({e.strerror or e}); {hint}") from None
    if host not in LOOPBACK and not token:
        token = secrets.token_urlsafe(18)
        note(f"listening on {host}: every request needs the token {token}")
    service = Service(index_dir, default_index=index[0] if index else None)
    for name in index or _in_use(service):
        try:
            _warm(service, name)
        except IndexFormatError as e:
            if index:  # asked for by name: refused
                raise
            # the current index damaged: the others are served (the server would not start at all),
            # and the first of them that opens is the default (a request without an index failed)
            warn(f"{first_line(e)}; the other indexes are served")
            service.default_index = _first_sound(service, exclude=name)
            if service.default_index:
                note(f"index {service.default_index}: ready (the default)")
            continue
        note(f"index {name}: ready")
    import uvicorn

    client_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if ":" in client_host:  # an IPv6 literal: http://::1:8765/ is no URL
        client_host = f"[{client_host}]"
    url = f"http://{client_host}:{port}"
    page = url + "/" + (f"?token={quote(token, safe='')}" if token else "")

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list | None = None) -> None:
            remove_discovery(service.store.root)  # before uvicorn re-raises SIGTERM, which skips `finally`
            await super().shutdown(sockets=sockets)

        async def startup(self, sockets: list | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # listening: only now may `csd search` find it
                other = write_discovery(service.store.root, url, token)
                if other:
                    warn(
                        f"another csd serve ({other.get('url')}, pid {other.get('pid')}) serves this index folder; "
                        "`csd search` uses this one until it stops, then that one again"
                    )
                note(f"csd serve: {page}  (Ctrl-C to stop)")
                if open_page and not webbrowser.open(page):  # it said nothing (as csd search --html --open warns)
                    warn(f"no web browser found to open it; open {page} yourself")

    try:
        Server(uvicorn.Config(create_app(service, token), host=host, port=port, log_level="warning")).run()
    finally:
        remove_discovery(service.store.root)


def _in_use(service: Any) -> list[str]:
    """[the index in use], or [] when several exist and none is in use: then every index is served
    and the first that opens is the default (the server refused to start, "pick one with --index",
    though its page has an index picker)."""
    from csdclip_cli.errors import UsageError
    from csdclip_cli.render import note

    try:
        return [service.index_name(None)]
    except UsageError:
        service.default_index = _first_sound(service, exclude="")
        if service.default_index is None:
            raise
        note(f"several indexes and none in use: all are served, {service.default_index} by default (ready)")
        return []


def _first_sound(service: Any, exclude: str) -> str | None:
    """The first index of the service's store but `exclude` that opens and searches, warmed; None.
    Each one skipped is named with why (a damaged one was passed over without a word)."""
    from csdclip_cli.errors import CsdError, first_line
    from csdclip_cli.render import warn

    for name in service.store.names():
        if name == exclude:
            continue
        try:
            _warm(service, name)
        except CsdError as e:
            warn(f"{first_line(e)}; not the default")
            continue
        return name
    return None


def _warm(service: Any, name: str) -> None:
    """Load index `name` and its text encoder with a first search (the first user's waits no longer)."""
    service.search({"query": "a photo", "index": name, "k": 1})
