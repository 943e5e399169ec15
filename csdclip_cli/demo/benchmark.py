"""The demo benchmark: a held-out gallery of the procedural world and complex queries
in the TIGR-100k format, with graded relevance from the scene records.

Layout written by `csd demo data DIR` (the TIGR-100k layout):

    DIR/en_demo.jsonl     {"text_id", "text" (annotated TIGR form = gold plan),
                           "image_ids" (HR), "image_xiangsi_ids" (MR), "split"}
    DIR/queries.txt       the raw queries, one per line
    DIR/scenes.jsonl      the scene record of every gallery image (ground truth)
    DIR/imgs/ID.png       every gallery image
    DIR/lmdb/imgs/        the same images as a CN-CLIP-format LMDB

Relevance of an image to a query with AND facts A and NOT facts N:
    highly relevant (HR)     every AND fact holds and no NOT fact holds;
    moderately relevant (MR) not HR, and either every AND fact holds but a NOT fact also
                             holds, or exactly one AND fact fails and no NOT fact holds;
    irrelevant               otherwise.
A fact is a thing (kind, optional colour) being present, or the background.
"""

from __future__ import annotations

import json
import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from csdclip_cli.demo import world
from csdclip_cli.errors import DatasetError

GALLERY_SEED = 2
QUERY_SEED = 3
N_GALLERY = 3000
N_QUERIES = 300
TUNE_FRACTION = 0.4  # the first 40% of queries are for tuning; the rest are reported
MAX_HR = 120
STALL_LIMIT = 100_000  # draws without a new query before make_queries gives up (a few seconds)


@dataclass(frozen=True)
class Fact:
    """One thing a query asks about: a thing of `kind` (in `color`, any colour when None) is in the
    scene, or the scene has `background`."""

    kind: str | None = None  # a thing ...
    color: str | None = None
    background: str | None = None  # ... or the background

    def holds(self, scene: world.Scene) -> bool:
        """Whether the fact is true of `scene`."""
        if self.background is not None:
            return scene.background == self.background
        assert self.kind is not None
        return scene.has(self.kind, self.color)

    def phrase(self) -> str:
        """The fact as a clause: 'a red car', 'a person in a blue shirt', or the background's first phrase
        ('on the grass')."""
        if self.background is not None:
            return world.BACKGROUND_PHRASES[self.background][0]
        return world.thing_phrase(world.Thing(self.kind or "", self.color))


def relevance(scene: world.Scene, ands: list[Fact], nots: list[Fact]) -> int:
    """2 = highly relevant, 1 = moderately relevant, 0 = irrelevant (rule in the module doc)."""
    n_fail = sum(not f.holds(scene) for f in ands)
    excluded = any(f.holds(scene) for f in nots)
    if n_fail == 0 and not excluded:
        return 2
    if (n_fail == 0 and excluded) or (n_fail == 1 and len(ands) > 1 and not excluded):
        return 1
    return 0


def gallery_scenes(n: int = N_GALLERY) -> list[world.Scene]:
    """The first `n` scenes of the gallery world (seed GALLERY_SEED; training uses another seed)."""
    return [world.sample_scene(i, GALLERY_SEED) for i in range(n)]


def image_id(scene: world.Scene) -> str:
    """A scene's gallery image id: 'd' and the scene id in six digits ('d000042')."""
    return f"d{scene.id:06d}"


def _no_phrase(f: Fact, rng: random.Random) -> str:
    kind = f.kind or ""
    noun = f"{f.color} {kind}" if f.color else kind
    plural = f"{f.color} {world.PLURALS[kind]}" if f.color else world.PLURALS[kind]
    art = "an" if noun[0] in "aeiou" else "a"
    return rng.choice(
        (f"no {noun}", f"without {art} {noun}", f"but no {plural}", f"with no {noun}", f"excluding {plural}")
    )


def _raw_query(ands: list[Fact], nots: list[Fact], rng: random.Random) -> tuple[str, str, list[str]]:
    """(raw query, optimized phrase, AND clause texts)."""
    things = [f for f in ands if f.background is None]
    bg = next((f for f in ands if f.background is not None), None)
    phrases = [f.phrase() for f in things]
    joiner = rng.choice((" and ", " next to ", " with "))
    body = joiner.join(phrases) if len(phrases) <= 2 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    bg_text = rng.choice(world.BACKGROUND_PHRASES[bg.background]) if bg and bg.background else ""
    optimized = f"{body} {bg_text}".strip()
    clauses = list(phrases) + ([bg_text] if bg_text else [])  # one clause per fact
    raw = optimized
    for f in nots:
        neg = _no_phrase(f, rng)
        raw += (", " if not neg.startswith(("with ", "without ")) else " ") + neg
    return raw, optimized, clauses


