"""Search an index from Python:

from csdclip_cli import Searcher
s = Searcher.open("demo-tiny")            # the encoder comes from the index manifest
for r in s.search("a red car and a tree, no dog", k=5):
    print(r.rank, r.score, r.path)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from csdclip_cli.encoders.base import Encoder
from csdclip_cli.errors import UsageError
from csdclip_cli.index.store import IndexStore, Manifest, ModelRef, require_model
from csdclip_cli.search.gallery import Gallery

if TYPE_CHECKING:
    from csdclip_cli.rewrite.plan import Plan
    from csdclip_cli.search.composite import CompositeConfig


@dataclass
class Result:
    """One search result: 1-based rank, gallery row, index key, display path, the method's
    score (cosine for plain / arith / deo, the fused z-score sum for csd), and for csd each
    clause's calibrated score and whether it passed."""

    rank: int
    row: int
    key: str
    path: str
    score: float
    clauses: dict[str, float] = field(default_factory=dict)  # calibrated score per clause
    passed: dict[str, bool] = field(default_factory=dict)  # pass/fail per clause
    # the optimized phrase's calibrated score: with the clauses, what the csd score is made of
    phrase: float | None = None

    @property
    def file(self) -> str:
        """The image's path on disk as os.fsdecode gives it (`path` is its printable key, which
        spells a backslash and a byte that is not UTF-8 as escapes); "" for a result without one."""
        import os

        from csdclip_cli.sources.base import key_bytes

        return os.fsdecode(key_bytes(self.path)) if self.path else ""

    def to_dict(self) -> dict[str, Any]:
        """The --json line: rank, key, path (the file on disk: `file`), score (6 decimals), and
        clauses (4 decimals) and passed when set."""
        d: dict[str, Any] = {"rank": self.rank, "key": self.key, "path": self.file, "score": round(self.score, 6)}
        if self.clauses:
            d["clauses"] = {k: round(v, 4) for k, v in self.clauses.items()}
            d["passed"] = self.passed
        if self.phrase is not None:
            d["phrase"] = round(self.phrase, 4)
        return d


