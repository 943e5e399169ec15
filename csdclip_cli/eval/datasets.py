"""Benchmark loaders. Every dataset says which texts are the queries (raw text, optional gold
annotation, HR / MR image ids) and which images form the gallery, per split.

Layouts (DATA = --data-dir, $CSD_DATA, or ./data; a folder path works for each):

    TIGR-100k as downloaded   DIR/{en,zh}_complex_1044_final.jsonl, DIR/lmdb/imgs (gallery: every
                              image of the LMDB, the IR distractors included, as the format defines)
    TIGR-100k arranged        DATA/tigr100k/{en,zh}_tigr100k.jsonl, DATA/tigr100k/lmdb/imgs
    single-relevance sets     DATA/<name>/en_<name>.jsonl + lmdb/imgs   (coco, flickr30k, urban1k, wikido)
    Chinese-CLIP dataset      DIR/{split}_texts.jsonl + DIR/lmdb/{split}/imgs   (cn_clip's layout)
    CLIP_benchmark flickr     DIR/flickr30k_{split}_karpathy.txt (or flickr8k_, or *_zh.txt) + images
                              under DIR (gallery: the images the file names)
    CLIP_benchmark mscoco     DIR/coco_{split}_karpathy.json (COCO format) + DIR/val2014/ (train2014/)
    retrieval webdataset      DIR/{split}/nshards.txt + {split}/0.tar ... (image + .txt captions)
    Karpathy originals        DIR/dataset_{coco,flickr30k,flickr8k}.json + DIR/images/ (gallery: the split's images)
    Flickr30k results.csv     DIR/results.csv ('image_name| comment_number| comment') + images
    caption files             DIR/*.csv or *.txt with 'image,caption' rows (CSV, quotes parsed) + images
    the demo benchmark        `csd eval demo` (generated on first use; splits tune / test of one gallery)

Where a layout names the gallery's images, images in the folder that the split does not name
are left out, with a warning (CLIP_benchmark's galleries are the split's images). A split that
does not exist, or a choice between several with no test split, is an error listing them.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from csdclip_cli import config
from csdclip_cli.errors import DatasetError, PlanFormatError, UsageError
from csdclip_cli.rewrite.plan import Plan, parse_tigr, require_query
from csdclip_cli.rewrite.rules import NEGATION, ZH_NEG, lexical_negators_hidden
from csdclip_cli.sources.folder import image_extensions
from csdclip_cli.textfile import read_text

KNOWN = ("tigr100k", "coco", "mscoco", "flickr30k", "urban1k", "wikido", "demo")
DEFAULT_SPLIT = "test"
LANGS = ("en", "zh")  # the query languages the layouts name files by (en_*.jsonl, *_zh.txt)


@dataclass
class Query:
    """One evaluation query: its id, raw text, highly (hr) and moderately (mr) relevant image
    ids, the gold plan when the dataset annotates one, and its split."""

    text_id: str
    raw: str
    hr: set[str]
    mr: set[str] = field(default_factory=set)
    gold: Plan | None = None  # the annotated plan, when the dataset has one
    split: str = "test"
    not_flag: bool | None = None  # set when known from a saved run

    @property
    def has_not(self) -> bool:
        """The query negates something: known from a saved run, else the gold plan's NOT
        clauses, else a negation word in the raw text (English or Chinese)."""
        if self.not_flag is not None:
            return self.not_flag
        if self.gold is not None:
            return bool(self.gold.not_)
        return bool(NEGATION.search(self.raw) or ZH_NEG.search(lexical_negators_hidden(self.raw)))


@dataclass
class Dataset:
    """Queries plus their gallery.

    gallery: an LMDB imgs environment, an image folder, or a folder of tar shards.
    gallery_keys: the source keys that form the gallery, in the split's order; None when the
        gallery is every image of `gallery` (TIGR's LMDB with its distractors, cn_clip's split LMDB).
    split / splits: the split evaluated and the ones the layout has (None / () when it has none).
    warnings / errors: what the loader found wrong, one line each; an error makes every metric
        meaningless (`csd eval` stops on it; a library caller decides).
    """

    name: str
    root: Path
    queries: list[Query]
    gallery: Path
    lang: str = "en"
    graded: bool = True
    warnings: list[str] = field(default_factory=list)
    split: str | None = None
    splits: tuple[str, ...] = ()
    gallery_keys: list[str] | None = None
    gallery_kind: str = "auto"
    errors: list[str] = field(default_factory=list)

    def image_id(self, key: str) -> str:
        """Gallery key -> the id relevance lists use ('imgs/abc.jpg' -> 'abc'; LMDB ids and
        webdataset keys as they are)."""
        p = Path(key)
        return p.stem if p.suffix.lower() in image_extensions() else key


def _choose_split(split: str | None, available: list[str], where: Path) -> str:
    """The requested split, else 'test', else the only one. DatasetError lists the choices."""
    available = sorted(dict.fromkeys(available))
    if split is not None:
        if split not in available:
            raise DatasetError(f"{where} has no split {split!r}; its splits: {', '.join(available) or 'none'}")
        return split
    if DEFAULT_SPLIT in available:
        return DEFAULT_SPLIT
    if len(available) == 1:
        return available[0]
    raise DatasetError(
        f"{where} has several splits and no test split; choose one with --split ({', '.join(available)})"
    )


def _gallery(root: Path, warnings: list[str]) -> Path:
    cand = root / "lmdb" / "imgs"
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


def _bad(msg: str, skip_bad: bool, warnings: list[str]) -> None:
    if not skip_bad:
        raise DatasetError(msg + "; fix it or pass --skip-bad to leave such lines out")
    warnings.append(msg)


class _BadLine(ValueError):
    """A query line that parses as JSON but holds a field of the wrong shape."""


def _string(v: object, key: str) -> str:
    """`v`, a field of a caption file; ValueError (the loader's "not a ... file") unless a string."""
    if not isinstance(v, str):
        raise ValueError(f"{key} must be a string, got {json.dumps(v, ensure_ascii=False)[:40]}")
    return v


def _ids(d: dict, key: str) -> set[str]:
    """The relevance ids under `key` (absent: none). Raises _BadLine unless they are a list of
    strings or integers: a string would be split into characters."""
    v = d.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in v):
        raise _BadLine(f"{key} must be a list of string or integer ids, got {json.dumps(v)[:40]}")
    return {str(x) for x in v}


