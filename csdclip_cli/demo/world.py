"""A procedurally drawn world of small outdoor scenes, deterministic from a seed.

Each scene is a background plus a few everyday things (cars, houses, trees, people,
boats, dogs, balloons, the sun) with a colour and a size. The scene record is the
ground truth that captions, queries and graded relevance are derived from.
"""

from __future__ import annotations

import io
import random
from dataclasses import asdict, dataclass, field

from PIL import Image, ImageDraw

SIZE = 64
HORIZON = 38

BACKGROUNDS = ("grass", "night", "beach", "snow")
BACKGROUND_PHRASES = {
    "grass": ("on the grass", "in a field", "on a green meadow"),
    "night": ("at night", "in the dark", "under a night sky"),
    "beach": ("on the beach", "by the sea", "at the seaside"),
    "snow": ("in the snow", "on a snowy day", "in winter snow"),
}

RGB = {
    "red": (210, 30, 30),
    "blue": (30, 70, 220),
    "green": (30, 160, 40),
    "yellow": (240, 210, 20),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "purple": (140, 40, 180),
    "brown": (120, 70, 30),
    "orange": (245, 130, 20),
}

# Colours each kind is drawn in; None means the kind has no colour word.
KIND_COLORS: dict[str, tuple[str, ...] | None] = {
    "car": ("red", "blue", "yellow", "white", "black", "green"),
    "house": ("red", "blue", "yellow", "white", "orange"),
    "tree": None,
    "person": ("red", "blue", "yellow", "green", "white", "black", "purple"),
    "boat": ("red", "blue", "white", "yellow"),
    "dog": ("brown", "black", "white"),
    "balloon": ("red", "blue", "yellow", "green", "purple"),
    "sun": None,
}
GROUND_KINDS = ("car", "house", "tree", "person", "dog")
KINDS = tuple(KIND_COLORS)
PLURALS = {k: k + "s" for k in KINDS} | {"person": "people"}


@dataclass(frozen=True)
class Thing:
    """One thing in a scene: its kind (one of KINDS), colour (None for kinds without one),
    size and slot (where it stands)."""

    kind: str
    color: str | None = None
    size: str = "large"  # "large" | "small"
    slot: int = 0  # 0 left, 1 middle, 2 right (sky things: horizontal position)


@dataclass(frozen=True)
class Scene:
    """One scene: its id, its background (one of BACKGROUNDS) and its things; the ground truth of its
    image."""

    id: int
    background: str
    things: tuple[Thing, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """The scene as a JSON-ready dict: id, background, things (as dicts)."""
        return {"id": self.id, "background": self.background, "things": [asdict(t) for t in self.things]}

    @classmethod
    def from_dict(cls, d: dict) -> Scene:
        """A scene from its to_dict form (a scenes.jsonl record; other keys such as image_id are ignored)."""
        return cls(d["id"], d["background"], tuple(Thing(**t) for t in d["things"]))

    def has(self, kind: str, color: str | None = None) -> bool:
        """Whether the scene holds a thing of `kind` (in `color`; any colour when None)."""
        return any(t.kind == kind and (color is None or t.color == color) for t in self.things)


def _pick_color(rng: random.Random, kind: str) -> str | None:
    colors = KIND_COLORS[kind]
    return rng.choice(colors) if colors else None


def sample_scene(scene_id: int, seed: int = 0) -> Scene:
    """Scene `scene_id` of the world with this seed (independent of every other scene)."""
    rng = random.Random(seed * 1_000_003 + scene_id)
    background = rng.choice(BACKGROUNDS)
    things: list[Thing] = []
    slots = [0, 1, 2]
    rng.shuffle(slots)
    n_ground = rng.choice((1, 2, 2, 3))
    for slot in slots[:n_ground]:
        kinds = GROUND_KINDS + (("boat", "boat") if background == "beach" else ())
        kind = rng.choice(kinds)
        things.append(Thing(kind, _pick_color(rng, kind), rng.choice(("large", "small")), slot))
    sky = [0, 1, 2]
    if background != "night" and rng.random() < 0.35:
        sun_slot = rng.choice((0, 2))
        sky.remove(sun_slot)
        things.append(Thing("sun", None, "large", sun_slot))
    if rng.random() < 0.25:
        things.append(Thing("balloon", _pick_color(rng, "balloon"), "small", rng.choice(sky)))
    return Scene(scene_id, background, tuple(things))


def twin_of(scene: Scene, rng: random.Random) -> Scene:
    """A one-edit twin (hard negative): a colour changed, a kind swapped, or the background changed."""
    things = list(scene.things)
    choice = rng.random()
    colored = [i for i, t in enumerate(things) if t.color]
    if choice < 0.45 and colored:
        i = rng.choice(colored)
        options = [c for c in KIND_COLORS[things[i].kind] or () if c != things[i].color]
        things[i] = Thing(things[i].kind, rng.choice(options), things[i].size, things[i].slot)
    elif choice < 0.8:
        ground = [i for i, t in enumerate(things) if t.kind in GROUND_KINDS]
        i = rng.choice(ground) if ground else 0
        kind = rng.choice([k for k in GROUND_KINDS if k != things[i].kind])
        things[i] = Thing(kind, _pick_color(rng, kind), things[i].size, things[i].slot)
    else:
        bg = rng.choice([b for b in BACKGROUNDS if b != scene.background])
        things = [t for t in things if not (bg == "night" and t.kind == "sun")]
        things = [t for t in things if not (bg != "beach" and t.kind == "boat")] or [Thing("tree")]
        return Scene(scene.id, bg, tuple(things))
    return Scene(scene.id, scene.background, tuple(things))


# --- drawing ---------------------------------------------------------------------------


def _shade(rgb: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, int(c * f))) for c in rgb)  # type: ignore[return-value]


