"""csd search ..."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import typer

from csdclip_cli.cli.common import Device, IndexDir, check_device, guard


@guard
def search(
    query: str = typer.Argument(..., help="What to look for, e.g. 'woman in green dress, no shoes'."),
    index: str | None = typer.Option(None, "--index", "-i", help="Index name (default: the current index)."),
    k: int = typer.Option(10, "-k", "--top", min=1, help="How many results."),
    method: str | None = typer.Option(None, "--method", help="csd (composite, the default) | plain | arith | deo."),
    plain: bool = typer.Option(False, "--plain", help="One-vector CLIP search (same as --method plain)."),
    rewriter: str = typer.Option(
        "rules",
        "--rewriter",
        "-r",
        help="rules | llm | llm-base | a plans .jsonl file; none: no plan, plain search (gold plans: csd eval).",
    ),
    llm: Path | None = typer.Option(None, "--llm", help="GGUF file for --rewriter llm."),
    adapter: Path | None = typer.Option(
        None, "--adapter", help="LoRA adapter GGUF for --rewriter llm (default: the one csd ships)."
    ),
    explain: bool = typer.Option(False, "--explain", help="Show per-clause calibrated scores."),
    show_plan: bool = typer.Option(False, "--show-plan", help="Print the plan used."),
    min_match: bool = typer.Option(
        False,
        "--min-match",
        help="Keep only results that pass every AND clause and OR group (a pass is relative to the gallery: "
        "the best images of a clause pass even if none shows it).",
    ),
    json_out: bool = typer.Option(False, "--json", help="JSON lines on stdout."),
    paths_only: bool = typer.Option(False, "--paths-only", help="Bare paths, for piping."),
    print0: bool = typer.Option(
        False, "--print0", "-0", help="Bare paths, each ended by NUL instead of a newline (for xargs -0)."
    ),
    html: Path | None = typer.Option(None, "--html", help="Write a page of result thumbnails."),
    open_page: bool = typer.Option(False, "--open", help="Open the --html page in a browser."),
    config_file: Path | None = typer.Option(
        None,
        "--config",
        help="TOML/JSON file with fusion weights (\\[composite] table or top level).",  # \\[: not Rich markup
    ),
    no_server: bool = typer.Option(
        False, "--no-server", help="Search here even if `csd serve` runs for these indexes."
    ),
    address: str | None = typer.Option(
        None, "--address", help="Search a sharded index's shards as tasks on this Ray cluster (e.g. auto)."
    ),
    device: str = Device,
    index_dir: Path | None = IndexDir,
) -> None:
    """Search an index. Complex queries are rewritten into AND / NOT / OR clauses and
    scored clause by clause (composite search); --plain embeds the whole query once.

    Example: [bold]csd search "a red car and a tree on the beach, no dog" --explain[/]
    """
    from csdclip_cli.errors import UsageError

    # flags that ask for two things at once were taken silently (one of them won)
    if json_out and (paths_only or print0):
        raise UsageError(f"--json and {'--print0' if print0 else '--paths-only'} are two output forms; pick one")
    paths_only = paths_only or print0
    end = b"\0" if print0 else b"\n"
    if open_page and html is None:
        raise UsageError("--open opens the --html page; add --html FILE")
    check_device(device)  # also when `csd serve` answers: the flag was wrong either way
    if plain and method not in (None, "plain"):
        raise UsageError(f"--plain is --method plain; it cannot go with --method {method}")
    if rewriter == "none" and method not in (None, "plain"):  # it searched plain without a word
        raise UsageError(f"--rewriter none searches the whole query as one vector; it cannot go with --method {method}")
    method = "plain" if plain or rewriter == "none" else method or "csd"
    why = "--rewriter none" if rewriter == "none" and not plain else f"--method {method}"  # what the user typed
    if llm is not None or adapter is not None:  # refused before the index opens
        from csdclip_cli.rewrite import check_model_files

        check_model_files("none" if method == "plain" else rewriter, llm, adapter)
    if method != "csd" and (explain or min_match or (show_plan and method == "plain")):  # ignored without a word
        flag = "--explain" if explain else "--min-match" if min_match else "--show-plan"
        raise UsageError(f"{flag} is about composite search's clauses; {why} has none")
    from csdclip_cli.serve.service import SERVED_REWRITERS  # another rewriter searches here

    served = rewriter in SERVED_REWRITERS
    local_only = html is not None or llm or adapter or config_file or address
    if not no_server and served and not local_only:
        remote = _remote(query, index, k, method, rewriter, min_match, index_dir)
        if remote is not None:
            _show_remote(remote, k, explain, show_plan, min_match, json_out, paths_only, end)
            return
    from csdclip_cli.render import err, json_lines, note, out, results_table, warn, write_paths
    from csdclip_cli.search.searcher import Searcher

    if html:
        from csdclip_cli.textfile import check_output

        check_output(html, "--html")
        if html.suffix.lower() not in (".html", ".htm"):  # it overwrote an image, or wrote HTML into x.png
            raise UsageError(f"--html {html}: give a .html file name (the page is HTML)")
    s = Searcher.open(index, index_dir=index_dir, device=device, address=address)
    plan = None
    if method == "plain":
        results = s.search_plain(query, k)
    else:
        from csdclip_cli.rewrite import get_rewriter
        from csdclip_cli.search.composite import CompositeConfig

        rw = get_rewriter(rewriter, llm=llm, adapter=adapter)
        plan = rw.rewrite(query)
        for w in dict.fromkeys(getattr(rw, "warnings", [])):
            warn(w)
        cfg = CompositeConfig.load(config_file)
        results = s.search_plan(plan, method, k, config=cfg, min_match=min_match)
        if min_match and method == "csd":
            err().print(f"{results.passed_summary()}; showing {len(results)}")
    if show_plan and plan is not None:
        from csdclip_cli.rewrite.render import plan_tree

        err().print(plan_tree(plan))
    if html:
        from csdclip_cli.html import ThumbnailReader, write_results_page

        thumbs = ThumbnailReader(s.manifest)
        page = write_results_page(html, query, results, s, plan, thumbs=thumbs)
        note(f"wrote {page}")
        if thumbs.unreadable:  # the page showed "image unavailable" cards and nothing here said why
            warn(f"{thumbs.unreadable} of {len(results)} images could not be read for the page: {thumbs.reason}")
        if open_page and not webbrowser.open(page.resolve().as_uri()):  # it said nothing
            warn(f"no web browser found to open it; open {page.resolve().as_uri()} yourself")
    for n in s.notes:
        note(f"info: {n}")
    for w in results.warnings:
        warn(w)
    if json_out:
        if results:
            print(json_lines(results))
    elif paths_only:
        write_paths([r.file or r.key for r in results], end)
    else:
        title = f"{s.manifest.name} · {s.manifest.model} · {method}"
        out().print(results_table(results, title=title, explain=explain and method != "plain"))


def _remote(
    query: str, index: str | None, k: int, method: str, rewriter: str, min_match: bool, index_dir: Path | None
) -> dict | None:
    """The answer of a running `csd serve` for these indexes, or None (then search here)."""
    from csdclip_cli import config
    from csdclip_cli.rewrite.plan import require_query
    from csdclip_cli.serve.client import find_server, remote_search, settings_in_use
    from csdclip_cli.serve.service import MAX_K, MAX_QUERY_CHARS

    info = find_server(config.index_root(index_dir))
    if info is None or info.get("settings") != settings_in_use():  # its csd.toml is not this one's
        return None
    if k > MAX_K or len(query) > MAX_QUERY_CHARS:  # beyond the web API's limits: search here
        return None
    if index is None:  # the current index, as a search here takes it (not the one the server was started with)
        from csdclip_cli.index.store import IndexStore

        index = IndexStore(index_dir).current()
    request = {
        "query": require_query(query),
        "index": index,
        "k": k,
        "method": method,
        "rewriter": "none" if method == "plain" else rewriter,
        "min_match": min_match,
    }
    return remote_search(info, request)


def _show_remote(
    resp: dict,
    k: int,
    explain: bool,
    show_plan: bool,
    min_match: bool,
    json_out: bool,
    paths_only: bool,
    end: bytes = b"\n",
) -> None:
    from types import SimpleNamespace

    from csdclip_cli.render import err, json_text, out, results_table, warn, write_paths

    for w in resp.get("warnings", []):
        warn(w)
    method = resp["method"]
    if min_match and method == "csd" and resp.get("passed_count") is not None:
        from csdclip_cli.search.searcher import passed_summary

        summary = passed_summary(resp["passed_count"], resp.get("examined"), resp.get("total"))
        err().print(f"{summary}; showing {len(resp['results'])}")
    if show_plan:
        from csdclip_cli.rewrite.plan import Plan
        from csdclip_cli.rewrite.render import plan_tree

        err().print(plan_tree(Plan.from_dict(resp["plan"])))
    shown = [
        {f: r[f] for f in ("rank", "key", "path", "score", "clauses", "passed", "phrase") if f in r}
        for r in resp["results"]
    ]
    if json_out:
        for r in shown:
            print(json_text(r))
    elif paths_only:
        write_paths([r.get("path") or r["key"] for r in shown], end)
    else:
        rows = [SimpleNamespace(**{"clauses": {}, "passed": {}, **r}) for r in shown]
        title = f"{resp['index']} · {resp['model']} · {method} · via csd serve"
        out().print(results_table(rows, title=title, explain=explain and method != "plain"))