def _shown(v: object) -> str:
    """A field's value as JSON, cut short, for a bad-line message."""
    return json.dumps(v, ensure_ascii=False)[:40]


def _field(d: dict, key: str) -> object:
    if key not in d:
        raise _BadLine(f"it has no {key!r} field")
    return d[key]


def _query_text(text: object) -> tuple[str, Plan | None]:
    """The raw query and the gold plan (when `text` is TIGR's annotated form) of a line's text.
    Raises _BadLine for a text that is no string or has no words: it stopped the whole run
    (AttributeError, or "empty query" at rewriting) whatever --skip-bad said."""
    if not isinstance(text, str):
        raise _BadLine(f"text must be a string, got {_shown(text)}")
    gold = None
    if " | " in text or " ｜ " in text or "｜" in text:
        gold = parse_tigr(text)
        raw = gold.raw
    else:
        raw = text.strip()
    if not _searchable(raw):  # the query part as written ("   " was shown as ""), else the whole text
        raise _BadLine(f"text {_shown(raw or text)} is empty or has no words to search for")
    return raw, gold


def _searchable(query: str) -> bool:
    """Whether the rewriters and encoders take `query` (require_query): one with no words, or
    only connecting ones ("or"), stopped the whole run at rewriting."""
    try:
        require_query(query)
    except UsageError:
        return False
    return True


