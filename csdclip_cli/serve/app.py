"""`csd serve`: a Starlette app over Service, a static page, and the discovery file through
which `csd search` finds a running server for the same index folder.

JSON API (every route but / needs the token when one is set: `Authorization: Bearer T` or
`?token=T`):
    GET  /api/indexes                  [{name, model, count, dim, current, default}], plus "error" on a
                                       broken one (current: in use; default: searched when a request names none)
    GET  /api/indexes/{name}           the manifest
    POST /api/search                   Service.search's request -> response (an unknown field is a 400)
    POST /api/rewrite                  {query, rewriter} -> {plan, warnings}
    GET  /api/thumb/{index}/{row}[?key=K]   JPEG thumbnail of that index row (with key: 404 unless the row
                                            still holds image K; search results' links carry it)
    GET  /api/file/{index}/{row}[?key=K]    the original image of that row
Requests over 64 KiB are refused (413); user mistakes are 400 with {"error": one line}; an index,
row or image that does not exist is 404, and so is an unknown route (a trailing slash too); a wrong
method is 405 (with Allow); a damaged index or model file on the server is 500 with its one-line
message; a bug is 500, its traceback in the server's log.
"""

from __future__ import annotations

import hmac
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from csdclip_cli.errors import (
    CsdError,
    EncoderError,
    IndexFormatError,
    IndexNotFound,
    ModelFileMissing,
    UnsafeCheckpoint,
    UsageError,
)
from csdclip_cli.serve.client import DISCOVERY, live_entry, settings_in_use
from csdclip_cli.serve.service import NotFound, Service, known_fields

MAX_BODY = 64 * 1024
ROW = re.compile(r"-?[0-9]+")  # ASCII digits only: int() also takes "+3", "1_0" and "３"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# CsdErrors about the server's own files, not the request: no retry with another request helps
SERVER_SIDE = (IndexFormatError, ModelFileMissing, EncoderError, UnsafeCheckpoint)


