"""`csd demo`: generate the demo gallery, index it with demo:tiny, and compare plain CLIP
search with composite search on example complex queries (tables + an HTML page)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csdclip_cli.demo import benchmark

EXAMPLE_COUNT = 5
INDEX_NAME = "demo-tiny"


@dataclass
class DemoQuery:
    """A demo benchmark query: its id, raw text, TIGR annotated text, and HR and MR image ids."""

    text_id: str
    raw: str
    annotated: str
    hr: set[str]
    mr: set[str]
    split: str = "test"  # 'tune' or 'test' (benchmark.TUNE_FRACTION)

    def grade(self, key: str) -> str:
        """'HR', 'MR' or 'IR' for a gallery key (a path or file name whose stem is the image id)."""
        k = Path(key).stem
        return "HR" if k in self.hr else "MR" if k in self.mr else "IR"


def ensure_data(data_dir: Path) -> Path:
    """`data_dir`, after writing the demo benchmark there (benchmark.write_benchmark) unless its
    en_demo.jsonl and LMDB already exist."""
    if not (data_dir / "en_demo.jsonl").exists() or not (data_dir / "lmdb" / "imgs" / "data.mdb").exists():
        benchmark.write_benchmark(data_dir)
    return data_dir


def load_queries(data_dir: Path) -> list[DemoQuery]:
    """The queries of `data_dir`/en_demo.jsonl, in file order."""
    out = []
    for line in (data_dir / "en_demo.jsonl").read_text().splitlines():
        d = json.loads(line)
        out.append(
            DemoQuery(
                d["text_id"],
                d["text"].split(" | ")[0],
                d["text"],
                set(d["image_ids"]),
                set(d["image_xiangsi_ids"]),
                d.get("split", "test"),
            )
        )
    return out


def example_queries(queries: list[DemoQuery], n: int = EXAMPLE_COUNT) -> list[DemoQuery]:
    """Test-split queries with a NOT clause and several HR images (deterministic)."""
    picks = [q for q in queries if " | " in q.annotated and "-NOT:" in q.annotated and 8 <= len(q.hr) <= 60]
    picks = [q for q in picks if q.split == "test"]  # as written, whatever `csd demo data --queries` was
    return picks[:: max(1, len(picks) // n)][:n]


def demo_index_name(store: Any, location: str) -> str:
    """'demo-tiny', or 'demo-tiny-<hash of the gallery folder>' when 'demo-tiny' indexes another
    data folder's demo (a second CSD_DATA sharing the index folder stopped `csd demo` with
    "pick another --name", an option it does not have), as `csd eval` names its indexes."""
    import hashlib

    hashed = f"{INDEX_NAME}-{hashlib.sha256(location.encode()).hexdigest()[:8]}"
    for name in (INDEX_NAME, hashed):  # the one already holding this gallery (after `index rm demo-tiny` too)
        if store.exists(name) and store.manifest(name).source.location == location:
            return name
    return hashed if store.exists(INDEX_NAME) or store.exists(hashed) else INDEX_NAME


def build_demo_index(data_dir: Path, index_dir: Path | None, progress: Any = None, device: str = "auto") -> Any:
    """Index `data_dir`/imgs with demo:tiny as 'demo-tiny' (demo_index_name) in the store at
    `index_dir` (None: the default store), make it the current index and export its ONNX text
    encoder. Returns (store, encoder, build report); the report names the index."""
    from csdclip_cli.encoders import load_encoder
    from csdclip_cli.index import IndexStore, build_index
    from csdclip_cli.sources import FolderSource

    store = IndexStore(index_dir)
    enc = load_encoder("demo:tiny", device=device)
    source = FolderSource(data_dir / "imgs")
    report = build_index(
        source,
        enc,
        demo_index_name(store, source.location),
        store,
        progress=progress,
        build_params={"model_input": "demo:tiny", "weights": None},
    )
    store.use(report.name)  # so `csd search` right after `csd demo` searches the demo
    from csdclip_cli.encoders.onnx_text import ensure_text_export

    ensure_text_export(enc, store.root)  # demo:tiny exports; a cold `csd search` then needs no torch
    return store, enc, report


@dataclass
class Comparison:
    """One example query searched both ways: the rule-based plan, plain CLIP's and composite
    search's top k (search.searcher.Result lists), and how many of each are highly relevant."""

    query: DemoQuery
    plan: Any
    plain: list[Any]
    composite: list[Any]

    @property
    def hr_plain(self) -> int:
        """Highly relevant results in plain CLIP's top k."""
        return sum(self.query.grade(r.key) == "HR" for r in self.plain)

    @property
    def hr_composite(self) -> int:
        """Highly relevant results in composite search's top k."""
        return sum(self.query.grade(r.key) == "HR" for r in self.composite)


def compare(searcher: Any, queries: list[DemoQuery], k: int = 5) -> list[Comparison]:
    """Plain CLIP against composite search (rule-based plans) on each query, top `k`."""
    from csdclip_cli.rewrite import RuleRewriter

    rules = RuleRewriter()
    out = []
    for q in queries:
        plan = rules.rewrite(q.raw)
        out.append(Comparison(q, plan, searcher.search_plain(q.raw, k), searcher.search_plan(plan, "csd", k)))
    return out