def _read_jsonl(path: Path, skip_bad: bool, warnings: list[str], default_split: str = "test") -> list[Query]:
    """The queries of a TIGR / CN-CLIP query file. Raises DatasetError for a malformed line
    (bad JSON, no object, a text_id missing, of the wrong type or already used, a text that is no
    string or has no words, ids or a split of the wrong type) unless skip_bad, which warns and
    leaves the line out; and when no query is left."""
    queries = []
    line_of: dict[str, int] = {}  # text_id -> its line: a second line would replace its ranking
    both: list[tuple[int, str]] = []  # (line, an id) of queries listing an image as HR and MR
    for n, line in enumerate(read_text(path, "query file").splitlines(), 1):
        if not line.strip():
            continue
        text_id: str | None = None
        try:
            d = json.loads(line)
            if not isinstance(d, dict):  # d["text_id"] on a list said "TypeError: list indices ..."
                raise _BadLine(f"a query line must be a JSON object with text_id, text and image_ids, got {_shown(d)}")
            tid = _field(d, "text_id")
            if not isinstance(tid, (str, int)) or isinstance(tid, bool) or str(tid).strip() == "":
                raise _BadLine(f"text_id must be a non-empty string or an integer, got {_shown(tid)}")
            text_id = str(tid)
            if text_id in line_of:
                raise _BadLine(f"text_id {text_id!r} is also on line {line_of[text_id]}")
            raw, gold = _query_text(_field(d, "text"))
            hr, mr = _ids(d, "image_ids"), _ids(d, "image_xiangsi_ids")
            if hr & mr:  # graded twice: the ideal ranking counted it twice (a perfect one scored 0.76)
                both.append((n, sorted(hr & mr)[0]))
                mr -= hr
            split = d.get("split", default_split)
            if not isinstance(split, str):  # sorting the splits failed with a TypeError traceback
                raise _BadLine(f"split must be a string, got {_shown(split)}")
            queries.append(Query(text_id, raw, hr, mr, gold, split))
            line_of[text_id] = n
        except (_BadLine, PlanFormatError) as e:
            # the text_id too, when the line has one: the reports name queries by it
            about = f"; text_id {text_id!r}" if text_id is not None and not str(e).startswith("text_id") else ""
            _bad(f"{path}:{n}: bad line ({e}{about})", skip_bad, warnings)
        except json.JSONDecodeError as e:
            _bad(f"{path}:{n}: bad line (not JSON: {str(e)[:80]})", skip_bad, warnings)
    if not queries:
        raise DatasetError(f"{path} holds no queries")
    if both:
        warnings.append(
            f"{len(both):,} queries of {path} list an image both as highly and as moderately relevant (e.g. "
            f"line {both[0][0]}: {both[0][1]!r}): it counts as highly relevant"
        )
    return queries


def unmeasurable(ds: Dataset) -> str | None:
    """Why no metric of `ds` could be other than 0 or empty, or None: ds.errors' first line, no
    query naming a relevant image, or a listed gallery (ds.gallery_keys) holding none of the
    images the queries name (a caption file naming files that are not there built a gallery of 0
    images and printed an all-zero table)."""
    if ds.errors:
        return ds.errors[0]
    named = {i for q in ds.queries for i in q.hr | q.mr}
    if not named:
        return f"no query of {ds.root} names a relevant image, so there is nothing to measure"
    if ds.gallery_keys is None or ds.gallery_kind == "wds" or not ds.gallery.is_dir():
        return None  # the whole folder or LMDB is the gallery: the loader checked it (ds.errors)
    there = set(_gallery_keys(ds.gallery))
    have = {ds.image_id(k) for k in ds.gallery_keys if k in there}
    if not named & have:
        return (
            f"none of the images the queries of {ds.root} name is in its gallery {ds.gallery} "
            f"(e.g. {sorted(named)[0]!r}): every metric would be 0"
        )
    return None


def _gallery_keys(gallery: Path) -> list[str]:
    """The source keys of a gallery folder or LMDB, names only (an LMDB's keys without its
    images; a folder's without a stat of each file: the build does that)."""
    from csdclip_cli.sources.folder import FolderSource
    from csdclip_cli.sources.lmdb_source import LmdbSource

    return list((LmdbSource(gallery) if (gallery / "data.mdb").is_file() else FolderSource(gallery)).keys())


