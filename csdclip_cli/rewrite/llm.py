"""The LLM rewriter: a quantized GGUF through llama-cpp-python, decoding constrained by a
JSON schema, checked against the query, falling back to the rules clause list by clause
list (a small model's decompositions are not to be trusted blindly)."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from csdclip_cli.errors import ModelFileMissing, UsageError
from csdclip_cli.fingerprint import file_fingerprint
from csdclip_cli.rewrite.llm_worker import LlamaWorker, WorkerFailed
from csdclip_cli.rewrite.phrases import noun_phrase_end, singular
from csdclip_cli.rewrite.plan import Plan
from csdclip_cli.rewrite.rules import (
    CJK,
    COLOURS,
    IMPLIED_ITEM,
    NOTHING_BUT,
    PRONOUN_PLACE,
    STATES,
    ZH_ONLY,
    RuleRewriter,
    is_participle,
    lexical_negators_hidden,
    simplified,
)
from csdclip_cli.rewrite.shipped import ADAPTER as SHIPPED

PROMPT_VERSION = "v2"  # v2: no few-shot example is a test or benchmark query
FINETUNED_PROMPT = "t21"  # the prompt and output form of rewrite/finetune.py, and its checks (t21: a place alone)
MAX_CLAUSE_WORDS = 14
# plain `pip install llama-cpp-python` compiles for this CPU only (-march=native); the Makefile's
# wheel is portable (README, "Portable builds")
LLAMA_MISSING = "llama-cpp-python is not installed: run `make install-llm` in csd's clone (a portable build)"
SCHEMA = {
    "type": "object",
    "properties": {
        "optimized": {"type": "string", "maxLength": 200},
        "and": {"type": "array", "items": {"type": "string", "maxLength": 80}, "maxItems": 6},
        "not": {"type": "array", "items": {"type": "string", "maxLength": 60}, "maxItems": 4},
        "or": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string", "maxLength": 60}, "maxItems": 4},
            "maxItems": 2,
        },
    },
    "required": ["optimized", "and", "not", "or"],
    "additionalProperties": False,
}
INSTRUCTION = (
    'Rewrite an image search query as JSON. "optimized": the query with its negations removed. '
    '"and": the conditions that must all hold, each a short self-contained phrase that keeps its subject. '
    '"not": things that must be absent, only when the query negates them. "or": groups of alternatives.'
)
# Few-shot examples: none of them is a query of the tests or the benchmarks (they would be copied).
EXAMPLES = [
    (
        "a blue bus and a lamp post in the rain, no people",
        {
            "optimized": "a blue bus and a lamp post in the rain",
            "and": ["a blue bus", "a lamp post", "in the rain"],
            "not": ["people"],
            "or": [],
        },
    ),
    (
        "a man in a red jacket riding a bike along the river without a helmet",
        {
            "optimized": "a man in a red jacket riding a bike along the river",
            "and": ["a man in a red jacket", "a man riding a bike", "a man along the river"],
            "not": ["helmet"],
            "or": [],
        },
    ),
    (
        "a horse or a cow grazing in a field",
        {
            "optimized": "a horse or a cow grazing in a field",
            "and": ["grazing in a field"],
            "not": [],
            "or": [["a horse", "a cow"]],
        },
    ),
]
# how search boxes and lists say "no" (rules.SEARCH_SYNTAX reads them): "dogs excluded",
# "anything but", "non-red", "-dog"; a cue in both lists below
SEARCH_BOX_CUES = r"\b(?:excluded|anything\s+but)\b|\bnon-(?=[a-z])|(?:^|(?<=\s))-(?=[a-z])"
NEG_CUE = re.compile(
    r"\b(no|not|neither|nor|without|except|excluding|never|minus|lacking|isn'?t|aren'?t)\b"
    rf"|{SEARCH_BOX_CUES}|没|不|无|除了|排除|别",
    re.IGNORECASE,
)


def _negates(text: str) -> bool:
    """Whether `text` holds a negation cue (NEG_CUE); 无 / 不 / 没 beginning a word that negates
    nothing (无人机, 不锈钢, 无锡) is none."""
    return bool(NEG_CUE.search(lexical_negators_hidden(text)))


OR_CUE = re.compile(r"\bor\b|或|还是", re.IGNORECASE)
TRAILING_PRONOUN_PLACE = re.compile(rf"\s+{PRONOUN_PLACE}$", re.IGNORECASE)
STOP = {"a", "an", "the", "of", "in", "on", "at", "and", "with", "to", "some", "any"}


def resolve_model(
    model_path: str | Path | None = None, adapter: str | Path | None = None, use_adapter: bool = True
) -> tuple[Path | None, Path | None]:
    """(base GGUF, LoRA adapter GGUF or None) for --rewriter llm.

    An adapter given (`adapter`, $CSD_LLM_ADAPTER, settings [rewrite] adapter) applies to the
    model given or configured, else to the bundled gemma base. With no adapter and no model
    configured (see `default_llm_path`), the shipped adapter on the bundled gemma base; a model
    of your own runs alone with the few-shot prompt. `use_adapter=False`: never an adapter.
    Raises ModelFileMissing, naming where the path came from, for a model or adapter file that
    is missing or cannot be one (`model_problem`; llama.cpp said only "Failed to load model").
    """
    import csdclip_cli.rewrite.shipped as shipped
    from csdclip_cli import config

    explicit = Path(model_path).expanduser() if model_path else default_llm_path()
    if explicit is not None and (problem := model_problem(explicit)):
        what, todo = problem
        raise ModelFileMissing(f"GGUF model {explicit}{llm_origin(model_path)} {what}; {todo}")
    if not use_adapter:
        return explicit or shipped.bundled_base(), None
    chosen = adapter or os.environ.get("CSD_LLM_ADAPTER") or config.settings("rewrite").get("adapter")
    if chosen:
        path = Path(chosen).expanduser()
        where = adapter_origin(adapter).strip()
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "not found"
            raise ModelFileMissing(f"LoRA adapter {path} {what} {where}")
        from csdclip_cli.rewrite.lora_gguf import general_type

        try:  # llama.cpp segfaults on anything else; a model is told from its header at once
            kind = gguf_type(path)  # (gguf's reader took ~10 s over the gemma base's vocabulary)
            if kind == "adapter":
                kind = general_type(path)  # reads it whole: an adapter cut short is refused here
        except Exception:  # not GGUF, unreadable, or cut short (gguf's reader raises several kinds)
            with path.open("rb") as f:
                gguf_start = f.read(4) == b"GGUF"
            what = (  # a GGUF cut short was called "not a GGUF file"
                "is cut short or damaged (its GGUF header or tensors do not read): copy it again"
                if gguf_start
                else "is not a GGUF file; make one with `csd rewriter train`"
            )
            raise ModelFileMissing(f"LoRA adapter {path} {what} {where}") from None
        if kind != "adapter":
            raise ModelFileMissing(
                f"{path} is a GGUF model, not a LoRA adapter (general.type {kind or 'unset'}) {where}; "
                "give a model with --llm, an adapter with --adapter"
            )
        if explicit is not None and merged_prompt(explicit):  # the adapter would be added twice
            raise ModelFileMissing(
                f"GGUF model {explicit}{llm_origin(model_path)} has a LoRA adapter merged in already; "
                f"leave out the adapter {path.name} {where}"
            )
        return explicit or shipped.bundled_base(), path
    if explicit is not None:
        return explicit, None
    if not shipped.ADAPTER.is_file():
        return None, None
    return shipped.bundled_base(), shipped.ADAPTER


# GGUF metadata value types (gguf-py's GGUFValueType) -> bytes; 8 is a string, 9 an array
GGUF_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
GGUF_STRING, GGUF_ARRAY = 8, 9
ADAPTER_AS_MODEL = "give it with --adapter (and the model it was trained on with --llm)"
HEADER_BUDGET = 1 << 24  # bytes gguf_header_string reads at most: the keys before a vocabulary take kilobytes


def gguf_type(path: Path) -> str | None:
    """The `general.type` of a GGUF file ("adapter" for a LoRA adapter; "model" or None for a
    model), from the start of its header alone (`gguf_header_string`). gguf's reader parses the
    whole vocabulary first: ~10 s for the 253 MB gemma. Raises ValueError for a header that is
    not GGUF v2 / v3 or ends early, OSError for a file that cannot be read."""
    return gguf_header_string(path, "general.type")


def gguf_header_string(path: Path, wanted: str) -> str | None:
    """The string value of metadata key `wanted` of a GGUF file, read from the start of its
    header alone: the keys in order up to `wanted`, stopping (None) at the first tokenizer.* key,
    so only a key written before the vocabulary is found (general.type, an adapter's keys, the
    prompt key of a merged model). Raises ValueError for a header that is not GGUF v2 / v3 or
    ends early, OSError for a file that cannot be read."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size

        def take(n: int) -> bytes:
            if f.tell() + n > size:  # also bounds what a garbage length would allocate
                raise ValueError(f"{path.name}: the GGUF header ends early")
            if f.tell() > HEADER_BUDGET:  # garbage counts after a 'GGUF': not walked for minutes
                raise ValueError(f"{path.name}: no {wanted} in the first {HEADER_BUDGET} bytes")
            return f.read(n)

        def number(n: int) -> int:
            return int.from_bytes(take(n), "little")

        def skip(vtype: int) -> None:
            if vtype == GGUF_STRING:
                f.seek(number(8), 1)  # past the end: the next take() says so
            elif vtype == GGUF_ARRAY:
                item, count = number(4), number(8)
                if item in (GGUF_STRING, GGUF_ARRAY):
                    for _ in range(count):
                        skip(item)
                elif item in GGUF_SCALAR_BYTES:
                    f.seek(count * GGUF_SCALAR_BYTES[item], 1)
                else:
                    raise ValueError(f"{path.name}: unknown GGUF value type {item}")
            elif vtype in GGUF_SCALAR_BYTES:
                f.seek(GGUF_SCALAR_BYTES[vtype], 1)
            else:
                raise ValueError(f"{path.name}: unknown GGUF value type {vtype}")

        if take(4) != b"GGUF" or number(4) not in (2, 3):  # v1 counted in 32 bits; llama.cpp reads v2+
            raise ValueError(f"{path.name} is not a GGUF v2 / v3 file")
        number(8)  # tensor count
        for _ in range(number(8)):
            key = take(number(8)).decode("utf-8", "replace")
            vtype = number(4)
            if key.startswith("tokenizer."):
                return None
            if key == wanted and vtype == GGUF_STRING:
                return take(number(8)).decode("utf-8", "replace")
            skip(vtype)
    return None


