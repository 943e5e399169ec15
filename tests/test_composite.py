"""Composite search on hand-built embeddings where the right answer is known, the
baselines (arith, deo), explanations, --min-match, and the JSON / HTML outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

from csdclip_cli.errors import UsageError
from csdclip_cli.rewrite.plan import Plan
from csdclip_cli.search.composite import Clause, CompositeConfig, CompositeSearch, PlanVectors, calibration, softmin
from csdclip_cli.search.gallery import Gallery
from csdclip_cli.search.methods import DeoWeights, arith_vector, deo_vector, rank

D = 12


def unit(*parts: tuple[int, float], noise: np.ndarray | None = None) -> np.ndarray:
    v = np.zeros(D, np.float32)
    for i, w in parts:
        v[i] += w
    if noise is not None:
        v += noise
    return v / np.linalg.norm(v)


class MemoryGeneration:
    """Just enough of an index generation to search in memory."""

    def __init__(self, vectors: np.ndarray):
        self.vectors = vectors.astype(np.float16)
        self.alive = np.ones(len(vectors), bool)
        self.ann = None
        self.stats = {"sample": self.vectors}

    def rows_for(self, rows: list[int]) -> dict[int, tuple[str, str]]:
        return {r: (f"img{r}", f"/x/img{r}.png") for r in rows}


ALL, ALL_AND_NOT, ONE_STRONG, ONE_OTHER = 0, 1, 2, 3


@pytest.fixture
def gallery() -> Gallery:
    """Clause 'a red car' = e0, 'a tree' = e1, NOT 'a dog' = e2; fillers live in e3..e11."""
    rng = np.random.default_rng(0)
    special = [
        unit((0, 1), (1, 1), (3, 0.3)),  # both AND clauses, no dog
        unit((0, 1), (1, 1), (2, 1), (3, 0.3)),  # both, plus the excluded dog
        unit((0, 1.4), (3, 0.2)),  # a very strong red car, no tree
        unit((1, 1.4), (4, 0.2)),  # a very strong tree, no car
    ]
    fillers = [
        unit((int(rng.integers(3, D)), 1.0), noise=0.15 * np.abs(rng.standard_normal(D)).astype(np.float32))
        for _ in range(200)
    ]
    return Gallery(None, MemoryGeneration(np.stack(special + fillers)))  # type: ignore[arg-type]


def plan_vectors(with_not: bool = True) -> PlanVectors:
    plan = Plan(
        raw="a red car and a tree, no dog",
        intent="complex",
        optimized="a red car and a tree",
        and_=["a red car", "a tree"],
        not_=["a dog"] if with_not else [],
    )
    nots = np.stack([unit((2, 1))]) if with_not else np.zeros((0, D), np.float32)
    # like CLIP, the raw sentence vector carries the negated word instead of excluding it
    return PlanVectors(
        plan, unit((0, 1), (1, 1)), np.stack([unit((0, 1)), unit((1, 1))]), nots, [], unit((0, 1), (1, 1), (2, 0.8))
    )


def test_all_clauses_beat_excluded_thing_and_single_strong_clause(gallery: Gallery) -> None:
    rows, scores, details = CompositeSearch(gallery).search(plan_vectors(), k=204)
    order = rows.tolist()
    assert order[0] == ALL
    assert order.index(ALL_AND_NOT) > order.index(ALL)
    assert order.index(ONE_STRONG) > order.index(ALL) and order.index(ONE_OTHER) > order.index(ALL)
    assert details[ALL][1] == {"a red car": True, "a tree": True, "NOT a dog": True}
    assert details[ALL_AND_NOT][1]["NOT a dog"] is False
    # plain search on the raw sentence gets it wrong: the dog image comes first
    plain_rows = rank(gallery, "plain", plan_vectors(), 4).rows
    assert plain_rows[0] == ALL_AND_NOT


def test_missing_condition_costs_more_than_weaker_one(gallery: Gallery) -> None:
    _, per, _ = CompositeSearch(gallery).score(plan_vectors(False), np.array([ALL, ONE_STRONG]))
    car = per[Clause("and", "a red car")]
    assert car[1] > car[0]  # the strong car image is better on one clause ...
    score, _, _ = CompositeSearch(gallery).score(plan_vectors(False), np.array([ALL, ONE_STRONG]))
    assert score[0] > score[1]  # ... but misses the other one, which costs more


def test_single_clause_plan_is_plain_search(gallery: Gallery) -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        q = rng.standard_normal(D).astype(np.float32)
        q /= np.linalg.norm(q)
        pv = PlanVectors(Plan(raw="q", and_=["q"]), q, q[None], np.zeros((0, D), np.float32), [], q)
        rows, _, _ = CompositeSearch(gallery).search(pv, k=20)
        plain, _ = gallery.top(q, 20)
        assert rows.tolist() == plain.tolist()


def test_explanations_match_scores(gallery: Gallery) -> None:
    cfg = CompositeConfig()
    pv = plan_vectors()
    rows, scores, details = CompositeSearch(gallery, cfg).search(pv, k=6)
    allv = np.concatenate([pv.phrase[None], pv.ands, pv.nots])
    mu, sigma = calibration(gallery, allv)
    for r, s in zip(rows, scores):
        z = (gallery.vectors[r].astype(np.float32) @ allv.T - mu) / sigma
        clauses, _, phrase = details[int(r)]
        assert clauses["a red car"] == pytest.approx(z[1], abs=1e-4)
        assert clauses["a tree"] == pytest.approx(z[2], abs=1e-4)
        assert clauses["NOT a dog"] == pytest.approx(z[3], abs=1e-4)
        assert phrase == pytest.approx(z[0], abs=1e-4)  # --explain left it out: the rest did not add up
        # the explanation alone gives the score
        expect = (
            softmin(np.array([[clauses["a red car"], clauses["a tree"]]]), cfg.and_temperature)[0]
            + cfg.phrase_weight * phrase
            - cfg.not_weight * max(0.0, clauses["NOT a dog"] - cfg.not_margin)
        )
        assert s == pytest.approx(expect, abs=1e-4)


def test_min_match_keeps_only_passing(gallery: Gallery) -> None:
    rows, _, details = CompositeSearch(gallery).search(plan_vectors(), k=50, min_match=True)
    assert ALL in rows.tolist() and ONE_STRONG not in rows.tolist()
    assert all(all(ok for c, ok in details[int(r)][1].items() if not c.startswith("NOT")) for r in rows)


def test_or_group_takes_its_best_member(gallery: Gallery) -> None:
    plan = Plan(
        raw="a red car or a tree", intent="complex", optimized="a red car or a tree", or_=[["a red car", "a tree"]]
    )
    pv = PlanVectors(
        plan,
        unit((0, 1), (1, 1)),
        np.zeros((0, D), np.float32),
        np.zeros((0, D), np.float32),
        [np.stack([unit((0, 1)), unit((1, 1))])],
        unit((0, 1), (1, 1)),
    )
    rows, _, details = CompositeSearch(gallery).search(pv, k=4)
    assert set(rows.tolist()) == {ALL, ALL_AND_NOT, ONE_STRONG, ONE_OTHER}
    assert "a red car | a tree" in details[ALL][0]
    # the group's score is its best member's calibrated score, not their mean
    some = np.array([ONE_STRONG, ONE_OTHER, 10, 11])
    _, per, _ = CompositeSearch(gallery).score(pv, some)
    mu, sigma = calibration(gallery, pv.ors[0])
    z = (gallery.scores(some, pv.ors[0]) - mu) / sigma
    assert np.allclose(per[Clause("or", "a red car | a tree")], z.max(1), atol=1e-5)
    assert not np.allclose(z.max(1), z.mean(1), atol=1e-2)


def test_arith_and_deo_vectors() -> None:
    pv = plan_vectors()
    expect = unit((0, 1), (1, 1), (2, -1))
    assert np.allclose(arith_vector(pv), expect, atol=1e-6)
    w = DeoWeights()
    v = (w.positive * pv.ands.mean(0) - w.negative * pv.nots.mean(0) + w.original * pv.raw) / (
        w.positive - w.negative + w.original
    )
    assert np.allclose(deo_vector(pv), v / np.linalg.norm(v), atol=1e-6)
    with pytest.raises(UsageError, match="denominator"):
        deo_vector(pv, DeoWeights(1.0, 1.5, 0.2))


def test_config_file_overrides(tmp_path: Path) -> None:
    f = tmp_path / "csd.toml"
    f.write_text("[composite]\nnot_weight = 2.5\nphrase_weight = 0.0\n")
    cfg = CompositeConfig.load(f)
    assert (
        cfg.not_weight == 2.5 and cfg.phrase_weight == 0.0 and cfg.and_temperature == CompositeConfig().and_temperature
    )
    f.write_text("[composite]\nnot_wieght = 1\n")
    with pytest.raises(UsageError, match="unknown composite setting 'not_wieght'"):
        CompositeConfig.load(f)


def test_config_files_as_users_write_them(tmp_path: Path, monkeypatch) -> None:
    """A fresh user: --config with a csd.toml holding only [rewrite] said 'unknown composite
    setting rewrite'; a top-level weight beside [composite] was ignored; x.TOML was read as
    JSON; $CSD_CONFIG=x.json said 'Invalid statement'; a bad [rewrite] timeout passed until the
    LLM ran."""
    from csdclip_cli import config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    f = tmp_path / "csd.toml"
    f.write_text('[rewrite]\nllm = "m.gguf"\n')
    assert CompositeConfig.load(f) == CompositeConfig()  # no fusion setting in it
    w = tmp_path / "weights.toml"
    w.write_text("not_weight = 2.0\n[composite]\nphrase_weight = 0.5\n")
    with pytest.raises(UsageError, match="not_weight outside its \\[composite\\] table"):
        CompositeConfig.load(w)
    f.unlink()
    up = tmp_path / "W.TOML"
    up.write_text("[composite]\nnot_weight = 3.0\n")
    assert CompositeConfig.load(up).not_weight == 3.0
    j = tmp_path / "settings.json"
    j.write_text(json.dumps({"composite": {"not_weight": 1.5}}))
    monkeypatch.setenv("CSD_CONFIG", str(j))
    assert CompositeConfig.load().not_weight == 1.5
    j.write_text(json.dumps({"rewrite": {"timeout": "abc"}}))
    with pytest.raises(UsageError, match="timeout must be a number of seconds"):
        config.settings("composite")  # checked whichever table is asked for


def test_cli_composite_json_explain_and_html(runner, colour_folder: Path, tmp_path: Path) -> None:
    invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour")
    r = invoke(runner, "search", "red, yellow, no blue", "--json", "-k", "3")
    rows = [json.loads(x) for x in r.stdout.strip().splitlines()]
    assert len(rows) == 3
    assert set(rows[0]) == {"rank", "key", "path", "score", "clauses", "passed", "phrase"}
    assert set(rows[0]["clauses"]) == {"red", "yellow", "NOT blue"}
    # the top images hold no blue: the NOT clause passes (a NOT passes when its score stays low)
    assert all(row["passed"]["NOT blue"] for row in rows) and not any(row["key"].startswith("blue") for row in rows)
    r = invoke(runner, "search", "red, yellow, no blue", "--explain", "--show-plan", "-k", "3")
    assert "NOT blue" in r.stdout and ("✓" in r.stdout or "✗" in r.stdout) and "phrase" in r.stdout
    page = tmp_path / "out.html"
    r = invoke(runner, "search", "red, no blue", "--html", str(page), "-k", "4")
    text = page.read_text()
    assert r.exit_code == 0 and text.count("data:image/png;base64,") == 4 and "NOT blue" in text
    for method in ("plain", "arith", "deo", "csd"):
        r = invoke(runner, "search", "red, no blue", "--method", method, "--json", "-k", "2")
        assert r.exit_code == 0 and len(r.stdout.strip().splitlines()) == 2


def test_settings_file_supplies_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "settings.toml"
    f.write_text('[composite]\nnot_weight = 3.0\n[rewrite]\nllm = "/models/q.gguf"\n')
    monkeypatch.setenv("CSD_CONFIG", str(f))
    assert CompositeConfig.load().not_weight == 3.0
    from csdclip_cli.rewrite.llm import default_llm_path

    assert default_llm_path() == Path("/models/q.gguf")


@pytest.mark.parametrize(
    "text, says",
    [
        ("[composite]\nbogus = 1\n", "unknown composite setting 'bogus'"),  # a traceback (TypeError)
        ('[composite]\nphrase_weight = "abc"\n', "phrase_weight must be a number in [0, 100], not 'abc'"),
        ("[composite]\nand_temperature = 0\n", "and_temperature must be a number in [0.001, 100]"),  # NaN scores
        ("[composite]\nnot_weight = -5\n", "not_weight must be a number in [0, 100]"),  # NOT rewarded
        ("[composite]\nexpansion = 0\n", "expansion must be a whole number in [1, 1000]"),
        ("[composite]\npass_z = nan\n", "pass_z must be a number"),
        ("[composite]\ncandidates = 'all'\n", "candidates must be one of 'proxy', 'union'"),
        ("[compsite]\nnot_weight = 1\n", "unknown 'compsite'"),  # a misspelt table was ignored
        ("not_weight = 1\n", "unknown 'not_weight'"),
        ("[rewrite]\nllm = 5\n", "llm must be a path (a string), not 5"),  # a traceback (TypeError)
        ("[rewrite]\nmodel = 'x.gguf'\n", "[rewrite]: unknown 'model'"),
    ],
)
def test_a_settings_file_mistake_is_one_line_naming_file_and_key(
    runner, colour_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, says: str
) -> None:
    invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "csd.toml").write_text(text)
    r = invoke(
        runner,
        "search",
        "red, no blue",
        "-k",
        "2",
        "--no-server",
        "--rewriter",
        "llm" if "rewrite" in text else "rules",
    )
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "csd.toml" in lines[0] and says in lines[0], r.stderr


def test_a_settings_file_that_cannot_be_read_or_found(runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe[composite]")
    monkeypatch.setenv("CSD_CONFIG", str(bad))
    with pytest.raises(UsageError, match="bad.toml cannot be read .* must be UTF-8 TOML"):
        CompositeConfig.load()
    monkeypatch.setenv("CSD_CONFIG", str(tmp_path / "missing.toml"))  # it was ignored without a word
    with pytest.raises(UsageError, match="missing.toml: no such settings file"):
        CompositeConfig.load()
    monkeypatch.setenv("CSD_CONFIG", str(tmp_path))  # a folder was "no such settings file"
    with pytest.raises(UsageError, match="is a folder, not a settings file"):
        CompositeConfig.load()
    j = tmp_path / "w.json"
    monkeypatch.delenv("CSD_CONFIG")
    j.write_text('{"phrase_weight": "abc"}')  # --config: a traceback (UFuncTypeError) at scoring
    with pytest.raises(UsageError, match="w.json: phrase_weight must be a number"):
        CompositeConfig.load(j)


def test_cli_min_match_reports_the_count(runner, colour_folder: Path) -> None:
    invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour")
    r = invoke(runner, "search", "red", "--min-match", "-k", "3", "--rewriter", "rules", "--json")
    assert r.exit_code == 0 and "images pass every AND clause and OR group; showing 3" in r.stderr, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert all(all(row["passed"].values()) for row in rows)


def test_min_match_says_when_it_counted_candidates_not_the_gallery(tmp_path: Path, monkeypatch) -> None:
    """Above the exact-search limit the count is of the candidate pool (max(10 k, 400) rows, 100
    for one clause): it read as a gallery count (400 where 2,246 of 24,000 images pass)."""
    from conftest import make_colour_folder

    import csdclip_cli.index.build as build_mod
    from csdclip_cli.encoders import load_encoder
    from csdclip_cli.index import IndexStore, build_index
    from csdclip_cli.rewrite.plan import Plan
    from csdclip_cli.search.searcher import Searcher
    from csdclip_cli.sources import FolderSource

    monkeypatch.setattr(build_mod, "EXACT_LIMIT", 50)  # 300 images get a candidate index
    folder = make_colour_folder(tmp_path / "many", n=300)
    build_index(FolderSource(folder), load_encoder("fake:colour"), "big", IndexStore())
    s = Searcher.open("big")
    res = s.search_plan(Plan(raw="red", optimized="red", and_=["red"]), "csd", k=3, min_match=True)
    assert res.examined is not None and res.examined < res.total == 300
    assert res.passed_summary().startswith(f"{res.passed_count} of the {res.examined} candidates examined")
    exact = Searcher.open("big", exact=True)
    res = exact.search_plan(Plan(raw="red", optimized="red", and_=["red"]), "csd", k=3, min_match=True)
    assert res.examined == res.total == 300 and "images pass every AND clause" in res.passed_summary()


def test_every_composite_setting_has_a_range_and_its_default_lies_in_it() -> None:
    from dataclasses import asdict

    from csdclip_cli.search.composite import RANGES, checked

    defaults = asdict(CompositeConfig())
    assert set(RANGES) == set(defaults)
    assert checked(defaults, "defaults") == defaults


def test_config_and_index_paths_of_the_wrong_kind_say_so(runner, tmp_path: Path) -> None:
    """--config x.yaml said 'does not parse: Expecting value' (read as JSON), --config DIR said
    'not found', and --index-dir FILE said 'no index in FILE'."""
    y = tmp_path / "w.yaml"
    y.write_text("not_weight: 1\n")
    with pytest.raises(UsageError, match="write the weights as .toml or .json"):
        CompositeConfig.load(y)
    with pytest.raises(UsageError, match="is a folder"):
        CompositeConfig.load(tmp_path)
    f = tmp_path / "notes.txt"
    f.write_text("x")
    r = invoke(runner, "index", "list", "--index-dir", str(f))
    assert r.exit_code == 2 and "is a file; give a folder" in r.stderr