def _draw_background(d: ImageDraw.ImageDraw, bg: str, rng: random.Random) -> None:
    if bg == "grass":
        d.rectangle((0, 0, SIZE, HORIZON), fill=(135, 195, 240))
        d.rectangle((0, HORIZON, SIZE, SIZE), fill=(90, 170, 70))
    elif bg == "night":
        d.rectangle((0, 0, SIZE, HORIZON), fill=(15, 20, 60))
        d.rectangle((0, HORIZON, SIZE, SIZE), fill=(30, 45, 35))
        for _ in range(8):
            x, y = rng.randrange(SIZE), rng.randrange(HORIZON - 4)
            d.point((x, y), fill=(255, 255, 210))
        d.ellipse((50, 4, 58, 12), fill=(235, 235, 200))
    elif bg == "beach":
        d.rectangle((0, 0, SIZE, HORIZON - 8), fill=(150, 205, 245))
        d.rectangle((0, HORIZON - 8, SIZE, HORIZON + 4), fill=(30, 110, 180))
        d.rectangle((0, HORIZON + 4, SIZE, SIZE), fill=(235, 210, 150))
    else:  # snow
        d.rectangle((0, 0, SIZE, HORIZON), fill=(185, 190, 200))
        d.rectangle((0, HORIZON, SIZE, SIZE), fill=(248, 248, 252))
        for _ in range(10):
            x, y = rng.randrange(SIZE), rng.randrange(HORIZON)
            d.point((x, y), fill=(255, 255, 255))


def _draw_thing(d: ImageDraw.ImageDraw, t: Thing, rng: random.Random) -> None:
    s = 1.0 if t.size == "large" else 0.7
    cx = 11 + t.slot * 21 + rng.randint(-2, 2)
    base = SIZE - 4 - rng.randint(0, 3)
    col = RGB[t.color] if t.color else None

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return (int(cx + x0 * s), int(base + y0 * s), int(cx + x1 * s), int(base + y1 * s))

    if t.kind == "car":
        assert col is not None  # cars and dogs always have a colour (KIND_COLORS)
        d.rectangle(box(-10, -10, 10, -3), fill=col)
        d.rectangle(box(-6, -15, 5, -10), fill=_shade(col, 0.8))
        d.rectangle(box(-4, -14, 3, -11), fill=(180, 220, 250))
        d.ellipse(box(-8, -5, -3, 0), fill=(25, 25, 25))
        d.ellipse(box(3, -5, 8, 0), fill=(25, 25, 25))
    elif t.kind == "house":
        d.rectangle(box(-9, -16, 9, 0), fill=col)
        d.polygon([box(-11, -16, 0, 0)[:2], box(0, -26, 0, 0)[:2], box(11, -16, 0, 0)[:2]], fill=(120, 40, 30))
        d.rectangle(box(-2, -7, 2, 0), fill=(90, 55, 25))
        d.rectangle(box(-7, -13, -3, -9), fill=(180, 220, 250))
    elif t.kind == "tree":
        d.rectangle(box(-2, -10, 2, 0), fill=(110, 70, 30))
        d.ellipse(box(-9, -28, 9, -8), fill=(20, 120, 30))
    elif t.kind == "person":
        d.ellipse(box(-3, -26, 3, -20), fill=(240, 200, 160))
        d.rectangle(box(-4, -20, 4, -9), fill=col)
        d.rectangle(box(-4, -9, -1, 0), fill=(40, 40, 90))
        d.rectangle(box(1, -9, 4, 0), fill=(40, 40, 90))
    elif t.kind == "dog":
        assert col is not None
        d.ellipse(box(-8, -10, 6, -3), fill=col)
        d.ellipse(box(4, -14, 10, -8), fill=col)
        for x in (-6, -3, 2, 4):
            d.rectangle(box(x, -4, x + 1.5, 0), fill=_shade(col, 0.7))
        d.line([box(-8, -8, 0, 0)[:2], box(-12, -13, 0, 0)[:2]], fill=col, width=2)
    elif t.kind == "boat":
        wy = HORIZON - 2
        d.polygon(
            [(cx - 10 * s, wy - 5 * s), (cx + 10 * s, wy - 5 * s), (cx + 6 * s, wy + 1), (cx - 6 * s, wy + 1)], fill=col
        )
        d.line([(cx, wy - 5 * s), (cx, wy - 20 * s)], fill=(60, 40, 20), width=1)
        d.polygon([(cx + 1, wy - 19 * s), (cx + 1, wy - 7 * s), (cx + 9 * s, wy - 7 * s)], fill=(250, 250, 250))
    elif t.kind == "balloon":
        bx, by = 10 + t.slot * 22, 8 + rng.randint(0, 6)
        d.ellipse((bx - 4, by - 5, bx + 4, by + 5), fill=col)
        d.line([(bx, by + 5), (bx + 1, by + 14)], fill=(60, 60, 60))
    elif t.kind == "sun":
        sx = 9 if t.slot == 0 else 54
        d.ellipse((sx - 6, 3, sx + 6, 15), fill=(255, 215, 0))