def merged_prompt(path: Path) -> str | None:
    """The training prompt a merged fine-tuned model names (`csd rewriter merge` writes it under
    lora_merge.PROMPT_KEY, before the vocabulary), or None for any other model or an unreadable
    header (llama.cpp's load then says what is wrong)."""
    from csdclip_cli.rewrite.lora_merge import PROMPT_KEY

    try:
        found = gguf_header_string(path, PROMPT_KEY)
    except (ValueError, OSError):
        return None
    return found if found and "{query}" in found else None


def model_problem(path: Path) -> tuple[str, str] | None:
    """(what is wrong, what to do) when `path` cannot be a GGUF model, found without loading it;
    None when it may be one. Reads 4 bytes and the start of the header (`gguf_type`); a header
    that does not parse is left to llama.cpp, whose refusal `load_failure` explains."""
    if not path.exists():
        return "not found", "fix the path"
    if path.is_dir():
        return "is a folder, not a GGUF file", "give the .gguf file in it"
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})", "check its permissions"
    if not magic:
        return "is empty (0 bytes)", "copy or download it again"
    if magic != b"GGUF":
        return "is not a GGUF file (it does not start with 'GGUF')", "give a GGUF model (llama.cpp's format)"
    try:
        kind = gguf_type(path)
    except (ValueError, OSError):  # cut short or damaged: llama.cpp refuses it, load_failure says why
        return None
    if kind == "adapter":
        return "is a LoRA adapter, not a model", ADAPTER_AS_MODEL
    return None


