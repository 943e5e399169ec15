"""A plan as a Rich tree."""

from __future__ import annotations

from rich.tree import Tree

from csdclip_cli.rewrite.plan import Plan


def plan_tree(plan: Plan) -> Tree:
    t = Tree(f"[bold]{plan.raw}[/]  [dim]({plan.intent})[/]")
    t.add(f"optimized: {plan.optimized}")
    ents = {k: v for k, v in plan.entities.items() if v}
    if ents:
        t.add("entities: " + ", ".join(f"{k}={v}" for k, v in ents.items()))
    a = t.add("[green]AND[/]")
    for c in plan.and_:
        a.add(c)
    if plan.not_:
        n = t.add("[red]NOT[/]")
        for c in plan.not_:
            n.add(c)
    for g in plan.or_:
        t.add("[yellow]OR[/] " + " | ".join(g))
    return t