def make_queries(scenes: list[world.Scene], n: int = N_QUERIES, seed: int = QUERY_SEED) -> list[dict]:
    """`n` distinct complex queries over `scenes` (deterministic for `seed`) as en_demo.jsonl records:
    text_id, text (TIGR-100k annotated form = gold plan, newline-terminated), image_ids (HR),
    image_xiangsi_ids (MR), split ('tune' for the first TUNE_FRACTION, else 'test'), has_not.
    Each takes 2 or 3 AND facts (things, maybe the background) from one scene and, in about 60% of
    draws, one NOT fact that scene lacks; a query with no HR image or more than MAX_HR is skipped.
    Raises DatasetError when the scenes cannot give `n` distinct queries."""
    from csdclip_cli.rewrite.plan import Plan

    rng = random.Random(seed)
    out: list[dict] = []
    seen: set[str] = set()
    stalled = 0  # draws since the last new query: a small gallery runs out of distinct queries
    while len(out) < n:
        stalled += 1
        if stalled > STALL_LIMIT:
            raise DatasetError(
                f"{len(scenes)} gallery images give only {len(out)} distinct demo queries, not {n}; "
                "ask for fewer queries or more images"
            )
        target = rng.choice(scenes)
        facts = []
        for t in target.things:
            if t.kind == "sun":
                continue
            fact = Fact(t.kind, t.color)
            if fact not in facts:
                facts.append(fact)
        bg_fact = Fact(background=target.background)
        n_and = rng.choice((2, 2, 3))
        if len(facts) < 1:
            continue
        use_bg = rng.random() < 0.35 or len(facts) < 2
        chosen = rng.sample(facts, min(len(facts), n_and - int(use_bg)))
        ands = chosen + ([bg_fact] if use_bg else [])
        if len(ands) < 2:
            continue
        nots: list[Fact] = []
        if rng.random() < 0.6:
            absent = [k for k in world.GROUND_KINDS + ("balloon",) if not target.has(k)]
            present_kinds = {f.kind for f in chosen}
            if rng.random() < 0.25:  # "no red car" while a car of another colour is fine
                opts = [
                    (k, c)
                    for k in ("car", "house", "balloon", "dog")
                    if k not in present_kinds
                    for c in (world.KIND_COLORS[k] or ())
                    if not target.has(k, c)
                ]
                if opts:
                    k, c = rng.choice(opts)
                    nots.append(Fact(k, c))
            if not nots and absent:
                nots.append(Fact(rng.choice(absent)))
        raw, optimized, clauses = _raw_query(ands, nots, rng)
        if raw in seen:
            continue
        rel = [relevance(s, ands, nots) for s in scenes]
        hr = [image_id(s) for s, r in zip(scenes, rel) if r == 2]
        if not hr or len(hr) > MAX_HR:
            continue
        seen.add(raw)
        stalled = 0
        plan = Plan(
            raw=raw,
            intent="complex",
            optimized=optimized,
            and_=clauses,
            not_=[f.phrase() for f in nots],
        )
        i = len(out)
        out.append(
            {
                "text_id": f"q{i:04d}",
                "text": plan.to_tigr() + "\n",
                "image_ids": hr,
                "image_xiangsi_ids": [image_id(s) for s, r in zip(scenes, rel) if r == 1],
                "split": "tune" if i < TUNE_FRACTION * n else "test",
                "has_not": bool(nots),
            }
        )
    return out


def _lmdb_holds(lmdb_dir: Path, images: dict[str, bytes]) -> bool:
    """Whether the CN-CLIP LMDB at `lmdb_dir` holds exactly `images` (id -> PNG bytes)."""
    import base64

    import lmdb

    if not (lmdb_dir / "data.mdb").exists():
        return False
    env = lmdb.open(str(lmdb_dir), readonly=True, lock=False, readahead=False)
    try:
        with env.begin() as txn:
            if txn.stat()["entries"] != len(images) + 1 or txn.get(b"num_images") != str(len(images)).encode():
                return False
            return all(txn.get(k.encode()) == base64.urlsafe_b64encode(d) for k, d in images.items())
    finally:
        env.close()


