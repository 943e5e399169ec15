"""What `csd serve` keeps warm: opened indexes (with their torch-free text encoders), the
rewriters, and thumbnails; every request is a method call here (the HTTP layer is app.py).

Files are only ever served by index row, never by a path from the request.
"""

from __future__ import annotations

import io
import math
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from csdclip_cli.errors import UsageError

MAX_K = 200
MAX_QUERY_CHARS = 2000
SERVED_REWRITERS = ("rules", "llm", "none")  # the others (llm-base, gold, plans files) search locally
THUMB_PX = 256
METHODS = ("csd", "plain", "arith", "deo")
SEARCH_FIELDS = ("query", "index", "k", "method", "rewriter", "plan", "weights", "compare", "min_match")


class NotFound(Exception):
    """What a request names does not exist (an index row, or its image): HTTP 404. Not a
    LookupError, so an IndexError or KeyError from a bug is not mistaken for one."""


class Service:
    """Searches indexes under one index root. Thread-safe (one lock around search state)."""

    def __init__(self, index_root: str | Path | None = None, default_index: str | None = None):
        from csdclip_cli.index.store import IndexStore

        self.store = IndexStore(index_root)
        self.default_index = default_index
        self._searchers: dict[str, Any] = {}
        self._rewriters: dict[str, Any] = {}
        self._thumbs: OrderedDict[tuple[str, int, float, int, str | None], bytes] = OrderedDict()
        self._lock = threading.RLock()
        self._rewrite_locks = {name: threading.Lock() for name in SERVED_REWRITERS}

    # ---- indexes ---------------------------------------------------------------------------

    def index_name(self, name: str | None) -> str:
        """The index a request means: `name`, else the server's default, else the store's current index (raises
        IndexNotFound or UsageError when none can be chosen)."""
        if name is not None:  # "" is refused when opened (an unset variable), not read as the default
            return name
        return self.default_index or self.store.current()

    def searcher(self, name: str | None) -> Any:
        """The open Searcher of index `name`, re-opened when a build has committed a new generation
        or the index was removed and built again (its generation numbers start over)."""
        from csdclip_cli.search.searcher import Searcher

        name = self.index_name(name)
        with self._lock:
            s = self._searchers.get(name)
            m = self.store.manifest(name)
            if s is None or (s.manifest.generation, s.manifest.created) != (m.generation, m.created):
                fresh = Searcher.open(name, index_dir=self.store.root)
                if s is not None and s.manifest.fingerprint == fresh.manifest.fingerprint:
                    fresh._text = s._text  # the same weights: keep the warm text encoder
                    fresh._encoder = s._encoder
                s = self._searchers[name] = fresh
            return s

    def indexes(self) -> list[dict[str, Any]]:
        """Every index under the root as {name, model, count, dim, current, default} (GET /api/indexes):
        current is the index in use (`csd index use`, the * of `csd index list`), default the one a
        request without an index searches (--index, else the one in use, else the first that opened;
        "current" alone marked that fallback as in use). An index whose manifest cannot be read is
        listed with model, count and dim null and "error" saying why and how to remove it (one broken
        index made the whole list a 400, as `csd index list` does not)."""
        from csdclip_cli.errors import CsdError, IndexFormatError, first_line

        def name_or_none(pick: Any) -> str | None:
            try:
                return pick()
            except CsdError:  # none in use among several, or none at all
                return None

        current = name_or_none(self.store.current)
        default = name_or_none(lambda: self.index_name(None))
        out: list[dict[str, Any]] = []
        for n in self.store.names():
            entry: dict[str, Any] = {
                "name": n,
                "model": None,
                "count": None,
                "dim": None,
                "current": n == current,
                "default": n == default,
            }
            try:
                m = self.store.manifest(n)
            except IndexFormatError as e:  # one broken index must not hide the others (as in `csd index list`)
                out.append(entry | {"error": first_line(e)})
                continue
            out.append(entry | {"model": m.model, "count": m.count, "dim": m.dim})
        return out

    def info(self, name: str) -> dict[str, Any]:
        """The manifest of index `name` as a JSON object (GET /api/indexes/{name}); raises IndexNotFound."""
        m = self.store.manifest(name)
        return m.to_json()

    # ---- rewriting and search -----------------------------------------------------------------

    def rewriter(self, name: str) -> Any:
        """The shared rewriter `name` (rules, llm or none), made on first use; raises UsageError for another name."""
        from csdclip_cli.rewrite import get_rewriter

        if name not in SERVED_REWRITERS:
            raise UsageError(
                f"the server's rewriter must be rules, llm or none, not {name!r} "
                "(gold, llm-base and plans files are for csd search --no-server and csd eval)"
            )
        with self._lock:
            if name not in self._rewriters:
                self._rewriters[name] = get_rewriter(name)
            return self._rewriters[name]

    def rewrite(self, query: str, rewriter: str = "rules") -> dict[str, Any]:
        """{plan, warnings} for `query` (POST /api/rewrite): the plan as a dict and the rewriter's new warnings,
        deduplicated. Raises UsageError for an unknown rewriter, a query or rewriter that is not
        a string, or a query over 2,000 characters."""
        if not isinstance(query, str) or not isinstance(rewriter, str):
            raise UsageError("query and rewriter must be strings")
        rw = self.rewriter(rewriter)
        # one request at a time per rewriter: the LLM's worker answers one request on its pipe,
        # and the new warnings are this request's only while no other adds any
        with self._rewrite_locks[rewriter]:
            seen = len(getattr(rw, "warnings", []))
            plan = rw.rewrite(_query(query))
            warnings = list(dict.fromkeys(getattr(rw, "warnings", [])[seen:]))
        return {"plan": plan.to_dict(), "warnings": warnings}

    def search(self, req: dict[str, Any]) -> dict[str, Any]:
        """req: query, index, k, method (csd|plain|arith|deo), rewriter, plan (an edited plan:
        used as it is), weights ({phrase_weight, not_weight, ...}), compare (also plain),
        min_match. Returns the plan, results with per-clause calibrated scores, timings. Raises
        UsageError for another field (SEARCH_FIELDS)."""
        from csdclip_cli.rewrite.plan import Plan
        from csdclip_cli.search.composite import CompositeConfig

        t0 = time.perf_counter()
        known_fields(req, SEARCH_FIELDS, "search request")
        k = _int(req.get("k", 10), "k", 1, MAX_K)
        min_match, compare = _flag(req.get("min_match"), "min_match"), _flag(req.get("compare"), "compare")
        method = str(req.get("method", "csd"))
        if method not in METHODS:
            raise UsageError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        # as `csd search` refuses them (a deo search ran for rewriter none; min_match was ignored)
        if req.get("rewriter") == "none" and method != "plain" and "method" in req:
            raise UsageError(f"rewriter none searches the whole query as one vector; it cannot go with method {method}")
        if min_match and method != "csd":
            raise UsageError(f"min_match is about composite search's clauses; method {method} has none")
        warnings: list[str] = []
        index = req.get("index")
        if index is not None and not isinstance(index, str):
            raise UsageError("index must be a string")
        if req.get("plan") is not None:
            plan = _plan(req["plan"])
        else:
            query, rewriter = req.get("query", ""), req.get("rewriter", "rules")
            if not isinstance(query, str) or not isinstance(rewriter, str):
                raise UsageError("query and rewriter must be strings")
            rewritten = self.rewrite(query, rewriter)
            plan, warnings = Plan.from_dict(rewritten["plan"]), rewritten["warnings"]
        cfg = CompositeConfig.load(None, **_weights(req.get("weights") or {}))
        with self._lock:
            s = self.searcher(index)
            t1 = time.perf_counter()
            results = s.search_plan(plan, method, k, config=cfg, min_match=min_match)
            plain = s.search_plan(plan, "plain", k) if compare and method != "plain" else None
            t2 = time.perf_counter()
        name = s.manifest.name
        out = {
            "index": name,
            "model": s.manifest.model,
            "method": method,
            "plan": plan.to_dict(),
            "results": [_result(name, r) for r in results],
            "passed_count": results.passed_count,
            "examined": results.examined,  # passed_count is among these rows (all images when exact)
            "total": results.total,
            "warnings": warnings + results.warnings + list(s.notes),
            "timing_ms": {"total": round(1000 * (time.perf_counter() - t0), 2), "search": round(1000 * (t2 - t1), 2)},
        }
        if plain is not None:
            out["plain"] = [_result(name, r) for r in plain]
        return out

    # ---- files by row ---------------------------------------------------------------------------

    def _bytes(self, name: str, row: int, key: str | None = None) -> tuple[bytes, str]:
        """The bytes of the image at `row` and its key; with `key`, only while that row still
        holds it (an update renumbers rows: a compaction, or any change of an earlier shard, and a
        page's links opened other images). Raises NotFound otherwise."""
        from csdclip_cli.html import ThumbnailReader

        s = self.searcher(name)
        if not 0 <= row < len(s.gallery.alive):  # no such row at all ("was updated since this search" misled)
            raise NotFound(self._gone(name, row, None))
        if not s.gallery.alive[row]:
            raise NotFound(self._gone(name, row, key))
        held, path = s.gallery.gen.rows_for([row]).get(row, (None, None))
        if held is None or (key is not None and held != key):
            raise NotFound(self._gone(name, row, key))
        key = held
        reader = ThumbnailReader(s.manifest)
        data = reader.bytes_for(key, path)
        if data is None:
            raise NotFound(f"image {key!r} of index {name!r} cannot be read from its source: {reader.reason}")
        return data, key

    @staticmethod
    def _gone(name: str, row: int, key: str | None) -> str:
        if key is None:
            return f"index {name!r} has no image at row {row}"
        return f"index {name!r} was updated since this search: row {row} no longer holds {key!r}; search again"

    def thumbnail(self, name: str, row: int, key: str | None = None) -> bytes:
        """A JPEG of at most THUMB_PX pixels a side (cached, 512 entries); `key` as for original()."""
        from csdclip_cli.sources.decode import decode_image

        m = self.store.manifest(name)
        ck = (name, m.generation, m.created, row, key)  # a rebuilt index starts its generations over
        with self._lock:
            if ck in self._thumbs:
                self._thumbs.move_to_end(ck)
                return self._thumbs[ck]
        data, _ = self._bytes(name, row, key)
        img = decode_image(data)
        img.thumbnail((THUMB_PX, THUMB_PX))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=85)
        with self._lock:
            self._thumbs[ck] = buf.getvalue()
            while len(self._thumbs) > 512:
                self._thumbs.popitem(last=False)
        return buf.getvalue()

    def original(self, name: str, row: int, key: str | None = None) -> tuple[bytes, str]:
        """The image file's bytes and a media type guessed from its content; with `key` (as the
        search results' links carry it), NotFound unless the row still holds that image."""
        from PIL import Image

        data, key = self._bytes(name, row, key)
        try:
            fmt = Image.open(io.BytesIO(data)).format or ""
        except Exception:
            fmt = ""
        media = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}.get(fmt)
        return data, media or "application/octet-stream"


