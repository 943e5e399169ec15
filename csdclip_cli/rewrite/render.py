"""A plan as a Rich tree."""

from __future__ import annotations

from rich.markup import escape
from rich.tree import Tree

from csdclip_cli.rewrite.plan import Plan


def plan_tree(plan: Plan) -> Tree:
    """The plan as a Rich tree: raw query and intent, optimized phrase, the entities that are set,
    AND clauses, NOT clauses, OR groups (the plan's text escaped from Rich markup)."""
    t = Tree(f"[bold]{escape(plan.raw)}[/]  [dim]({plan.intent})[/]")
    t.add(f"optimized: {escape(plan.optimized)}")
    ents = {k: v for k, v in plan.entities.items() if v}
    if ents:
        t.add("entities: " + escape(", ".join(f"{k}={v}" for k, v in ents.items())))
    a = t.add("[green]AND[/]")
    for c in plan.and_:
        a.add(escape(c))
    if plan.not_:
        n = t.add("[red]NOT[/]")
        for c in plan.not_:
            n.add(escape(c))
    for g in plan.or_:
        t.add("[yellow]OR[/] " + escape(" | ".join(g)))
    return t
