"""The Plan: what a rewriter makes of a query, and its TIGR-100k annotated text form.

    A woman in a green dress dancing in front of York City Hall with no shoes
      | Time: none, place: York City Hall, person: none
      | Search intention: complex
      | Phrase, word expression optimization: A woman in a green dress dancing in front of City Hall
      | Multi-agent logical relationship analysis: -AND: < a woman wearing a green dress,
        a woman in front of City Hall, a woman dancing >, -NOT: < shoes >

(one line in the files). Each `-OR: < a, b >` section is one group of alternatives.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from csdclip_cli.errors import PlanFormatError, UsageError

FULLWIDTH = str.maketrans(
    {
        "｜": "|",
        "：": ":",
        "，": ",",
        "＜": "<",
        "＞": ">",
        "《": "<",
        "》": ">",
        "；": ";",
        "（": "(",
        "）": ")",
        "\u3000": " ",
    }
)
NONE_WORDS = {"", "none", "null", "n/a", "无", "没有", "空"}
ENTITY_KEYS = {"time": "time", "place": "place", "person": "person", "时间": "time", "地点": "place", "人物": "person"}
INTENTS = {"complex": "complex", "simple": "simple", "复杂": "complex", "简单": "simple"}


CONNECTIVES_ONLY = re.compile(
    r"(?:[\s,;.，、；。]*(?:or|and|either|neither|nor|but|或者|或是|或|还是|和|与|要么|以及))+[\s,;.，、；。]*",
    re.IGNORECASE,
)


def require_query(query: str) -> str:
    """The query with whitespace collapsed; UsageError (exit 2) when it has no letter or digit in
    any script (empty, blanks, or punctuation only: such a query would return arbitrary results)."""
    q = re.sub(r"\s+", " ", query).strip()
    if not any(ch.isalnum() for ch in q):
        shown = f" {query!r}" if q else ""
        raise UsageError(f"empty query{shown}: it has no words; say what to look for, e.g. 'a red car, no people'")
    if CONNECTIVES_ONLY.fullmatch(q):  # "or", "或者": nothing to look for either
        raise UsageError(
            f"empty query {query!r}: it has only connecting words; say what to look for, e.g. 'a cat or a dog'"
        )
    return q


@dataclass
class Plan:
    """What a rewriter makes of a query: the raw query, the intent (simple | complex), the entities
    (time, place, person; None when absent), the optimized phrase (the raw query when empty), the
    AND and NOT clauses and the OR groups."""

    raw: str
    intent: str = "simple"  # simple | complex
    entities: dict[str, str | None] = field(default_factory=lambda: {"time": None, "place": None, "person": None})
    optimized: str = ""
    and_: list[str] = field(default_factory=list)
    not_: list[str] = field(default_factory=list)
    or_: list[list[str]] = field(default_factory=list)

    @staticmethod
    def intent_of(ands: list[str], nots: list[str], ors: list[list[str]]) -> str:
        """ "complex" for more than one AND clause or any NOT or OR clause, else "simple"."""
        return "complex" if (len(ands) > 1 or nots or ors) else "simple"

    @property
    def positives(self) -> list[str]:
        """The clauses composite search requires: the AND clauses, or the optimized phrase when
        the plan has neither AND nor OR clauses."""
        return self.and_ or ([] if self.or_ else [self.optimized])

    def __post_init__(self) -> None:
        if not self.optimized:
            self.optimized = self.raw
        empty: dict[str, str | None] = {"time": None, "place": None, "person": None}
        self.entities = empty | dict(self.entities)

    # --- JSON ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The plan as a JSON-ready dict: raw, intent, entities, optimized, and, not, or."""
        return {
            "raw": self.raw,
            "intent": self.intent,
            "entities": self.entities,
            "optimized": self.optimized,
            "and": self.and_,
            "not": self.not_,
            "or": self.or_,
        }

    def to_json(self) -> str:
        """The plan as one line of JSON (to_dict; non-ASCII characters kept)."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        """A plan from its to_dict form (optimized defaults to raw, missing lists to empty). Raises
        PlanFormatError when it is not an object, `raw` is missing, or a field has the wrong type
        (raw, intent and optimized are strings, and and not lists of strings, or a list of lists of
        strings)."""

        def strings(key: str, value: Any) -> list[str]:
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                if key == "or":  # a group of a list of groups ("must be a list of strings" misled)
                    raise PlanFormatError(f"plan field 'or' holds a group that is not a list of strings: {value!r}")
                raise PlanFormatError(f"plan field {key!r} must be a list of strings, not {value!r}")
            if any(not x.strip() for x in value):  # an empty clause was embedded and moved the ranking
                raise PlanFormatError(f"plan field {key!r} holds an empty clause: {value!r}; leave it out")
            return list(value)

        if not isinstance(d, dict) or "raw" not in d:
            raise PlanFormatError(f"a plan is a JSON object with at least a 'raw' field, not {d!r}")
        for key in ("raw", "intent", "optimized"):
            if d.get(key) is not None and not isinstance(d[key], str):
                raise PlanFormatError(f"plan field {key!r} must be a string, not {d[key]!r}")
        groups = d.get("or") or []
        if not isinstance(groups, list):
            raise PlanFormatError(f"plan field 'or' must be a list of lists of strings, not {groups!r}")
        if (loose := next((g for g in groups if not isinstance(g, list)), None)) is not None:
            # a flat list was told "must be a list of strings", which it was: show it grouped
            flat = f": [{json.dumps(groups)}]" if all(isinstance(g, str) for g in groups) else ""
            raise PlanFormatError(
                f"plan field 'or' is a list of groups, each a list of alternatives{flat}; {json.dumps(loose)} is no list"
            )
        if any(not g for g in groups):  # a reduction over no alternative crashed search
            raise PlanFormatError(f"plan field 'or' holds an empty group: {groups!r}; leave it out")
        entities = d.get("entities") or {}
        if not isinstance(entities, dict):
            raise PlanFormatError(f"plan field 'entities' must be an object, not {entities!r}")
        return cls(
            raw=d["raw"],
            intent=d.get("intent") or "simple",
            entities=entities,
            optimized=d.get("optimized") or d["raw"],
            and_=strings("and", d.get("and") or []),
            not_=strings("not", d.get("not") or []),
            or_=[strings("or", g) for g in groups],
        )

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """A plan from its to_json form; raises PlanFormatError when the text is not JSON or not a plan."""
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise PlanFormatError(f"plan is not valid JSON: {e}") from None

    # --- what search uses ------------------------------------------------------------
    @property
    def clauses(self) -> list[str]:
        """The positive clauses searched for: AND clauses, or the optimized phrase alone."""
        return self.and_ or [self.optimized]

    # --- TIGR text form ---------------------------------------------------------------
    def to_tigr(self) -> str:
        """The plan in TIGR-100k annotated text form, one line: 'RAW | Time: .., place: .., person: .. |
        Search intention: .. | Phrase, word expression optimization: .. | Multi-agent logical
        relationship analysis: -AND: < .. >, ...' (absent entities as 'none')."""
        e = self.entities
        ent = ", ".join(
            f"{k.capitalize() if k == 'time' else k}: {e.get(k) or 'none'}" for k in ("time", "place", "person")
        )
        return (
            f"{self.raw} | {ent} | Search intention: {self.intent} | Phrase, word expression optimization: "
            f"{self.optimized} | Multi-agent logical relationship analysis: {self.logic()}"
        )

    def logic(self) -> str:
        """The logic section of the TIGR form: '-AND: < a, b >, -NOT: < c >, -OR: < d, e >'."""
        text = f"-AND: < {', '.join(self.and_)} >"
        if self.not_:
            text += f", -NOT: < {', '.join(self.not_)} >"
        for g in self.or_:
            text += f", -OR: < {', '.join(g)} >"
        return text

    @classmethod
    def from_tigr(cls, text: str) -> Plan:
        """A plan from TIGR-100k annotated text (parse_tigr); raises PlanFormatError when it does not parse."""
        return parse_tigr(text)


