"""HTML pages with result thumbnails (embedded as data URIs, so pages are self-contained
and LMDB-backed results show too)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from csdclip_cli.index.store import Manifest

THUMB = 192
CSS = """
body{font-family:system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:28px} .plan{font-size:13px;color:#444}
.grid{display:flex;flex-wrap:wrap;gap:12px} .card{background:#fff;border:3px solid #ddd;border-radius:6px;
padding:6px;width:200px;font-size:12px} .missing{width:192px;height:192px;display:flex;align-items:center;
text-align:center;background:#f3f3f3;color:#a00} .card img{width:192px;height:192px;object-fit:contain;
image-rendering:pixelated;background:#eee} .HR{border-color:#2a2} .MR{border-color:#e90} .IR{border-color:#c33}
.ok{color:#2a2} .bad{color:#c33} .key{color:#666;word-break:break-all} table{border-collapse:collapse}
td,th{padding:3px 8px;border-bottom:1px solid #ddd;font-size:13px;text-align:right} th:first-child,td:first-child{text-align:left}
"""


class ThumbnailReader:
    """Reads image bytes for a result from the index's source (folder path or LMDB)."""

    def __init__(self, manifest: Manifest):
        self.manifest = manifest
        self._source: Any = None
        self.why: dict[str, str] = {}  # key -> why its image could not be shown

    @property
    def unreadable(self) -> int:
        """How many images could not be shown."""
        return len(self.why)

    @property
    def reason(self) -> str | None:
        """Why the first of them could not be shown (None when all could)."""
        return next(iter(self.why.values()), None)

    def bytes_for(self, key: str, path: str) -> bytes | None:
        """The image bytes by index key, through the index's own source (None if unreadable, and
        why in `why`)."""
        from csdclip_cli.errors import first_line

        if self._source is None:
            try:
                self._source = self.manifest.source.open()
            except Exception as e:  # its own advice was a build's ("give an image folder ...")
                self.why[key] = f"the index's source {self.manifest.source.location} cannot be opened: {first_line(e)}"
                return None
        try:
            return self._source.read(key)
        except FileNotFoundError:  # it was a bare "[Errno 2] No such file or directory: ..."
            self.why[key] = "the file is gone since the index was built (moved or deleted?)"
        except Exception as e:
            self.why[key] = first_line(e)
        return None

    def data_uri(self, key: str, path: str) -> str:
        """The image as a base64 data URI, at most THUMB (192) px a side: PNG up to 128 px, JPEG above; "" if
        unreadable."""
        data = self.bytes_for(key, path)
        if data is None:
            return ""
        try:
            from csdclip_cli.sources.decode import decode_image

            img = decode_image(data)
            if max(img.size) > THUMB:
                img.thumbnail((THUMB, THUMB))
            buf = io.BytesIO()
            img.save(buf, format="PNG" if max(img.size) <= 128 else "JPEG", quality=85)
            mime = "png" if max(img.size) <= 128 else "jpeg"
            return f"data:image/{mime};base64,{base64.b64encode(buf.getvalue()).decode()}"
        except Exception:  # it was not counted, and its card said "moved or deleted?"
            self.why[key] = "not a readable image now (changed since the index was built?)"
            return ""


def plan_html(plan: Any) -> str:
    """A query plan's optimized query and its AND, NOT and OR clauses as an HTML block ("" when `plan` is None)."""
    if plan is None:
        return ""
    parts = [
        f"<b>optimized:</b> {html.escape(plan.optimized)}",
        "<b>AND:</b> " + "; ".join(html.escape(c) for c in plan.and_),
    ]
    if plan.not_:
        parts.append("<b>NOT:</b> " + "; ".join(html.escape(c) for c in plan.not_))
    for g in plan.or_:
        parts.append("<b>OR:</b> " + " | ".join(html.escape(c) for c in g))
    return '<div class="plan">' + " &middot; ".join(parts) + "</div>"


def result_cards(results: Sequence[Any], thumbs: ThumbnailReader, grades: dict[str, str] | None = None) -> str:
    """Results as an HTML grid of cards: thumbnail, rank, score, clause scores (pass or fail) and key; `grades` maps a
    key to its relevance grade (HR, MR or IR), shown on the card and as its border colour."""
    cards = []
    for r in results:
        grade = (grades or {}).get(r.key, "")
        clauses = "".join(
            f'<div class="{"ok" if r.passed.get(c, True) else "bad"}">{"✓" if r.passed.get(c, True) else "✗"} '
            f"{html.escape(c)}: {v:+.2f}</div>"
            for c, v in r.clauses.items()
        )
        uri = thumbs.data_uri(r.key, r.path)
        # a file gone since the index was built: say so (it was an empty, broken <img>)
        image = (
            f'<img src="{uri}" alt="{html.escape(r.key)}">'
            if uri
            else f'<div class="missing">image unavailable: {html.escape(thumbs.why.get(r.key, "it cannot be read"))}</div>'
        )
        cards.append(
            f'<div class="card {grade}">{image}'
            f"<div><b>#{r.rank}</b> score {r.score:.3f} {grade}</div>{clauses}"
            f'<div class="key">{html.escape(r.key)}</div></div>'
        )
    return '<div class="grid">' + "".join(cards) + "</div>"


def page(title: str, body: str) -> str:
    """A self-contained HTML page with the page CSS around `body` (HTML, not escaped)."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>{body}</body></html>\n"
    )


def write_results_page(
    out: str | Path,
    query: str,
    results: Sequence[Any],
    searcher: Any,
    plan: Any = None,
    sections: Sequence[tuple[str, Sequence[Any]]] | None = None,
    thumbs: ThumbnailReader | None = None,
) -> Path:
    """One query's results (or several labelled sections of results) as a thumbnail page; `thumbs`
    (made here when None) counts the images it could not read."""
    from csdclip_cli.textfile import write_text

    thumbs = thumbs or ThumbnailReader(searcher.manifest)
    body = f"<h1>{html.escape(query)}</h1>{plan_html(plan)}"
    body += f"<p class='key'>{html.escape(searcher.manifest.name)} · {html.escape(searcher.manifest.model)}</p>"
    for label, res in sections or [("results", results)]:
        body += f"<h2>{html.escape(label)}</h2>" + result_cards(res, thumbs)
    return write_text(out, page(query, body), "--html")