def _gallery_ids(ds: Dataset) -> set[str]:
    """The ids relevance lists use, of every gallery image (an LMDB's keys, read without its
    images). Files of one name in two folders (a/x.png, b/x.png) share an id: a warning says so."""
    from collections import Counter

    keys = _gallery_keys(ds.gallery)
    if (ds.gallery / "data.mdb").is_file():
        return {ds.image_id(k) for k in keys}
    counts = Counter(ds.image_id(k) for k in keys)
    shared = sorted(i for i, c in counts.items() if c > 1)
    if shared:
        files = [k for k in keys if ds.image_id(k) == shared[0]][:2]
        ds.warnings.append(
            f"{len(shared):,} image ids of the gallery {ds.gallery} are names of several files (e.g. "
            f"{shared[0]!r}: {', '.join(files)}): relevance lists cannot tell those files apart"
        )
    return set(counts)


def _check_relevance(ds: Dataset, path: Path) -> Dataset:
    """Warn once about queries with no relevant image (the means leave them out) and about
    relevant ids the gallery lacks (misses, whatever the ranking); when no id of `path` is in
    the gallery, one error-level warning instead: every metric would be 0, without a word."""
    empty = [q for q in ds.queries if not q.hr]
    if empty:
        similar = sum(1 for q in empty if q.mr)
        ds.warnings.append(
            f"{len(empty):,} of {len(ds.queries):,} queries in {path.name} have no relevant image (empty "
            f"image_ids, e.g. {', '.join(q.text_id for q in empty[:3])}): left out of the means"
            + (f" (GRP and nDCG keep the {similar:,} with similar images)" if similar else "")
        )
    named = {i for q in ds.queries for i in q.hr | q.mr}
    if not named:
        return ds
    have = _gallery_ids(ds)
    if not named & have:
        ex, key = sorted(named)[0], next(iter(sorted(have)), None)
        ds.errors.append(
            f"no image id in {path.name} is in the gallery {ds.gallery} (e.g. {ex!r}"
            + (f"; its images are named like {key!r}" if key is not None else "; it holds no image")
            + "): every metric will be 0; write the ids as the gallery names its images"
        )
        return ds
    missing = [(q.text_id, sorted((q.hr | q.mr) - have)) for q in ds.queries if (q.hr | q.mr) - have]
    if missing:
        ex = "; ".join(f"{t}: {', '.join(ids[:2])}" for t, ids in missing[:3])
        ds.warnings.append(
            f"{len(missing):,} of {len(ds.queries):,} queries in {path.name} name relevant images that are not "
            f"in the gallery {ds.gallery} (e.g. {ex}): they count as misses"
        )
    return ds


def _find_jsonl(root: Path, lang: str, name: str) -> Path | None:
    pats = [f"{lang}_{name}.jsonl", f"{lang}_tigr100k.jsonl", f"{lang}_complex_*.jsonl", f"{lang}_*.jsonl"]
    for pat in pats:
        hits = sorted(root.glob(pat))
        if hits:
            return hits[0]
    return None


def _with_folder_gallery(ds: Dataset, folder: Path) -> Dataset:
    """Warn about images the split names that the folder lacks, and images it leaves out."""
    from csdclip_cli.sources.folder import FolderSource

    have = {it.key for it in FolderSource(folder).items()}
    keys = ds.gallery_keys or []
    missing = [k for k in keys if k not in have]
    extra = len(have) - (len(keys) - len(missing))
    split = f"the {ds.split} split" if ds.split else "the caption file"
    if extra > 0:
        ds.warnings.append(
            f"{extra:,} images under {folder} are not named by {split}: left out of the gallery "
            f"({len(keys) - len(missing):,} images), as CLIP_benchmark does"
        )
    if missing:
        ds.warnings.append(
            f"{len(missing):,} images named by {split} are missing under {folder} (e.g. {missing[0]}); "
            "their captions can never be found"
        )
    return ds


