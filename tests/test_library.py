"""The library calls behind the commands, used from Python the way the README shows: typed
results, and one UsageError (not a numpy or slicing error) for a bad argument."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csdclip_cli.errors import UsageError
from csdclip_cli.index.update import build_or_update
from csdclip_cli.search.searcher import ResultList, Searcher


@pytest.fixture
def searcher(colour_folder: Path, isolated: Path) -> Searcher:
    name, report = build_or_update(colour_folder, "fake:colour", index_dir=isolated / "indexes")
    assert report.encoded == report.total > 0
    return Searcher.open(name, index_dir=isolated / "indexes")


@pytest.mark.parametrize("method", ["plain", "arith", "deo", "csd"])
def test_every_method_returns_a_result_list(searcher: Searcher, method: str) -> None:
    results = searcher.search("red, no blue", k=3, method=method)
    assert isinstance(results, ResultList) and len(results) == 3
    assert [r.rank for r in results] == [1, 2, 3]
    passed = searcher.search("red, yellow", k=3, method="csd", min_match=True).passed_count
    assert isinstance(passed, int)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_a_bad_k_is_a_usage_error_for_every_method(searcher: Searcher, k: object) -> None:
    for method in ("plain", "csd"):
        with pytest.raises(UsageError, match="k must be a whole number"):
            searcher.search("red", k=k, method=method)  # type: ignore[arg-type]


def test_a_vector_of_another_width_is_a_usage_error(searcher: Searcher) -> None:
    with pytest.raises(UsageError, match="shape"):
        searcher.search_vector(np.ones(searcher.manifest.dim + 1, np.float32))
    assert len(searcher.search_vector(np.ones(searcher.manifest.dim, np.float32) / 2, k=2)) == 2


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"models": "demo:tiny"}, "list of specs"),
        ({"models": ["demo:tiny"], "methods": "plain"}, "list of names"),
        ({"models": ["demo:tiny"], "methods": ["plain", "best"]}, "choose from"),
        ({"models": ["demo:tiny"], "ks": [0, 10]}, "at least 1"),
        ({"models": ["demo:tiny"], "limit": 0}, "limit"),
        ({"models": []}, "name a model"),
    ],
)
def test_run_evaluation_refuses_bad_arguments_in_one_line(kw: dict, match: str, tmp_path: Path) -> None:
    from csdclip_cli.demo import benchmark
    from csdclip_cli.eval.datasets import load_dataset
    from csdclip_cli.eval.runner import run_evaluation

    benchmark.write_benchmark(tmp_path / "demo", n_gallery=60, n_queries=3, write_images=False)
    ds = load_dataset("demo", data_dir=tmp_path)
    with pytest.raises(UsageError, match=match):
        run_evaluation(ds, **kw)