_LOGIC = re.compile(r"-\s*(AND|NOT|OR)\s*:?\s*<([^<>]*)>", re.IGNORECASE)


def _items(body: str) -> list[str]:
    parts = [p.strip() for p in re.split(r"[,、]", body)]
    return [p for p in parts if p.lower() not in NONE_WORDS]


def _parse_logic(seg: str, plan: Plan) -> None:
    stripped = _LOGIC.sub("", seg)
    if "<" in stripped or ">" in stripped:
        raise PlanFormatError(f"unbalanced '<' '>' in the logic section: {seg.strip()[:80]!r}")
    found = False
    for kind, body in _LOGIC.findall(seg):
        found = True
        items = _items(body)
        kind = kind.upper()
        if kind == "AND":
            plan.and_ += items
        elif kind == "NOT":
            plan.not_ += items
        elif items:
            plan.or_.append(items)
    if not found:
        raise PlanFormatError(f"logic section has no -AND/-NOT/-OR < ... > list: {seg.strip()[:80]!r}")


def parse_logic(text: str) -> Plan:
    """A logic section alone ('-AND: < a >, -NOT: < b >') as a plan with only its clause lists
    (raw '-'); PlanFormatError when it does not parse."""
    plan = Plan(raw="-")
    _parse_logic(text.strip(), plan)
    return plan


