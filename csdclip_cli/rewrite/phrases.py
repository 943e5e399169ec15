"""How a NOT item is worded for the text encoder.

"no dogs" excludes any single dog, and CLIP embeds bare plurals and bare nouns poorly, so
an English NOT item is embedded as a singular indefinite noun phrase: "dogs" -> "a dog",
"brown dogs" -> "a brown dog", "people" -> "a person". Items with their own determiner
and non-English items are left as they are. The plan keeps the user's words.
"""

from __future__ import annotations

import re

IRREGULAR = {
    "people": "person",
    "men": "man",
    "women": "woman",
    "children": "child",
    "mice": "mouse",
    "geese": "goose",
    "feet": "foot",
    "teeth": "tooth",
    "kids": "kid",
    "sheep": "sheep",
    "fish": "fish",
}
DETERMINERS = re.compile(r"^(?:a|an|the|any|some|one|two|three|his|her|their|my|this|that)\s", re.IGNORECASE)


def singular(word: str) -> str:
    """The singular of an English noun by IRREGULAR and suffix rules ('dogs' -> 'dog', 'boxes' -> 'box',
    'berries' -> 'berry', 'people' -> 'person'); a word no rule fits is returned as it is."""
    w = word.lower()
    if w in IRREGULAR:
        return IRREGULAR[w]
    if len(w) > 4 and w.endswith("ies"):
        return word[:-3] + "y"
    if len(w) > 4 and w.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def exclusion_phrase(item: str) -> str:
    """A NOT item as it is embedded: an English item without a determiner becomes a singular
    indefinite phrase ('brown dogs' -> 'a brown dog', last word made singular); an item with a
    determiner, a non-ASCII item or an empty one is returned stripped."""
    item = item.strip()
    if not item or not item.isascii() or DETERMINERS.match(item):
        return item
    words = item.split()
    words[-1] = singular(words[-1])
    text = " ".join(words)
    return ("an " if text[0].lower() in "aeiou" else "a ") + text