def _captions_dataset(
    name: str,
    root: Path,
    folder: Path,
    pairs: list[tuple[str, str]],
    split: str | None,
    splits: tuple[str, ...],
    lang: str = "en",
    warnings: list[str] | None = None,
) -> Dataset:
    """(image key relative to `folder`, caption) pairs -> one query per caption, gallery = the
    named images in order of first mention. A name not found under `folder` is looked for in
    its images/ (CLIP_benchmark's download puts Flickr30k there)."""
    for sub in ("images", "imgs", "flickr30k-images", "flickr30k_images", "Images"):
        if (folder / sub).is_dir():
            moved = {
                img: f"{sub}/{img}" for img, _ in pairs if not (folder / img).exists() and (folder / sub / img).exists()
            }
            pairs = [(moved.get(img, img), cap) for img, cap in pairs]
    warnings = warnings if warnings is not None else []
    searchable = [_searchable(cap) for _, cap in pairs]
    wordless = [pair for pair, ok in zip(pairs, searchable) if not ok]
    if wordless:  # an empty caption stopped the whole run at rewriting ("empty query")
        warnings.append(
            f"{len(wordless):,} captions of {name} have no words (e.g. {wordless[0][1]!r} of {wordless[0][0]}): "
            "left out of the queries"
        )
    queries = [
        Query(f"{i}", cap, {Path(img).stem}, split=split or "test")
        for i, ((img, cap), ok) in enumerate(zip(pairs, searchable))
        if ok
    ]
    keys = list(dict.fromkeys(img for img, _ in pairs))
    stems: dict[str, list[str]] = {}
    for img in keys:
        stems.setdefault(Path(img).stem, []).append(img)
    shared = [files for files in stems.values() if len(files) > 1]
    if shared:  # ids are names: a Karpathy file's a/img0.jpg and b/img0.jpg are one id
        warnings.append(
            f"{len(shared):,} image names of {name} are names of several files (e.g. {', '.join(shared[0][:2])}): "
            "relevance lists cannot tell those files apart"
        )
    ds = Dataset(name, root, queries, folder, lang, False, warnings, split, splits, keys, "folder")
    return _with_folder_gallery(ds, folder)


def _image_folder(root: Path) -> Path:
    return next(
        (d for d in (root / "images", root / "imgs", root / "flickr30k_images", root / "Images") if d.is_dir()), root
    )


# ---- layouts ------------------------------------------------------------------------------


def _chinese_clip(root: Path, split: str | None, skip_bad: bool, warnings: list[str]) -> Dataset | None:
    texts = {p.name.removesuffix("_texts.jsonl"): p for p in root.glob("*_texts.jsonl")}
    if not texts:
        return None
    chosen = _choose_split(split, list(texts), root)
    env = root / "lmdb" / chosen / "imgs"
    if not (env / "data.mdb").is_file():
        raise DatasetError(
            f"{root}: split {chosen!r} has {texts[chosen].name} but no lmdb/{chosen}/imgs (CN-CLIP LMDB)"
        )
    queries = _read_jsonl(texts[chosen], skip_bad, warnings, chosen)
    ds = Dataset(root.name, root, queries, env, "zh", False, warnings, chosen, tuple(sorted(texts)), None, "lmdb")
    return _check_relevance(ds, texts[chosen])


def _clip_benchmark_flickr(root: Path, lang: str, split: str | None, warnings: list[str]) -> Dataset | None:
    suffix = "karpathy" if lang == "en" else lang
    files: dict[str, Path] = {}
    for p in sorted(root.glob(f"flickr*_*_{suffix}.txt")):
        files.setdefault(p.stem.split("_")[1], p)
    if not files:
        return None
    chosen = _choose_split(split, list(files), root)
    pairs = []
    lines = read_text(files[chosen], "caption file").splitlines()
    for line in lines[1:]:  # CLIP_benchmark skips the header line and splits at ".jpg,"
        line = line.strip()
        if line:
            img, sep, caption = line.partition(".jpg,")
            if sep:
                pairs.append((img + ".jpg", caption))
    return _captions_dataset(
        files[chosen].stem.split("_")[0], root, root, pairs, chosen, tuple(sorted(files)), lang, warnings
    )


