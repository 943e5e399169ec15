"""Benchmark loaders. Every dataset becomes queries (raw text, optional gold annotation,
HR / MR image ids) plus a gallery source (all images, ideally the CN-CLIP LMDB).

Layouts (DATA = --data-dir, $CSD_DATA, or ./data):
    TIGR-100k as downloaded   DIR/{en,zh}_complex_1044_final.jsonl, DIR/imgs/, DIR/lmdb/imgs
    TIGR-100k arranged        DATA/tigr100k/{en,zh}_tigr100k.jsonl, DATA/tigr100k/lmdb/imgs
    single-relevance sets     DATA/<name>/en_<name>.jsonl + DATA/<name>/lmdb/imgs   (coco, flickr30k,
                              urban1k, wikido: only HR)
    Karpathy originals        DIR/dataset_coco.json (or dataset_flickr30k.json) + DIR/images/;
                              Flickr30k DIR/results.csv-style 'image.jpg,caption' file + DIR/images/
    the demo benchmark        `csd eval demo` (generated on first use)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from csdclip_cli import config
from csdclip_cli.errors import DatasetError, PlanFormatError
from csdclip_cli.rewrite.plan import Plan, parse_tigr
from csdclip_cli.rewrite.rules import NEGATION, ZH_NEG
from csdclip_cli.sources.folder import IMAGE_EXTENSIONS
from csdclip_cli.textfile import read_text

KNOWN = ("tigr100k", "coco", "mscoco", "flickr30k", "urban1k", "wikido", "demo")


@dataclass
class Query:
    text_id: str
    raw: str
    hr: set[str]
    mr: set[str] = field(default_factory=set)
    gold: Plan | None = None  # the annotated plan, when the dataset has one
    split: str = "test"
    not_flag: bool | None = None  # set when known from a saved run

    @property
    def has_not(self) -> bool:
        if self.not_flag is not None:
            return self.not_flag
        if self.gold is not None:
            return bool(self.gold.not_)
        return bool(NEGATION.search(self.raw) or ZH_NEG.search(self.raw))


@dataclass
class Dataset:
    name: str
    root: Path
    queries: list[Query]
    gallery: Path  # an LMDB imgs env or an image folder
    lang: str = "en"
    graded: bool = True
    warnings: list[str] = field(default_factory=list)

    def image_id(self, key: str) -> str:
        """Gallery key -> the id relevance lists use ('imgs/abc.jpg' -> 'abc'; LMDB ids as they are)."""
        p = Path(key)
        return p.stem if p.suffix.lower() in IMAGE_EXTENSIONS else key


def _gallery(root: Path, warnings: list[str]) -> Path:
    for cand in (root / "lmdb" / "imgs", root / "lmdb" / "valid" / "imgs", root / "lmdb" / "test" / "imgs"):
        if (cand / "data.mdb").exists():
            return cand
    for cand in (root / "imgs", root / "images"):
        if cand.is_dir():
            warnings.append(
                f"no lmdb/imgs under {root}: using {cand.name}/ as the gallery, so irrelevant "
                "images are missing and scores are optimistic"
            )
            return cand
    raise DatasetError(f"{root} has no gallery: expected lmdb/imgs (CN-CLIP LMDB) or imgs/")


def _read_jsonl(path: Path, skip_bad: bool, warnings: list[str]) -> list[Query]:
    queries = []
    for n, line in enumerate(read_text(path, "query file").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            text = d["text"]
            gold = None
            if " | " in text or " ｜ " in text or "｜" in text:
                gold = parse_tigr(text)
                raw = gold.raw
            else:
                raw = text.strip()
            queries.append(
                Query(
                    str(d["text_id"]),
                    raw,
                    {str(x) for x in d.get("image_ids", [])},
                    {str(x) for x in d.get("image_xiangsi_ids", [])},
                    gold,
                    d.get("split", "test"),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, PlanFormatError) as e:
            msg = f"{path}:{n}: bad line ({type(e).__name__}: {str(e)[:80]})"
            if not skip_bad:
                raise DatasetError(msg + "; fix it or pass --skip-bad to leave such lines out") from None
            warnings.append(msg)
    if not queries:
        raise DatasetError(f"{path} holds no queries")
    return queries


def _find_jsonl(root: Path, lang: str, name: str) -> Path | None:
    pats = [f"{lang}_{name}.jsonl", f"{lang}_tigr100k.jsonl", f"{lang}_complex_*.jsonl", f"{lang}_*.jsonl"]
    for pat in pats:
        hits = sorted(root.glob(pat))
        if hits:
            return hits[0]
    return None


def _karpathy(root: Path) -> Dataset | None:
    js = next(iter(sorted(root.glob("dataset_*.json"))), None)
    if js is None:
        return None
    data = json.loads(read_text(js, "Karpathy split file"))
    img_dir = next((d for d in (root / "images", root / "imgs", root) if d.is_dir()), root)
    queries = []
    for im in data.get("images", []):
        if im.get("split") != "test":
            continue
        iid = Path(im["filename"]).stem
        for s in im.get("sentences", []):
            queries.append(Query(str(s.get("sentid", len(queries))), s["raw"], {iid}))
    return Dataset(js.stem.replace("dataset_", ""), root, queries, img_dir, graded=False)


def _flickr_csv(root: Path, skip_bad: bool, warnings: list[str]) -> Dataset | None:
    for cand in sorted(root.glob("*.txt")) + sorted(root.glob("*.csv")):
        lines = read_text(cand, "caption file").splitlines()
        if not lines or "," not in lines[0] or not lines[0].split(",")[0].lower().endswith((".jpg", ".png", "image")):
            continue
        queries = []
        for n, line in enumerate(lines, 1):
            img, _, caption = line.partition(",")
            if img.strip().lower() == "image":
                continue
            if not caption.strip():
                if not skip_bad:
                    raise DatasetError(f"{cand}:{n}: bad line (no caption); pass --skip-bad to leave it out")
                warnings.append(f"{cand}:{n}: bad line (no caption)")
                continue
            queries.append(Query(f"{n}", caption.strip(), {Path(img.strip()).stem}))
        img_dir = next((d for d in (root / "images", root / "imgs", root / "flickr30k_images") if d.is_dir()), root)
        return Dataset(root.name, root, queries, img_dir, graded=False, warnings=warnings)
    return None


def load_dataset(
    name_or_path: str, data_dir: str | Path | None = None, lang: str = "en", skip_bad: bool = False
) -> Dataset:
    warnings: list[str] = []
    base = config.data_dir(data_dir)
    p = Path(name_or_path).expanduser()
    if name_or_path == "demo":
        from csdclip_cli.demo.run import ensure_data

        root = ensure_data(base / "demo")
    elif p.is_dir() and (p.is_absolute() or name_or_path.startswith(".") or "/" in name_or_path):
        root = p
    elif (base / name_or_path).is_dir():
        root = base / name_or_path
    elif name_or_path == "mscoco" and (base / "coco").is_dir():
        root = base / "coco"
    else:
        raise DatasetError(
            f"dataset {name_or_path!r} not found under {base} (known names: {', '.join(KNOWN)}; "
            "or give a folder path; set --data-dir or CSD_DATA)"
        )
    name = root.name if root.name not in ("", ".") else "dataset"
    jsonl = _find_jsonl(root, lang, name)
    if jsonl is not None:
        queries = _read_jsonl(jsonl, skip_bad, warnings)
        graded = any(q.mr for q in queries) or any(q.gold for q in queries)
        return Dataset(name, root, queries, _gallery(root, warnings), lang, graded, warnings)
    if lang == "en":
        ds = _karpathy(root) or _flickr_csv(root, skip_bad, warnings)
        if ds is not None:
            return ds
    raise DatasetError(f"{root} has no {lang}_*.jsonl queries (nor a Karpathy dataset_*.json / caption file)")
