"""Chinese clause splitting with jieba's part-of-speech tagger (its bundled dictionary; no
network), the Chinese side of "keep the subject in each clause":

    一个穿蓝色外套的男人在车站等车 -> 一个穿蓝色外套的男人 / 一个男人在车站 / 一个男人等车
    一只猫在沙发上睡觉             -> 一只猫在沙发上 / 一只猫睡觉
    一个男人骑自行车                -> 一个男人骑自行车            (one fact: kept whole)

A chunk is split when it states two or more facts about its subject: a 的-modifier, a place
phrase (在 + noun + localizer), an action. jieba loads lazily (about 0.7 s, once per process).
"""

from __future__ import annotations

import re
from functools import lru_cache

Token = tuple[str, str]  # (word, jieba flag)

PLACE_PREPOSITIONS = {"在", "于", "从", "到", "沿着", "靠近"}
# one-character verbs jieba may tag as nouns after 在 (在骑自行车: 骑/n): the progressive, not a place
ACTION_CHARACTERS = set("骑开吃喝玩看拿抱推拉踢打弹画写读遛追")
QUANTIFIER_FLAGS = {"m", "q", "mq"}


@lru_cache(maxsize=1)
def _posseg():  # noqa: ANN202 - jieba.posseg, imported lazily
    import logging

    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict" chatter on stderr
    return jieba.posseg


def tag(text: str) -> list[Token]:
    """jieba's (word, part-of-speech flag) tokens; they concatenate back to `text`."""
    return [(t.word, t.flag) for t in _posseg().cut(text)]


def _noun(flag: str) -> bool:
    return flag.startswith("n") or flag in ("s", "ng")


def _verb(flag: str) -> bool:
    return flag.startswith("v") or flag == "zg"  # jieba tags 穿 / 戴 as zg


def _text(tokens: list[Token]) -> str:
    return "".join(w for w, _ in tokens)


def predicate_parts(tokens: list[Token]) -> list[list[Token]]:
    """The facts of a predicate: place phrases (在车站, 在沙发上) and actions (等车, 喂鸽子);
    a verb keeps its own place complement (停在路边, 坐在长椅上), and 在 + verb is the
    progressive (在跳舞), not a place."""
    parts: list[list[Token]] = []
    cur: list[Token] = []
    i = 0
    while i < len(tokens):
        word, flag = tokens[i]
        if (
            word in PLACE_PREPOSITIONS
            and i + 1 < len(tokens)
            and _noun(tokens[i + 1][1])
            and tokens[i + 1][0] not in ACTION_CHARACTERS
        ):
            j = i + 2
            if j < len(tokens) and tokens[j][1] == "f":  # localizer: 上 / 里 / 下面 ...
                j += 1
            if cur and _verb(cur[-1][1]):
                parts.append(cur + tokens[i:j])
            else:
                if cur:
                    parts.append(cur)
                parts.append(tokens[i:j])
            cur = []
            i = j
            continue
        if _verb(flag) and any(_verb(f) for _, f in cur) and any(_noun(f) or f == "f" for _, f in cur):
            parts.append(cur)  # a second action after a complete one (坐在长椅上 | 喂鸽子)
            cur = []
        cur.append(tokens[i])
        i += 1
    if cur:
        parts.append(cur)
    return parts


def split_chunk(chunk: str) -> list[str]:
    """The clauses of one chunk (no commas or 和 inside): the chunk itself when it states one fact."""
    tokens = tag(chunk)
    i = 0
    while i < len(tokens) and tokens[i][1] in QUANTIFIER_FLAGS:
        i += 1
    quantifier = tokens[:i]
    de = next((k for k in range(i, len(tokens)) if tokens[k][0] == "的"), None)
    modifier: list[Token] = []
    if de is not None and de + 1 < len(tokens) and _noun(tokens[de + 1][1]):
        j = de + 1
        while j < len(tokens) and _noun(tokens[j][1]):
            j += 1
        modifier, head, predicate = tokens[i:de], tokens[de + 1 : j], tokens[j:]
        full = tokens[:j]
    else:
        j = i
        while j < len(tokens) and (_noun(tokens[j][1]) or (j > i and tokens[j][1] == "f")):
            j += 1
        if j == i:
            return [chunk]
        head, predicate = tokens[i:j], tokens[j:]
        full = tokens[:j]
    parts = predicate_parts(predicate) if predicate else []
    if len(parts) + (1 if modifier else 0) < 2:
        return [chunk]
    core = _text(quantifier + head)
    return ([_text(full)] if modifier else []) + [core + _text(p) for p in parts]