def create_app(service: Service, token: str | None = None) -> Any:
    """The Starlette app over `service`: the page at / and the JSON API of this module's docstring; with `token`,
    every API route answers 401 without it."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    from csdclip_cli.render import json_text

    page = resources.files("csdclip_cli.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    def error(status: int, msg: str) -> JSONResponse:
        return JSONResponse({"error": msg}, status_code=status)

    def authorised(request: Request) -> bool:
        if not token:
            return True
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        given = given.strip() if scheme.lower() == "bearer" else ""  # a scheme's name is case-insensitive
        given = given or request.query_params.get("token", "")
        return hmac.compare_digest(given.encode(), token.encode())

    async def body(request: Request) -> dict[str, Any]:
        length = request.headers.get("content-length") or "0"
        if not length.isdigit():
            raise CsdError(f"Content-Length {length[:20]!r} is not a number of bytes")
        if int(length) > MAX_BODY:
            raise _TooLarge()
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:
                raise _TooLarge()
        try:
            data = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CsdError(f"the request body is not JSON: {e}") from None
        except RecursionError:  # '[' * 5000: a 500 before
            raise CsdError("the request body is nested too deeply") from None
        if not isinstance(data, dict):
            raise CsdError("the request body must be a JSON object")
        return data

    def endpoint(fn: Any, is_async: bool = False) -> Any:
        async def handle(request: Request) -> Response:
            if not authorised(request):
                return error(401, "missing or wrong token (Authorization: Bearer TOKEN, or ?token=TOKEN)")
            try:
                if is_async:
                    return await fn(request)
                from starlette.concurrency import run_in_threadpool

                return await run_in_threadpool(fn, request)
            except _TooLarge:
                return error(413, f"request body over {MAX_BODY // 1024} KiB")
            except (NotFound, IndexNotFound) as e:
                return error(404, str(e))
            except SERVER_SIDE as e:  # a damaged index was a 400, "your request is wrong"
                import logging

                logging.getLogger("csd.serve").error("%s: %s", request.url.path, e)
                return error(500, str(e))
            except CsdError as e:
                return error(400, str(e))
            except Exception as e:  # a bug: still one JSON line, the details in the server's log
                import logging

                logging.getLogger("csd.serve").exception("internal error on %s", request.url.path)
                return error(500, f"internal error ({type(e).__name__}); see the csd serve log")

        return handle

    async def search(request: Request) -> Response:
        data = await body(request)
        from starlette.concurrency import run_in_threadpool

        # json_text: a result's path may hold a file name byte that is not UTF-8 (JSONResponse
        # cannot encode it, and the search was a 500)
        return Response(json_text(await run_in_threadpool(service.search, data)), media_type="application/json")

    async def rewrite(request: Request) -> Response:
        data = await body(request)
        known_fields(data, ("query", "rewriter"), "rewrite request")
        from starlette.concurrency import run_in_threadpool

        return JSONResponse(
            await run_in_threadpool(service.rewrite, data.get("query", ""), data.get("rewriter", "rules"))
        )

    def row_of(request: Request) -> tuple[str, int]:
        row, name = request.path_params["row"], request.path_params["index"]
        shown = row[:24] + ("…" if len(row) > 24 else "")
        if not ROW.fullmatch(row):  # a malformed request (400), not a missing row (404)
            raise UsageError(f"row must be a whole number, not {shown!r}")
        if len(row.lstrip("-")) > 18:  # a whole number past any index's end (and past int64)
            raise NotFound(f"index {name!r} has no image at row {shown}")
        return name, int(row)

    def thumb(request: Request) -> Response:
        name, row = row_of(request)
        return Response(
            service.thumbnail(name, row, request.query_params.get("key")),
            media_type="image/jpeg",
            headers={"Cache-Control": "max-age=3600"},  # its URL names the image (key), not only the row
        )

    def original(request: Request) -> Response:
        name, row = row_of(request)
        data, media = service.original(name, row, request.query_params.get("key"))
        return Response(data, media_type=media)

    def index_page(request: Request) -> Response:
        return HTMLResponse(page)

    routes = [
        Route("/", index_page),
        Route("/api/indexes", endpoint(lambda r: JSONResponse(service.indexes()))),
        Route("/api/indexes/{name}", endpoint(lambda r: JSONResponse(service.info(r.path_params["name"])))),
        Route("/api/search", endpoint(search, is_async=True), methods=["POST"]),
        Route("/api/rewrite", endpoint(rewrite, is_async=True), methods=["POST"]),
        Route("/api/thumb/{index}/{row}", endpoint(thumb)),
        Route("/api/file/{index}/{row}", endpoint(original)),
    ]

    async def no_route(request: Request, exc: Exception) -> Response:
        # Starlette's own 404 / 405 are plain text; an API client parses {"error": ...}
        status, headers = getattr(exc, "status_code", 500), getattr(exc, "headers", None)
        what = "no such route" if status == 404 else "method not allowed" if status == 405 else str(exc)
        return JSONResponse({"error": f"{what}: {request.method} {request.url.path}"}, status, headers=headers)

    from starlette.exceptions import HTTPException

    app = Starlette(routes=routes, exception_handlers={HTTPException: no_route})
    app.router.redirect_slashes = False  # "/api/indexes/" was a 307 with an empty body: a JSON 404 instead
    return app


class _TooLarge(Exception):
    pass


def discovery_path(index_root: Path) -> Path:
    """The discovery file (.serve.json) in `index_root`, through which `csd search` finds a running server."""
    return Path(index_root) / DISCOVERY


def _write_json(p: Path, data: dict[str, Any]) -> None:
    tmp = p.with_name(p.name + f".{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private: it may hold a token
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, p)


def write_discovery(index_root: Path, url: str, token: str | None) -> dict[str, Any] | None:
    """Tell `csd search` (same index folder) where the server is; private when it holds a token.
    Returns the entry of another live server this one stands in front of (kept, and put back
    by remove_discovery when this one stops), else None."""
    p = discovery_path(index_root)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        before = json.loads(p.read_text())
    except (OSError, ValueError):
        before = None
    live = live_entry(before) if isinstance(before, dict) and before.get("pid") != os.getpid() else None
    entry = {"url": url, "pid": os.getpid(), "token": token, "settings": settings_in_use(), "previous": live}
    _write_json(p, entry)
    return live


def remove_discovery(index_root: Path) -> None:
    """Withdraw this process's discovery entry (another server's stays): the server it stood in
    front of gets the file back while it still runs, else the file is deleted. Read errors are
    ignored."""
    p = discovery_path(index_root)
    try:
        mine = json.loads(p.read_text())
        if mine.get("pid") != os.getpid():
            return
        previous = live_entry(mine.get("previous"))  # past servers that stopped too
        if previous is not None:
            _write_json(p, previous)
        else:
            p.unlink()
    except (OSError, ValueError, AttributeError):
        pass