def load_failure(path: Path, error: str) -> str:
    """llama.cpp's refusal to load `path` ("Failed to load model from file"), with what it means
    when gguf's reader finds the file cut short or damaged, or a LoRA adapter. The reader parses
    the whole vocabulary (seconds), so this runs only after a failed load."""
    from csdclip_cli.rewrite.lora_gguf import general_type

    try:
        kind = general_type(path)
    except Exception:  # gguf's reader raises ValueError, IndexError, ... for a damaged file
        return f"{error}; the file looks cut short or damaged: copy or download it again"
    if kind == "adapter":
        return f"{path} is a LoRA adapter, not a model; {ADAPTER_AS_MODEL}"
    return error


def fit_checked(adapter: Path | None) -> bool:
    """Whether the worker checks that `adapter` fits the model before llama.cpp applies it (an
    adapter of another base segfaults llama.cpp): every adapter but the shipped one, which only
    ever goes with its own base (resolve_model)."""
    return adapter is not None and adapter.resolve() != SHIPPED.resolve()


def parse_logic(text: str) -> dict[str, Any] | None:
    """A fine-tuned model's output (' -AND: < a, b >, -NOT: < c >, -OR: < d, e >', the TIGR
    logic section) as a candidate plan dict; None when it does not parse."""
    from csdclip_cli.errors import PlanFormatError
    from csdclip_cli.rewrite import plan as tigr

    try:
        plan = tigr.parse_logic(text)
    except PlanFormatError:
        return None
    return {"optimized": _joined(plan.and_, plan.or_), "and": plan.and_, "not": plan.not_, "or": plan.or_}


def _joined(ands: list[str], ors: list[list[str]]) -> str:
    """The optimized phrase of a fine-tuned plan: its AND clauses joined (，between Chinese
    ones), as in the annotations; the first OR group when there is no AND clause."""
    zh = ands and all(CJK.search(a) for a in ands)
    return ("，" if zh else ", ").join(ands) or " or ".join(ors[0] if ors else [])


# Any way of saying that something is absent; a query without one cannot have a NOT clause.
ABSENCE_CUE = re.compile(
    r"\b(?:no|not|neither|nor|nobody|nothing|none|never|zero|without|except|excluding|minus|lacking|devoid|free of|empty of|"
    r"bare of|clear of|void of|"
    r"isn'?t|aren'?t|doesn'?t|don'?t|hold the|leave out|other than|apart from|absent|missing|sans|no-one)\b"
    rf"|{SEARCH_BOX_CUES}|没|不|无|别|除|排除|缺",
    re.IGNORECASE,
)
RELATION_WORDS = {"next", "near", "beside", "behind", "front", "top", "under", "above", "by", "inside", "outside"}
OBJECT_JOIN = re.compile(r"\b(?:with|next to|and|beside|near)\b|和|与|旁边")
# Absence of something the query does not name ("nobody else" -> "other people")
IMPLIED_ABSENCE = re.compile(r"\b(?:nobody|no one|no-one|nothing|empty|alone|else)\b|无人|没有人|空", re.IGNORECASE)


VAGUE_NOT = re.compile(r"(?:(?:a|an|the)\s+)?(?P<prop>[A-Za-z-]+)(?P<one>\s+ones?)?", re.IGNORECASE)
# an AND clause that is a place and no thing ("on the beach", "in the snow", "at night", 在沙发上;
# not 在海边散步的人)
PLACE_ALONE = re.compile(
    r"(?:in front of|on top of|next to|in|on|at|by|under|near|behind|beside|inside|outside|across|along|over|during)\s|在[^的，,]*[上里中下旁边前后内外]$",
    re.IGNORECASE,
)
# where in the picture, not what: 背景里的房子 excludes a house
NOT_FRAME = re.compile(r"背景|画面|照片|图片|\b(?:background|foreground|picture|photo|frame)\b", re.IGNORECASE)


def _state(word: str) -> bool:
    """`word` is a state or a participle ("open", "parked", "broken"): some thing's, not a thing."""
    return word in STATES or is_participle(word)


def _invented_zh(clause: str, query: str) -> str:
    """A noun of two or more characters in a Chinese `clause` that `query` does not hold (a small
    model wrote 宠物 for 一只狗或者一只猫, 'pet' for 'a dog or a cat'); "" when there is none."""
    if not CJK.search(clause):
        return ""
    from csdclip_cli.rewrite.zh_clauses import tag

    return next((w for w, flag in tag(clause) if flag.startswith("n") and len(w) >= 2 and w not in query), "")


def _bare(clause: str) -> str:
    """`clause` without 的, articles, case and spaces: 红色的汽车 and 红色汽车 are one thing."""
    return re.sub(r"\b(?:a|an|the)\b|的|\s+", "", clause.lower())


def _absent_in(text: str) -> bool:
    """Whether `text` says something is absent (ABSENCE_CUE), 无人机-like words aside."""
    return bool(ABSENCE_CUE.search(lexical_negators_hidden(text)))


def _negated_near(item: str, query: str, window: int = 30) -> bool:
    """Some word of `item` follows an absence cue by at most `window` characters."""
    q = query.lower()
    masked = lexical_negators_hidden(q)  # as long as q: 无人机 hides its 无
    for w in _content_words(item):
        # English: either number ("a cat" for "no cats")
        pattern = re.escape(w) if CJK.match(w) else rf"(?<!\w)(?:{re.escape(w)}|{re.escape(singular(w))}(?:e?s)?)(?!\w)"
        for m in re.finditer(pattern, q):
            if ABSENCE_CUE.search(masked[max(0, m.start() - window) : m.start()]):
                return True
    return False


ZH_FUNCTION = set("有是的了在和也都个只")


