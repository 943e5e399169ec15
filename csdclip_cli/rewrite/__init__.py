"""Query rewriting: raw query -> Plan (optimized phrase + AND / NOT / OR clauses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csdclip_cli.errors import UsageError
from csdclip_cli.rewrite.plan import Plan, parse_tigr
from csdclip_cli.rewrite.rules import RuleRewriter

REWRITERS = ("rules", "llm", "llm-base", "gold", "none")


def get_rewriter(
    name: str = "rules",
    llm: str | Path | None = None,
    plans: str | Path | None = None,
    cache: bool = True,
    adapter: str | Path | None = None,
) -> Any:
    """rules | llm (with the shipped or given LoRA adapter, see `llm.resolve_model`) | llm-base
    (the GGUF alone, few-shot prompt) | none | gold (needs plans=annotated file) | a path to a
    plans .jsonl file."""
    from csdclip_cli.rewrite.planfile import NoRewriter, PlanFileRewriter

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


__all__ = ["Plan", "RuleRewriter", "get_rewriter", "parse_tigr"]