def check_k(k: object) -> int:
    """`k` as the number of results to return. Raises UsageError unless it is a whole number >= 1."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise UsageError(f"k must be a whole number of at least 1, not {k!r}")
    return int(k)


def passed_summary(passed: int, examined: int | None, total: int | None) -> str:
    """What --min-match's count means: of every image when search was exact, of the candidates
    the approximate index gave otherwise (above 20,000 images it read like a gallery count: 400
    where 2,246 images pass)."""
    if examined is not None and total is not None and examined < total:
        return (
            f"{passed:,} of the {examined:,} candidates examined pass every AND clause and OR group "
            f"(the index of {total:,} images is approximate: images outside the candidates are not counted)"
        )
    return (
        f"{passed:,} image{'s' if passed != 1 else ''} pass{'es' if passed == 1 else ''} every AND clause and OR group"
    )


class ResultList(list):
    """Results, plus with min_match how many passed every AND clause and OR group among how many
    examined of how many images, and this query's warnings (e.g. a Chinese query on an
    English-only model)."""

    def __init__(
        self,
        results: Any = (),
        passed_count: int | None = None,
        warnings: list[str] | None = None,
        examined: int | None = None,
        total: int | None = None,
    ):
        super().__init__(results)
        self.passed_count = passed_count
        self.warnings = warnings or []
        self.examined = examined
        self.total = total

    def passed_summary(self) -> str | None:
        """The line --min-match prints (passed_summary), None without min_match."""
        return None if self.passed_count is None else passed_summary(self.passed_count, self.examined, self.total)

    def warn_length(self, model: str, encoder: Any, texts: list[str]) -> ResultList:
        """Add a warning for each of `texts` longer than `encoder` reads (its context length in
        tokens; the rest was dropped without a word); returns self. Encoders that cannot tell
        (no `unread`) add none."""
        unread = getattr(encoder, "unread", None)
        if unread is None:
            return self
        cut = [(text, rest) for text in dict.fromkeys(texts) if (rest := unread(text))]
        if cut:  # one warning: the query and its phrase are often cut alike
            text, rest = max(cut, key=lambda tr: len(tr[1]))
            rest = rest if len(rest) <= 40 else rest[:37] + "..."
            said = text if len(text) <= 40 else text[:37] + "..."
            more = f" (and {len(cut) - 1} more text{'s' if len(cut) > 2 else ''} of the plan)" if len(cut) > 1 else ""
            self.warnings.append(
                f"{model} reads the first {encoder.context_length} tokens of a text: the end of {said!r}, "
                f"{rest!r}, is not read{more}; say it in fewer words"
            )
        return self

    def warn_language(self, model: str, texts: list[str]) -> ResultList:
        """Add language_warning(model, texts), if any; returns self."""
        from csdclip_cli.search.language import language_warning

        w = language_warning(model, texts)
        if w:
            self.warnings.append(w)
        return self


def load_index_encoder(
    manifest: Manifest, device: str = "auto", model: str | None = None, weights: str | Path | None = None
) -> Encoder:
    """The encoder an index was built with; refuse any other model."""
    from csdclip_cli.encoders import load_encoder

    spec = model or manifest.build.get("model_input") or manifest.model
    enc = load_encoder(
        spec,
        weights=weights or manifest.build.get("weights"),
        device=device,
        trust_remote_code=bool(manifest.build.get("trust_remote_code")),
    )
    require_model(
        manifest,
        ModelRef.of(enc),
        f"Search with the index's model, or build an index for this model: csd index build SOURCE --model {spec}",
    )
    return enc


def open_gallery(manifest: Manifest, gen: Any, exact: bool = False, address: str | None = None) -> Any:
    """A Gallery, or a ShardedGallery for a sharded index (gen is then a ShardedGeneration)."""
    from csdclip_cli.index.store import ShardedGeneration

    if isinstance(gen, ShardedGeneration):
        from csdclip_cli.search.sharded import ShardedGallery

        return ShardedGallery(manifest, gen, exact=exact, address=address)
    if address:
        from csdclip_cli.errors import UsageError

        raise UsageError(f"--address: index {manifest.name!r} is not sharded; search it without --address")
    return Gallery(manifest, gen, exact=exact)


class Searcher:
    """One index opened for search. Queries are embedded by `text_encoder` (the ONNX export of
    the index's text tower: no torch) unless an encoder was passed in; `encoder` is the full
    torch model, loaded on first use."""

    def __init__(
        self,
        manifest: Manifest,
        gallery: Gallery,
        encoder: Encoder | None = None,
        device: str = "auto",
        index_root: str | Path | None = None,
    ):
        self.manifest = manifest
        self.gallery = gallery
        self._encoder = encoder
        self._text: Any = encoder
        self.device = device
        self.index_root = Path(index_root) if index_root is not None else None
        self.notes: list[str] = []  # one-line information for the user (e.g. torch fallback)

    @classmethod
    def open(
        cls,
        name: str | None = None,
        index_dir: str | Path | None = None,
        encoder: Encoder | None = None,
        device: str = "auto",
        model: str | None = None,
        exact: bool = False,
        address: str | None = None,
    ) -> Searcher:
        """Open index `name` (default: the current one). `exact`: brute-force search only.
        `address`: search a sharded index's shards as tasks on that Ray cluster."""
        store = IndexStore(index_dir)
        manifest, gen = store.open(name)
        if encoder is not None:
            require_model(manifest, ModelRef.of(encoder), "Search with the index's model.")
        s = cls(manifest, open_gallery(manifest, gen, exact, address), encoder, device, store.root)
        if model is not None and encoder is None:
            s._encoder = load_index_encoder(manifest, device, model)
        return s

    @property
    def encoder(self) -> Encoder:
        """The torch encoder the index was built with, loaded on first use (load_index_encoder)."""
        if self._encoder is None:
            self._encoder = load_index_encoder(self.manifest, self.device)
        return self._encoder

    @property
    def text_encoder(self) -> Any:
        """encode_texts(texts) -> float32 [n, dim]: the ONNX export when there is one (made on
        first use, beside the index), else the torch encoder (set CSD_TEXT_BACKEND=torch to force it)."""
        if self._text is None:
            self._text = self._load_text_encoder()
        return self._text

    def _load_text_encoder(self) -> Any:
        import os

        from csdclip_cli.encoders.onnx_text import OnnxTextEncoder, export_dir, export_text_encoder, stale_tokenizer

        backend = os.environ.get("CSD_TEXT_BACKEND", "").strip().lower()
        if backend not in ("", "torch", "onnx"):
            raise UsageError(
                f"CSD_TEXT_BACKEND={backend}: it must be torch or onnx (or unset, for onnx when there is one)"
            )
        if backend == "torch" or self.index_root is None:
            return self.encoder
        folder = export_dir(self.index_root, self.manifest.fingerprint)
        if (folder / "text.json").is_file():
            try:
                onnx = OnnxTextEncoder(folder)
                stale = stale_tokenizer(onnx.recipe)
                if stale:
                    self.notes.append(f"{stale}; re-exporting the text model")
                elif onnx.fingerprint == self.manifest.fingerprint and onnx.dim == self.manifest.dim:
                    return onnx
            except Exception as e:  # a damaged export is made again below
                self.notes.append(f"the ONNX text export in {folder} is unreadable ({type(e).__name__}); re-exporting")
        done, why = export_text_encoder(self.encoder, folder)
        if done:
            return OnnxTextEncoder(folder)
        self.notes.append(f"{why}; queries are embedded by the full model (slower start)")
        return self.encoder

    def results(
        self, rows: np.ndarray, scores: np.ndarray, details: dict[int, tuple[dict, dict, float | None]] | None = None
    ) -> list[Result]:
        """Results for gallery `rows` (int64 [k], best first) with their `scores` (float32 [k])
        and csd's per-row clause details (row -> (clause scores, clause passes, phrase score))."""
        meta = self.gallery.gen.rows_for([int(r) for r in rows])
        out = []
        for i, (r, s) in enumerate(zip(rows, scores)):
            key, path = meta.get(int(r), (str(r), ""))
            clauses, passed, phrase = (details or {}).get(int(r), ({}, {}, None))
            out.append(Result(i + 1, int(r), key, path, float(s), clauses, passed, phrase))
        return out

    def _empty(self) -> bool:
        """Whether the index holds no image (then a note says so: its calibration over no images
        gave NaN scores and a page of numpy warnings)."""
        if self.manifest.count:
            return False
        note = f"index {self.manifest.name!r} holds no images; add some to its source and run `csd index update`"
        if note not in self.notes:
            self.notes.append(note)
        return True

    def search_vector(self, vector: np.ndarray, k: int = 10) -> ResultList:
        """The top k for one float32 query vector [d] (L2-normalised, the index's model).
        Raises UsageError for a k that is not a whole number >= 1 or a vector of another width."""
        k = check_k(k)
        if self._empty():
            return ResultList()
        v = np.asarray(vector, np.float32)
        if v.shape != (self.manifest.dim,):
            raise UsageError(
                f"a query vector of shape {v.shape} does not fit index {self.manifest.name!r}, whose vectors "
                f"are ({self.manifest.dim},): embed the query with the index's model ({self.manifest.model})"
            )
        rows, scores = self.gallery.top(v, k)
        return ResultList(self.results(rows, scores))

    def search_plain(self, query: str, k: int = 10) -> ResultList:
        """The whole query embedded once (plain CLIP). Raises UsageError for an empty query or a
        k that is not a whole number >= 1."""
        from csdclip_cli.rewrite.plan import require_query

        check_k(k)
        from csdclip_cli.encoders.checked import text_vectors

        results = self.search_vector(text_vectors(self.text_encoder, [require_query(query)])[0], k)
        return results.warn_language(self.manifest.model, [query]).warn_length(
            self.manifest.model, self.text_encoder, [query]
        )

    def search(self, query: str, k: int = 10, method: str = "csd", rewriter: str = "rules", **kw: Any) -> ResultList:
        """Rewrite the query into a plan and search with `method` (plain|arith|deo|csd);
        `kw`: config, min_match (search_plan). Raises UsageError for an empty query or a k that
        is not a whole number >= 1."""
        check_k(k)
        if method == "plain":
            return self.search_plain(query, k)
        from csdclip_cli.rewrite import get_rewriter

        plan = get_rewriter(rewriter).rewrite(query)
        return self.search_plan(plan, method, k, **kw)

    def search_plan(
        self,
        plan: Plan,
        method: str = "csd",
        k: int = 10,
        config: CompositeConfig | None = None,
        min_match: bool = False,
    ) -> ResultList:
        """The top k for a plan by `method` (plain | arith | deo | csd), with each csd row's
        clause scores; with `min_match`, csd keeps only rows passing every AND clause and the
        result carries how many candidates passed. Raises UsageError for an unknown method or a
        k that is not a whole number >= 1."""
        from csdclip_cli.search.composite import PlanVectors
        from csdclip_cli.search.methods import rank

        k = check_k(k)
        if self._empty():
            return ResultList()
        pv = PlanVectors.embed(plan, self.text_encoder)
        r = rank(self.gallery, method, pv, k, config, min_match)
        texts = [plan.raw, plan.optimized, *plan.and_, *plan.not_, *(x for group in plan.or_ for x in group)]
        out = ResultList(
            self.results(r.rows, r.scores, r.details), r.passed_count, None, r.examined, self.gallery.count
        )
        return out.warn_language(self.manifest.model, texts).warn_length(
            self.manifest.model, self.text_encoder, PlanVectors.texts(plan)
        )