def _scripts(text: str) -> set[str]:
    """The writing systems of `text`'s letters, by their Unicode names: LATIN, CJK, TAMIL, ..."""
    import unicodedata

    return {unicodedata.name(c, "?").split()[0] for c in text if c.isalpha()}


def _foreign(item: str, query: str) -> str:
    """What of `item` is written in a script `query` does not use ('' when nothing): letters of
    another writing system, or Latin letters beside a query without any. A small adapter's
    broken output ("costruireraum上ுள்ள猫在 alternative上") shared a character pair with the query."""
    other = _scripts(item) - _scripts(query)
    if not other:
        return ""
    return next(c for c in item if c.isalpha() and _scripts(c) & other)


def _named(item: str, query: str, qwords: set[str]) -> bool:
    """The query names `item`: shares a word with it. A Chinese item must share two characters
    in a row with the query (one is not enough: 天气 is not 天空), or be a one-character noun
    of it (人, not 有)."""
    if CJK.search(item) and not re.search(r"[A-Za-z]", item):
        item = re.sub(r"^[一两三几这那][个只张辆条件位片棵头匹双座]", "", item)
        if len(item) == 1:
            return item in query and item not in ZH_FUNCTION
        return any(item[i : i + 2] in query for i in range(len(item) - 1))
    return bool(_content_words(item) & qwords or _stems(item) & {singular(w) for w in qwords})


def _inside(clause: str, item: str) -> bool:
    """`item`'s content words all occur in `clause` (Chinese: its characters)."""
    words = _content_words(item)
    return bool(words) and words <= _content_words(clause)


def _places_with_things(ands: list[str], rules_and: list[str], nots: list[str], problems: list[str]) -> list[str]:
    """`ands` with each place said alone ("on the beach", "in the snow") given the things the
    rules' clauses put it with ("a black dog on the beach"), each such clause taking the place of
    the model's clause for its thing ("a black dog") or added beside the others. The annotations
    put a place with a thing ("a woman in front of City Hall" in TIGR's format; no gold clause of
    the held-out sets is a place alone), and a text encoder trained on captions reads a place
    alone poorly. A rules' clause holds the place when it says the same words in a row ("a beach
    ball" does not hold "at the beach"); a place no rules' clause holds stays."""
    out = list(ands)
    for a in ands:
        if not PLACE_ALONE.match(a):
            continue
        place = _bare(a)
        holders = [
            r for r in rules_and if place in _bare(r) and _bare(r) != place and not any(_inside(r, n) for n in nots)
        ]
        if not holders:
            continue
        problems.append(f"AND clause {a!r} is a place alone; the rules' {holders!r}")
        at = out.index(a)
        out.remove(a)
        # each thing the rules put there (一只猫在沙发上, 一只狗在沙发上): in place of the model's
        # clause for it, else beside the others (一匹马在农场里 beside the model's 一匹棕色的马)
        for r in holders:
            if r in out:
                continue
            thing = next((i for i, b in enumerate(out) if b not in holders and _inside(r, b)), None)
            if thing is not None:
                out[thing] = r
            else:
                out.insert(min(at, len(out)), r)
                at += 1
    return out


