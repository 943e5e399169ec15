"""How a NOT item is worded for the text encoder.

"no dogs" excludes any single dog, and CLIP embeds bare plurals and bare nouns poorly, so
an English NOT item is embedded as a singular indefinite noun phrase: "dogs" -> "a dog",
"brown dogs" -> "a brown dog", "people walking" -> "a person walking". What no article fits
is left as it is: an item with its own determiner ("other people", "something red"), a mass
noun ("water", "dirty snow"), a plural-only noun ("jeans"), a bare property ("sunny") and
non-English items. The plan keeps the user's words.
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
    "deer": "deer",
    "buses": "bus",
    "knives": "knife",
    "wives": "wife",
    "lives": "life",
    "leaves": "leaf",
    "wolves": "wolf",
    "halves": "half",
    "scarves": "scarf",
    "shelves": "shelf",
    "loaves": "loaf",
    "calves": "calf",
    "thieves": "thief",
    "cacti": "cactus",
}
# singular nouns that end like plurals
INVARIANT = {"gas", "canvas", "atlas", "bias", "lens", "news", "series", "species", "chaos", "christmas", "texas"}
# nouns used only in the plural: no article, and no singular ("a jean")
PLURAL_ONLY = {"jeans", "trousers", "pants", "shorts", "scissors", "glasses", "sunglasses", "clothes", "stairs"}
# mass nouns: "a water" and "a snow" are not English, and CLIP reads them worse than the noun
MASS = {
    "water", "snow", "rain", "grass", "sand", "fog", "mist", "smoke", "steam", "text", "writing", "graffiti",
    "furniture", "traffic", "food", "hair", "sunlight", "sunshine", "light", "darkness", "clothing", "luggage",
    "jewelry", "jewellery", "money", "milk", "coffee", "tea", "juice", "wine", "beer", "ice", "mud", "dust",
    "fire", "scenery", "wildlife", "equipment", "foliage", "vegetation", "rice", "bread", "meat", "cheese",
    "soup", "sugar", "salt", "wood", "metal", "plastic", "concrete", "lightning", "blood", "oil", "paint",
    "makeup", "garbage", "trash", "litter", "rubbish", "debris", "laundry", "snowfall", "sky", "weather",
}  # fmt: skip
# properties said alone ("never sunny", "not red"): they take no article
PROPERTIES = {
    "red", "blue", "green", "yellow", "white", "black", "purple", "orange", "brown", "pink", "grey", "gray",
    "sunny", "cloudy", "rainy", "snowy", "foggy", "windy", "stormy", "dark", "bright", "blurry", "empty",
    "crowded", "busy", "wet", "dry", "open", "closed", "broken", "new", "old", "clean", "dirty", "lit",
}  # fmt: skip
DETERMINERS = re.compile(
    r"^(?:a|an|the|any|some|one|two|three|his|her|their|my|this|that|these|those|other|another|no|each|every|"
    r"all|both|several|many|few|more|something|anything|everything|nothing|someone|anyone|everyone|somebody|"
    r"anybody|everybody|nobody)(?=\s|$)",  # not "one-way signs"
    re.IGNORECASE,
)
# where the noun phrase ends: a preposition, a relative pronoun or a participle after the noun
PHRASE_END = re.compile(
    r"^(?:in|on|at|by|with|under|near|behind|beside|inside|outside|above|below|next|from|of|for|over|"
    r"that|which|who|wearing|holding|carrying|\w{3,}ing)$",
    re.IGNORECASE,
)
# -ing words that are nouns, not participles (the rules read participles as actions)
ING_NOUNS = {
    "building",
    "ceiling",
    "clothing",
    "king",
    "ring",
    "thing",
    "something",
    "nothing",
    "anything",
    "everything",
    "evening",
    "morning",
    "spring",
    "wedding",
    "string",
    "painting",
    "sibling",
    "pudding",
    "swing",
    "wing",
    "awning",
    "railing",
    "sing",
    "bring",
    "ding",
    "sling",
    "sting",
    "icing",
}


def singular(word: str) -> str:
    """The singular of an English noun by IRREGULAR and suffix rules ('dogs' -> 'dog', 'boxes' -> 'box',
    'berries' -> 'berry', 'people' -> 'person', 'knives' -> 'knife'); a word no rule fits, a
    singular that ends in -s ('bus', 'gas', 'lens') and a plural-only noun ('jeans') are returned as they are."""
    w = word.lower()
    if w in IRREGULAR:
        return IRREGULAR[w]
    if w in INVARIANT or w in PLURAL_ONLY:
        return word
    if len(w) > 4 and w.endswith("ies"):
        return word[:-3] + "y"
    if len(w) > 4 and w.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def noun_phrase_end(words: list[str]) -> int:
    """How many words the noun phrase at the start of `words` has: up to a preposition, relative
    pronoun or participle after the first word ('people walking on a road' -> 1)."""
    for i in range(1, len(words)):
        if PHRASE_END.match(words[i]) and words[i].lower() not in ING_NOUNS:
            return i
    return len(words)


def exclusion_phrase(item: str) -> str:
    """A NOT item as it is embedded: an English item without a determiner becomes a singular
    indefinite phrase ('brown dogs' -> 'a brown dog', 'cars on the street' -> 'a car on the
    street'; the noun is the last word before a preposition, relative pronoun or participle).
    An item with a determiner, a mass or plural-only noun, only properties ('sunny'), a
    non-ASCII item or an empty one is returned stripped."""
    item = item.strip()
    if not item or not item.isascii() or DETERMINERS.match(item):
        return item
    words = item.split()
    n = noun_phrase_end(words)
    head = words[n - 1].lower()
    if head in MASS or head in PLURAL_ONLY or all(w.lower() in PROPERTIES for w in words):
        return item
    if n < len(words) and words[n].lower() in ("that", "which", "who"):
        return item  # "dogs that bark": the verb agrees with the plural ("a dog that bark")
    words[n - 1] = singular(words[n - 1])
    text = " ".join(words)
    return f"{indefinite_article(text)} {text}"


# spelling is not sound: "a uniform", "a one-way sign", "an hour"
VOWEL_LETTER_CONSONANT_SOUND = re.compile(r"^(?:uni|use|usu|ute|uk|ur[aeiou]|eu|ewe|one\b|once)", re.IGNORECASE)
SILENT_H = re.compile(r"^(?:hour|honest|honou?r|heir)", re.IGNORECASE)


def indefinite_article(phrase: str) -> str:
    """'a' or 'an' for an English phrase, by its first word's sound as far as common spellings
    tell it ('an umbrella', 'a uniform', 'an hour', 'a one-way sign')."""
    if SILENT_H.match(phrase):
        return "an"
    if phrase[:1].lower() in "aeiou" and not VOWEL_LETTER_CONSONANT_SOUND.match(phrase):
        return "an"
    return "a"
