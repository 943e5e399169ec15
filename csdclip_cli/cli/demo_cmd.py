"""csd demo ..."""

from __future__ import annotations

from pathlib import Path

import typer

from csdclip_cli.cli.common import Device, IndexDir, check_device, guard, new_app

app = new_app(
    "The offline demo: a procedural photo world, a tiny trained CLIP, a graded benchmark. `csd demo` plans with "
    "the rules and fuses with the default weights (a settings file is not read): its figures are the same everywhere."
)
app.info.no_args_is_help = False  # plain `csd demo` runs the demo
DataDir = typer.Option(None, "--data-dir", envvar="CSD_DATA", help="Data root (default ./data).")


@app.callback(invoke_without_command=True)
@guard
def demo(
    ctx: typer.Context,
    k: int = typer.Option(5, "-k", min=1, help="Results per query."),
    html: Path | None = typer.Option(None, "--html", help="Where to write the page (default DATA/demo/demo.html)."),
    data_dir: Path | None = DataDir,
    index_dir: Path | None = IndexDir,
    device: str = Device,
) -> None:
    """Generate the demo gallery, index it with demo:tiny, and compare plain vs composite
    search on example complex queries. Needs no network and no downloads.

    Plans come from the rules and fusion uses the default weights (a settings file's
    [composite] and [rewrite] are not read), so the figures are the same on every machine.

    Example: [bold]csd demo[/]
    """
    if ctx.invoked_subcommand is not None:
        return
    check_device(device)  # before the gallery is generated
    from rich.table import Table

    from csdclip_cli import config
    from csdclip_cli.demo import run
    from csdclip_cli.html import ThumbnailReader, page, plan_html, result_cards
    from csdclip_cli.render import err, note, out, progress_bar
    from csdclip_cli.search.searcher import Searcher
    from csdclip_cli.textfile import check_output, write_text

    root = config.data_dir(data_dir) / "demo"
    page_path = check_output(html, "--html") if html else root / "demo.html"
    note(f"demo data: {root}")
    run.ensure_data(root)
    with progress_bar("indexing demo gallery") as update:
        store, enc, rep = run.build_demo_index(root, index_dir, update, device)
    err().print(f"index {rep.name}: {rep.total} images, encoded {rep.encoded}, unchanged {rep.unchanged}")
    s = Searcher.open(rep.name, index_dir=store.root, encoder=enc)
    thumbs = ThumbnailReader(s.manifest)
    body = "<h1>csd demo — plain CLIP vs composite search (demo:tiny)</h1>"
    body += "<p>Border: <span class='ok'>green = highly relevant</span>, orange = moderately, red = irrelevant.</p>"
    totals = {"plain": 0, "csd": 0}
    for c in run.compare(s, run.example_queries(run.load_queries(root)), k):
        q, plain, comp = c.query, c.plain, c.composite
        t = Table(title=f"[bold]{q.raw}[/]", title_justify="left", show_edge=False)
        t.add_column("#", justify="right")
        t.add_column("plain CLIP")
        t.add_column("csd composite")
        for i in range(k):
            cells = []
            for res in (plain, comp):
                r = res[i] if i < len(res) else None
                g = q.grade(r.key) if r else ""
                color = {"HR": "green", "MR": "yellow", "IR": "red"}.get(g, "")
                cells.append(f"[{color}]{g}[/] {r.key} ({r.score:.2f})" if r else "")
            t.add_row(str(i + 1), *cells)
        totals["plain"] += c.hr_plain
        totals["csd"] += c.hr_composite
        t.caption = f"highly relevant in top {k}: plain {c.hr_plain}/{k} · composite {c.hr_composite}/{k}"
        out().print(t)
        grades = {r.key: q.grade(r.key) for r in plain + comp}
        body += f"<h2>{q.raw}</h2>{plan_html(c.plan)}<h3>plain CLIP</h3>{result_cards(plain, thumbs, grades)}"
        body += f"<h3>csd composite</h3>{result_cards(comp, thumbs, grades)}"
    out().print(
        f"\nhighly relevant results in the top {k}, all example queries: "
        f"plain {totals['plain']} · composite {totals['csd']}"
    )
    write_text(page_path, page("csd demo", body), "--html")
    out().print(f"HTML page with thumbnails: {page_path.resolve()}")


@app.command("data")
@guard
def data(
    out_dir: Path | None = typer.Argument(None, help="Where to write (default DATA/demo)."),
    images: int = typer.Option(3000, "--images", min=10, help="Gallery size."),
    queries: int = typer.Option(300, "--queries", min=1, help="How many complex queries."),
    data_dir: Path | None = DataDir,
) -> None:
    """Write the demo benchmark (TIGR-100k layout: en_demo.jsonl, imgs/, lmdb/imgs). Deterministic.

    Example: [bold]csd demo data ./data/demo[/]
    """
    from csdclip_cli import config
    from csdclip_cli.demo import benchmark
    from csdclip_cli.render import err

    target = out_dir or config.data_dir(data_dir) / "demo"
    benchmark.write_benchmark(target, images, queries)
    err().print(f"wrote {images} images and {queries} queries to {target}")


@app.command("train")
@guard
def train(
    steps: int = typer.Option(1300, "--steps", min=1),
    batch: int = typer.Option(256, "--batch", min=2),
    out_dir: Path = typer.Option(
        Path("runs/demo-model"),
        "--out",
        help="Where to write the model. The shipped one is csdclip_cli/demo/model: give it to replace it "
        "(the demo's indexes are then rebuilt).",
    ),
) -> None:
    """Retrain the tiny demo CLIP on the procedural world (CPU, about 25 minutes on 2 cores).
    It is written to runs/demo-model unless --out says otherwise: a quick try no longer
    replaces the shipped model (the demo's indexes refused the new one).

    Example: [bold]csd demo train --steps 1300 --out runs/demo-model[/]
    """
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from csdclip_cli.demo import train as trainer

    torch.set_num_threads(int(os.environ.get("CSD_TRAIN_THREADS", "1")))
    trainer.train(steps, batch, out_dir)