def validate_finetuned(candidate: dict[str, Any], query: str, rules: Plan) -> tuple[Plan, list[str]]:
    """A fine-tuned model's plan, checked against the query. It learned the annotation
    conventions, so a NOT clause may name what the query only implies ("nobody else" -> "other
    people"); what is checked is what a small model gets wrong:

    - NOT clauses: none when the query has no absence cue at all ("with mirrors"); a clause
      naming nothing in the query is dropped unless the absence is implied ("nobody", "nothing
      else"), as is one whose words follow no absence cue ("a bicycle without a basket leaning
      against a tree": not "a tree"). No NOT left where the rules found some: the rules' NOTs;
      a rules' NOT that names another thing than the model's ("grey dog" beside "brown dog")
      and is negated in the query: added.
    - AND clauses: dropped when over-long, off the query, negated, holding a NOT clause ("a dog
      on a leash" beside NOT "a leash"), or wanting what the query names only under a negation
      ("a red car by the sea, no brown dog": not "a dog by the sea"); none left: the rules' AND
      clauses that hold no NOT.
    - A place alone ("in the snow"): the rules' clauses that say it with a thing ("a red car in
      the snow"), each in place of the model's clause for that thing or beside the others.
    - OR groups of one are dropped; none where the rules find some ("a teddy bear or a doll"):
      the rules' groups, and the AND clauses inside them dropped. No AND and no OR clause at
      all: the rules' plan.
    - The optimized phrase is the rules' (the query without carrier and negations) when it has
      every word of the AND and OR clauses and holds no NOT clause; else the AND clauses joined.
    """
    qwords = _content_words(query)
    problems: list[str] = []

    def items(raw: Any) -> list[str]:
        out: list[str] = []
        for it in raw if isinstance(raw, list) else []:
            it = TRAILING_PRONOUN_PLACE.sub("", str(it).strip())  # "a sofa on it": "it" is the sofa
            if it and len(it.split()) <= MAX_CLAUSE_WORDS and it.lower() not in (o.lower() for o in out):
                out.append(it)
        return out

    nots = items(candidate.get("not"))
    proposed = nots
    # "nothing on it except a laptop", 除了沙子什么都没有: only that thing, and nothing implied excluded
    only = NOTHING_BUT.search(query) or ZH_ONLY.search(query)
    masked = lexical_negators_hidden(query)  # 无人机 says no absence
    if nots and not ABSENCE_CUE.search(masked):
        problems.append(f"NOT clauses {nots!r} in a query that negates nothing; dropped")
        nots = []
    kept = [
        n
        for n in nots
        if (_named(n, query, qwords) and _negated_near(n, query))
        or (not _content_words(n) & qwords and IMPLIED_ABSENCE.search(masked) and not only)
    ]
    if kept != nots:
        problems.append(f"NOT clauses {[n for n in nots if n not in kept]!r} are not negated in the query; dropped")
    nots = kept
    if not nots and rules.not_:
        problems.append(f"no usable NOT clause where the rules find {rules.not_!r}; used those")
        nots = rules.not_
    # a small model may keep one of several exclusions ("a room with no windows, never sunny"
    # -> NOT "sunny"), or one of two properties ("neither brown nor grey"): a rules' NOT naming
    # another thing than the model's and negated in the query
    missed = [
        r
        for r in rules.not_
        if r not in nots
        and not IMPLIED_ITEM.match(r)  # the rules' "nobody" / "nothing red": the model words these its own way
        and not any(_same_thing(r, n) for n in nots)
        and _named(r, query, qwords)
        and _negated_near(r, query)
    ]
    if missed:
        problems.append(f"NOT clauses {missed!r} of the rules are missing; added")
        nots = [*nots, *missed]
    # a property alone ("red", "a red one", "parked") excludes every red or parked thing; the
    # rules name the thing it is said of ("red balloon", "parked car")
    replaced: set[str] = set()
    for i, n in enumerate(nots):
        m = VAGUE_NOT.fullmatch(n.strip())
        prop = m["prop"].lower() if m else ""
        # a colour or a participle is always some thing's; "sunny" alone may be the scene's
        # ("a room with no windows, never sunny")
        if m and (
            prop in COLOURS or (m["one"] and prop in STATES) or (n.strip().lower() == prop and is_participle(prop))
        ):
            named = [r for r in rules.not_ if prop in r.lower().split() and len(r.split()) > 1]
            if named:
                problems.append(f"NOT clause {n!r} names no thing; the rules' {named[0]!r}")
                nots[i] = named[0]
                replaced.add(n)
    wanted_stems = _stems(rules.optimized)
    wanted_chars = _content_words(rules.optimized) - ZH_FUNCTION if CJK.search(rules.optimized) else set()
    for i, n in enumerate(nots):
        # a property moved onto the wanted thing ("a toddler with a balloon that isn't red" ->
        # "a red toddler"): the rules' clause that puts it on another thing ("red balloon")
        head = _head(n)
        props = {w for w in _stems(n) - {head} if w in COLOURS or _state(w)}
        if head in wanted_stems and props:
            moved = [
                r
                for r in rules.not_
                if (h := _head(r)) not in (None, head) and not _state(h) and h not in COLOURS and props & _stems(r)
            ]
            if moved:
                problems.append(f"NOT clause {n!r} excludes the wanted {head!r}; the rules' {moved[0]!r}")
                nots[i] = moved[0]
                replaced.add(n)
                continue
        # a rules' NOT inside a longer one whose more is wanted or the frame ("a dog on a leash"
        # beside a wanted dog, 其他动物的房间 beside 房间里的猫, 背景里的房子) or only 有 / 的 (有汽车):
        # what is absent is the rules'
        for r in rules.not_:
            extra = _content_words(n) - _content_words(r)
            more = extra - ZH_FUNCTION
            wanted_or_frame = more and (more & (wanted_stems | wanted_chars) or NOT_FRAME.search(n))
            if r != n and _inside(n, r) and (wanted_or_frame or (extra and not more and CJK.search(n))):
                problems.append(f"NOT clause {n!r} holds what is wanted or the frame; the rules' {r!r}")
                nots[i] = r
                replaced.add(n)
                break
    nots = list(dict.fromkeys(nots))
    ands, ors = [], [g for g in (items(g) for g in candidate.get("or") or [] if isinstance(g, list)) if len(g) > 1]
    # what the query names only under a negation ("a red car by the sea, no brown dog": dog)
    only_negated = {h for n in nots if (h := _head(n))} - _stems(rules.optimized)
    for g in [g for g in ors if any(_foreign(x, query) for x in g)]:
        problems.append(f"OR group {g!r} is written in letters the query does not use; dropped")
        ors.remove(g)
    for a in items(candidate.get("and")):
        if not (_content_words(a) & qwords) or _negates(a):
            problems.append(f"AND clause {a!r} is not from the query, or negated; dropped")
        elif foreign := _foreign(a, query):
            problems.append(f"AND clause {a!r} is written in letters the query does not use ({foreign!r}); dropped")
        elif invented := _invented_zh(a, query):
            problems.append(f"AND clause {a!r} names {invented!r}, which the query does not; dropped")
        elif any(_bare(a) == _bare(n) for n in nots):  # 红色汽车 wanted beside NOT 红色的汽车
            problems.append(f"AND clause {a!r} is also a NOT clause; dropped")
        elif any(_inside(a, n) for n in nots):
            problems.append(f"AND clause {a!r} holds a NOT clause; dropped")
        elif _stems(a) & only_negated:
            problems.append(
                f"AND clause {a!r} wants {sorted(_stems(a) & only_negated)!r}, which the query negates; dropped"
            )
        else:
            ands.append(a)
    # a thing the query names without negating it is wanted, whatever list the model put it in
    # ("a yellow house with a yellow balloon": NOT "a yellow balloon" -> an AND clause)
    for w in proposed:
        if w not in nots and w not in replaced and _named(w, query, qwords) and not any(_inside(a, w) for a in ands):
            problems.append(f"{w!r} is named in the query without a negation; an AND clause")
            ands.append(w)
    ands = _places_with_things(ands, rules.and_, nots, problems)
    # the rules' clauses that hold no NOT and no negation (the rules miss some: "不是黑色的")
    finer = [a for a in rules.and_ if not any(_inside(a, n) for n in nots) and not _absent_in(a)]
    by_rules = set().union(*(_content_words(a) for a in finer)) - ZH_FUNCTION if finer else set()
    # a small model may stop after the first thing ("a red house and a yellow house" -> "a red
    # house"): when its clauses leave out a fifth of the words the rules keep, the rules' clauses
    said = set().union(*(_content_words(c) for c in [*ands, *nots, *(x for g in ors for x in g)])) if ands else set()
    left_out = by_rules - said - RELATION_WORDS
    if ands and finer and len(left_out) >= 0.2 * len(by_rules - RELATION_WORDS):
        problems.append(f"the AND clauses leave out {sorted(left_out)!r}; used the rules' clauses")
        ands = finer
    # alternatives the model wrote as AND clauses or left out ("a teddy bear or a doll on a
    # bed" -> "a doll on a bed"): the rules' OR groups, without the AND clauses inside them
    if rules.or_ and not ors:
        alternatives = set().union(*(_content_words(x) for g in rules.or_ for x in g))
        problems.append(f"no OR group where the rules find {rules.or_!r}; used those")
        ors = rules.or_
        ands = [a for a in ands if not {w.removesuffix("'s") for w in _content_words(a)} <= alternatives]
    # an alternative written as an AND clause beside the groups ("或者绿色的汽车")
    if ors and (alternatives_in_and := [a for a in ands if OR_CUE.search(a)]):
        problems.append(f"AND clauses {alternatives_in_and!r} hold an alternative; dropped")
        ands = [a for a in ands if a not in alternatives_in_and]
    # two things joined in one clause ("a tree with a blue car"), which the rules split into
    # one clause each: composite search scores each thing, so the finer split of the same words
    joined = any(OBJECT_JOIN.search(a) for a in ands)
    if (
        joined
        and finer != ands
        and len(finer) >= len(ands)
        and all(_content_words(a) - RELATION_WORDS <= by_rules for a in ands)
    ):
        problems.append(f"the rules split the AND clauses finer; used {finer!r}")
        ands = finer
    if not ands and not ors:
        ands = [a for a in rules.and_ if not any(_inside(a, n) for n in nots)]
        ors = rules.or_
        if not ands and not ors:
            problems.append("no usable AND clauses; used the rules' plan")
            return rules, problems
        problems.append("no usable AND clauses; used the rules' AND clauses")
    # the phrase is the query's own positive text (carriers and negations stripped by the
    # rules): "a blue boat next to a white car" keeps the relation that "a blue boat, a white
    # car" loses, and scored better on the demo benchmark (NIPR@10 0.942 against 0.934). Not
    # when the rules cut something wanted ("a dog without a leash in a park" -> "a dog") or
    # kept something negated.
    wanted = set().union(*(_content_words(c) for c in [*ands, *(x for g in ors for x in g)]))
    phrase = rules.optimized
    use_phrase = wanted <= _content_words(phrase) and not any(_inside(phrase, n) for n in nots)
    optimized = phrase if use_phrase else _joined(ands, ors)
    intent = Plan.intent_of(ands, nots, ors)
    return Plan(
        raw=query, intent=intent, entities=rules.entities, optimized=optimized, and_=ands, not_=nots, or_=ors
    ), problems