def write_benchmark(
    out_dir: str | Path, n_gallery: int = N_GALLERY, n_queries: int = N_QUERIES, write_images: bool = True
) -> Path:
    """Write the benchmark (deterministic: same arguments, same bytes). Returns the directory.
    Written over an earlier benchmark, it leaves nothing of it: the earlier gallery's images (by
    its scenes.jsonl) are removed, and an LMDB holding other images is rewritten. Raises
    DatasetError before writing anything when a file stands where a folder goes, or when the
    gallery cannot give `n_queries` queries (make_queries); DatasetError for what the file system
    refuses while writing, and for a folder that holds other files but no benchmark (it would
    overwrite them)."""
    out = Path(out_dir)
    for folder in (out, out / "imgs", out / "lmdb", out / "lmdb" / "imgs"):
        if folder.exists() and not folder.is_dir():
            raise DatasetError(
                f"{folder} is a file where the demo benchmark writes a folder; move it or pick another DIR"
            )
    if out.is_dir() and any(out.iterdir()) and not is_benchmark(out):
        # its README.txt, queries.txt and imgs/d*.png would be overwritten without a word
        raise DatasetError(
            f"{out} is not empty and holds no demo benchmark (no scenes.jsonl); "
            "write it to an empty or new folder: csd demo data NEW_DIR"
        )
    scenes = gallery_scenes(n_gallery)
    queries = make_queries(scenes, n_queries)
    import lmdb

    try:
        _write(out, scenes, queries, write_images)
    except OSError as e:  # a folder where a file goes, a broken link, a full disk
        raise DatasetError(f"cannot write the demo benchmark in {out}: {e.strerror or e} ({e.filename})") from None
    except lmdb.Error as e:  # e.g. a folder named data.mdb
        raise DatasetError(f"cannot write the demo benchmark's LMDB in {out / 'lmdb' / 'imgs'}: {e}") from None
    return out


def is_benchmark(folder: str | Path) -> bool:
    """Whether `folder` holds a demo benchmark: its scenes.jsonl, the ground truth only the demo writes."""
    return (Path(folder) / "scenes.jsonl").is_file()


def _earlier_gallery(out: Path) -> set[str]:
    """The image ids of the benchmark already in `out` (its scenes.jsonl), if any."""
    try:
        return {json.loads(line)["image_id"] for line in (out / "scenes.jsonl").read_text().splitlines()}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _write(out: Path, scenes: list[world.Scene], queries: list[dict], write_images: bool) -> None:
    import lmdb

    from csdclip_cli.sources.lmdb_source import write_lmdb_images

    out.mkdir(parents=True, exist_ok=True)
    earlier = _earlier_gallery(out)
    with (out / "en_demo.jsonl").open("w") as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    (out / "queries.txt").write_text("".join(q["text"].split(" | ")[0] + "\n" for q in queries))
    with (out / "scenes.jsonl").open("w") as f:
        for s in scenes:
            f.write(json.dumps({"image_id": image_id(s)} | s.to_dict()) + "\n")
    if write_images:
        with ThreadPoolExecutor(4) as pool:
            pngs = list(pool.map(world.png_bytes, scenes))
        (out / "imgs").mkdir(exist_ok=True)
        # an earlier, larger gallery's images (no scene record now); files it never wrote are not ours
        for old in earlier - {image_id(s) for s in scenes}:
            if (p := out / "imgs" / f"{old}.png").is_file():
                p.unlink()
        for s, data in zip(scenes, pngs):
            p = out / "imgs" / f"{image_id(s)}.png"
            if not p.exists() or p.read_bytes() != data:
                p.write_bytes(data)  # unchanged files keep their mtime: re-indexing is a no-op
        lmdb_dir = out / "lmdb" / "imgs"
        images = {image_id(s): d for s, d in zip(scenes, pngs)}
        try:
            same = _lmdb_holds(lmdb_dir, images)
        except lmdb.Error:
            same = False
        if not same:
            shutil.rmtree(lmdb_dir, ignore_errors=True)
            write_lmdb_images(lmdb_dir, iter(images.items()))
    (out / "README.txt").write_text(__doc__ or "")