def _parse_entities(seg: str, plan: Plan) -> None:
    keys = "|".join(map(re.escape, ENTITY_KEYS))
    pairs = re.findall(rf"({keys})\s*:\s*(.*?)(?=,\s*(?:{keys})\s*:|$)", seg.strip(), flags=re.IGNORECASE)
    if not pairs:
        raise PlanFormatError(f"entity section is not 'Time: .., place: .., person: ..': {seg.strip()[:80]!r}")
    for k, v in pairs:
        v = v.strip().rstrip(",").strip()
        plan.entities[ENTITY_KEYS[k.lower()]] = None if v.lower() in NONE_WORDS else v


def parse_tigr(text: str) -> Plan:
    """Parse the annotated TIGR form; missing sections default, unknown ones are errors."""
    if not isinstance(text, str) or not text.strip():
        raise PlanFormatError("empty annotated text")
    parts = re.split(r"[|｜]", text.strip())
    if len(parts) < 2:
        raise PlanFormatError(
            f"no annotation sections in {text.strip()[:60]!r}: expected 'QUERY | Time: .. | Search intention: .. | ...'"
        )
    # the raw query keeps its own punctuation; the annotations are normalised
    segs = [parts[0].strip()] + [p.translate(FULLWIDTH).strip() for p in parts[1:]]
    plan = Plan(raw=segs[0], intent="complex")
    has_intent = False
    for seg in segs[1:]:
        low = seg.lower()
        head, _, value = seg.partition(":")
        if _LOGIC.search(seg) or "logical relationship" in low or "逻辑" in seg:
            _parse_logic(seg, plan)
        elif "optimization" in low or "优化" in head:
            plan.optimized = value.strip() or plan.raw
        elif "intention" in low or "意图" in head:
            v = value.strip().lower()
            if v not in INTENTS:
                raise PlanFormatError(f"search intention must be complex or simple, not {value.strip()!r}")
            plan.intent, has_intent = INTENTS[v], True
        elif re.match(r"\s*(time|时间)\s*:", seg, re.IGNORECASE):
            _parse_entities(seg, plan)
        elif not seg:
            continue
        else:
            raise PlanFormatError(f"unknown section {seg[:60]!r} in annotated text")
    if not has_intent:
        plan.intent = Plan.intent_of(plan.and_, plan.not_, plan.or_)
    return plan