def _origin(given: str | Path | None, flag: str, env: str, key: str) -> str:
    """' (from FLAG)', ' (from $ENV)', ' (from [rewrite] KEY in FILE)', or '' when none set it."""
    from csdclip_cli import config

    if given:
        return f" (from {flag})"
    if os.environ.get(env):
        return f" (from ${env})"
    if config.settings("rewrite").get(key):
        return f" (from [rewrite] {key} in {config.config_file()})"
    return ""


def llm_origin(given: str | Path | None) -> str:
    """Where the GGUF path came from, for an error: ' (from --llm)', ' (from $CSD_LLM)', ' (from
    [rewrite] llm in FILE)', or '' for the model store (the user could not tell which they set)."""
    return _origin(given, "--llm", "CSD_LLM", "llm")


def adapter_origin(given: str | Path | None) -> str:
    """Where the LoRA adapter's path came from, as `llm_origin` says it: --adapter,
    $CSD_LLM_ADAPTER or [rewrite] adapter."""
    return _origin(given, "--adapter", "CSD_LLM_ADAPTER", "adapter")


def default_llm_path(models_dir: Path | None = None) -> Path | None:
    """$CSD_LLM, else the settings file's [rewrite] llm, else the first GGUF model in the model
    store (a Qwen preferred; None when it holds no *.gguf). Files there that cannot be a model
    (empty, not GGUF, a LoRA adapter: `model_problem`) are passed over: a half-copied
    a-partial.gguf was used instead of the b.gguf beside it. Raises ModelFileMissing when every
    *.gguf there is such a file (the shipped rewriter would stand in for them without a word)."""
    from csdclip_cli import config

    env = os.environ.get("CSD_LLM") or config.settings("rewrite").get("llm")
    if env:
        return Path(env).expanduser()
    store = config.models_dir(models_dir)
    ggufs, skipped = [], []
    for p in sorted(store.glob("*.gguf")):
        if problem := model_problem(p):
            skipped.append(f"{p.name} {problem[0]}")
        else:
            ggufs.append(p)
    if skipped and not ggufs:
        raise ModelFileMissing(
            f"no usable GGUF model in {store}: {'; '.join(skipped)}; "
            "put a GGUF model there, remove these, or pass --llm FILE"
        )
    ggufs.sort(key=lambda p: "qwen" not in p.name.lower())
    return ggufs[0] if ggufs else None


def _content_words(text: str) -> set[str]:
    if CJK.search(text):
        return {c for c in text if CJK.match(c)}
    return {w for w in re.findall(r"[\w']+", text.lower()) if w not in STOP}


def _stems(text: str) -> set[str]:
    """English content words in the singular ("dogs" -> "dog", "people" -> "person"); empty for
    Chinese text, whose one-character words would match across unrelated clauses."""
    if CJK.search(text):
        return set()
    return {singular(w) for w in _content_words(text)}


def _words(text: str) -> set[str]:
    """_stems of English text, the characters of Chinese text: what two clauses can share."""
    return _stems(text) or _content_words(text)


def _head(clause: str) -> str | None:
    """The thing an English clause names: its last content word before a preposition, relative
    clause or participle (phrases.noun_phrase_end), in the singular ("a bow on a stage" -> "bow", "brown dogs" -> "dog"); None
    for Chinese."""
    if CJK.search(clause):
        return None
    words = re.findall(r"[\w']+", clause.lower())
    for word in reversed(words[: noun_phrase_end(words)]):
        if stem := _stems(word):
            return stem.pop()
    return None