def _clip_benchmark_coco(root: Path, split: str | None, warnings: list[str]) -> Dataset | None:
    files = {p.stem.split("_")[1]: p for p in sorted(root.glob("coco_*_karpathy.json"))}
    if not files:
        return None
    chosen = _choose_split(split, list(files), root)
    folder = root / ("train2014" if chosen == "train" else "val2014")
    if not folder.is_dir():
        raise DatasetError(f"{root}: split {chosen!r} needs its images in {folder}")
    try:
        data = json.loads(read_text(files[chosen], "COCO annotation file"))
        images = {int(im["id"]): _string(im["file_name"], "file_name") for im in data["images"]}
        caps: dict[int, list[str]] = {i: [] for i in images}
        for ann in data["annotations"]:
            caps[int(ann["image_id"])].append(_string(ann["caption"], "caption"))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"{files[chosen]} is not a COCO captions file ({type(e).__name__}: {e})") from None
    # torchvision's CocoCaptions, which CLIP_benchmark uses: images by sorted id, captions in file order
    pairs = [(images[i], c) for i in sorted(images) for c in caps[i]]
    return _captions_dataset("mscoco", root, folder, pairs, chosen, tuple(sorted(files)), "en", warnings)


def _webdataset(root: Path, split: str | None, warnings: list[str]) -> Dataset | None:
    splits = [d.name for d in sorted(root.iterdir()) if d.is_dir() and ((d / "nshards.txt").is_file())]
    if not splits:
        return None
    kind = (root / "dataset_type.txt").read_text().strip().lower() if (root / "dataset_type.txt").is_file() else ""
    if kind and kind != "retrieval":
        raise DatasetError(f"{root} is a {kind} webdataset (dataset_type.txt); csd evaluates retrieval datasets")
    chosen = _choose_split(split, splits, root)
    from csdclip_cli.sources.wds import WdsSource

    src = WdsSource(root / chosen)
    keys = [it.key for it in src.items()]
    queries = []
    for key in keys:
        for j, cap in enumerate(src.captions.get(key, [])):
            if cap.strip():
                queries.append(Query(f"{key}-{j}", cap, {key}, split=chosen))
    if not queries:
        raise DatasetError(f"{root / chosen}: no sample has a .txt caption")
    return Dataset(root.name, root, queries, root / chosen, "en", False, warnings, chosen, tuple(splits), keys, "wds")


def _karpathy(root: Path, split: str | None, warnings: list[str]) -> Dataset | None:
    js = next(iter(sorted(root.glob("dataset_*.json"))), None)
    if js is None:
        return None
    try:
        data = json.loads(read_text(js, "Karpathy split file"))
        images = data.get("images", [])
        available = [_string(im.get("split", ""), "split") for im in images]
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as e:
        raise DatasetError(f"{js} is not a Karpathy split file ({type(e).__name__}: {str(e)[:80]})") from None
    chosen = _choose_split(split, available, root)
    folder = _image_folder(root)
    pairs = []
    try:
        for im in images:
            if im.get("split") != chosen:
                continue
            filename = _string(im["filename"], "filename")
            rel = f"{_string(im['filepath'], 'filepath')}/{filename}" if im.get("filepath") else filename
            if not (folder / rel).exists() and (folder / filename).exists():
                rel = filename
            for s in im.get("sentences", []):
                pairs.append((rel, _string(s["raw"], "raw")))
    except (AttributeError, KeyError, TypeError, ValueError) as e:  # a traceback, else
        raise DatasetError(f"{js} is not a Karpathy split file ({type(e).__name__}: {str(e)[:80]})") from None
    name = js.stem.replace("dataset_", "")
    splits = tuple(sorted(set(available)))
    return _captions_dataset(name, root, folder, pairs, chosen, splits, "en", warnings)


def _csv_rows(path: Path) -> tuple[list[tuple[int, list[str]]], str]:
    """(line number, cells) of each non-empty row of a caption file, and its delimiter."""
    text = read_text(path, "caption file")
    first = text.split("\n", 1)[0]
    dialect = "|" if first.count("|") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=dialect, skipinitialspace=True)
    rows = []
    for row in reader:  # line_num: the line a row ends on (a bad line was named by its count of rows)
        cells = [c.strip() for c in row]
        if any(cells):
            rows.append((reader.line_num, cells))
    return rows, dialect


