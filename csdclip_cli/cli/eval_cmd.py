"""csd eval ..."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from csdclip_cli.cli.common import Device, IndexDir, guard

if TYPE_CHECKING:
    from rich.table import Table

    from csdclip_cli.eval.runner import EvalRun


@guard
def eval_(
    dataset: str = typer.Argument(
        ...,
        help="tigr100k | coco | flickr30k | urban1k | wikido | demo | a folder; "
        "or 'report DIR' to re-render a saved report.",
    ),
    report_dir_arg: str = typer.Argument(None, metavar="[DIR]", help="With 'report': the report folder."),
    model: list[str] = typer.Option(None, "--model", "-m", help="Model spec; repeat for several encoders."),
    weights: list[Path] = typer.Option(None, "--weights", help="Checkpoint per --model (same order)."),
    methods: str = typer.Option("plain,arith,deo,csd", "--methods", help="Comma list of plain, arith, deo, csd."),
    rewriter: str = typer.Option(
        None, "--rewriter", "-r", help="gold | rules | llm | plans.jsonl (default: gold when annotated)."
    ),
    llm: Path = typer.Option(None, "--llm", help="GGUF for --rewriter llm."),
    adapter: Path = typer.Option(
        None, "--adapter", help="LoRA adapter GGUF for --rewriter llm (default: the one csd ships)."
    ),
    k: str = typer.Option("1,5,10", "-k", help="Cut-offs, comma separated."),
    lang: str = typer.Option("en", "--lang", help="en | zh (TIGR-100k)."),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N queries."),
    split: str = typer.Option(
        None, "--split", help="Dataset split: test (default where there are splits), val, train; demo: tune | test."
    ),
    exact: bool = typer.Option(
        False, "--exact", help="Score from float32 vectors by brute force (reference-grade numbers; slower)."
    ),
    report: Path = typer.Option(None, "--report", help="Write summary.md/json, metrics.png, index.html here."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave malformed lines out instead of stopping."),
    config_file: Path = typer.Option(None, "--config", help="TOML/JSON file with composite fusion weights."),
    data_dir: Path = typer.Option(None, "--data-dir", envvar="CSD_DATA", help="Data root (default ./data)."),
    device: str = Device,
    index_dir: Path = IndexDir,
) -> None:
    """Evaluate methods (plain, arith, deo, csd) on a benchmark with graded metrics.

    Example: [bold]csd eval tigr100k --model clip:ViT-L/14 --report out/tigr[/]
    Offline: [bold]csd eval demo --methods plain,csd --report out/demo[/]
    Re-render: [bold]csd eval report out/demo[/]
    """
    from csdclip_cli.errors import UsageError
    from csdclip_cli.eval import report as rep
    from csdclip_cli.render import note, out, warn

    if dataset == "report":
        if not report_dir_arg:
            raise UsageError("usage: csd eval report DIR")
        rows = rep.render(Path(report_dir_arg))
        out().print(summary_table(rep.load_run(Path(report_dir_arg)), rows))
        note(f"re-rendered {Path(report_dir_arg) / 'index.html'}")
        return
    from csdclip_cli.encoders import load_encoder
    from csdclip_cli.eval.datasets import load_dataset
    from csdclip_cli.eval.runner import EvalRun, eval_index_name, evaluate_model, gallery_source, plans_for
    from csdclip_cli.index import IndexStore, build_index
    from csdclip_cli.render import progress_bar
    from csdclip_cli.search.composite import CompositeConfig
    from csdclip_cli.search.searcher import Searcher

    if report is not None:
        from csdclip_cli.textfile import check_output_dir

        check_output_dir(report, "--report")
    try:
        ks = sorted({int(x) for x in k.split(",") if x.strip()})
    except ValueError:
        raise UsageError(f"-k {k!r}: give comma-separated integers like 1,5,10") from None
    if not ks or ks[0] < 1:
        raise UsageError(f"-k {k!r}: cut-offs must be whole numbers of at least 1, like 1,5,10")
    method_list = [m.strip() for m in methods.split(",") if m.strip()]
    from csdclip_cli.search.methods import METHODS

    unknown = [m for m in method_list if m not in METHODS]
    if unknown or not method_list:
        raise UsageError(f"--methods {methods!r}: choose from {', '.join(METHODS)}")
    ds = load_dataset(dataset, data_dir, lang, skip_bad, split)
    for w in ds.warnings:
        warn(w)
    queries = ds.queries[:limit] if limit else ds.queries
    models = list(model or (["demo:tiny"] if dataset == "demo" else []))
    if not models:
        raise UsageError("name a model: --model clip:ViT-L/14 (repeat --model for several)")
    if weights and len(weights) != len(models):
        raise UsageError("give one --weights per --model, in the same order")
    rw = rewriter or ("gold" if any(q.gold for q in queries) else "rules")
    with progress_bar(f"rewriting ({rw})", unit="query") as update:
        plans, warns = plans_for(queries, rw, llm, update, adapter=adapter)
    for w in warns[:5]:
        warn(w)
    cfg = CompositeConfig.load(config_file)
    store = IndexStore(index_dir)
    source = gallery_source(ds)
    run = EvalRun(ds.name, ks, models, method_list, rw, queries, plans, {}, {}, str(store.root))
    for i, spec in enumerate(models):
        w = weights[i] if weights else None
        enc = load_encoder(spec, weights=w, device=device)
        name = eval_index_name(ds, enc.spec, exact, store)
        params = {"model_input": spec, "weights": str(w) if w else None} | ({"dtype": "float32"} if exact else {})
        with progress_bar(f"indexing {name}") as update:
            build_index(source, enc, name, store, progress=update, build_params=params)
        run.indexes[enc.spec] = name
        searcher = Searcher.open(name, index_dir=store.root, encoder=enc, exact=exact)
        with progress_bar(f"searching ({enc.spec})", unit="query") as update:
            ranks = evaluate_model(searcher, ds, queries, plans, method_list, cfg, update)
        for m, r in ranks.items():
            run.rankings[(enc.spec, m)] = r
        run.models[i] = enc.spec
    if report:
        rows = rep.write_report(run, report)
        note(f"report: {(report / 'index.html').resolve()}")
    else:
        from csdclip_cli.eval.runner import summarise

        rows = summarise(run)
    out().print(summary_table(run, rows))


def summary_table(run: EvalRun, rows: list[dict[str, Any]]) -> Table:
    """Methods x metrics at the largest k, one row per model x method x subset."""
    from rich.table import Table

    from csdclip_cli.eval.report import MAIN_METRICS, fmt

    k = max(run.ks)
    cols = [f"R@{x}" for x in run.ks] + [f"{m}@{k}" for m in MAIN_METRICS if m != "R"] + ["mAP"]
    t = Table(
        title=f"{run.dataset} · rewriter {run.rewriter} · {len(run.queries)} queries",
        title_justify="left",
        show_edge=False,
    )
    for c in ["model", "method", "subset", "n", *cols]:
        t.add_column(c, justify="left" if c in ("model", "method", "subset") else "right")
    for r in rows:
        t.add_row(r["model"], r["method"], r["subset"], str(r["queries"]), *[fmt(r["metrics"][c]) for c in cols])
    return t