def _same_thing(a: str, b: str) -> bool:
    """Two NOT items name the same thing: they share a word, but not only the head of two
    clauses that each say more ("brown dog" and "grey dog" are two exclusions)."""
    wa, wb = _words(a), _words(b)
    head = _head(a)
    if head is not None and wa & wb == {head} and _head(b) == head and wa - {head} and wb - {head}:
        return False
    return bool(wa & wb)


def _negated_in_query(item: str, query: str) -> bool:
    """A NOT item needs a negation cue shortly before one of its words in the query."""
    q = query.lower()
    masked = lexical_negators_hidden(q)  # as long as q: 无人机 hides its 无
    for w in _content_words(item):
        # whole words ("no" is not the start of "not"); a Chinese item is one character
        pattern = re.escape(w.lower()) if CJK.match(w) else rf"(?<!\w){re.escape(w.lower())}(?!\w)"
        for m in re.finditer(pattern, q):
            if NEG_CUE.search(masked[max(0, m.start() - 25) : m.start()]):
                return True
    return False


def validate(candidate: dict[str, Any], query: str, rules: Plan) -> tuple[Plan, list[str]]:
    """The model's plan with every unusable clause list replaced by the rules' one."""
    qwords = _content_words(query)
    problems: list[str] = []

    def clean(items: Any, what: str) -> list[str]:
        out: list[str] = []
        for it in items if isinstance(items, list) else []:
            it = str(it).strip()
            if not it or it.lower() in (o.lower() for o in out):
                continue
            if len(it.split()) > MAX_CLAUSE_WORDS or not (_content_words(it) & qwords):
                problems.append(f"{what} clause {it!r} is over-long or not from the query")
                continue
            out.append(it)
        return out

    nots = [n for n in clean(candidate.get("not"), "not") if _negated_in_query(n, query)]
    ands = [a for a in clean(candidate.get("and"), "and") if a.lower() not in (n.lower() for n in nots)]
    negated = [a for a in ands if _negates(a)]
    if negated:  # "no shoes" as an AND clause would reward the very thing the query excludes
        problems.append(f"AND clauses {negated!r} are negations; dropped")
        ands = [a for a in ands if a not in negated]
    if any(_content_words(a) <= _content_words(n) for a in ands for n in nots):
        problems.append("an AND clause repeats a NOT clause")
        ands = []
    ors = [g for g in (clean(g, "or") for g in candidate.get("or") or [] if isinstance(g, list)) if len(g) > 1]
    if ors and (not OR_CUE.search(query) or any(x in ands for g in ors for x in g)):
        problems.append("OR groups without an 'or' in the query, or repeating AND clauses; used the rules' clauses")
        ors = rules.or_
    alternatives = [_content_words(x) for g in rules.or_ for x in g]
    if ands and any(_content_words(a) & alt for a in ands for alt in alternatives):
        problems.append("AND clauses contain the query's alternatives ('X or Y'); used the rules' clauses")
        ands = []
    covered = set().union(*(_content_words(c) for c in ands + [x for g in ors for x in g])) if ands else set()
    wanted = _content_words(rules.optimized)
    if ands and len(covered & wanted) < 0.75 * len(wanted):
        problems.append("AND clauses leave out most of the query; used the rules' clauses")
        ands = []
    if not ands:
        problems.append("no usable AND clauses; used the rules' clauses")
        ands, ors = rules.and_, rules.or_
    if _negates(query) != bool(nots) or len(nots) < len(rules.not_):
        if rules.not_ != nots:
            problems.append("NOT clauses do not match the query's negations; used the rules' clauses")
        nots = rules.not_
    optimized = str(candidate.get("optimized") or "").strip()
    if not optimized or not (_content_words(optimized) & qwords) or _negates(optimized):
        optimized = rules.optimized
    intent = Plan.intent_of(ands, nots, ors)
    return Plan(
        raw=query, intent=intent, entities=rules.entities, optimized=optimized, and_=ands, not_=nots, or_=ors
    ), problems


