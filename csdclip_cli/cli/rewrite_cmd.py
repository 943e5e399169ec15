"""csd rewrite ..."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from csdclip_cli.cli.common import guard

if TYPE_CHECKING:
    from csdclip_cli.rewrite.plan import Plan


@guard
def rewrite(
    query: str | None = typer.Argument(None, help="The query to rewrite."),
    rewriter: str = typer.Option(
        "rules", "--rewriter", "-r", help="rules | llm | llm-base (the GGUF without adapter)."
    ),
    llm: Path | None = typer.Option(None, "--llm", help="GGUF file (default: $CSD_LLM or models/*.gguf)."),
    adapter: Path | None = typer.Option(
        None, "--adapter", help="LoRA adapter GGUF for --rewriter llm (default: the one csd ships)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    file: Path | None = typer.Option(None, "--file", "-f", help="Rewrite every line of this file (- : stdin)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="With --file: write plans JSONL here (- : stdout, as without it)."
    ),
    tigr: bool = typer.Option(
        False, "--tigr", help='The TIGR-100k annotated text form (with --file: {"text": ...} lines).'
    ),
) -> None:
    """Turn a complex query into a plan: optimized phrase + AND / NOT / OR clauses.

    Example: [bold]csd rewrite "a woman in a green dress dancing in front of City Hall, no shoes"[/]
    Batch:   [bold]csd rewrite --file queries.txt -o plans.jsonl --rewriter llm[/]
    """
    from csdclip_cli.errors import UsageError
    from csdclip_cli.render import err, out, warn
    from csdclip_cli.rewrite import get_rewriter
    from csdclip_cli.rewrite.plan import require_query
    from csdclip_cli.rewrite.render import plan_tree
    from csdclip_cli.textfile import check_output, is_stdio, output_file, read_text

    if rewriter not in ("rules", "llm", "llm-base"):
        raise UsageError(f"--rewriter must be rules, llm or llm-base, not {rewriter!r}")
    if json_out and tigr:  # --tigr was ignored
        raise UsageError("--json and --tigr are two output forms; pick one")
    if file is not None and query is not None:
        raise UsageError(f"give a QUERY or --file FILE, not both (got {query!r} and --file {file})")
    if output is not None and file is None:
        raise UsageError("--output writes the plans of a --file batch; give --file FILE too")
    if file is None:
        if query is None:
            raise UsageError("give a QUERY or --file FILE")
        query = require_query(query)
        rw = get_rewriter(rewriter, llm=llm, adapter=adapter)
        plan = rw.rewrite(query)
        if json_out:
            print(plan.to_json())
        elif tigr:
            if _tigr_record(plan) is None:  # as a batch says (it was printed without a word)
                warn(
                    "this plan does not survive the TIGR form ('|', '<', '>' or a comma inside a clause): "
                    "read back it gives other clauses; --json keeps it"
                )
            print(plan.to_tigr())
        else:
            out().print(plan_tree(plan))
        for w in dict.fromkeys(getattr(rw, "warnings", [])):
            warn(w)
    else:
        numbered = [(n, q.strip()) for n, q in enumerate(read_text(file, "--file").splitlines(), 1) if q.strip()]
        if output is not None:
            check_output(output, "--output", inputs=[file])
        rw = get_rewriter(rewriter, llm=llm, adapter=adapter)
        t0 = time.time()
        sink = output_file(output, "--output", inputs=[file]) if output else contextlib.nullcontext(sys.stdout)
        repeats: dict[str, int] = {}  # a warning is shown once, with its first line; then counted
        try:
            written = _batch(numbered, rw, file, tigr, sink, repeats)
        except KeyboardInterrupt:  # "interrupted" alone: was anything kept?
            from csdclip_cli.rewrite.cache import CachedRewriter

            kept = (
                "; the plans made so far are cached: running it again reuses them"
                if isinstance(rw, CachedRewriter)
                else ""
            )
            where = f"{output} was not written" if output and not is_stdio(output) else "stopped"
            print(f"interrupted: {where}{kept}", file=sys.stderr)
            raise typer.Exit(130) from None
        for w, count in repeats.items():
            if count > 1:
                warn(f"{w} (on {count} lines in all)")
        if output and not is_stdio(output):  # "-": the plans are on stdout
            rate = written / max(time.time() - t0, 1e-9)
            plans = "1 plan" if written == 1 else f"{written} plans"
            err().print(f"wrote {plans} to {output} ({rate:.1f} queries/s)", markup=False)


def _batch(
    numbered: list[tuple[int, str]],
    rw: Any,
    file: Path,
    tigr: bool,
    sink: Any,
    repeats: dict[str, int],
) -> int:
    """Rewrite each (line number, query) of `file` into `sink` (plan JSON, or TIGR records with
    `tigr`); warnings are shown once and counted in `repeats`. Returns the plans written."""
    from csdclip_cli.errors import UsageError
    from csdclip_cli.render import progress_bar, warn

    written = 0
    with sink as f, progress_bar("rewriting", unit="query") as update:
        for i, (n, q) in enumerate(numbered):
            seen = len(getattr(rw, "warnings", []))
            try:
                plan = rw.rewrite(q)
            except UsageError as e:  # e.g. a punctuation-only line: reported, the batch goes on
                warn(f"{file}: line {n}: {e}; no plan written for it")
            else:
                # --tigr was ignored by a batch: TIGR records, as `csd rewriter data --tigr` writes
                record = _tigr_record(plan) if tigr else None
                if tigr and record is None:
                    warn(
                        f"{file}: line {n}: its plan does not survive the TIGR form ('|', '<', '>' or a "
                        "comma inside a clause); written as plan JSON, which a plans file reads too"
                    )
                f.write((record or plan.to_json()) + "\n")
                written += 1
            for w in dict.fromkeys(getattr(rw, "warnings", [])[seen:]):
                if w not in repeats:
                    warn(f"{file}: line {n}: {w}")
                repeats[w] = repeats.get(w, 0) + 1
            update(i + 1, len(numbered))
    return written


def _tigr_record(plan: Plan) -> str | None:
    """`plan` as a TIGR record line ({"text": annotated}), or None when reading it back would not
    give the same clauses (a '|' or '<' in the query, a comma inside a clause)."""
    from csdclip_cli.errors import PlanFormatError
    from csdclip_cli.rewrite.plan import parse_tigr

    text = plan.to_tigr()
    try:
        back = parse_tigr(text)
    except PlanFormatError:
        return None
    if (back.raw, back.and_, back.not_, back.or_) != (plan.raw, plan.and_, plan.not_, plan.or_):
        return None
    return json.dumps({"text": text}, ensure_ascii=False)
