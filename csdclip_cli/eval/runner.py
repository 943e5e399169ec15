"""Run every method of every model over a dataset on one shared index per model, and
summarise per-query rankings into metrics with confidence intervals."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from csdclip_cli.errors import UsageError
from csdclip_cli.eval.datasets import Dataset, Query
from csdclip_cli.eval.metrics import bootstrap_ci, paired_difference, query_metrics
from csdclip_cli.index.update import ProgressFactory, no_progress
from csdclip_cli.rewrite.plan import Plan
from csdclip_cli.search.composite import CompositeConfig, PlanVectors
from csdclip_cli.search.methods import METHODS, rank_many

DEPTH = 100  # ranking depth kept per query, or the largest k (mAP is computed over it)
SUBSETS = ("all", "with NOT", "without NOT")


@dataclass
class EvalRun:
    """One evaluation: its settings, the plans used and every (model, method) ranking.
    summarise() turns it into metric rows; eval.report writes and re-reads it."""

    dataset: str
    ks: list[int]
    models: list[str]
    methods: list[str]
    rewriter: str
    queries: list[Query]
    plans: dict[str, Plan]  # text_id -> plan used by the rewriting methods
    rankings: dict[tuple[str, str], dict[str, list[str]]]  # (model, method) -> text_id -> ids
    indexes: dict[str, str] = field(default_factory=dict)  # model -> index name
    index_dir: str = ""
    # what else decided the numbers (split, limit, exact, fusion weights, LLM files): two
    # reports that compared adapters or weights could not be told apart
    settings: dict[str, Any] = field(default_factory=dict)


def check_ks(ks: Sequence[int]) -> list[int]:
    """The cut-offs, sorted and unique. Raises UsageError unless they are whole numbers >= 1."""
    if isinstance(ks, str) or not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise UsageError(f"cut-offs {ks!r}: give whole numbers of at least 1, like 1,5,10")
    return sorted(set(ks))


def check_methods(methods: Sequence[str]) -> list[str]:
    """The methods as a list. Raises UsageError for a string, an empty list or an unknown name."""
    if isinstance(methods, str):
        raise UsageError(f"methods is a list of names, e.g. [{methods!r}], not a string")
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise UsageError(f"methods {', '.join(map(repr, bad)) or '(none)'}: choose from {', '.join(METHODS)}")
    return list(methods)


def parse_ks(text: str) -> list[int]:
    """ "1,5,10" -> [1, 5, 10] (sorted, unique). Raises UsageError for anything else."""
    try:
        return check_ks([int(x) for x in text.split(",") if x.strip()])
    except ValueError:
        raise UsageError(f"-k {text!r}: give comma-separated integers like 1,5,10") from None


def parse_methods(text: str) -> list[str]:
    """ "plain,csd" -> ["plain", "csd"]. Raises UsageError for an unknown or missing method."""
    return check_methods([m.strip() for m in text.split(",") if m.strip()])


def run_evaluation(
    ds: Dataset,
    models: Sequence[str],
    methods: Sequence[str] = METHODS,
    ks: Sequence[int] = (1, 5, 10),
    rewriter: str | None = None,
    *,
    weights: Sequence[Path | None] | None = None,
    llm: Path | None = None,
    adapter: Path | None = None,
    limit: int | None = None,
    exact: bool = False,
    config: CompositeConfig | None = None,
    device: str = "auto",
    index_dir: Path | None = None,
    progress: ProgressFactory = no_progress,
    warn: Callable[[str], None] = lambda message: None,
) -> EvalRun:
    """Evaluate `methods` of every model in `models` on dataset `ds`: rewrite the queries
    (`rewriter`: gold | rules | llm | a plans file; default gold when every query is
    annotated, else rules), build or update one index of the gallery per model, rank every query to
    DEPTH (100) or the largest k. `weights`: a checkpoint per model (same order); `limit`: only the first N queries
    (None: all). `progress(description, unit=...)`
    is a context manager yielding update(done, total) (render.progress_bar has that shape).

    Raises UsageError for missing models, unknown methods, cut-offs below 1, a limit below 1 or
    mismatched weights, and what loading a model,
    rewriting or indexing raise (all CsdError)."""
    from csdclip_cli.encoders import load_encoder
    from csdclip_cli.encoders.registry import get_family
    from csdclip_cli.encoders.spec import ModelSpec
    from csdclip_cli.index import IndexStore, build_index
    from csdclip_cli.rewrite import check_model_files
    from csdclip_cli.search.language import language_warning
    from csdclip_cli.search.searcher import Searcher

    if isinstance(models, str):
        raise UsageError(f"models is a list of specs, e.g. [{models!r}]")
    methods, ks = check_methods(methods), check_ks(ks)
    if limit is not None and limit < 1:
        raise UsageError(f"limit {limit!r}: give at least 1 (or None for every query)")
    queries = ds.queries[:limit] if limit else ds.queries
    if not models:
        raise UsageError("name a model: --model clip:ViT-L/14 (repeat --model for several)")
    if weights and len(weights) != len(models):
        raise UsageError("give one --weights per --model, in the same order")
    # gold when every query is annotated ("--rewriter gold needs annotated queries" was said to
    # a user who never typed it, for a dataset annotated in part)
    rw = rewriter or ("gold" if queries and all(q.gold for q in queries) else "rules")
    annotated = sum(1 for q in queries if q.gold)
    if rewriter is None and 0 < annotated < len(queries):
        warn(
            f"{annotated} of {len(queries)} queries are annotated: the rules rewrite every query (--rewriter gold "
            "needs every one annotated)"
        )
    check_model_files(rw, llm, adapter)
    for spec in models:  # a misspelt spec was found after every query was rewritten (minutes with an LLM)
        get_family(ModelSpec.parse(spec).family)
    with progress(f"rewriting ({rw})", unit="query") as update:
        plans, warns = plans_for(queries, rw, llm, update, adapter=adapter)
    for w in warns[:5]:
        warn(w)
    store = IndexStore(index_dir)
    source = gallery_source(ds)
    # absolute: a report re-rendered from another folder found no index and blanked every thumbnail
    run = EvalRun(ds.name, ks, list(models), methods, rw, queries, plans, {}, {}, str(store.root.resolve()))
    run.settings = {
        "split": ds.split,
        "limit": limit,
        "exact": exact,
        "weights": [str(w) if w else None for w in weights] if weights else None,
        "llm": str(llm) if llm else None,
        "adapter": str(adapter) if adapter else None,
        "composite": asdict(config or CompositeConfig()),
    }
    for i, spec in enumerate(models):
        # before the model loads and the gallery is indexed (hours, for a large one)
        language = language_warning(spec, (q.raw for q in queries), subject="the queries are")
        if language:
            warn(language)
        checkpoint = weights[i] if weights else None
        enc = load_encoder(spec, weights=checkpoint, device=device)
        name = eval_index_name(ds, enc.spec, exact, store)
        params = {"model_input": spec, "weights": str(checkpoint) if checkpoint else None}
        params |= {"dtype": "float32"} if exact else {}
        with progress(f"indexing {name}") as update:
            build_index(source, enc, name, store, progress=update, build_params=params)
        run.indexes[enc.spec] = name
        searcher = Searcher.open(name, index_dir=store.root, encoder=enc, exact=exact)
        with progress(f"searching ({enc.spec})", unit="query") as update:
            # -k 200 was scored on 100 ranks: GRP@200 read 0.460 for a true 0.750
            ranks = evaluate_model(searcher, ds, queries, plans, methods, config, update, depth=max(DEPTH, *ks))
        for m, r in ranks.items():
            run.rankings[(enc.spec, m)] = r
        run.models[i] = enc.spec
    return run


def gallery_source(ds: Dataset) -> Any:
    """The source to index for `ds`: its gallery, cut to the split's images when the layout
    names them (SubsetSource, in the split's order)."""
    from csdclip_cli.sources import SubsetSource, open_source

    src = open_source(ds.gallery, ds.gallery_kind)
    if ds.gallery_keys is None:
        return src
    return SubsetSource(src, ds.gallery_keys, f"{ds.name}:{ds.split or 'captions'}")


def eval_index_name(ds: Dataset, model_spec: str, exact: bool = False, store: Any = None) -> str:
    """'<dataset>[-<split>]-<model>[-f32][-<hash>]': the split is part of the name when the
    gallery depends on it, '-f32' marks the float32 index of --exact, and a hash of the gallery's
    folder is added when that name already holds another folder's images (two datasets of one
    layout, e.g. two flickr30k copies)."""
    import hashlib

    from csdclip_cli.index.store import default_name, name_stem
    from csdclip_cli.sources.base import absolute

    model = default_name("x", model_spec).split("-", 1)[1]
    split = f"-{ds.split}" if ds.split and (ds.gallery_keys is not None or ds.gallery_kind in ("lmdb", "wds")) else ""
    name = f"{name_stem(ds.name)}{split}-{model}" + ("-f32" if exact else "")  # ".hid": invalid as it was
    if store is not None and store.exists(name):
        location = absolute(ds.gallery)
        if store.manifest(name).source.location != location:
            name += "-" + hashlib.sha256(location.encode()).hexdigest()[:8]
    return name


def plans_for(
    queries: Sequence[Query],
    rewriter: str,
    llm: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    adapter: str | Path | None = None,
) -> tuple[dict[str, Plan], list[str]]:
    """One plan per query. Every rewriter but `gold` sees only the raw query."""
    from csdclip_cli.rewrite import get_rewriter

    plans: dict[str, Plan] = {}
    if rewriter == "gold":
        missing = [q.text_id for q in queries if q.gold is None]
        if missing:
            raise UsageError(
                f"--rewriter gold needs annotated queries; {len(missing)} have none "
                f"(e.g. {missing[0]}); use --rewriter rules"
            )
        if progress:
            progress(len(queries), len(queries))
        return {q.text_id: q.gold for q in queries if q.gold is not None}, []
    rw = get_rewriter(rewriter, llm=llm, adapter=adapter)
    for i, q in enumerate(queries):
        plans[q.text_id] = rw.rewrite(q.raw)
        if progress:
            progress(i + 1, len(queries))
    return plans, list(dict.fromkeys(getattr(rw, "warnings", [])))


def evaluate_model(
    searcher: Any,
    dataset: Dataset,
    queries: Sequence[Query],
    plans: dict[str, Plan],
    methods: Sequence[str],
    config: CompositeConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 256,
    depth: int = DEPTH,
) -> dict[str, dict[str, list[str]]]:
    """method -> text_id -> ranked image ids (the top `depth`), all methods on the same index
    and vectors. Queries are searched `batch` at a time ([batch, d] in one scan of the
    gallery for plain, arith and deo); batch=1 searches one query at a time, same result."""
    methods = check_methods(methods)
    out: dict[str, dict[str, list[str]]] = {m: {} for m in methods}
    gen = searcher.gallery.gen
    key_of: dict[int, str] = {}
    for start in range(0, len(queries), batch):
        chunk = queries[start : start + batch]
        pvs = PlanVectors.embed_many([plans[q.text_id] for q in chunk], searcher.encoder)
        for m in methods:
            for q, r in zip(chunk, rank_many(searcher.gallery, m, pvs, depth, config)):
                need = [int(x) for x in r.rows if int(x) not in key_of]
                if need:
                    key_of.update({row: k for row, (k, _) in gen.rows_for(need).items()})
                # an id once (a/x.png and b/x.png share id x: counted twice, recall@k rose above 1)
                ids = (dataset.image_id(key_of[int(x)]) for x in r.rows if int(x) in key_of)
                out[m][q.text_id] = list(dict.fromkeys(ids))
        if progress:
            progress(start + len(chunk), len(queries))
    return out


def subset(queries: Sequence[Query], name: str) -> list[Query]:
    """The queries of a SUBSETS name: "with NOT", "without NOT", or all of them."""
    if name == "with NOT":
        return [q for q in queries if q.has_not]
    if name == "without NOT":
        return [q for q in queries if not q.has_not]
    return list(queries)


def summarise(run: EvalRun, baseline: str = "plain") -> list[dict[str, Any]]:
    """Rows: one per model x method x subset, every metric at every k with its 95% CI, and the
    paired difference against the baseline method on the same queries."""
    rows = []
    per_query: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for (model, method), ranks in run.rankings.items():
        per_query[(model, method)] = {
            q.text_id: query_metrics(ranks.get(q.text_id, []), q.hr, q.mr, run.ks) for q in run.queries
        }
    for (model, method), pq in per_query.items():
        base = per_query.get((model, baseline))
        for sub in SUBSETS:
            qs = subset(run.queries, sub)
            if not qs:
                continue
            names = list(next(iter(pq.values())).keys())
            metrics = {}
            for name in names:
                vals = [pq[q.text_id][name] for q in qs]
                mean, lo, hi = bootstrap_ci(vals)
                entry: dict[str, Any] = {"mean": mean, "low": lo, "high": hi, "n": sum(not math.isnan(v) for v in vals)}
                if base is not None and method != baseline:
                    d, dlo, dhi = paired_difference(vals, [base[q.text_id][name] for q in qs])
                    entry["diff_vs_" + baseline] = {"mean": d, "low": dlo, "high": dhi}
                metrics[name] = entry
            rows.append({"model": model, "method": method, "subset": sub, "queries": len(qs), "metrics": metrics})
    return rows
