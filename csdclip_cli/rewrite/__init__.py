"""Query rewriting: raw query -> Plan (optimized phrase + AND / NOT / OR clauses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csdclip_cli.errors import UsageError
from csdclip_cli.rewrite.plan import Plan, parse_tigr
from csdclip_cli.rewrite.rules import RuleRewriter

REWRITERS = ("rules", "llm", "llm-base", "gold", "none")


def check_model_files(name: str, llm: str | Path | None, adapter: str | Path | None) -> None:
    """Raise UsageError when `adapter` is given to a rewriter other than llm, `llm` to one other
    than llm / llm-base (they were ignored without a word), or either is empty."""
    if adapter is not None and name != "llm":
        raise UsageError(f"--adapter is a LoRA adapter for --rewriter llm; --rewriter {name} uses none")
    if llm is not None and name not in ("llm", "llm-base"):
        raise UsageError(f"--llm is the GGUF of --rewriter llm or llm-base; --rewriter {name} uses none")
    for flag, path in (("--adapter", adapter), ("--llm", llm)):
        if path is not None and str(path).strip() in ("", "."):  # an empty argument: Path("") is "."
            raise UsageError(f"{flag} is empty; give a GGUF file")


def get_rewriter(
    name: str = "rules",
    llm: str | Path | None = None,
    plans: str | Path | None = None,
    cache: bool = True,
    adapter: str | Path | None = None,
) -> Any:
    """rules | llm (with the shipped or given LoRA adapter, see `llm.resolve_model`) | llm-base
    (the GGUF alone, few-shot prompt) | none | gold (needs plans=annotated file) | a path to a
    plans .jsonl file. Raises UsageError for an unknown name, and for `adapter` with another
    rewriter than llm or `llm` with another than llm / llm-base."""
    from csdclip_cli.rewrite.planfile import NoRewriter, PlanFileRewriter

    check_model_files(name, llm, adapter)
    if name == "rules":
        return RuleRewriter()
    if name == "none":
        return NoRewriter()
    if name in ("llm", "llm-base"):
        from csdclip_cli.rewrite.cache import CachedRewriter
        from csdclip_cli.rewrite.llm import LlamaRewriter

        inner = LlamaRewriter(llm, adapter=adapter, use_adapter=name == "llm")
        return CachedRewriter(inner) if cache else inner
    if name == "gold" or name == "plans":
        if plans is None:
            raise UsageError(
                "--rewriter gold needs the benchmark's annotations (use it through `csd eval`), or give a plans file: --rewriter FILE.jsonl"
            )
        return PlanFileRewriter.from_file(plans)
    if name.endswith(".jsonl") or Path(name).is_file():
        return PlanFileRewriter.from_file(name)
    raise UsageError(f"unknown rewriter {name!r}; choose one of {', '.join(REWRITERS)} or a plans .jsonl file")


__all__ = ["Plan", "RuleRewriter", "check_model_files", "get_rewriter", "parse_tigr"]