def render(scene: Scene) -> Image.Image:
    """Draw a scene as a SIZE x SIZE RGB image (deterministic for a scene)."""
    rng = random.Random(scene.id * 7919 + len(scene.things))
    img = Image.new("RGB", (SIZE, SIZE))
    d = ImageDraw.Draw(img)
    _draw_background(d, scene.background, rng)
    # sky things first, then ground things back to front (small ones are farther away)
    order = sorted(scene.things, key=lambda t: (t.kind in GROUND_KINDS + ("boat",), t.size == "large"))
    for t in order:
        _draw_thing(d, t, rng)
    return img


def png_bytes(scene: Scene) -> bytes:
    """The scene rendered (render) as PNG file bytes: SIZE x SIZE (64 x 64) RGB pixels, deterministic."""
    buf = io.BytesIO()
    render(scene).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


# --- language --------------------------------------------------------------------------


def thing_phrase(t: Thing, rng: random.Random | None = None, with_size: bool = False) -> str:
    """'a red car', 'a person in a blue shirt', 'a tree', 'the sun'."""
    if t.kind == "sun":
        return "the sun"
    size = ""
    if with_size and rng is not None and rng.random() < 0.4:
        size = ("big " if t.size == "large" else "small ") if t.kind != "balloon" else ""
    if t.kind == "person":
        if t.color is None:
            return "a person"
        shirt = rng.choice(("shirt", "top", "jacket")) if rng else "shirt"
        return f"a {size}person in a {t.color} {shirt}" if rng else f"a person in a {t.color} shirt"
    words = " ".join(w for w in (size.strip(), t.color, t.kind) if w)
    return ("an " if words[0] in "aeiou" else "a ") + words


def caption(scene: Scene, rng: random.Random) -> str:
    """One natural training caption of a scene (all or some things; never a negation)."""
    things = list(scene.things)
    rng.shuffle(things)
    if len(things) > 1 and rng.random() < 0.3:
        things = things[: rng.randint(1, len(things) - 1)]
    parts = [thing_phrase(t, rng, with_size=True) for t in things]
    if len(parts) == 1:
        objs = parts[0]
    else:
        joiner = rng.choice((" and ", " next to ", " with ", ", "))
        objs = joiner.join(parts) if joiner != ", " else ", ".join(parts[:-1]) + " and " + parts[-1]
    bg = rng.choice(BACKGROUND_PHRASES[scene.background]) if rng.random() < 0.8 else ""
    form = rng.random()
    if form < 0.35:
        text = f"{objs} {bg}"
    elif form < 0.6:
        text = f"a photo of {objs} {bg}"
    elif form < 0.8 and bg:
        text = f"{bg}, {objs}"
    else:
        text = f"a picture showing {objs} {bg}"
    return " ".join(text.split())
