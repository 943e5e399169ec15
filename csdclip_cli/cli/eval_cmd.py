"""csd eval ..."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from csdclip_cli.cli.common import Device, IndexDir, check_device, guard

if TYPE_CHECKING:
    from rich.table import Table

    from csdclip_cli.eval.runner import EvalRun

# the defaults, also to tell a flag given to `csd eval report` (which cannot use it)
DEFAULT_KS = "1,5,10"
DEFAULT_METHODS = "plain,arith,deo,csd"


@guard
def eval_(
    dataset: str = typer.Argument(
        ...,
        help="tigr100k | coco | flickr30k | urban1k | wikido | demo | a folder; "
        "or 'report DIR' to re-render a saved report.",
    ),
    report_dir_arg: str | None = typer.Argument(None, metavar="[DIR]", help="With 'report': the report folder."),
    model: list[str] | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model spec; repeat for several encoders (the demo benchmark: demo:tiny when none is given).",
    ),
    weights: list[Path] | None = typer.Option(None, "--weights", help="Checkpoint per --model (same order)."),
    methods: str = typer.Option(DEFAULT_METHODS, "--methods", help="Comma list of plain, arith, deo, csd."),
    rewriter: str | None = typer.Option(
        None, "--rewriter", "-r", help="gold | rules | llm | plans.jsonl (default: gold when every query is annotated)."
    ),
    llm: Path | None = typer.Option(None, "--llm", help="GGUF for --rewriter llm."),
    adapter: Path | None = typer.Option(
        None, "--adapter", help="LoRA adapter GGUF for --rewriter llm (default: the one csd ships)."
    ),
    k: str = typer.Option(DEFAULT_KS, "-k", help="Cut-offs, comma separated."),
    lang: str = typer.Option("en", "--lang", help="en | zh (TIGR-100k)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N queries."),
    split: str | None = typer.Option(
        None,
        "--split",
        help="Dataset split: test (default where there are splits), val, train; demo: tune | test (default: all queries).",
    ),
    exact: bool = typer.Option(
        False, "--exact", help="Score from float32 vectors by brute force (reference-grade numbers; slower)."
    ),
    report: Path | None = typer.Option(None, "--report", help="Write summary.md/json, metrics.png, index.html here."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Leave malformed lines out instead of stopping."),
    config_file: Path | None = typer.Option(
        None,
        "--config",
        help="TOML/JSON file with fusion weights (\\[composite] table or top level).",  # \\[: not Rich markup
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", envvar="CSD_DATA", help="Data root (default ./data)."),
    device: str = Device,
    index_dir: Path | None = IndexDir,
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
        given = [
            flag
            for flag, used in (
                ("-k", k != DEFAULT_KS),
                ("--methods", methods != DEFAULT_METHODS),
                ("--model", bool(model)),
                ("--rewriter", rewriter is not None),
                ("--limit", limit is not None),
                ("--split", split is not None),
                ("--exact", exact),
                ("--report", report is not None),
                ("--config", config_file is not None),
            )
            if used
        ]
        if given:  # they were ignored without a word
            raise UsageError(
                f"csd eval report re-renders the saved run as it was; {', '.join(given)} would need a new run "
                "(csd eval DATASET ... --report DIR)"
            )
        saved = rep.load_run(Path(report_dir_arg))  # read once (render read it again)
        rows = rep.render(Path(report_dir_arg), saved)
        out().print(summary_table(saved, rows))
        note(f"re-rendered {Path(report_dir_arg) / 'index.html'}")
        return
    if report_dir_arg is not None:  # a second argument only means something after "report"; it was ignored
        raise UsageError(
            f"csd eval takes one dataset; {report_dir_arg!r} is a second argument "
            f"(a report folder is --report {report_dir_arg}; re-render one with csd eval report DIR)"
        )
    from csdclip_cli.eval.datasets import load_dataset
    from csdclip_cli.eval.runner import parse_ks, parse_methods, run_evaluation
    from csdclip_cli.render import progress_bar
    from csdclip_cli.search.composite import CompositeConfig

    if report is not None:
        from csdclip_cli.textfile import check_output_dir

        fresh = not report.expanduser().exists()
        check_output_dir(report, "--report")
        from csdclip_cli.eval.report import check_report_dir

        check_report_dir(report)  # before the run, not after it
        if fresh:  # made to check it is writable: a run that stops early left it behind, empty
            report.expanduser().rmdir()
    ks = parse_ks(k)
    method_list = parse_methods(methods)
    check_device(device)  # an index already built loads no model: a bogus --device went unnoticed
    ds = load_dataset(dataset, data_dir, lang, skip_bad, split)
    for w in ds.warnings:
        warn(w)
    from csdclip_cli.eval.datasets import unmeasurable

    if why := unmeasurable(ds):  # every metric would be 0 or empty: a run that tests nothing stops here
        from csdclip_cli.errors import DatasetError

        raise DatasetError(f"{why}; nothing was evaluated")
    from csdclip_cli.demo.benchmark import is_benchmark

    # the demo benchmark is the demo model's, however it is named (`csd eval .` in its folder asked for --model)
    run = run_evaluation(
        ds,
        list(model or (["demo:tiny"] if dataset == "demo" or is_benchmark(ds.root) else [])),
        method_list,
        ks,
        rewriter,
        weights=weights,
        llm=llm,
        adapter=adapter,
        limit=limit,
        exact=exact,
        config=CompositeConfig.load(config_file),
        device=device,
        index_dir=index_dir,
        progress=progress_bar,
        warn=warn,
    )
    if report:
        rows = rep.write_report(run, report)
        note(f"report: {(report / 'index.html').resolve()}")
    else:
        from csdclip_cli.eval.runner import summarise

        rows = summarise(run)
    out().print(summary_table(run, rows))


def summary_table(run: EvalRun, rows: list[dict[str, Any]]) -> Table:
    """Methods x metrics at the largest k, one row per model x method x subset; n is the number
    of queries the means average."""
    from rich.table import Table

    from csdclip_cli.eval.report import MAIN_METRICS, averaged, fmt

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
        # n: the queries the means average (a query with no relevant image is left out of them)
        t.add_row(r["model"], r["method"], r["subset"], averaged(r, cols), *[fmt(r["metrics"][c]) for c in cols])
    return t