class LlamaRewriter:
    """Rewrites with a GGUF model run by a child process (`llm_worker`); never fails and never
    takes csd down: a worker that cannot load the model, dies (a signal, OOM), hangs past
    `timeout` seconds, or a query that does not fit the context gives the rule-based plan and
    one warning. Such fallbacks are not cacheable (`cacheable` is False after one).

    `worker` is the command that starts the worker (tests pass a fake one).
    """

    name = "llm"
    n_ctx = 2048
    max_tokens = 220

    def __init__(
        self,
        model_path: str | Path | None = None,
        n_gpu_layers: int = -1,
        n_threads: int | None = None,
        timeout: float | None = None,
        worker: list[str] | None = None,
        adapter: str | Path | None = None,
        use_adapter: bool = True,
    ):
        path, self.adapter = resolve_model(model_path, adapter, use_adapter)
        if path is None or not path.is_file():
            raise ModelFileMissing(
                f"no GGUF model for --rewriter llm: looked at {path or '--llm (not given), $CSD_LLM, models/*.gguf'}"
                f"{llm_origin(model_path)}. "
                "Put a chat GGUF (e.g. qwen2.5-1.5b-instruct-q4_k_m.gguf) in models/ or pass --llm FILE."
            )
        self.path = path
        # the plan is checked against the rules' plan, so a change of the rules changes it too
        self.fingerprint = f"{file_fingerprint(path)}:{PROMPT_VERSION}:{RuleRewriter.fingerprint}"
        # the training prompt of a fine-tuned model: what a merged model names, or an adapter's
        # (resolve_model refuses an adapter beside a merged model)
        self.finetuned_prompt = merged_prompt(path)
        if self.finetuned_prompt is not None:
            self.fingerprint += f":merged:{FINETUNED_PROMPT}"
        elif self.adapter is not None:
            from csdclip_cli.rewrite.finetune import PROMPT

            self.fingerprint += f":lora:{file_fingerprint(self.adapter)}:{FINETUNED_PROMPT}"
            self.finetuned_prompt = PROMPT
        self.n_gpu_layers = n_gpu_layers
        self.n_threads = n_threads or min(4, os.cpu_count() or 1)
        self.timeout = timeout if timeout is not None else default_timeout()
        self.worker_argv = worker
        self.rules = RuleRewriter()
        self.calls = 0  # model generations (the cache keeps this at one per query)
        self.warnings: list[str] = []
        self.cacheable = True
        self.last_failure: str | None = None  # why the last query fell back to the rules, if it did
        self._worker: LlamaWorker | None = None
        self._chat = False
        self._failed: str | None = None  # set once the model cannot be used in this process
        self._served = 0  # generations answered by the current worker

    def _load(self) -> LlamaWorker | None:
        if self._worker is None and self._failed is None:
            try:
                w = LlamaWorker(self.worker_argv)
                reply = w.request(
                    {
                        "op": "load",
                        "path": str(self.path),
                        "n_ctx": self.n_ctx,
                        "n_threads": self.n_threads,
                        "n_gpu_layers": self.n_gpu_layers,
                        "lora_path": str(self.adapter) if self.adapter else None,
                        "check_lora": fit_checked(self.adapter),
                    },
                    timeout=max(120.0, self.timeout),
                )
            except WorkerFailed as e:
                self._failed = e.reason
                return None
            if not reply.get("ok"):
                w.close()
                err = str(reply.get("error") or "unknown error")
                # the user's --adapter with another --llm: refused, as a model given as --adapter is
                if reply.get("kind") == "misfit":
                    raise ModelFileMissing(f"LoRA adapter {self.adapter}: {err}")
                if "No module named 'llama_cpp'" in err:
                    self._failed = LLAMA_MISSING
                else:
                    self._failed = f"cannot load {self.path.name}: {load_failure(self.path, err)}"
                return None
            self._worker, self._chat, self._served = w, bool(reply.get("chat")), 0
        return self._worker

    def close(self) -> None:
        """End the worker process (it also ends with csd)."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the child ends with its pipe anyway
            pass

    def _prompt(self, query: str) -> str:
        """The instruction, raw few-shot examples, then the query (used as a chat message when
        the GGUF has a chat template)."""
        shots = "".join(f"Query: {q}\nJSON: {json.dumps(a, ensure_ascii=False)}\n\n" for q, a in EXAMPLES)
        return f"{INSTRUCTION}\n\n{shots}Query: {query}\nJSON: "

    def generate(self, query: str) -> dict[str, Any] | None:
        """The model's JSON plan for `query`, or None (the reason is in `self.last_failure`)."""
        self.last_failure = None
        worker = self._load()
        if worker is None:
            self.last_failure = self._failed
            return None
        self.calls += 1
        if self.finetuned_prompt is not None:  # the training prompt, free decoding (a grammar was 4x slower)
            text = self.finetuned_prompt.replace("{query}", " ".join(query.split()))
            request = {"op": "generate", "prompt": text, "chat": False, "stop": ["\n"]}
            request["max_tokens"] = min(self.max_tokens, 120)  # a plan is 10-50 tokens; bounds a runaway
        else:
            request = {"op": "generate", "prompt": self._prompt(query), "schema": SCHEMA, "max_tokens": self.max_tokens}
        try:
            reply = worker.request(request, timeout=self.timeout)
        except WorkerFailed as e:
            self._worker = None
            if self._served == 0:  # it never answered: it will not do better on the next query
                self._failed = e.reason
            self.last_failure = e.reason
            return None
        if not reply.get("ok"):
            if reply.get("kind") == "context":
                short = query if len(query) <= 40 else query[:37] + "..."
                self.last_failure = (
                    f"query {short!r} is {reply.get('prompt_tokens')} tokens with the prompt, more than the "
                    f"model's context of {reply.get('n_ctx')} leaves room for ({self.max_tokens} for the answer)"
                )
            else:
                self.last_failure = f"generation failed: {reply.get('error')}"
            return None
        self._served += 1
        if self.finetuned_prompt is not None:
            return parse_logic(reply.get("text") or "")
        try:
            out = json.loads(reply.get("text") or "")
            return out if isinstance(out, dict) else None
        except json.JSONDecodeError:
            return None  # a runaway string hit max_tokens before the JSON closed

    def rewrite(self, query: str) -> Plan:
        """The model's plan for `query`, checked against the query (validate_finetuned for a
        fine-tuned model, adapter or merged, else validate); the rules' plan when the model fails
        or its output does not parse. Each change or fallback is appended to `warnings`. Raises
        UsageError for an empty query."""
        rules = self.rules.rewrite(query)
        text = simplified(rules.raw)  # the model and the checks read 沒有 as the rules do: 没有
        cand = self.generate(text)
        self.cacheable = self.last_failure is None
        if cand is None:
            why = self.last_failure or "the model's output did not parse"
            self.last_failure = why  # a fallback all the same (rewriter eval counted only failures to run)
            self.warnings.append(f"llm rewriter: {why}; used the rule-based plan")
            return rules
        check = validate_finetuned if self.finetuned_prompt is not None else validate
        plan, problems = check(cand, text, rules)
        self.warnings += [f"llm rewriter: {p}" for p in problems]
        return plan if plan.raw == rules.raw else replace(plan, raw=rules.raw)  # a plans file is keyed by it


def default_timeout() -> float:
    """Seconds one generation may take: $CSD_LLM_TIMEOUT, settings [rewrite] timeout, else 60."""
    from csdclip_cli import config

    raw = os.environ.get("CSD_LLM_TIMEOUT") or config.settings("rewrite").get("timeout") or 60
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (0 < seconds <= config.MAX_TIMEOUT):  # -5 was taken: every plan timed out and fell back to the rules
        raise UsageError(
            f"LLM timeout {raw!r} is not a number of seconds above 0 (CSD_LLM_TIMEOUT / [rewrite] timeout)"
        )
    return seconds
