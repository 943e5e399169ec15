"""csd rewrite ..."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from csdclip_cli.cli.common import guard


@guard
def rewrite(
    query: str = typer.Argument(None, help="The query to rewrite."),
    rewriter: str = typer.Option("rules", "--rewriter", "-r", help="rules | llm."),
    llm: Path = typer.Option(None, "--llm", help="GGUF file (default: $CSD_LLM or models/*.gguf)."),
    json_out: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    file: Path = typer.Option(None, "--file", "-f", help="Rewrite every line of this file."),
    output: Path = typer.Option(None, "--output", "-o", help="With --file: write plans JSONL here."),
    tigr: bool = typer.Option(False, "--tigr", help="Print the TIGR-100k annotated text form."),
) -> None:
    """Turn a complex query into a plan: optimized phrase + AND / NOT / OR clauses.

    Example: [bold]csd rewrite "a woman in a green dress dancing in front of City Hall, no shoes"[/]
    Batch:   [bold]csd rewrite --file queries.txt -o plans.jsonl --rewriter llm[/]
    """
    from csdclip_cli.errors import UsageError
    from csdclip_cli.render import err, out, progress_bar, warn
    from csdclip_cli.rewrite import get_rewriter
    from csdclip_cli.rewrite.plan import require_query
    from csdclip_cli.rewrite.render import plan_tree
    from csdclip_cli.textfile import read_text

    if rewriter not in ("rules", "llm"):
        raise UsageError(f"--rewriter must be rules or llm, not {rewriter!r}")
    if file is not None:
        queries = [q.strip() for q in read_text(file.expanduser(), "--file").splitlines() if q.strip()]
    elif query is None:
        raise UsageError("give a QUERY or --file FILE")
    else:
        query = require_query(query)
    rw = get_rewriter(rewriter, llm=llm)
    if file is not None:
        lines = []
        t0 = time.time()
        with progress_bar("rewriting", unit="query") as update:
            for i, q in enumerate(queries):
                lines.append(rw.rewrite(q).to_json())
                update(i + 1, len(queries))
        text = "\n".join(lines) + ("\n" if lines else "")
        if output:
            output = output.expanduser()
            output.write_text(text, encoding="utf-8")
            err().print(
                f"wrote {len(lines)} plans to {output} ({len(lines) / max(time.time() - t0, 1e-9):.1f} queries/s)"
            )
        else:
            print(text, end="")
    else:
        plan = rw.rewrite(query)
        if json_out:
            print(plan.to_json())
        elif tigr:
            print(plan.to_tigr())
        else:
            out().print(plan_tree(plan))
    for w in dict.fromkeys(getattr(rw, "warnings", [])):
        warn(w)
