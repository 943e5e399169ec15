"""Plans read from a file instead of made: a benchmark's gold annotations (`gold`) or
precomputed plans (`--rewriter FILE.jsonl`, as written by `csd rewrite --file -o`)."""

from __future__ import annotations

import json
from pathlib import Path

from csdclip_cli.errors import PlanFormatError, UsageError
from csdclip_cli.rewrite.plan import Plan, parse_tigr
from csdclip_cli.textfile import is_stdio, read_text

PLAN_FIELDS = ("raw", "intent", "entities", "optimized", "and", "not", "or")


def unknown_field(key: str) -> str:
    """Why `key` is no plan field, naming the fields (and that they are lower-case, for "Not" or "nots")."""
    case = " lower-case" if key.lower().rstrip("s_") in PLAN_FIELDS else ""
    return f"field {key!r} is not a plan field (they are{case}: {', '.join(PLAN_FIELDS)})"


class PlanFile(dict[str, Plan]):
    """raw query (whitespace collapsed) -> plan, and `repeated`: (line, earlier line, same plan)
    for each line whose query an earlier line already had (the later plan is the one kept)."""

    def __init__(self) -> None:
        super().__init__()
        self.repeated: list[tuple[int, int, bool]] = []

    def repeats(self) -> str:
        """One sentence on the repeated queries ('' when none), for a warning."""
        if not self.repeated:
            return ""
        line, first, _ = self.repeated[0]
        differ = sum(not same for _, _, same in self.repeated)
        return (
            f"{len(self.repeated)} line(s) repeat the query of an earlier line (first: line {line} repeats line "
            f"{first}); each query counts once"
            + (f"; {differ} of them hold another plan, and the later one is used" if differ else "")
        )


def read_plans(path: str | Path, require_raw: bool = False) -> PlanFile:
    """raw query -> plan, from JSONL lines that are Plan JSON or TIGR records ({"text": annotated}).
    Raises PlanFormatError naming the line of one that is no plan, has a plan field spelt another
    way ("Not", "nots": read as nothing before), or (`require_raw`) whose raw query is empty."""
    p = Path(path)
    if not is_stdio(path) and not p.is_file():  # "-": standard input (read_text)
        raise UsageError(f"plans file {p} {'is a folder, not a file' if p.is_dir() else 'not found'}")
    plans = PlanFile()
    where: dict[str, int] = {}
    for n, line in enumerate(read_text(p, "plans file").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if not isinstance(d, dict):
                raise PlanFormatError(f"a JSON object is expected, not {line.strip()[:40]}")
            if "raw" in d:
                misspelt = [k for k in d if k not in PLAN_FIELDS and k.lower().rstrip("s_") in PLAN_FIELDS]
                if misspelt:
                    raise PlanFormatError(unknown_field(misspelt[0]))
            plan = parse_tigr(d["text"]) if "text" in d and "raw" not in d else Plan.from_dict(d)
        except (json.JSONDecodeError, KeyError, TypeError, PlanFormatError) as e:
            raise PlanFormatError(f"{p}:{n}: not a plan ({e})") from None
        if require_raw and not plan.raw.strip():  # gold plans: it failed later, with no line named
            raise PlanFormatError(f"{p}:{n}: the plan's raw query is empty")
        key = " ".join(plan.raw.split())
        if key in plans:  # collapsed without a word: a conflicting second gold silently won
            plans.repeated.append((n, where[key], plans[key] == plan))
        else:
            where[key] = n
        plans[key] = plan
    return plans


class PlanFileRewriter:
    """Plans looked up by raw query (whitespace collapsed) instead of made: a benchmark's gold
    annotations or a plans file; `fingerprint` names the source."""

    name = "plans"

    def __init__(self, plans: dict[str, Plan], source: str = "gold"):
        self.plans = plans
        self.fingerprint = source
        self.warnings: list[str] = []
        # the same query in other letter cases ("A red car" for "a red car"): found too, unless
        # two stored queries differ only in case
        folded: dict[str, list[str]] = {}
        for k in plans:
            folded.setdefault(k.casefold(), []).append(k)
        self._folded = {f: ks[0] for f, ks in folded.items() if len(ks) == 1}

    @classmethod
    def from_file(cls, path: str | Path) -> PlanFileRewriter:
        """The plans of a JSONL file (read_plans); a warning in `warnings` when lines repeat a query.
        Raises UsageError when the file is missing, PlanFormatError when a line is not a plan."""
        plans = read_plans(path)
        rw = cls(plans, str(path))
        if plans.repeats():  # the later of two plans was used without a word
            rw.warnings.append(f"{path}: {plans.repeats()}")
        return rw

    def rewrite(self, query: str) -> Plan:
        """The stored plan of `query` (whitespace collapsed; in another letter case too); raises
        UsageError when there is none."""
        q = " ".join(query.split())
        key = q if q in self.plans else self._folded.get(q.casefold())
        if key is None:
            raise UsageError(f"no precomputed plan for {q[:60]!r} in {self.fingerprint}")
        return self.plans[key]


class NoRewriter:
    """The raw query as a one-clause plan (plain search through the composite path)."""

    name = "none"
    fingerprint = "none"

    def rewrite(self, query: str) -> Plan:
        """`query` as a simple plan whose only AND clause and optimized phrase are the query itself."""
        return Plan(raw=query, intent="simple", optimized=query, and_=[query])