def _caption_file(root: Path, skip_bad: bool, warnings: list[str]) -> Dataset | None:
    """Flickr30k's results.csv ('image_name| comment_number| comment'), Flickr8k's captions.txt
    ('image,caption') and any such file: parsed as CSV (quoted captions lose their quotes)."""
    for cand in sorted(root.glob("*.csv")) + sorted(root.glob("*.txt")):
        data, dialect = _csv_rows(cand)
        if not data or not data[0][1][0].lower().endswith((".jpg", ".jpeg", ".png", "image", "image_name")):
            continue
        # the caption is the last column (results.csv has 3); a comma inside an unquoted caption
        # of a 2-column file split it, and only its last part was kept
        header = data[0][1][0].lower() in ("image", "image_name")
        columns = len(data[0][1]) if header else 3 if len(data[0][1]) == 3 and dialect == "|" else 2
        if header:
            data = data[1:]
        pairs = []
        for n, row in data:
            if len(row) < 2 or not row[-1]:
                _bad(f"{cand}:{n}: bad line (no caption)", skip_bad, warnings)
                continue
            pairs.append((row[0], ", ".join(row[max(1, columns - 1) :])))
        return _captions_dataset(root.name, root, _image_folder(root), pairs, None, (), "en", warnings)
    return None


def load_dataset(
    name_or_path: str,
    data_dir: str | Path | None = None,
    lang: str = "en",
    skip_bad: bool = False,
    split: str | None = None,
) -> Dataset:
    """The dataset named or found at `name_or_path`, for `split` (default: test where the layout
    has splits; for datasets whose queries carry a split, like the demo, default: all queries).
    Raises DatasetError with the layouts looked for (or the --lang that finds queries), and
    SourceError for a gallery LMDB that cannot be read (its ids are checked against the queries').
    Raises UsageError for a `lang` other than en or zh (it failed later, saying "pass --lang en")."""
    if lang not in LANGS:
        raise UsageError(f"--lang {lang!r} must be {' or '.join(LANGS)}")
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
    elif p.is_dir():  # a folder here named bare ("capds"), when the data folder has none of that name
        root = p
    else:
        raise DatasetError(
            f"dataset {name_or_path!r} not found under {base} (known names: {', '.join(KNOWN)}; "
            "or give a folder path; set --data-dir or CSD_DATA)"
        )
    # "." and ".." are named by the folder they are (every layout names its dataset and index
    # after the folder: `csd eval .` gave the invalid index name "-demo-tiny")
    root = Path(os.path.abspath(root))
    name = root.name or "dataset"
    jsonl = _find_jsonl(root, lang, name)
    if jsonl is not None:
        queries = _read_jsonl(jsonl, skip_bad, warnings)
        splits = tuple(sorted({q.split for q in queries}))
        if split is not None and split != "all":
            if split not in splits:
                raise DatasetError(f"{jsonl} has no split {split!r}; its splits: {', '.join(splits)}")
            queries = [q for q in queries if q.split == split]
        graded = any(q.mr for q in queries) or any(q.gold for q in queries)
        chosen = split if split not in (None, "all") else None
        ds = Dataset(name, root, queries, _gallery(root, warnings), lang, graded, warnings, chosen, splits)
        return _check_relevance(ds, jsonl)
    found = (
        _chinese_clip(root, split, skip_bad, warnings)
        or _clip_benchmark_flickr(root, lang, split, warnings)
        or (_clip_benchmark_coco(root, split, warnings) if lang == "en" else None)
        or _webdataset(root, split, warnings)
        or (_karpathy(root, split, warnings) if lang == "en" else None)
        or (_caption_file(root, skip_bad, warnings) if lang == "en" else None)
    )
    if found is not None:
        if split is not None and found.split is None:
            raise DatasetError(f"{root} has no splits; leave --split out")
        return found
    for other in LANGS:
        found_other = _find_jsonl(root, other, name) if other != lang else None
        if found_other is not None:  # a Chinese-only folder got the list of every layout, with no hint
            raise DatasetError(f"{root} has no {lang}_*.jsonl queries but has {found_other.name}: pass --lang {other}")
    raise DatasetError(
        f"{root} has no {lang}_*.jsonl queries, no {{split}}_texts.jsonl (Chinese-CLIP), no CLIP_benchmark "
        "flickr*_{split}_karpathy.txt / coco_{split}_karpathy.json, no webdataset {split}/nshards.txt, "
        "no Karpathy dataset_*.json and no image,caption file"
    )