EXISTENTIAL = re.compile(r"^(.+?有)")


def _thing(chunk: str) -> bool:
    """A chunk that names things only (一只狗, 一本书, 一个穿红衣服的女孩, laptop): it ends in a
    noun and says neither where nor what it does."""
    tokens = tag(chunk)
    de = max((k for k, (w, _) in enumerate(tokens) if w == "的"), default=-1)
    return (
        bool(tokens)
        and (_noun(tokens[-1][1]) or tokens[-1][1] in ("r", "eng"))  # jieba reads 一本书 as 一 / 本书 (r)
        and not any(f == "p" or w in PLACE_PREPOSITIONS for w, f in tokens)
        and not any(_verb(f) for _, f in tokens[de + 1 :])  # 穿红衣服的女孩: a verb inside the 的-modifier only
    )


PLACE_TAIL = re.compile(r"在[^在]{1,6}?(?:上面|里面|下面|前面|后面|外面|对面|旁边|附近|上|里|中|下|内|边|旁|外|前|后)")


# people and animals (how their words end): they share an action too, where things share only a place
ANIMATE_ENDINGS = (
    "人", "孩", "孩子", "男孩", "女孩", "宝宝", "妈妈", "爸爸", "爷爷", "奶奶", "朋友", "学生", "老师", "同学", "先生",
    "女士", "狗", "猫", "鸟", "马", "牛", "羊", "兔", "兔子", "猴", "猴子", "熊", "熊猫", "鸭", "鸭子", "鹅", "鸡",
    "狮子", "老虎", "大象", "鹿", "猪", "狐狸", "松鼠",
)  # fmt: skip
PROGRESSIVE_TAIL = re.compile(r"在(?=[^在]+$)")  # 在跳舞 / 在河边玩: from 在 to the chunk's end


def _animate(chunk: str) -> bool:
    return chunk.endswith(ANIMATE_ENDINGS)


SCENERY = ("月亮", "太阳", "天空", "蓝天", "白云", "星星", "彩虹", "云", "夕阳", "日落", "日出", "山", "雪山")


def _takes(thing: str, tail: str) -> bool:
    """Whether `thing` may take the place or action `tail` said of the thing after it: not a
    thing the place is named after (一棵树和一个男人在树下) or the sky (月亮和一个人在桥上)."""
    tokens = tag(thing)
    head = tokens[-1][0] if tokens else thing
    return head[-1:] not in tail and not thing.endswith(SCENERY)


def distribute_place(chunks: list[str], joined: list[bool] | None = None) -> list[str]:
    """一只狗和一只猫在草地上: the things named just before a chunk with a place (在草地上) are
    there too (the place was the last one's only). People and animals share what they do as
    well (一个男孩和一只狗在河边玩, 一个女孩和一个男孩在跳舞); things only the place: in
    一辆车和一个男孩在路边玩 the car does not play."""
    out = list(chunks)
    linked = joined if joined is not None else [True] * len(chunks)  # linked[k]: chunk k follows a 和
    for i in range(len(out) - 1, 0, -1):
        m = PLACE_TAIL.search(out[i])
        act = PROGRESSIVE_TAIL.search(out[i])
        animate = bool(act and act.start() > 0 and _thing(out[i][: act.start()]) and _animate(out[i][: act.start()]))
        # a place followed by what an inanimate thing does is that thing's (一只风筝在天上飞: not the boy's)
        if not animate and (not m or m.start() == 0 or m.end() < len(out[i]) or not _thing(out[i][: m.start()])):
            continue
        j = i - 1
        while j >= 0 and linked[j + 1] and _thing(out[j]):
            if animate and act is not None and _animate(out[j]):
                tail = out[i][act.start() :]
            else:
                tail = m.group(0) if m else ""
            if tail and _takes(out[j], tail):
                out[j] += tail
            j -= 1
    return out


def distribute_existential(chunks: list[str]) -> list[str]:
    """桌子上有电脑和咖啡: the chunks after 'X有 ...' that are bare nouns take the 'X有' prefix
    (桌子上有电脑 / 桌子上有咖啡)."""
    out: list[str] = []
    prefix = None
    for c in chunks:
        if prefix and _thing(c) and "的" not in c:
            out.append(prefix + c)
            continue
        m = EXISTENTIAL.match(c)
        prefix = m.group(1) if m else None
        out.append(c)
    return out
