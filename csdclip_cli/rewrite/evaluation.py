"""Rewriters scored against gold plans (`csd rewriter eval FILE`): does a plan keep every
negation out of the positive side, and say what the query says?

Clauses are compared after normalisation (lower case, punctuation and leading articles or
Chinese measure-word phrases such as 一只 / 一个 removed, spaces collapsed). Two clauses match
(match="contains", the default) when their normalised forms are equal or one contains the other
as whole words ("a collar" ~ "collar", "other people" ~ "people", but also "a dog on a leash" ~
"a leash"); for Chinese, as substrings. With match="exact" only equal normalised forms match:
stricter figures for NOT precision / recall and AND F1 (the exact rates are the same either way).

Per query: exact AND set, exact NOT set, exact (both), matched NOT and AND clauses, a leak
(a gold NOT term inside a predicted AND clause or the optimized phrase), OR groups, whether
the rewriter fell back (an LLM output it could not use), seconds.

Totals (`Summary`): exact / AND-exact / NOT-exact rates; NOT precision and recall over all
NOT clauses; false NOT = share of queries without a gold NOT that got one; AND F1 over all AND
clauses; leak rate over queries with a gold NOT; OR exact over queries with a gold OR group;
fallbacks; latency median and p90 in seconds.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from csdclip_cli.rewrite.plan import Plan

_PUNCT = re.compile(r"[^\w\s\u4e00-\u9fff]+")
_LEADING = re.compile(r"^(?:(?:a|an|the|some|any)\s+)+", re.IGNORECASE)
_ZH_MEASURE = re.compile(r"^(?:[一两三几][个只张辆盘碗杯片位条双座棵头匹]|这个|那个)")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def normalise(clause: str) -> str:
    """Lower case, no punctuation, no leading article or Chinese measure phrase, every English
    word in the singular ("brown dogs" is "a brown dog": the plural counted as a miss), single
    spaces."""
    from csdclip_cli.rewrite.phrases import singular

    text = _PUNCT.sub(" ", clause.lower())
    text = " ".join(w if _CJK.search(w) else singular(w) for w in text.split())
    text = _LEADING.sub("", text)
    return _ZH_MEASURE.sub("", text).strip()


def contains(text: str, part: str) -> bool:
    """`part` occurs in `text` after normalisation (whole words; as a substring in Chinese)."""
    t, p = normalise(text), normalise(part)
    if not t or not p:
        return False
    if _CJK.search(p):
        return p in t
    return re.search(rf"(?<!\w){re.escape(p)}(?!\w)", t) is not None


MATCHES = ("contains", "exact")


def clause_match(a: str, b: str, match: str = "contains") -> bool:
    """Equal after normalisation, or (match="contains") one inside the other."""
    if match == "exact":
        return bool(normalise(a)) and normalise(a) == normalise(b)
    return contains(a, b) or contains(b, a)


def _matched(pred: list[str], gold: list[str], match: str = "contains") -> int:
    """Gold clauses matched one-to-one by predicted clauses (greedy, in order)."""
    free = list(pred)
    hits = 0
    for g in gold:
        for i, p in enumerate(free):
            if clause_match(p, g, match):
                hits += 1
                del free[i]
                break
    return hits


def _same_set(pred: list[str], gold: list[str]) -> bool:
    return {normalise(x) for x in pred} == {normalise(x) for x in gold}


@dataclass
class QueryScore:
    """One query's scores against its gold plan (see the module docstring); `plan` is the predicted
    plan's to_dict, `seconds` the rewrite time."""

    raw: str
    plan: dict[str, Any]
    and_exact: bool
    not_exact: bool
    not_hits: int  # gold NOT clauses matched
    not_pred: int
    not_gold: int
    and_hits: int
    and_pred: int
    and_gold: int
    leak: bool
    or_exact: bool | None  # None: neither side has an OR group
    fell_back: bool
    seconds: float
    gold: dict[str, Any] | None = None  # the gold plan's to_dict, to show what was wanted

    @property
    def exact(self) -> bool:
        """Both the AND set and the NOT set exact."""
        return self.and_exact and self.not_exact


def score_plan(
    pred: Plan, gold: Plan, fell_back: bool = False, seconds: float = 0.0, match: str = "contains"
) -> QueryScore:
    """One predicted plan against its gold plan; `match`: how NOT and AND clauses match (MATCHES)."""
    positive = [*pred.and_, *[x for g in pred.or_ for x in g], pred.optimized]
    leak = any(contains(p, g) for g in gold.not_ for p in positive)
    has_or = bool(pred.or_ or gold.or_)
    or_exact = (
        {frozenset(normalise(x) for x in g) for g in pred.or_} == {frozenset(normalise(x) for x in g) for g in gold.or_}
        if has_or
        else None
    )
    return QueryScore(
        raw=gold.raw,
        plan=pred.to_dict(),
        and_exact=_same_set(pred.and_, gold.and_),
        not_exact=_same_set(pred.not_, gold.not_),
        not_hits=_matched(pred.not_, gold.not_, match),
        not_pred=len(pred.not_),
        not_gold=len(gold.not_),
        and_hits=_matched(pred.and_, gold.and_, match),
        and_pred=len(pred.and_),
        and_gold=len(gold.and_),
        leak=leak,
        or_exact=or_exact,
        fell_back=fell_back,
        seconds=seconds,
        gold=gold.to_dict(),
    )


