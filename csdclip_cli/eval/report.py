"""Evaluation reports: rankings.jsonl + queries.jsonl + run.json are the saved run; from
them come summary.json, summary.md, metrics.png and index.html (`csd eval report DIR`)."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from csdclip_cli.errors import PlanFormatError, UsageError
from csdclip_cli.eval.datasets import Query
from csdclip_cli.eval.runner import EvalRun, summarise
from csdclip_cli.rewrite.plan import Plan

HTML_QUERIES = 60  # queries shown in index.html (the page stays light; every query is in the JSON)
MAIN_METRICS = ("R", "GRP", "NIPR", "nDCG", "P_strict")


def save_run(run: EvalRun, out: Path) -> None:
    """Write `run` to folder `out`: rankings.jsonl (model, method, text_id, ranking), queries.jsonl
    (raw text, HR / MR ids, plan) and run.json (settings); load_run reads them back."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "rankings.jsonl").open("w") as f:
        for (model, method), ranks in run.rankings.items():
            for tid, ids in ranks.items():
                f.write(json.dumps({"model": model, "method": method, "text_id": tid, "ranking": ids}) + "\n")
    with (out / "queries.jsonl").open("w") as f:
        for q in run.queries:
            plan = run.plans.get(q.text_id)
            f.write(
                json.dumps(
                    {
                        "text_id": q.text_id,
                        "raw": q.raw,
                        "hr": sorted(q.hr),
                        "mr": sorted(q.mr),
                        "has_not": q.has_not,
                        "plan": plan.to_dict() if plan else None,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    (out / "run.json").write_text(
        json.dumps(
            {
                "dataset": run.dataset,
                "ks": run.ks,
                "models": run.models,
                "methods": run.methods,
                "rewriter": run.rewriter,
                "indexes": run.indexes,
                "index_dir": run.index_dir,
                "settings": run.settings,
            },
            indent=2,
        )
        + "\n"
    )


def load_run(out: Path) -> EvalRun:
    """The EvalRun save_run wrote to `out`. Raises UsageError when `out` holds no run.json, and
    when one of its files is missing, cut short or not what save_run writes (it was a traceback)."""
    if not (out / "run.json").exists():
        raise UsageError(f"{out} holds no saved evaluation (run.json); run `csd eval DATASET --report {out}` first")
    current = out / "run.json"
    where = str(current)  # and the line of a .jsonl being read (a JSON error's own line is always 1)
    try:
        meta = json.loads(current.read_text(encoding="utf-8"))
        queries, plans = [], {}
        current = out / "queries.jsonl"
        where = str(current)
        for n, line in enumerate(current.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{current}:{n}"
            if not line.strip():  # a blank line (an editor's last newline) holds nothing
                continue
            d = json.loads(line)
            q = Query(d["text_id"], d["raw"], set(d["hr"]), set(d["mr"]), not_flag=bool(d["has_not"]))
            if d.get("plan"):
                plans[q.text_id] = Plan.from_dict(d["plan"])
            queries.append(q)
        rankings: dict[tuple[str, str], dict[str, list[str]]] = {}
        current = out / "rankings.jsonl"
        where = str(current)
        for n, line in enumerate(current.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{current}:{n}"
            if not line.strip():  # a blank line (an editor's last newline) holds nothing
                continue
            d = json.loads(line)
            rankings.setdefault((d["model"], d["method"]), {})[d["text_id"]] = d["ranking"]
        where = str(out / "run.json")  # its fields are read here
        return EvalRun(
            meta["dataset"],
            meta["ks"],
            meta["models"],
            meta["methods"],
            meta["rewriter"],
            queries,
            plans,
            rankings,
            meta.get("indexes", {}),
            meta.get("index_dir", ""),
            meta.get("settings", {}),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, PlanFormatError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else f"{type(e).__name__}: {str(e)[:80]}"
        if isinstance(e, json.JSONDecodeError):  # its line and column are of one line, not the file
            why = f"not JSON: {e.msg} at column {e.colno}"
        raise UsageError(
            f"{where} cannot be read as a saved evaluation ({why}); run `csd eval DATASET --report {out}` again"
        ) from None


def fmt(entry: dict[str, Any]) -> str:
    """A metric entry's mean to 3 decimals, "–" when undefined (NaN)."""
    m = entry["mean"]
    return "–" if m is None or math.isnan(m) else f"{m:.3f}"


def averaged(row: dict[str, Any], cols: list[str]) -> str:
    """How many queries the means of `cols` in `row` average: "19", or "19–20" when they differ
    (GRP and nDCG count a query with no relevant image through its similar ones). A query with
    no relevant image is left out, so this can be less than the row's queries."""
    ns = sorted({int(row["metrics"][c]["n"]) for c in cols})
    return str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"


def settings_line(run: EvalRun) -> str:
    """The run's settings that decide its numbers, on one line ("split test · exact · weights
    phrase_weight=1.0, ..."); what is unset is left out."""
    st = run.settings
    parts = [f"split {st['split']}" if st.get("split") else "", f"limit {st['limit']}" if st.get("limit") else ""]
    parts += ["exact (float32)" if st.get("exact") else "", f"llm {st['llm']}" if st.get("llm") else ""]
    parts += [f"adapter {st['adapter']}" if st.get("adapter") else ""]
    parts += [f"model weights {', '.join(str(w) for w in st['weights'])}" if st.get("weights") else ""]
    if st.get("composite"):
        parts.append("fusion " + ", ".join(f"{k}={v}" for k, v in st["composite"].items()))
    return " · ".join(p for p in parts if p)


def summary_markdown(run: EvalRun, rows: list[dict[str, Any]]) -> str:
    """summary.md: the settings, then one table row per model x method x subset with every
    main metric at every k (mean and 95% bootstrap interval)."""
    ks = run.ks
    cols = [f"{m}@{k}" for k in ks for m in MAIN_METRICS] + ["mAP"]
    lines = [
        f"# csd eval: {run.dataset}",
        "",
        f"rewriter: `{run.rewriter}` · methods: {', '.join(run.methods)} · queries: {len(run.queries)}",
        "",
        *([f"settings: {settings_line(run)}", ""] if run.settings else []),
        "Means; their 95% bootstrap intervals"
        + (" and the paired differences against plain (`diff_vs_plain`)" if "plain" in run.methods else "")
        + " are in summary.json.",
        "",
    ]
    for sub in ("all", "with NOT", "without NOT"):
        srows = [r for r in rows if r["subset"] == sub]
        if not srows:
            continue
        n, total = averaged(srows[0], cols), str(srows[0]["queries"])
        lines += [
            f"## {sub} ({total} queries" + (f"; the means average {n}" if n != total else "") + ")",
            "",
            "| model | method | " + " | ".join(cols) + " |",
            "|" + "---|" * (len(cols) + 2),
        ]
        for r in srows:
            lines.append(f"| {r['model']} | {r['method']} | " + " | ".join(fmt(r["metrics"][c]) for c in cols) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(run: EvalRun, rows: list[dict[str, Any]], path: Path) -> None:
    """metrics.png: grouped bars of the main metrics at the largest k (all queries), one bar
    per model x method, with 95% bootstrap intervals (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    k = max(run.ks)
    names = [f"{m}@{k}" for m in MAIN_METRICS] + ["mAP"]
    srows = [r for r in rows if r["subset"] == "all"]
    fig, ax = plt.subplots(figsize=(2 + 1.6 * len(names), 4.5))
    width = 0.8 / max(1, len(srows))
    x = np.arange(len(names))
    for i, r in enumerate(srows):
        means = [r["metrics"][n]["mean"] for n in names]
        lo = [max(0.0, r["metrics"][n]["mean"] - r["metrics"][n]["low"]) for n in names]
        hi = [max(0.0, r["metrics"][n]["high"] - r["metrics"][n]["mean"]) for n in names]
        label = r["method"] if len(run.models) == 1 else f"{r['model']} · {r['method']}"
        ax.bar(x + i * width, np.nan_to_num(means), width, yerr=[lo, hi], label=label, capsize=2)
    ax.set_xticks(x + width * (len(srows) - 1) / 2, names)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{run.dataset}: all queries (95% CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def thumb_name(iid: str) -> str:
    """The thumbnail's path under a report for image id `iid`: a digest, never the id (an id of
    '../../x' wrote outside the report; an id is any LMDB key or file name)."""
    import hashlib

    return f"thumbs/{hashlib.sha1(iid.encode('utf-8', 'surrogatepass')).hexdigest()[:20]}.png"


def check_report_dir(out: Path) -> None:
    """Raise UsageError unless `out` is new, empty or a report csd wrote (its run.json): a report
    replaces index.html, summary.md and thumbs/ there (a user's own files were lost)."""
    if out.is_dir() and any(out.iterdir()) and not (out / "run.json").is_file():
        raise UsageError(f"--report {out} holds other files and no csd report (run.json); give a new or empty folder")


def _thumbs(run: EvalRun, out: Path, ids: set[str]) -> dict[str, str]:
    """Write thumbnails once per image under out/thumbs (thumb_name); id -> relative path."""
    from csdclip_cli.html import ThumbnailReader
    from csdclip_cli.index.store import IndexStore
    from csdclip_cli.sources.decode import decode_image

    # the thumbnails already written (a re-render whose index is gone, or was found relative to
    # another folder, blanked every one of them)
    written = {iid: thumb_name(iid) for iid in ids if (out / thumb_name(iid)).is_file()}
    if not run.indexes:
        return written
    store = IndexStore(run.index_dir or None)
    model = run.models[0]
    name = run.indexes.get(model)
    if not name or not store.exists(name):
        return written
    manifest, gen = store.open(name)
    reader = ThumbnailReader(manifest)
    folder = manifest.source.kind == "folder"
    keys: dict[str, tuple[str, str]] = {}
    for it in gen.items():
        iid = Path(it.key).stem if folder else it.key
        if iid in ids:
            keys[iid] = (it.key, it.path)
    (out / "thumbs").mkdir(exist_ok=True)
    paths = {}
    for iid, (key, path) in keys.items():
        dest = out / thumb_name(iid)
        if not dest.exists():
            data = reader.bytes_for(key, path)
            if data is None:
                continue
            try:
                img = decode_image(data)
                img.thumbnail((160, 160))
                img.save(dest)
            except Exception:
                continue
        paths[iid] = thumb_name(iid)
    return paths


def index_html(run: EvalRun, rows: list[dict[str, Any]], out: Path) -> str:
    """index.html: the summary table, the plot, and the top k of each method for the first
    HTML_QUERIES queries as graded thumbnails (copied under `out`/thumbs)."""
    from csdclip_cli.html import CSS, plan_html

    k = max(run.ks)
    shown = run.queries[:HTML_QUERIES]
    ids = {i for ranks in run.rankings.values() for q in shown for i in ranks.get(q.text_id, [])[:k]}
    thumbs = _thumbs(run, out, ids)
    body = [
        f"<h1>csd eval — {html.escape(run.dataset)}</h1>",
        f"<p>rewriter <b>{html.escape(run.rewriter)}</b>"
        + (f"; {html.escape(settings_line(run))}" if run.settings else "")
        + "; borders: green HR, orange MR, red irrelevant. "
        "<a href='summary.md'>summary.md</a> · <a href='summary.json'>summary.json</a></p>",
        "<img src='metrics.png' style='max-width:900px'>",
    ]
    if len(run.queries) > len(shown):
        body.append(f"<p>Showing the first {len(shown)} of {len(run.queries)} queries.</p>")
    for q in shown:
        body.append(
            f"<h2>{html.escape(q.text_id)}: {html.escape(q.raw)}</h2>{plan_html(run.plans.get(q.text_id))}"
            f"<p class='key'>{len(q.hr)} HR · {len(q.mr)} MR</p>"
        )
        for (model, method), ranks in run.rankings.items():
            cards = []
            for pos, iid in enumerate(ranks.get(q.text_id, [])[:k], 1):
                g = "HR" if iid in q.hr else "MR" if iid in q.mr else "IR"
                src = thumbs.get(iid, "")
                cards.append(
                    f"<div class='card {g}' style='width:110px'><img src=\"{html.escape(src)}\" style='width:96px;"
                    f"height:96px'><div>#{pos} {g}</div><div class='key'>{html.escape(iid)}</div></div>"
                )
            label = method if len(run.models) == 1 else f"{model} · {method}"
            body.append(f"<h3>{html.escape(label)}</h3><div class='grid'>{''.join(cards)}</div>")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>csd eval {html.escape(run.dataset)}</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_report(run: EvalRun, out: Path) -> list[dict[str, Any]]:
    """Save the run and render every report file; returns the summary rows. A new run's
    thumbnails replace any in `out` (another dataset's images of the same names were shown)."""
    import shutil

    check_report_dir(out)
    shutil.rmtree(out / "thumbs", ignore_errors=True)
    save_run(run, out)
    return render(out, run)


def render(out: Path, run: EvalRun | None = None) -> list[dict[str, Any]]:
    """Write summary.json, summary.md, metrics.png and index.html to `out` for `run` (default:
    the run saved there); returns the summary rows. Raises UsageError as load_run does."""
    run = run or load_run(out)
    rows = summarise(run)
    (out / "summary.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "summary.md").write_text(summary_markdown(run, rows) + "\n")
    plot(run, rows, out / "metrics.png")
    (out / "index.html").write_text(index_html(run, rows, out), encoding="utf-8")
    return rows