def _query(q: str) -> str:
    if len(q) > MAX_QUERY_CHARS:
        raise UsageError(f"query is {len(q)} characters; at most {MAX_QUERY_CHARS}")
    return q


def _flag(v: Any, what: str) -> bool:
    """A JSON true / false (absent or null: false); "false" is not false, so it is refused."""
    if v is None or isinstance(v, bool):
        return bool(v)
    raise UsageError(f"{what} must be true or false")


def _int(v: Any, what: str, lo: int, hi: int) -> int:
    """A JSON whole number in [lo, hi] (5 or 5.0; not "5", true, 2.5, 1e400)."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v != int(v):
        raise UsageError(f"{what} must be a whole number")
    n = int(v)
    if not lo <= n <= hi:
        raise UsageError(f"{what} must be between {lo} and {hi}")
    return n


# fusion settings a request may change (their ranges: composite.RANGES)
WEIGHTS = ("phrase_weight", "not_weight", "not_margin", "and_temperature", "pass_z")


def known_fields(d: dict[str, Any], known: tuple[str, ...], what: str) -> None:
    """Raise UsageError naming the first field of `d` that is not in `known` (a misspelt one, "top" for
    "k", was ignored without a word)."""
    for k in d:
        if k not in known:
            raise UsageError(f"unknown field {k!r} in the {what}; known: {', '.join(known)}")


def _weights(w: Any) -> dict[str, float]:
    from csdclip_cli.search.composite import checked

    if not isinstance(w, dict):
        raise UsageError("weights must be an object")
    for k in w:
        if k not in WEIGHTS:
            raise UsageError(f"unknown weight {k!r}; known: {', '.join(WEIGHTS)}")
    return checked(w, "weights")


def _plan(d: Any) -> Any:
    """An edited plan from the page: strings only, empty clauses dropped, an OR group of one
    becomes an AND clause; raw and optimized default to the clauses."""
    from csdclip_cli.rewrite.plan import Plan
    from csdclip_cli.rewrite.planfile import PLAN_FIELDS, unknown_field

    if not isinstance(d, dict):
        raise UsageError("plan must be an object")
    # {"AND": [...]} was read as no clause at all ("the plan has no clause left"); worded as a plans file's
    for k in d:
        if k not in PLAN_FIELDS:
            raise UsageError(unknown_field(k))

    def texts(v: Any, what: str) -> list[str]:
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise UsageError(f"plan.{what} must be a list of strings")
        return [x.strip() for x in v if x.strip()]

    ands, nots = texts(d.get("and"), "and"), texts(d.get("not"), "not")
    groups = d.get("or") or []
    if not isinstance(groups, list):
        raise UsageError("plan.or must be a list of lists of strings")
    ors = []
    for g in groups:
        g = texts(g, "or[]")
        if len(g) == 1:
            ands.append(g[0])
        elif g:
            ors.append(g)
    opt = d.get("optimized")
    optimized = opt.strip() if isinstance(opt, str) and opt.strip() else "; ".join(ands) or ""
    if not (ands or ors or optimized) and nots:  # only exclusions, as the rules write "no grass": a neutral phrase
        from csdclip_cli.rewrite.rules import CJK, NEUTRAL_EN, NEUTRAL_ZH

        optimized = NEUTRAL_ZH if all(CJK.search(n) for n in nots) else NEUTRAL_EN
    given = d.get("raw")
    raw = given if isinstance(given, str) and given.strip() else optimized
    if not (ands or ors or optimized):
        raise UsageError("the plan has no clause left; add one")
    intent = Plan.intent_of(ands, nots, ors)
    return Plan(raw=raw or optimized, intent=intent, optimized=optimized or raw, and_=ands, not_=nots, or_=ors)


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    return v


def _result(index: str, r: Any) -> dict[str, Any]:
    d = {k: _finite(v) for k, v in r.to_dict().items()}
    d["row"] = int(r.row)
    where = quote(index, safe="")  # an index may be named "night shots #1"
    # the key rides along: the row of an image changes with updates, and a link must not open another
    held = "?key=" + quote(r.key, safe="")
    d["thumb"] = f"/api/thumb/{where}/{r.row}{held}"
    d["file"] = f"/api/file/{where}/{r.row}{held}"
    return d
