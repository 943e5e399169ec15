"""The LLM rewriter: a quantized GGUF through llama-cpp-python, decoding constrained by a
JSON schema, checked against the query, falling back to the rules clause list by clause
list (a small model's decompositions are not to be trusted blindly)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from csdclip_cli.encoders.base import file_fingerprint
from csdclip_cli.errors import ModelFileMissing
from csdclip_cli.rewrite.plan import Plan
from csdclip_cli.rewrite.rules import CJK, RuleRewriter

PROMPT_VERSION = "v2"  # v2: no few-shot example is a test or benchmark query
MAX_CLAUSE_WORDS = 14
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
NEG_CUE = re.compile(
    r"\b(no|not|without|except|excluding|never|minus|lacking|isn'?t|aren'?t)\b|没|不|无|除了|排除|别", re.IGNORECASE
)
OR_CUE = re.compile(r"\bor\b|或|还是", re.IGNORECASE)
STOP = {"a", "an", "the", "of", "in", "on", "at", "and", "with", "to", "some", "any"}


def default_llm_path(models_dir: Path | None = None) -> Path | None:
    """--llm, else $CSD_LLM, else the settings file's [rewrite] llm, else the first *.gguf in
    the model store (a Qwen preferred)."""
    from csdclip_cli import config

    env = os.environ.get("CSD_LLM") or config.settings("rewrite").get("llm")
    if env:
        return Path(env).expanduser()
    ggufs = sorted(config.models_dir(models_dir).glob("*.gguf"))
    ggufs.sort(key=lambda p: "qwen" not in p.name.lower())
    return ggufs[0] if ggufs else None


def _content_words(text: str) -> set[str]:
    if CJK.search(text):
        return {c for c in text if CJK.match(c)}
    return {w for w in re.findall(r"[\w']+", text.lower()) if w not in STOP}


def _negated_in_query(item: str, query: str) -> bool:
    """A NOT item needs a negation cue shortly before one of its words in the query."""
    q = query.lower()
    for w in _content_words(item):
        for m in re.finditer(re.escape(w.lower()), q):
            if NEG_CUE.search(q[max(0, m.start() - 25) : m.start()]):
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
    if any(_content_words(a) <= _content_words(n) for a in ands for n in nots):
        problems.append("an AND clause repeats a NOT clause")
        ands = []
    ors = [g for g in (clean(g, "or") for g in candidate.get("or") or [] if isinstance(g, list)) if len(g) > 1]
    if ors and (not OR_CUE.search(query) or any(x in ands for g in ors for x in g)):
        problems.append("OR groups without an 'or' in the query, or repeating AND clauses; used the rules'")
        ors = rules.or_
    alternatives = [_content_words(x) for g in rules.or_ for x in g]
    if ands and any(_content_words(a) & alt for a in ands for alt in alternatives):
        problems.append("AND clauses contain the query's alternatives ('X or Y'); used the rules'")
        ands = []
    covered = set().union(*(_content_words(c) for c in ands + [x for g in ors for x in g])) if ands else set()
    wanted = _content_words(rules.optimized)
    if ands and len(covered & wanted) < 0.75 * len(wanted):
        problems.append("AND clauses leave out most of the query; used the rules'")
        ands = []
    if not ands:
        problems.append("no usable AND clauses; used the rules'")
        ands, ors = rules.and_, rules.or_
    if bool(NEG_CUE.search(query)) != bool(nots) or len(nots) < len(rules.not_):
        if rules.not_ != nots:
            problems.append("NOT clauses do not match the query's negations; used the rules'")
        nots = rules.not_
    optimized = str(candidate.get("optimized") or "").strip()
    if not optimized or not (_content_words(optimized) & qwords) or NEG_CUE.search(optimized):
        optimized = rules.optimized
    intent = "complex" if (len(ands) > 1 or nots or ors) else "simple"
    return Plan(
        raw=query, intent=intent, entities=rules.entities, optimized=optimized, and_=ands, not_=nots, or_=ors
    ), problems


class LlamaRewriter:
    """Rewrites with a GGUF model; never fails: unusable output falls back to the rules."""

    name = "llm"

    def __init__(self, model_path: str | Path | None = None, n_gpu_layers: int = -1, n_threads: int | None = None):
        path = Path(model_path).expanduser() if model_path else default_llm_path()
        if path is None or not path.is_file():
            raise ModelFileMissing(
                f"no GGUF model for --rewriter llm: looked at {path or '--llm (not given), $CSD_LLM, models/*.gguf'}. "
                "Put a chat GGUF (e.g. qwen2.5-1.5b-instruct-q4_k_m.gguf) in models/ or pass --llm FILE."
            )
        self.path = path
        self.fingerprint = f"{file_fingerprint(path)}:{PROMPT_VERSION}"
        self.n_gpu_layers = n_gpu_layers
        self.n_threads = n_threads or min(4, os.cpu_count() or 1)
        self.rules = RuleRewriter()
        self.calls = 0  # model generations (the cache keeps this at one per query)
        self.warnings: list[str] = []
        self._llm: Any = None
        self._failed: str | None = None

    def _load(self) -> Any:
        if self._llm is None and self._failed is None:
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            try:
                from llama_cpp import Llama

                self._llm = Llama(
                    model_path=str(self.path),
                    n_ctx=2048,
                    n_threads=self.n_threads,
                    n_gpu_layers=self.n_gpu_layers,
                    seed=42,
                    verbose=False,
                )
            except ImportError:
                self._failed = "llama-cpp-python is not installed (pip install llama-cpp-python)"
            except Exception as e:  # a corrupt or incompatible GGUF
                self._failed = (
                    f"cannot load {self.path.name}: {str(e).splitlines()[0][:120] if str(e) else type(e).__name__}"
                )
        return self._llm

    def _prompt(self, query: str) -> tuple[str, bool]:
        """(prompt, is_chat): the GGUF's chat template when it has one, else raw few-shot text."""
        shots = "".join(f"Query: {q}\nJSON: {json.dumps(a, ensure_ascii=False)}\n\n" for q, a in EXAMPLES)
        text = f"{INSTRUCTION}\n\n{shots}Query: {query}\nJSON: "
        has_template = bool(self._llm.metadata.get("tokenizer.chat_template"))
        return text, has_template

    def generate(self, query: str) -> dict[str, Any] | None:
        llm = self._load()
        if llm is None:
            return None
        from llama_cpp import LlamaGrammar

        self.calls += 1
        grammar = LlamaGrammar.from_json_schema(json.dumps(SCHEMA), verbose=False)
        prompt, chat = self._prompt(query)
        if chat:
            r = llm.create_chat_completion(
                messages=[{"role": "user", "content": prompt}], grammar=grammar, max_tokens=220, temperature=0.0
            )
            text = r["choices"][0]["message"]["content"] or ""
        else:
            r = llm.create_completion(prompt, grammar=grammar, max_tokens=220, temperature=0.0)
            text = r["choices"][0]["text"]
        try:
            out = json.loads(text)
            return out if isinstance(out, dict) else None
        except json.JSONDecodeError:
            return None  # a runaway string hit max_tokens before the JSON closed

    def rewrite(self, query: str) -> Plan:
        rules = self.rules.rewrite(query)
        cand = self.generate(rules.raw)
        if cand is None:
            why = self._failed or "the model's output did not parse"
            self.warnings.append(f"llm rewriter: {why}; used the rule-based plan")
            return rules
        plan, problems = validate(cand, rules.raw, rules)
        self.warnings += [f"llm rewriter: {p}" for p in problems]
        return plan
