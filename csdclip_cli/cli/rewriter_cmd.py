"""csd rewriter ... (measure rewriters against gold plans)"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from csdclip_cli.cli.common import guard, new_app

app = new_app("Measure query rewriters against gold plans.")

FIGURES = [
    ("exact", "exact"),
    ("and_exact", "AND exact"),
    ("not_exact", "NOT exact"),
    ("not_precision", "NOT prec"),
    ("not_recall", "NOT recall"),
    ("false_not", "false NOT"),
    ("and_f1", "AND F1"),
    ("leaks", "leaks"),
    ("or_exact", "OR exact"),
]


@app.command("eval")
@guard
def eval_(
    file: Path = typer.Argument(..., help="Gold plans: JSONL of plan JSON or TIGR records ({'text': ...})."),
    rewriters: str = typer.Option("rules", "--rewriters", help="Comma-separated: rules, llm."),
    llm: Path = typer.Option(None, "--llm", help="GGUF for llm (default: $CSD_LLM or models/*.gguf)."),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N queries."),
    per_query: bool = typer.Option(False, "--per-query", help="List every query a rewriter got wrong."),
    json_out: Path = typer.Option(None, "--json", help="Write totals and per-query scores as JSON here."),
) -> None:
    """Score rewriters side by side on a file of gold plans: exact match of the AND and NOT
    sets, NOT precision / recall, false NOTs, AND F1, leaks of negated terms into the positive
    side, OR groups, fallbacks and latency (see csdclip_cli/rewrite/evaluation.py).

    Example: [bold]csd rewriter eval tests/data/rewrite_heldout.jsonl --rewriters rules,llm[/]
    """
    from rich.markup import escape
    from rich.table import Table

    from csdclip_cli.errors import UsageError
    from csdclip_cli.render import out, progress_bar
    from csdclip_cli.rewrite import get_rewriter
    from csdclip_cli.rewrite.evaluation import evaluate
    from csdclip_cli.rewrite.planfile import read_plans
    from csdclip_cli.textfile import check_output

    names = [r.strip() for r in rewriters.split(",") if r.strip()]
    bad = [r for r in names if r not in ("rules", "llm")]
    if bad or not names:
        raise UsageError(f"--rewriters {rewriters!r}: choose from rules, llm (comma-separated)")
    if json_out is not None:
        check_output(json_out, "--json", inputs=[file])
    golds = list(read_plans(file).values())[:limit]
    if not golds:
        raise UsageError(f"{file} holds no plans")
    summaries = []
    for name in names:
        rw = get_rewriter(name, llm=llm, cache=False)
        with progress_bar(f"{name} on {len(golds)} queries", unit="query") as update:
            summaries.append(evaluate(name, rw, golds, update))
        if hasattr(rw, "close"):
            rw.close()

    table = Table(title=f"{escape(str(file))}: {len(golds)} queries")
    table.add_column("rewriter")
    for _, label in FIGURES:
        table.add_column(label, justify="right")
    table.add_column("fallbacks", justify="right")
    table.add_column("latency p50 / p90", justify="right")
    for s in summaries:
        cells = [f"{getattr(s, k):.3f}" if getattr(s, k) == getattr(s, k) else "—" for k, _ in FIGURES]
        lat = f"{1000 * s.latency_median_s:.1f} / {1000 * s.latency_p90_s:.1f} ms"
        table.add_row(s.rewriter, *cells, str(s.fallbacks), lat)
    o = out()
    o.print(table)
    if per_query:
        for s in summaries:
            for q in s.per_query:
                if not q.exact or q.leak:
                    p = q.plan
                    o.print(
                        f"[bold]{s.rewriter}[/] {escape(q.raw)}\n  AND {escape(str(p['and']))}  NOT "
                        f"{escape(str(p['not']))}"
                        + (f"  OR {escape(str(p['or']))}" if p["or"] else "")
                        + ("  [red]leak[/]" if q.leak else ""),
                        highlight=False,
                    )
    if json_out is not None:
        from csdclip_cli.textfile import write_text

        write_text(json_out, json.dumps([s.to_dict(per_query=True) for s in summaries], ensure_ascii=False, indent=1))


@app.command("data")
@guard
def data(
    output: Path = typer.Option(..., "--output", "-o", help="JSONL file to write."),
    n: int = typer.Option(5000, "-n", min=1, help="How many (query, plan) pairs."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same pairs."),
    tigr: bool = typer.Option(False, "--tigr", help='TIGR records ({"text": annotated}) instead of plan JSON.'),
) -> None:
    """Generate (query, plan) training pairs from templates: subjects, attributes, actions,
    places, relations, OR groups, every negation form the rules know and more, carrier
    phrases, Chinese and mixed Chinese-English (csdclip_cli/rewrite/training_data.py).

    Example: [bold]csd rewriter data -n 5000 --seed 0 -o train.jsonl[/]
    """
    from csdclip_cli.render import note
    from csdclip_cli.rewrite.training_data import generate
    from csdclip_cli.textfile import output_file

    with output_file(output, "--output") as f:
        for plan in generate(n, seed):
            f.write((json.dumps({"text": plan.to_tigr()}, ensure_ascii=False) if tigr else plan.to_json()) + "\n")
    note(f"wrote {n} pairs to {output}")