def _rate(num: float, den: float) -> float:
    return num / den if den else float("nan")


@dataclass
class Summary:
    """A rewriter's totals over a gold set (see the module docstring); a rate is NaN when no query
    counts towards it."""

    rewriter: str
    queries: int
    exact: float
    and_exact: float
    not_exact: float
    not_precision: float
    not_recall: float
    false_not: float
    and_f1: float
    leaks: float
    or_exact: float
    fallbacks: int
    latency_median_s: float
    latency_p90_s: float
    per_query: list[QueryScore] = field(default_factory=list, repr=False)
    # why it fell back to the rules, and how often (the count alone said nothing of the cause)
    fallback_reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self, per_query: bool = False) -> dict[str, Any]:
        """The totals as a dict (NaN rates stay float NaN); with `per_query`, also every QueryScore as a
        dict with its `exact` flag."""
        d = {k: v for k, v in asdict(self).items() if k != "per_query"}
        if per_query:
            d["per_query"] = [asdict(q) | {"exact": q.exact} for q in self.per_query]
        return d


def summarise(name: str, scores: list[QueryScore], golds: list[Plan]) -> Summary:
    """Totals over the per-query scores (see the module docstring for each figure)."""
    n = len(scores)
    not_hits = sum(s.not_hits for s in scores)
    and_hits = sum(s.and_hits for s in scores)
    and_p = _rate(and_hits, sum(s.and_pred for s in scores))
    and_r = _rate(and_hits, sum(s.and_gold for s in scores))
    without_not = [s for s, g in zip(scores, golds) if not g.not_]
    with_not = [s for s, g in zip(scores, golds) if g.not_]
    with_or = [s for s, g in zip(scores, golds) if g.or_]
    secs = [s.seconds for s in scores] or [0.0]
    return Summary(
        rewriter=name,
        queries=n,
        exact=_rate(sum(s.exact for s in scores), n),
        and_exact=_rate(sum(s.and_exact for s in scores), n),
        not_exact=_rate(sum(s.not_exact for s in scores), n),
        not_precision=_rate(not_hits, sum(s.not_pred for s in scores)),
        not_recall=_rate(not_hits, sum(s.not_gold for s in scores)),
        false_not=_rate(sum(s.not_pred > 0 for s in without_not), len(without_not)),
        # no clause right (P = R = 0) is an F1 of 0, not undefined
        and_f1=(2 * and_p * and_r / (and_p + and_r) if and_p + and_r else 0.0)
        if and_p == and_p and and_r == and_r
        else float("nan"),
        leaks=_rate(sum(s.leak for s in with_not), len(with_not)),
        or_exact=_rate(sum(bool(s.or_exact) for s in with_or), len(with_or)),
        fallbacks=sum(s.fell_back for s in scores),
        latency_median_s=statistics.median(secs),
        latency_p90_s=float(np.percentile(secs, 90)),
        per_query=scores,
    )


def evaluate(name: str, rewriter: Any, golds: list[Plan], progress: Any = None, match: str = "contains") -> Summary:
    """Rewrite every gold plan's raw query with `rewriter` (anything with .rewrite(query) -> Plan;
    a fallback is read from its `last_failure`, as LlamaRewriter sets it) and score it; `match`:
    how clauses match (MATCHES). Raises ValueError for another `match`."""
    if match not in MATCHES:
        raise ValueError(f"match must be one of {MATCHES}, not {match!r}")
    scores = []
    reasons: dict[str, int] = {}
    # a first load is no query's latency: one query of each language (jieba's 0.4-0.9 s came with
    # the first Chinese query, which could be the fourth: p90 88.7 ms on 10 queries, 0.3 ms warm)
    firsts = {bool(_CJK.search(g.raw)): g.raw for g in reversed(golds)}
    for raw in firsts.values() if hasattr(rewriter, "rewrite") else ():
        try:
            rewriter.rewrite(raw)
        except Exception:
            pass
    for i, gold in enumerate(golds):
        t = time.perf_counter()
        plan = rewriter.rewrite(gold.raw)
        secs = time.perf_counter() - t
        why = getattr(rewriter, "last_failure", None)
        if why is not None:
            reasons[why] = reasons.get(why, 0) + 1
        scores.append(score_plan(plan, gold, why is not None, secs, match))
        if progress:
            progress(i + 1, len(golds))
    summary = summarise(name, scores, golds)
    summary.fallback_reasons = reasons
    return summary
