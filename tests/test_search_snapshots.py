"""Golden outputs of `csd search` on a small demo gallery: the Rich table, --json and
--explain, for plain and composite search. A change in ranking, scores (to 2 decimals),
columns or wording shows up as a diff against tests/snapshots/.

Rewrite the snapshots after an intended change: CSD_UPDATE_SNAPSHOTS=1 pytest tests/test_search_snapshots.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import invoke

SNAPSHOTS = Path(__file__).parent / "snapshots"
QUERY = "a red car next to a tree, no dog"
CASES = {
    "table_csd": ["-k", "5"],
    "table_plain": ["-k", "5", "--method", "plain"],
    "json_csd": ["-k", "3", "--json"],
    "explain_csd": ["-k", "3", "--explain"],
}


def _normalise(text: str, root: Path) -> str:
    """Paths relative to the test's folder (and the rule under a path column, whose width
    follows the folder's name, cut to 10); every number with 3+ decimals cut to 2 decimals
    (float rounding differs in the last digits between CPUs); no trailing spaces."""
    text = text.replace(str(root), "<ROOT>")
    text = re.sub("━{10,}", "━" * 10, text)
    text = re.sub(r"-?\d+\.\d{3,}", lambda m: f"{float(m.group(0)):.2f}", text)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip() + "\n"


@pytest.fixture
def demo_index(runner, isolated: Path) -> Path:
    from csdclip_cli.demo import benchmark

    root = isolated / "data" / "demo"
    benchmark.write_benchmark(root, n_gallery=120, n_queries=5)
    r = invoke(runner, "index", "build", str(root / "imgs"), "--model", "demo:tiny", "--name", "snap")
    assert r.exit_code == 0, r.output
    return isolated


@pytest.mark.parametrize("case", sorted(CASES))
def test_search_output_matches_the_snapshot(runner, demo_index: Path, case: str) -> None:
    r = invoke(runner, "search", QUERY, *CASES[case])
    assert r.exit_code == 0, r.output
    got = _normalise(r.stdout, demo_index)
    path = SNAPSHOTS / f"search_{case}.txt"
    if os.environ.get("CSD_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(got)
    assert path.exists(), f"no snapshot {path}; write it with CSD_UPDATE_SNAPSHOTS=1"
    assert got == path.read_text(), f"csd search {' '.join(CASES[case])} output changed; see {path}"


def test_a_text_longer_than_the_model_reads_is_warned_about(runner, demo_index: Path) -> None:
    """demo:tiny reads 32 tokens: 'a photo of a very very ... large red car' and the same with
    'blue boat' gave the same top 3 without a word (CLIP models read 77)."""
    long = "a photo of a " + "very " * 30 + "large"
    for args in (["--plain"], []):
        r = invoke(runner, "search", f"{long} red car, no dog", "-k", "3", *args)
        assert r.exit_code == 0 and "reads the first 32 tokens" in r.stderr and "large red car" in r.stderr, r.output
        assert r.stderr.count("reads the first") == 1  # the query and its phrase: one warning
    short = invoke(runner, "search", QUERY, "-k", "3")
    assert short.exit_code == 0 and "tokens" not in short.stderr
