"""Generated (query, plan) pairs for fine-tuning: deterministic, varied, valid, and disjoint
from the hand-written held-out set."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import invoke

import csdclip_cli.rewrite.training_data as td
from csdclip_cli.rewrite.evaluation import contains
from csdclip_cli.rewrite.planfile import read_plans
from csdclip_cli.rewrite.rules import CJK

HELDOUT = Path(__file__).parent / "data" / "rewrite_heldout.jsonl"


def test_deterministic_distinct_and_mixed_in_language() -> None:
    a = [p.to_json() for p in td.generate(500, seed=3)]
    assert a == [p.to_json() for p in td.generate(500, seed=3)]
    assert a != [p.to_json() for p in td.generate(500, seed=4)]
    plans = list(td.generate(3000, seed=0))
    assert len({p.raw for p in plans}) == 3000
    zh = [p for p in plans if CJK.search(p.raw)]
    mixed = [p for p in zh if any(c.isascii() and c.isalpha() for c in p.raw)]
    assert 0.2 < len(zh) / 3000 < 0.4 and 0.02 < len(mixed) / 3000 < 0.08


def _literal(text: str, part: str) -> bool:
    """`part` in `text` as whole words, after normalisation but in the number written."""
    import re

    t, p = " ".join(text.lower().split()), " ".join(part.lower().split())
    p = re.sub(r"^(?:a|an|the|some|any)\s+", "", p)
    return bool(p) and re.search(rf"(?<!\w){re.escape(p)}(?!\w)", t) is not None


def test_every_form_is_covered_and_plans_are_consistent() -> None:
    plans = list(td.generate(3000, seed=0))
    raws = " || ".join(p.raw for p in plans)
    for template, _ in td.NEG_EN:
        assert template.split("{x}")[0] in raws, template
    for template in td.NEG_ZH:
        assert template.split("{x}")[0] in raws, template
    for carrier in td.CARRIERS_EN + [pre for pre, _ in td.CARRIERS_ZH]:
        assert carrier.strip() in raws
    for cue in (", nothing ", " that isn't ", "nobody", "no one", "doesn't have", " or ", "或者"):
        assert cue in raws, cue
    for form in td.WEAR_NEG + td.PART_NEG + td.PLACED_NEG + td.SCENE_EMPTY:  # negations inside the sentence
        assert form.split("{x}")[0] in raws, form
    import random

    rng = random.Random(0)
    inside = [td._mid_negation(rng) for _ in range(400)]
    wanted_with = [p for p in inside if not p.not_]  # "with X" that is wanted: an AND clause, never a NOT
    assert len(wanted_with) > 50 and all(" with " in p.and_[0] for p in wanted_with)
    negated = [p for p in inside if p.not_]
    assert all(n in p.raw and not any(n in a for a in p.and_) for p in negated for n in p.not_)
    assert sum(bool(p.or_) for p in plans) > 100 and sum(bool(p.not_) for p in plans) > 1500
    assert sum(not p.not_ for p in plans) > 600  # queries without a negation too
    for p in plans:
        assert p.and_, p.raw
        assert not any(_literal(a, n) for a in p.and_ for n in p.not_), p.raw  # no NOT inside an AND
        assert not any(_literal(p.optimized, n) for n in p.not_ if not n.startswith("something")), p.raw
        assert p.intent == ("complex" if len(p.and_) > 1 or p.not_ or p.or_ else "simple")
    # Known flaw, kept because these pairs trained the shipped adapter: a relation's object in
    # the singular beside its NOT in the plural ("... under a tree but not trees"), 5 of these
    # 3,000 pairs (7 of the 3,400 the adapter saw). Found when `csd rewriter eval` began to
    # compare in the singular; fixing the generator means retraining the adapter. Not to grow.
    clashes = [p.raw for p in plans if any(contains(a, n) for a in p.and_ for n in p.not_)]
    assert len(clashes) <= 5 and all(" tree" in r or " car" in r for r in clashes), clashes


def test_never_overlaps_the_heldout_set() -> None:
    held = set(read_plans(HELDOUT))
    assert not held & {p.raw for p in td.generate(5000, seed=0)}
    code = Path(td.__file__).read_text()
    assert not any(io in code for io in ("open(", "read_text", "Path(", "import json", "importlib"))  # reads no file


def test_cli_writes_plans_or_tigr(runner, tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"
    r = invoke(runner, "rewriter", "data", "-n", "50", "--seed", "1", "-o", str(out))
    assert r.exit_code == 0, r.output
    plans = read_plans(out)
    assert len(plans) == 50
    r = invoke(runner, "rewriter", "data", "-n", "20", "--tigr", "-o", str(tmp_path / "t.jsonl"))
    lines = (tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()
    assert r.exit_code == 0 and len(lines) == 20 and "Multi-agent" in json.loads(lines[0])["text"]
    assert len(read_plans(tmp_path / "t.jsonl")) == 20


def test_things_side_by_side_get_a_clause_each_and_a_shared_place_its_own() -> None:
    import random

    rng = random.Random(1)
    plans = [td._side_by_side(rng, chinese=i % 4 == 0) for i in range(400)]
    places = {en for en, _ in td.SIDE_PLACES} | {zh for _, zh in td.SIDE_PLACES}
    with_place = [p for p in plans if any(place in p.raw for place in places)]
    assert len(with_place) > 80
    for p in with_place:
        place = next(c for c in p.and_ if c in places)
        assert p.and_[-1] == place and len(p.and_) >= 3  # two or three things, then the place
        assert not any(place in c for c in p.and_[:-1]), p  # no thing carries the shared place
    for p in plans:
        assert p.and_ and all(c in p.raw or " next to a " in c or " with a " in c or " beside a " in c for c in p.and_)
        assert not any(contains(c, n) for c in p.and_ for n in p.not_), p
    assert sum("和" in p.raw for p in plans) > 60  # the Chinese forms too
    # mailboxes, not "mailboxs": a negated plural is spelled right
    assert not any(n.endswith(("xs", "chs", "shs")) for p in td.generate(3400, seed=0) for n in p.not_)
