"""A Chinese query on a model whose text tower reads English only ranks close to at random;
csd said nothing (found by trying csd as a user). Each family declares its languages
(Family.languages); search, the service and eval warn from them, and never for a model whose
languages are not known."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from csdclip_cli.encoders import registry
from csdclip_cli.encoders.family import english_only
from csdclip_cli.search.language import language_warning

ZH = "一辆红色的汽车，没有狗"


@pytest.mark.parametrize(
    "model, text, warns",
    [
        ("clip:ViT-L/14", ZH, True),
        ("longclip:ViT-B/16", "红色的车", True),
        ("demo:tiny", "a red car 但是没有狗", True),  # mixed: Chinese words reach the text tower
        ("openclip:ViT-B-32@laion2b_s34b_b79k", ZH, True),
        ("fgclip:ViT-B/16", ZH, True),
        ("clip:ViT-L/14", "a red car, no dog", False),
        ("cnclip:ViT-B-16", ZH, False),
        ("openclip:xlm-roberta-base-ViT-B-32@laion5b_s13b_b90k", ZH, False),  # multilingual
        ("openclip:ViT-B-16-SigLIP-i18n-256@webli", ZH, False),
        ("openclip:./my-config.json", ZH, False),  # a custom text tower: not known
        ("hf:./some-folder", ZH, False),
        ("fake:colour", ZH, False),  # a plugin that declares no languages
        ("nosuchfamily:x", ZH, False),
        ("not a spec", ZH, False),
    ],
)
def test_language_warning_from_the_family_facts(model: str, text: str, warns: bool) -> None:
    w = language_warning(model, [text])
    assert (w is not None) == warns, w
    if warns:
        assert w.startswith(f"{model} reads English only and the query is in Chinese") and "cnclip:" in w


@pytest.fixture
def english_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test plugin's fake:colour, declared English-only through the family facts."""
    fam = registry.get_family("fake")
    monkeypatch.setitem(registry._FAMILIES, "fake", replace(fam, languages=english_only))


def test_search_and_serve_warn_once_per_chinese_query(runner, colour_folder: Path, english_fake) -> None:
    import os

    from conftest import invoke
    from starlette.testclient import TestClient

    from csdclip_cli.serve.app import create_app
    from csdclip_cli.serve.service import Service

    assert invoke(runner, "index", "build", str(colour_folder), "--model", "fake:colour").exit_code == 0
    for args in ([], ["--plain"], ["--json"]):
        r = invoke(runner, "search", ZH, "--no-server", *args)
        assert r.exit_code == 0 and r.stderr.count("fake:colour reads English only") == 1, r.stderr
    r = invoke(runner, "search", "a red car, no dog", "--no-server")
    assert r.exit_code == 0 and "reads English only" not in r.stderr
    client = TestClient(create_app(Service(Path(os.environ["CSD_INDEXES"]))))
    zh = client.post("/api/search", json={"query": ZH, "k": 3}).json()
    assert sum("reads English only" in w for w in zh["warnings"]) == 1
    # the service keeps its searcher: the next English query must not inherit the warning
    en = client.post("/api/search", json={"query": "a red car", "k": 3}).json()
    assert not any("reads English only" in w for w in en["warnings"])


def test_eval_warns_before_indexing(runner, isolated: Path, english_fake) -> None:
    from conftest import invoke
    from test_eval import make_tigr

    d = make_tigr(isolated, arranged=False)
    jsonl = d / "en_complex_1044_final.jsonl"
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    rows[0]["text"] = rows[0]["text"].replace("red, no blue |", "红色，没有蓝色 |")
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    r = invoke(runner, "eval", str(d), "--model", "fake:colour", "--methods", "plain,csd")
    assert r.exit_code == 0, r.output
    assert r.stderr.count("fake:colour reads English only and the queries are in Chinese") == 1, r.stderr
    assert r.stderr.index("reads English only") < r.stderr.index("indexing")
