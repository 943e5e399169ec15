"""The rule-based rewriter: no model, instant, deterministic, English and Chinese.

1. Negations ("no X", "without X", "not wearing X", "but no X", "except X", "excluding X",
   "with no X", "a car that isn't red", "neither X nor Y", "leave out X"; 没有 / 不要 / 不含 /
   无 / 不带 / 不穿 ...) become NOT clauses and are cut from the query; an action or time after
   a negation inside the sentence stays ("a man without a hat walking in the rain"), and so
   does the place of a query that only excludes ("no cars on the street": "the street").
   What is left is the optimized phrase.
2. The optimized phrase is split at commas and conjunctions into chunks; "X or Y" and "X, Y
   or Z" become an OR group. Alternatives inside a fact take the words before them ("a man in
   a red or blue shirt", "a cat on a sofa, a chair or a bed", "a dog sleeping or eating").
3. A chunk with several modifiers keeps its head subject in each clause:
   "a woman in a green dress dancing" -> "a woman in a green dress", "a woman dancing".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import replace

from csdclip_cli.rewrite.phrases import (
    ING_NOUNS,
    IRREGULAR,
    MASS,
    PLURAL_ONLY,
    PROPERTIES,
    indefinite_article,
    singular,
)
from csdclip_cli.rewrite.plan import Plan, require_query

DETERMINERS = {
    "a",
    "an",
    "the",
    "one",
    "two",
    "three",
    "four",
    "five",
    "some",
    "several",
    "many",
    "his",
    "her",
    "their",
    "its",
    "my",
    "this",
    "that",
    "these",
    "those",
}
STRIP_DET = re.compile(r"^(?:any|a|an|the|some)\s+", re.IGNORECASE)
# multi-word prepositions first, so "in front of" is one boundary and not three
WITH_OWNED = "with\x04"  # "with" after a person or an animal: what they have, not a second clause
PREPOSITIONS = [
    "in front of",
    "on top of",
    "in the middle of",
    "close to",
    "next to",
    "in",
    "on",
    "at",
    "under",
    "near",
    "behind",
    "beside",
    "by",
    "inside",
    "outside",
    "above",
    "below",
    "across",
    "along",
    "over",
    "through",
    "against",
    "into",
    "onto",
    "wearing",
    "holding",
    "carrying",
    "during",
    WITH_OWNED,
    "among",
    "around",
]
ADJECTIVES = {
    "red",
    "blue",
    "green",
    "yellow",
    "white",
    "black",
    "purple",
    "orange",
    "brown",
    "pink",
    "grey",
    "gray",
    "big",
    "small",
    "large",
    "tiny",
    "old",
    "young",
    "tall",
    "short",
    "dark",
    "light",
}
_COUNT = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|twenty|\d+)"
COUNT_OR = re.compile(rf"\b({_COUNT})\s+or\s+({_COUNT})\b", re.IGNORECASE)
ACTION_WITH = re.compile(
    r"\b([a-z]{3,}ing|filled|covered|decorated|topped|lined|loaded|packed|littered|dotted|surrounded)\s+with"
    r"(?=\s+(?!(?:no|nothing|none|any|zero|out)\b)\w)",
    re.IGNORECASE,
)
ADJ_PAIR = re.compile(rf"\b({'|'.join(sorted(ADJECTIVES))}) and ({'|'.join(sorted(ADJECTIVES))})\b", re.IGNORECASE)
# Verbs whose prepositional complement is a relation to an object, kept with them: "a bicycle
# leaning against a wall". Other actions split from their place, as in the original project's
# annotations ("a woman dancing in front of City Hall" -> "a woman dancing", "a woman in front
# of City Hall").
POSTURE = {"leaning", "hanging", "perched", "propped", "attached", "tied", "mounted", "stacked", "balanced"}
# actions whose preposition leads their object, not a place: "a dog looking at the camera" (not
# "a dog at the camera"); "jumping in a studio" is a place
COMPLEMENTS = {
    ("looking", "at"), ("looking", "through"), ("looking", "into"), ("looking", "outside"), ("looking", "over"),
    ("staring", "at"), ("gazing", "at"), ("gazing", "into"), ("pointing", "at"), ("waving", "at"),
    ("jumping", "into"), ("jumping", "over"), ("jumping", "onto"), ("diving", "into"), ("talking", "on"),
    ("peeking", "through"), ("peeking", "into"), ("peering", "through"), ("peering", "into"), ("climbing", "over"),
}  # fmt: skip
CHUNK_SEPARATORS = re.compile(
    r"\s*[;,]\s*|\s+(?:and|with|next to|beside|alongside|as well as|plus|together with|but|while)\s+", re.IGNORECASE
)
# past participles not in -ed ("a chair not made of wood", "jeans not torn")
NOT_ED = {"made", "built", "woven", "cut", "hidden", "caught", "stuck", "lit", "broken", "torn", "frozen", "worn"}
NOT_ED |= {"drawn", "written", "sewn", "held", "hung"}
NEGATION = re.compile(
    r"(?:,\s*)?\b(?:(?:but|and)\s+)?(?:"
    r"with\s+no|without(?:\s+any)?|not\s+(?:wearing|holding|carrying|having|with)|not\s+any|none\s+of|no|"
    r"except(?:\s+for)?|(?:please\s+)?exclud(?:e|ing)|but\s+not|there\s+(?:should\s+be|is|are)\s+no|"
    r"there\s+(?:should\s*(?:not|n'?t)\s+be|(?:is|are)\s*(?:not|n'?t))(?:\s+any)?|"
    r"(?:do\s+not|don'?t)\s+(?:want|wish)\s+to\s+see(?:\s+any)?|"
    # "not at night", "a bird not flying", "not a dog": a place, an action or a thing
    # (or a participle not in -ed: "a chair not made of wood")
    r"not(?=\s+(?:at|in|on|under|during)\s|\s+(?!including\b)\w{2,}ing\b|\s+(?:a|an|the|one)\b|\s+[a-z]{3,}ed\b"
    rf"|\s+(?:{'|'.join(sorted(NOT_ED))})\b)|"
    r"isn'?t|aren'?t|never|free\s+of|minus|(?-i:sans)(?!\s*-?\s*serif)|"
    r"lacking|other\s+than|rather\s+than|instead\s+of|apart\s+from(?!\s+(?:that|this|it)\b)|zero|"
    r"(?<=,\s)not|(?<=,)not|(?<=but\s)not|"
    # "not" before a colour or size after a word ("a dog that is not black and not big", "a tree not
    # orange") or alone ("not blue"): it was wanted, "not" and all
    rf"(?:(?<=[a-z]\s)|^)not(?=\s+(?:{'|'.join(sorted(ADJECTIVES | {'big', 'small', 'wet', 'dry', 'old', 'new'}))})\b)|leav(?:e|ing)\s+out|omit(?:ting)?|avoid(?:ing)?|"
    r"(?:(?:do|did)\s+not|(?:don|didn)'?t)\s+(?:show|want|include|need|like)(?:\s+me)?|not\s+including"
    # "no photos with text", "I don't like pictures of cats": the photo is what is searched for
    r")(?:\s+(?:anything|something|any\w*|(?:any\s+)?(?:photos?|pictures?|images?|shots?|ones))"
    r"\s+(?:with|of|showing|containing|that\s+(?:has|have|show|shows)))?"
    r"(?:\s+(?:any\s+)?(?:signs?|traces?)\s+of)?\s+(?P<what>.+?"
    # "no dogs and cats", "without shoes or socks": a bare noun after and / or is excluded too
    r"(?:\s+(?:and|or)\s+(?!(?:a|an|the|some|two|three|his|her|no|not|without|any)\b)[\w-]+(?:\s+[\w-]+)?(?=\s*[,;.]|$))?)"
    r"(?=\s*[,;.]|\s+(?:and|but|while|with)\s+|$)",
    re.IGNORECASE,
)
NEITHER_NOR = re.compile(r"\bneither\s+(?P<first>.+?)\s+nor\s+", re.IGNORECASE)
# "excluding cars, bikes and buses", "without a stove and a fridge": every listed thing is
# excluded (the cut used to stop at the first comma or "and a", and the rest was wanted)
_LISTED = (
    r"(?!(?:no|not|without|nor)\b)(?:(?:a|an|the|any)\s+)?[A-Za-z-]+"
    r"(?:\s+(?!(?:and|or|in|on|at|with|near|under|by|for|from|of|to|is|are|but)\b)[A-Za-z-]+)?"
)
NEGATED_LIST = re.compile(
    r"\b(?P<cue>without(?:\s+any)?|excluding|except(?:\s+for)?|no|free\s+of|other\s+than|not\s+including|minus)\s+"
    rf"(?P<items>{_LISTED}(?:\s*,\s*{_LISTED})*)\s*,?\s+(?P<join>and|or)\s+(?P<last>{_LISTED})"
    r"(?=\s*[,;.]|$|\s+(?:on|in|at|under|near|inside|by)\s)",  # "no cars and trucks on the street"
    re.IGNORECASE,
)
# "no cat is on the bed", "neither the cat nor the dog is on the bed": the verb is no part of
# the excluded thing ("dog is"), and the place is where it is absent
NO_THING_IS = re.compile(
    r"(\bno\s+(?:the\s+)?[A-Za-z-]+)\s+(?:is|are|was|were)\s+"
    r"(?=(?:in|on|at|under|near|inside|outside|by|beside|behind)\b|[a-z]{3,}(?:ed|ing)\b)",
    re.IGNORECASE,
)
_ADJ = rf"(?:{'|'.join(sorted(ADJECTIVES))})"  # colours, sizes, ages
# "a car that is red or blue": two colours of the thing, as "a red or blue car" says it
PREDICATE_OR = re.compile(
    rf"\b(?P<det>(?:a|an|the)\s+)?(?P<noun>[A-Za-z-]+)\s+(?:that|which)\s+(?:is|are)\s+(?:either\s+)?"
    rf"(?P<a>{_ADJ})\s+or\s+(?P<b>{_ADJ})\b",
    re.IGNORECASE,
)
# "a red, blue or green balloon": alternatives listed with commas, each of them whole
COLOUR_LIST_OR = re.compile(
    rf"\b(?P<det>(?:a|an|the)\s+)?(?P<first>{_ADJ}(?:\s*,\s*(?:an?\s+)?{_ADJ})+)\s*,?\s+or\s+(?:an?\s+)?"
    rf"(?P<last>{_ADJ})"
    r"\s+(?P<noun>[A-Za-z-]+)",
    re.IGNORECASE,
)
OR_PUNCTUATED = re.compile(r"\s*[,;]?\s*\bor(?:\s*,?\s*\bor)*\s*[,;]?\s+(?=\S)", re.IGNORECASE)
NEITHER_ADJ = re.compile(
    rf"\bneither\s+(?P<a>{_ADJ})\s+nor\s+(?P<b>{_ADJ})\s+(?P<noun>(?!(?:and|or|on|in|at|with)\b)[A-Za-z-]+)",
    re.IGNORECASE,
)
NEITHER_PROPERTY = re.compile(rf"(?<=,\s)neither\s+(?P<a>{_ADJ})\s+nor\s+(?P<b>{_ADJ})(?=\s*[,;.]|$)", re.IGNORECASE)
# "cats, dogs, or birds", "geese, mice or sheep", "sleeping, eating or playing": a list of bare
# words ending in "or" (WORD_LIST_OR's check: plurals, or participles)
WORD_LIST_OR = re.compile(
    r"\b(?P<items>(?:[A-Za-z-]+\s*,\s*)+)(?P<last>[A-Za-z-]+)\s*,?\s+or\s+(?P<next>[A-Za-z-]+)\b", re.IGNORECASE
)
# "a cat, a dog or a rabbit": a list of short alternatives ending in "or"
_SHORT_NP = r"(?:a|an)\s+[A-Za-z-]+(?:\s+[A-Za-z-]+)?"
NOUN_LIST_OR = re.compile(
    rf"\b(?P<items>(?:{_SHORT_NP}\s*,\s*)+)(?P<last>{_SHORT_NP})\s*,?\s+or\s+"
    # the last one may be a bare plural or mass noun: "a hat, a scarf or gloves"
    r"(?=an?\b|(?!(?:the|no|not|without|nothing|any|some)\b)[A-Za-z-]+(?:\s*[,;.]|\s*$|\s+(?:in|on|at|near|under|by)\b))",
    re.IGNORECASE,
)
# A negated relative or predicate clause: "a car that isn't red", "a chef who is not wearing a
# hat", "a house that doesn't have a garden". The pronoun goes with the negation (it used to be
# left in the AND clause: "a car that"), and the forms are reduced to the cues NEGATION reads.
NEGATED_WEAR = re.compile(
    r"\s*\b(?:(?:that|who|which)\s+)?(?:(?:is|are|was|were)\s+not|isn'?t|aren'?t|wasn'?t|weren'?t)\s+"
    r"(?=(?:wearing|holding|carrying|having)\b)",
    re.IGNORECASE,
)
NEGATED_HAVE = re.compile(
    r"\s*\b(?:(?:that|who|which)\s+)?(?:does|do|did|has|have)\s*(?:not|n'?t)\s+(?:have|has|contain|wear)\b",
    re.IGNORECASE,
)
# "a baby that doesn't cry": as "a baby not crying" says it (have / wear / contain: NEGATED_HAVE)
DOES_NOT = re.compile(
    r"\s*\b(?:(?P<rel>that|who|which)\s+)?(?:does|do|did)\s*(?:not|n'?t)\s+"
    # "don't show me ...", "I don't want ..." ask the search, unless said of a thing ("a receipt that doesn't show the total")
    r"(?:(?!(?:show|want|wish|include|have|has|contain|wear|need|like|mind)\b)|(?<=that\sdoesn't\s)|(?<=which\sdoesn't\s)|(?<=that\sdoes\snot\s))"
    r"(?P<verb>[a-z]{2,})\b",
    re.IGNORECASE,
)
# "the hike where we didn't bring the dog", "the day I didn't wear my glasses": what the one
# taking the photos did not do is unseen; its object is what is missing ("bringing the dog" was
# the hike's). Verbs that ask the search ("I don't want") are NEGATION's.
# what is not in the picture, said of a short noun phrase right before it (not one that starts with a
# function word: "a street with [people] not in the frame")
OUT_OF_PICTURE = re.compile(
    r"(?<![\w'])(?P<x>(?:(?:the|my|our|his|her|their|a|an|any)\s+)?"
    r"(?!(?:with|and|but|or|of|in|on|at|where|that|who|which|is|are)\b)[a-z][\w'-]*)\s+"
    r"(?:(?:(?:is|are)\s+not|isn'?t|aren'?t|not)\s+(?:in\s+(?:the|this|my)\s+(?:frame|photo|picture|image|shot)|"
    r"visible|there|in\s+(?:it|them))|(?:(?:is|are)\s+)?out\s+of\s+(?:the\s+)?(?:frame|shot|picture)|"
    r"(?:does|do)\s*(?:not|n'?t)\s+appear)\b",
    re.IGNORECASE,
)
WE_DID_NOT = re.compile(
    r"(?P<intro>\s+(?:where|when|in\s+which|and|but))?\s+(?:i|we|you)\s+"
    r"(?:(?:did|do)\s*(?:not|n'?t)|can(?:'?t|not|\s+not)|could(?:n'?t|\s+not))\s+"
    r"(?!(?:show|want|wish|include|need|like|mind)\b)[a-z]{2,}(?=\s+(?:(?:the|a|an|my|our|your|his|her|their|any)\s|any(?:one|body|thing)\b))",
    re.IGNORECASE,
)
HAS_NO = re.compile(
    r"\s*\b(?:that|who|which)\s+(?:has|have)(?=\s+no\b)", re.IGNORECASE
)  # "a house that has no windows"
NEGATED_BE = re.compile(
    r"\s*\b(?:that|who|which)(?:\s+(?:is|are|was|were)\s+not|\s+isn'?t|\s+aren'?t|\s+wasn'?t|\s+weren'?t|'s\s+not)\b",
    re.IGNORECASE,
)
NOT_ONLY = re.compile(r"\bnot\s+only\s+", re.IGNORECASE)
# "not a cat but a dog": the dog is wanted, the cat is not (as in "a dog, not a cat")
NOT_X_BUT_Y = re.compile(
    r"^(?P<pre>.*?)\bnot\s+(?P<x>(?:(?:a|an|the)\s+)?[\w-]+(?:\s+[\w-]+)?)\s*,?\s+but\s+(?!also\b)(?P<y>[^,;.]+)",
    re.IGNORECASE,
)
# "a car that is not red but blue": a blue car, and not a red one
NOT_PROPERTY_BUT = re.compile(
    rf"\b(?:(?:a|an)\s+)?(?P<noun>[A-Za-z-]+)\s+(?:that|which|who)\s+(?:is|are|was|were)\s+not\s+(?P<x>{_ADJ})"
    rf"\s+but\s+(?P<y>{_ADJ})\b",
    re.IGNORECASE,
)
BUT_ALSO = re.compile(r"\bbut\s+also\b", re.IGNORECASE)
NOTHING_BUT = re.compile(
    r"\bnothing(?:\s+(?:on|in|inside|under|at)\s+(?:it|them|top|(?P<obj>(?:the|a|an)\s+[\w-]+)))?"
    r"\s+(?:but|except(?:\s+for)?|besides|apart\s+from|(?:other|else)\s+than)\s+",
    re.IGNORECASE,
)
# "nothing on the table": where nothing is, wanted; the absence itself is read by NOTHING
NOTHING_PLACE = re.compile(
    r"\bnothing\s+(?:on|in|inside|under|at)\s+(?P<obj>(?:it|them|top)\b|(?:the|a|an|this|that|my|our)\s+[^,;.]+?)"
    r"(?=\s*[,;.]|$)",
    re.IGNORECASE,
)
# "a cat that is neither black nor white": a negated property, read as "isn't black or white"
NEITHER_BE = re.compile(
    r"\s*\b(?:(?:that|who|which)\s+)?(?:is|are|was|were)\s+neither\s+(?P<first>[\w-]+)\s+nor\s+", re.IGNORECASE
)
# what a prohibition sign forbids ("no parking sign")
PROHIBITED = (
    "smoking", "parking", "swimming", "fishing", "trespassing", "entry", "littering", "camping", "diving",
    "stopping", "photography", "photos", "dogs", "pets", "u-turns?", "vaping", "skateboarding", "cycling", "hunting",
    "overtaking", "loitering", "food", "alcohol", "waiting", "bikes", "bicycles", "jumping", "running",
)  # fmt: skip
_TITLE_WORD = r"(?:[A-Z0-9][\w'’-]*|for|to|of|the|a|an|and|in|on|at|with)"
_TITLE_END = r"(?:\s*(?:[,;.]|$)|\s+(?:on|in|at|by|near|next\s+to|over|under|above|behind|hanging)\s+(?:a|an|the)\s)"
NAMED_NO = re.compile(
    r"\b(?:a|an|the)\s+no[\s-]|\b(?:says?|saying|reads?|reading|written|labell?ed|marked)\s+['\"“‘]?no\s|['\"“‘]no\s"
    # a prohibition sign is a thing: "a cafe with no smoking sign" (no "smoking sign" exists to
    # exclude; "no stop sign" or "no exit sign" do exclude one and are not listed)
    # (one sign: "no entry signs or cars" and "no smoking signs" exclude, as before)
    rf"|\bno[\s-](?=(?:{'|'.join(PROHIBITED)})[\s-]+(?:sign|zone|area|symbol|sticker|notice|signage)\b(?!\s+or\b))"
    # a title: "No Country for Old Men poster", "No Time to Die movie poster" (two or more
    # capitalised words, then one thing that bears the title; "No Nike logos", "No McDonald's
    # sign" and "no Dalmatians on the beach" still exclude)
    # (a title has a small word or three capitalised ones, and ends the clause: "No Coca Cola logo
    # on the truck" and "No Red Bull banner at the track" exclude)
    r"|(?-i:\bNo\s(?=[A-Z][\w'’-]*(?:(?:\s+[A-Z0-9][\w'’-]*)*\s+(?:for|to|of|the|a|an|and|in|on|at|with)\b"
    r"(?:\s+(?:[A-Z0-9][\w'’-]*|for|to|of|the|a|an|and|in|on|at|with))*|(?:\s+[A-Z0-9][\w'’-]*){2,})\s+"
    r"(?i:(?:movie\s+|film\s+|album\s+|book\s+)?(?:poster|cover|movie|film|book|album|logo|"
    r"title|t-?shirt|shirt|mug|banner|billboard|still|screenshot|concert)\b(?!s))\s*(?:[,;.]|$)))"
    # ... or after what bears it: "a poster of No Country for Old Men", "a book called No Logo Here"
    # (after "called", one capitalised word is a name: "a bar called No Name")
    r"|(?:\b(?:poster|cover|book|album|movie|film|dvd|still|screenshot|shirt|mug|banner)\s+(?:of|for|from)\s+"
    rf"(?-i:No\s(?=[A-Z][\w'’-]*(?:\s+{_TITLE_WORD})+{_TITLE_END}))"
    r"|\b(?:called|titled|named)\s+"
    rf"(?-i:No\s(?=[A-Z][\w'’-]*(?:\s+{_TITLE_WORD})*{_TITLE_END})))",
    re.IGNORECASE,
)
# "not a single person", "not even one car", "no more cats": the count words are not part of what is excluded
NOT_COUNT = re.compile(
    r"^(?:(?:not\s+)?even\s+)?(?:(?:a|one)\s+)?single\s+|^even\s+(?:one|a)\s+|^one\s+(?!of\b)|^more\s+(?!than\b)",
    re.IGNORECASE,
)
# "without anyone sitting on it": the person, as "nobody" gives it
ANYONE = re.compile(r"^(?:anyone|anybody|someone|somebody)\b", re.IGNORECASE)
# "no people at all", "no boats in sight": emphasis, not part of what is excluded
# "a vase with no flowers in it": "it" is the vase, already wanted
PRONOUN_PLACE = r"(?:in|on|inside|under|near|around)\s+(?:it|them)"
NOT_TAIL = re.compile(
    rf"\s+(?:at\s+all|in\s+sight|anywhere|whatsoever|in\s+view|visible|allowed|permitted|yet|anymore|{PRONOUN_PLACE})$",
    re.IGNORECASE,
)
# words after a participle that leave it with the excluded thing ("no people walking around")
ADVERBS = {"around", "about", "by", "past", "along", "nearby", "together", "away"}
PREDICATE_START = re.compile(r"\s*(?:not|no|never|isn'?t|aren'?t)\b", re.IGNORECASE)
# the cues that say what the noun before them is not ("isn't red", ", not white")
PREDICATE_CUE = re.compile(r"\b(?:isn'?t|aren'?t|wasn'?t|weren'?t|not|never)\s*$", re.IGNORECASE)
# What may be negated on its own as a property of the noun before it ("a balloon that isn't
# red" -> NOT "red balloon"): colours, sizes and a few states; past participles ("parked").
STATES = {"empty", "full", "open", "closed", "broken", "wet", "dry", "lit", "new", "clean", "dirty", "busy", "crowded"}
STATES |= PROPERTIES | {"messy", "tidy", "curly", "blonde", "blond", "bald", "shiny", "rusty", "muddy", "frozen", "long"}  # fmt: skip
# "nothing red" / "no one" / "nobody": the negated thing is implied, not named
NOTHING = re.compile(
    r"(?:,\s*)?\b(?:(?:but|and|with)\s+)?(?:"
    r"(?P<word>nothing)(?:\s+(?!(?:except|but|besides|on|in|at|else\s+than|other\s+than)\b)(?P<attr>[a-z-]+))?"
    r"|(?P<person>no\s+one|nobody|no-one)(?P<rest>(?:\s+[^\s,;.]+)*?)"
    r")(?=\s*[,;.]|\s+(?:and|but|while|with)\s+|$)",
    re.IGNORECASE,
)
COLOURS = {"red", "blue", "green", "yellow", "white", "black", "purple", "orange", "brown", "pink", "grey", "gray"}
# Carrier phrases and question forms: they say "find me an image", not what is in it.
CARRIER = re.compile(
    r"^(?:(?:please|pls|can\s+you|could\s+you|i\s*'?\s*m\s+looking\s+for|i\s+am\s+looking\s+for|looking\s+for|"
    r"i\s+want|i\s+need|i'?d\s+like|i\s+(?:really\s+)?(?:like|love)|show(?:\s+me)?|find(?:\s+me)?|give\s+me|get\s+me|search(?:\s+for)?|"
    r"(?:can|could|may)\s+(?:i|we)\s+(?:get|see|have|find)|let\s+me\s+see|"
    r"retrieve|is\s+there|are\s+there|there\s+(?:is|are)(?=\s+(?:an?|some|two|three|many|several)\s)|"
    r"do\s+(?:you|i|we)\s+have|have\s+(?:i|we)\s+got|"
    # "how many pictures do I have of the bridge", "the one where the cat is on the fridge"
    r"how\s+many\s+(?:images|photos|pictures|pics|shots)\s+(?:do|did)\s+(?:i|we|you)\s+(?:have|take|took)\s+of|"
    r"(?:the|that|this)\s+one\s+(?:where|in\s+which|that\s+shows|showing|with\x04?|of(?!\s+a\s+kind\b))|"
    r"where\s+(?:is|are)|where'?s)\s+)*"
    # "a beach scene with two boats": a scene named by a word before it is what is wanted
    # ("no photos with text" is no carrier: text is what is not wanted)
    r"(?:(?:(?:an?|the|some|any|all|this|that|these|those|my|our)\s+)?(?:(?:(?!(?:no|not|without|zero)\b)\w+\s+)?(?:images?|photos?|pictures?|pics?|"
    r"photographs?|shots?|snapshots?|frames?)|scenes?)\s+(?:(?:i|we)\s+(?:took|shot|saw|had|have)\s+)?(?:of|with|showing|that\s+shows?|where|in\s+which|containing|that\s+contains?|"
    r"featuring|depicting|including)\s+)?",
    re.IGNORECASE,
)
TIME_WORDS = re.compile(
    r"\b(at night|at sunset|at sunrise|at dusk|at dawn|in the (?:morning|evening|afternoon)|during the day|"
    r"in (?:winter|summer|spring|autumn|fall)|(?:1[89]|20)\d\d)\b",
    re.IGNORECASE,
)
PLACE = re.compile(r"\b(?:in front of|at|in|near|outside|inside)\s+((?:[A-Z][\w'-]*\s*){1,5})")

ZH_NEG = re.compile(
    r"(?P<sep>[，,、；;])?\s*(?:但是?|并且|而且|也|又|还|既)?\s*(?:没有|没|不要|不含|不包括|不带|不戴|不穿|(?<!是)不是|并非|并不是|不想要|不想|无|除了|排除|避免|别)"
    r"(?:给我看|让我看到?|给我)?(?P<verb>穿|戴|带|有|含|要|拍到|拍|出现|看到|见到|显示|[打撑](?=伞))?(?:任何|所有的?|全部的?)?(?P<what>(?!有(?:[，,、；;。]|$))[^，,、；;。和与及的]+?"
    # 不要狗和猫, 没有椅子、桌子和台灯, 除了猫和狗以外: the things listed to the end of the
    # clause (or to 以外) are excluded too
    r"(?:(?:(?:或者|[和与及或、])[^，,、；;。和与及的]{1,4}?)+(?=(?:以外|之外)|的?(?:[，,、；;。]|$)))?)(?:以外|之外)?"
    # after a clause, 不包括滑雪的人 excludes skiers (its 的人 was glued to the clause before); in
    # one, 一个没戴眼镜的男人 excludes the glasses, and the man is wanted
    r"(?(sep)(?:的(?P<head>[^，,、；;。和与及的]{1,4})(?=[，,、；;。]|$))?|)"
    r"(?=[，,、；;。的]|和|与|及|也|又|$|没有|不要|只有|只要)"  # 既没有狗也没有猫, 没有猫没有狗: each ends before the next
)
# "没有黑白相间的猫" at the start of a clause: a thing with a property is excluded, not the
# property alone (in "一只不是白色的兔子" the rabbit is wanted: not at a clause's start)
# a Chinese property: a colour (…色) or a common adjective
_ZH_POSE_VERB = r"(?:停|坐|站|躺|放|睡|蹲|挂|住)"  # the verb before 在 that says how a thing is placed
_ZH_POSE = _ZH_POSE_VERB + "?"
_ZH_PROPERTY = r"(?:[\u4e00-\u9fff]{1,3}色|黑白相间|黑白|大|小|长|短|新|旧|破|空|湿|脏|干净|高|矮|胖|瘦|年轻|老)"
ZH_NEG_PROPERTY = re.compile(
    r"(?:^|(?<=[，,、；;。]))\s*(?:但是?|并且|而且|也|又|还|既)?\s*(?P<cue>没有|不要|不含|不带|无|(?<!是)不是)"
    rf"(?P<what>{_ZH_PROPERTY}的(?P<thing>[^，,、；;。和与及的]{{1,5}}?))"
    # 没有红色的汽车停在路边: where the excluded thing would be stays behind
    rf"(?P<where>{_ZH_POSE}在[^，,、；;。]+)?(?=[，,、；;。]|$)"
)
# 海滩上除了沙子什么都没有: only sand, nothing excluded (as "nothing but sand")
ZH_ONLY = re.compile(
    r"除了(?P<what>[^，,、；;。]+?)(?:以外|之外)?[，,]?(?:什么|别的|其他的?|其它的?)(?:东西)?(?:都|也)(?:没有|没)"
)
ZH_OR_PUNCTUATED = re.compile(r"[，,、；;]\s*(或者|或是|还是|或)\s*[，,、]?")
# 草地上要么是猫要么是狗 / 汽车要么是红色要么是蓝色: the words before 要么 belong to both
ZH_EITHER = re.compile(
    r"(?P<pre>[^，,、；;。]*?)要么(?:是)?(?P<a>[^，,、；;。]+?)[，,]?要么(?:是)?(?P<b>[^，,、；;。]+)"
)
# 不是猫而是狗 / 不是猫，是狗: the second is wanted, the first is not
ZH_NOT_BUT = re.compile(
    r"(?P<pre>[^，,、；;。]*?)(?<!是)不是(?P<x>[^，,、；;。不也又]+?)[，,]?(?:而是|而|(?<!不)是)(?P<y>[^，,、；;。]+)"
)
# 除了猫以外没有别的动物: the cat is wanted; other animals are not
ZH_ONLY_OTHER = re.compile(
    r"除了(?P<what>[^，,、；;。]+?)(?:以外|之外)?[，,]?(?:都|也)?(?:没有|没)(?:别的|其他的?|其它的?)(?P<kind>[^，,、；;。的]*)"
    r"(?:的(?P<head>[^，,、；;。的]{1,4})(?=[，,、；;。]|$))?"  # ...的房间: the room is what is described
)
# a property negated alone (不是棕色): the thing it is said of is named after 的 or before it
ZH_PROPERTY = re.compile(rf"^{_ZH_PROPERTY}$")
ZH_MORE_PROPERTIES = re.compile(r"(?:(?:也|又|或者?|和|与)(?:不是|没有)?[^，,、；;。的]{1,4})*")
# 既没有红色的车也没有蓝色的车: two negations, each with its own thing, are two clauses
ZH_BOTH_NEG = re.compile(r"(既(?:没有|不是)[^，,、；;。也]*的[^，,、；;。也]+)(也(?:没有|不是))")
ZH_NOT_ONLY = re.compile(r"不(?:仅|但|只)(?:有|是)?")  # 不仅有一只猫还有一只狗: both wanted

ZH_CARRIER = re.compile(
    r"^(?:请|麻烦)?(?:帮我|给我|为我)?(?:搜索|查找|寻找|显示|看看|找|搜|来)(?:一下)?(?:一张|一些|几张|一幅)?"
    r"|^(?:我?想要|我想|我要|我需要|有没有)(?:找|看)?(?:一张|一些|几张)?|^(?:图片|照片|画面|图像)(?:中|里|上)(?:有)?"
    r"|^(?:请|麻烦)?(?:给我|让我)看(?:看|一下)?(?:一张|一些|几张|一幅)?"  # 给我看一张…的照片 (看书的女孩 keeps 看)
)
ZH_CARRIER_END = re.compile(r"的(?:图片|照片|图像|画面|图)[吗？?]*(?=[，,；;。]|$)|[吗？?]+$")
# 不仅有猫而且有狗: the 有 after 而且 is "there is", no part of the thing
ZH_SEPARATORS = re.compile(r"\s*[，,、；;]\s*|和|与|以及|及|还有|(?:并且|而且)(?:有|是)?|同时|但是|但")
ZH_OR = re.compile(r"或者|或是|还是|或")
CJK = re.compile(r"[\u4e00-\u9fff]")
NEUTRAL_EN, NEUTRAL_ZH = "a photo", "一张照片"  # the positive side of a query that only excludes


# words that say nothing about the image: "no dogs please", "people in the photo", "just mountains"
FILLER = re.compile(
    r"\s*(?<![^\s,])(?:please|pls|plz)\b|\s+\b(?:lol|lmao|haha|thx|thanks)\b(?=\s*[,.!?]*\s*$)"
    r"|\s+in\s+(?:the|this|my)\s+(?:photo|picture|image|shot|frame)\b"
    r"|(?:(?<=^)|(?<=,\s))(?:just|only)\s+(?!(?:one|two|three|a\s+few|\d+)\b)",  # not "only one person"
    re.IGNORECASE,
)


# How people start talking before they describe the image ("so I was thinking, maybe a dog on
# a beach", "ok so i'm looking for ...", "I think it was a woman in a red dress"): at the start or
# after a comma; it was a clause of its own ("so I was thinking") or the subject's first words
LEAD_IN = re.compile(
    r"(?:(?<=^)|(?<=,\s))"
    r"(?:(?:yes|yeah)\s*,\s*)?"  # with its comma only: "Yes Man poster" is a title
    r"(?:(?:so(?!\s+(?:many|much|few|little)\b)|ok|okay|well|hmm+|um+|uh+|er+|basically|honestly|anyway)\b[\s,]*)*"
    r"(?:(?:i|we)\s*(?:was|were|am|'m|have\s+been|'ve\s+been)\s+(?:thinking|wondering|hoping)\b[\s,]*)?"
    r"(?:(?:i|we)\s+(?:think|guess|believe|remember|recall)(?:\s+(?:it\s+was|there\s+was|that|seeing))?\b[\s,]*)?"
    r"(?:(?:maybe|perhaps|probably|possibly)\b[\s,]*)?"
    r"(?:something\s+like\s+)?",
    re.IGNORECASE,
)


def _strip_carrier(text: str) -> str:
    """'show me photos of a red car' -> 'a red car', also after a comma ('..., show me a
    street'), without LEAD_IN and FILLER words; the text itself when nothing is left."""
    rest = LEAD_IN.sub("", text).strip(" ,") or text
    rest = CARRIER.sub("", rest, count=1).rstrip(" ?")
    rest = re.sub(r"(?<=,\s)(?=\w)" + CARRIER.pattern.lstrip("^"), "", rest, flags=re.IGNORECASE)
    rest = FILLER.sub("", rest).strip(" ,")
    return rest if re.search(r"\w", rest) else text


# How _nothing_item words an implied absence: another rewriter names it in its own words
IMPLIED_ITEM = re.compile(r"^(?:a person\b|other (?:people|objects)\b|something\b|an object$|an? \w+ object$)")


RELATIONS = ("next to", "beside", "near", "behind", "in front of", "between", "by", "opposite", "across from")


def _its_thing(item: str, before: str) -> str:
    """`item` with a closing "it" named: the thing the query starts with ("park bench under a tree,
    nobody sitting on it" -> "a person sitting on the park bench"; "on it" alone was any image's)."""
    if not re.search(r"\s(?:on|in|inside|at|by|near|under|around)\s+it$", item, re.IGNORECASE):
        return item
    # the last part before it, when it names one thing: after "with", "and" or "next to" two are
    # named ("a kitchen with a table, nobody at it", "a dog next to a bench with nobody on it")
    part = re.split(r"\s*[,;]\s*", _strip_carrier(before).strip(" ,"))[-1]
    if not part or not part.isascii() or re.search(rf"\b(?:with|and|or|{'|'.join(RELATIONS)})\b", part, re.I):
        return item
    thing = split_subject(part)[0]
    owner = re.match(r"(?:my|our|his|her|their|your)\s", thing, re.IGNORECASE)
    return f"{item[:-2]}{thing if owner else 'the ' + _strip_det(thing)}"


def _nothing_item(m: re.Match) -> str:
    """What 'nothing red' / 'nothing small' / 'no one' / 'nobody on the street' exclude, as an
    embeddable phrase ('something red', 'a small object', 'a person', 'a person on the street')."""
    if m.group("person"):
        rest = (m.group("rest") or "").strip()
        if rest.lower().split()[:1] == ["else"]:  # "nobody else on the beach": other people
            return " ".join(["other people", *rest.split()[1:]])
        return f"a person {rest}" if rest else "a person"
    attr = m.group("attr")
    if not attr:
        return "an object"
    if attr.lower() == "else":
        return "other objects"
    return f"something {attr}" if attr.lower() in COLOURS else f"a {attr} object"


# plurals without an -s ("a flock of sheep, none of them white")
SAME_PLURALS = {
    "sheep",
    "deer",
    "fish",
    "people",
    "children",
    "men",
    "women",
    "mice",
    "geese",
    "cattle",
    "teeth",
    "feet",
}


def is_participle(word: str) -> bool:
    """Whether `word` is a participle ("parked", "broken": NOT_ED holds the irregular ones), a
    state of some thing rather than a thing."""
    w = word.lower()
    return len(w) > 4 and w.endswith("ed") or w in NOT_ED


def _is_property(word: str, participle: bool = True) -> bool:
    w = word.lower()
    return w in ADJECTIVES or w in STATES or (participle and is_participle(w))


# participles that describe a state with a complement: "covered in snow", "filled with tulips";
# they start a fact of their own and keep their preposition (as POSTURE verbs do)
ED_PARTICIPLES = {
    "covered", "filled", "surrounded", "wrapped", "dressed", "lined", "topped", "decorated", "painted", "parked",
    "framed", "soaked", "buried", "loaded", "packed", "littered", "dotted", "reflected", "tied", "chained", "locked",
    "made", "cut", "placed", "served", "shaded", "hidden", "caught", "trapped", "stuck", "lit",
    "built", "woven", "cast", "torn", "worn", "drawn", "written", "sewn", "held", "hung",
}  # fmt: skip


def _is_ed_participle(word: str) -> bool:
    """A past participle ('parked', 'covered'): ED_PARTICIPLES, or an -ed word that is no colour or state."""
    w = word.lower()
    return w in ED_PARTICIPLES or (len(w) > 4 and w.endswith("ed") and w not in ADJECTIVES and w not in STATES)


def _a_fact(words: list[str]) -> bool:
    """Whether a NOT item is a fact without its thing: a place ('in the water'), an action
    ('smiling') or a participle with its complement ('parked in a garage')."""
    if not words:
        return False
    if _modifier_start(words, 0) or (_is_participle(words, 0) and words[0].lower() not in ED_PARTICIPLES):
        return True
    return _with_complement(words)


# what a thing is made of: "made of wood" is one fact, as "covered in snow" is
MADE_OF = {"made", "built", "carved", "constructed", "formed", "woven", "knitted", "sculpted", "cast"}


def _with_complement(words: list[str]) -> bool:
    """Whether `words` start with a past participle and its complement ('parked in a garage',
    'covered with snow', 'made of wood')."""
    if len(words) < 2 or not _is_ed_participle(words[0]):
        return False
    after = words[1].lower()
    return bool(_modifier_start(words, 1)) or after in PARTICLES or (after == "of" and words[0].lower() in MADE_OF)


def _restates(tokens: list[str], before: str) -> bool:
    """Whether the first noun after the properties in `tokens` is the last word before the
    negation ('apples but not green apples')."""
    words = [t.lower() for t in tokens]
    i = next((j for j, w in enumerate(words) if not _is_property(w, participle=False)), len(words))
    last = re.findall(r"[A-Za-z][A-Za-z'-]*", before)
    return 0 < i < len(words) and bool(last) and singular(words[i]) == singular(last[-1].lower())


def _with_noun(what: str, before: str) -> str:
    """A negated property alone ('red', 'not parked') joined to the noun it is said of, the last
    word before the negation: ('red', 'a toddler with a balloon') -> 'red balloon'. Anything
    else, or no noun before it, is returned as it is."""
    words = what.split()
    ones = len(words) > 1 and words[-1].lower() in ("one", "ones")
    if ones:  # "not a black one": a black what
        words = words[:-1]
    if not words or len(words) > 3 or not all(_is_property(w) for w in words):
        return what
    what = " ".join(words)
    # a second predicate of a relative clause is said of its thing ("a dog that isn't on a leash and
    # isn't wet": a wet dog, not a wet leash)
    if said := re.match(
        r"(.*?)\s+(?:(?:that|which|who)\s+)?(?:is|are|was|were|isn'?t|aren'?t)\s", before.strip() + " "
    ):
        before = said.group(1)
    if ones:  # the thing the clause is about ("dogs in a park but not the black ones": black dogs, not parks)
        part = [p for p in re.split(r"\s*[,;]\s*|\s+but$", before.strip()) if p.strip()][-1:]
        before = split_subject(part[0])[0] if part else before
    nouns = re.findall(r"[A-Za-z][A-Za-z'-]*", before)
    if not nouns or nouns[-1].lower() in DETERMINERS or _modifier_start([nouns[-1]], 0) or _is_property(nouns[-1]):
        return what
    return f"{what} {nouns[-1]}"


DOER_DET = re.compile(r"a|an|the|two|three|some|several|many", re.IGNORECASE)
# a noun phrase after these is a place or a part, not a doer ("to": "next to", "close to")
OBJECT_OF = {p for p in PREPOSITIONS if p.isalpha() and not p.endswith("ing")} | {"of", "to", "from", "like", "between"}


def _doer(before: str) -> str:
    """The thing a relative clause is said of: the last noun phrase in `before`, after its last
    comma, "with" or "and" ("a portrait with a person" -> "a person"); "" when it neither starts
    with a determiner nor is a bare plural (then the query's head subject is the doer)."""
    last = re.split(r"\s*[,;]\s*|\s+(?:with\x04?|and)\s+", before.strip())[-1]
    # who a cut negation after "where" was said of: "the hike where we [didn't bring the dog]": no
    # thing did it; "a farm where the cows [are not ...]": the cows ("when it's not raining" reads on)
    said = WHERE_TAIL.search(f" {last}")
    if said and not re.match(r"(?:it|there)\b", said["who"], re.IGNORECASE):
        return "" if PRONOUN_ONLY.match(said["who"]) else said["who"]
    if re.fullmatch(r"[a-z]+", last) and singular(last) != last:  # "a street, cars that ..."
        return last
    words = last.split()
    # the object of an action ("a woman holding a baby that ..."), not of a preposition ("a
    # woman in a red dress who ...": the woman)
    starts = [
        i for i, w in enumerate(words) if DOER_DET.fullmatch(w) and (i == 0 or words[i - 1].lower() not in OBJECT_OF)
    ]
    return split_subject(" ".join(words[starts[-1] :]))[0] if starts else ""


WITH_CUE = re.compile(r"\bwith(?:out)?\b", re.IGNORECASE)
ANYTHING = re.compile(r"^any\s?thing\b", re.IGNORECASE)


def _negated(m: re.Match, text: str) -> tuple[list[str], str]:
    """(excluded items, words that go back to the positive side) of a NEGATION match in `text`.
    A negation inside the sentence ends where the subject's next fact begins: "a man without a
    hat walking in the rain" excludes "hat" and keeps "walking in the rain". After a comma the
    rest is excluded ("..., no people walking on the beach") but a time ("..., no cars at night")."""
    tokens = NOT_TAIL.sub("", _clean(m.group("what"))).split()
    rest: list[str] = []
    predicate = bool(PREDICATE_CUE.search(text[m.start() : m.start("what")]))
    # "not parked in a garage", "not covered in snow": a participle with its complement is one
    # negated fact, not a property plus the subject's place
    complement = _with_complement(tokens)
    # "apples but not green apples": the noun said again belongs to the negated thing
    restated = len(tokens) > 1 and _restates(tokens, text[: m.start()])
    if predicate and len(tokens) > 1 and _is_property(tokens[0]) and not complement and not restated:
        # "a bus that is not yellow on a city street", "not red or blue on a road": only the
        # properties are negated ("not red parked near a tree": "parked" is the car's)
        n = next(
            (
                i
                for i, t in enumerate(tokens)
                if i and not (_is_property(t, participle=False) or t.lower() in ("and", "or"))
            ),
            len(tokens),
        )
        while n > 1 and tokens[n - 1].lower() in ("and", "or"):
            n -= 1
        tokens, rest = tokens[:n], tokens[n:]
    # at the start of the query there is no subject for an action to belong to
    inside = "," not in text[m.start() : m.start("what")] and bool(text[: m.start()].strip())
    # "a dog without a collar on a sofa": one thing the subject does not have; where it is, the
    # subject is (the collar was on the sofa). Things around it keep theirs ("with no birds in the sky")
    cue = text[m.start() : m.start("what")]
    head = next(
        (tokens[i - 1] for i in range(1, len(tokens)) if _modifier_start(tokens, i) or _is_participle(tokens, i)), ""
    )
    owned = (
        inside
        and bool(WITH_CUE.search(cue))
        and (tokens[:1] in (["a"], ["an"]) or _countable(head))
        and not IMPLIED_ITEM.match(" ".join(tokens))  # "with nothing on the shelves": something's place
    )
    # an action after people excluded from a thing's picture is theirs ("a bus stop with no people
    # waiting by the road": the people wait, not the bus stop); after anything else, the subject's
    said = re.split(r"[,;]|\s(?:who|that|which)\s", text[: m.start()])[-1].strip()
    said_head = split_subject(said)[0].split()[-1:] if said else []
    excluded = [t for t in tokens[:3] if t.isalpha()]
    subjects_action = not (
        excluded
        and singular(excluded[0].lower()) in ANIMATE
        and said_head
        and said_head[0].isalpha()
        and singular(said_head[0].lower()) not in ANIMATE
    )
    # a person's or an animal's missing things go where it goes ("a dog without collars on a sofa",
    # "a man without shoes on a bench"); in a scene the place is the missing things' ("a beach
    # without umbrellas on the sand", "a kitchen without dishes in the sink")
    subject_head = (
        singular(said_head[0].lower()) if said_head and said_head[0].isalpha() and WITH_CUE.search(cue) else ""
    )
    animate_subject = subject_head in ANIMATE
    scene_subject = subject_head in SCENE_PLACES or subject_head in VENUES
    # inside the sentence "walking in the rain" is the subject's; a lone "waiting" or "walking
    # around" may be the excluded thing's ("with no passengers waiting"), and so may a place
    # ("with no birds in the sky"); a time is the scene's ("no cars at night")
    for i in range(1, 0 if rest or complement else len(tokens)):
        # "waiting around" is the excluded thing's; "standing by a red door" the subject's ("by a")
        adverb = i + 1 < len(tokens) and tokens[i + 1].lower() in ADVERBS
        adverb = adverb and not (i + 2 < len(tokens) and tokens[i + 2].lower() in DETERMINERS)
        # a thing's state is its own ("a car with no driver parked on a street")
        state = tokens[i].lower() in POSTURE or tokens[i].lower().endswith("ed")
        action = (
            inside and _is_participle(tokens, i) and i + 1 < len(tokens) and not adverb and (subjects_action or state)
        )
        # "a woman without a hat in Paris", "a cat without a collar in the garden": a named place
        # or a scene is where the subject is ("with no birds in the sky": the birds' place)
        k = _modifier_start(tokens, i)
        place = []  # the object of this preposition, up to the next one
        for j in range(i + k, min(len(tokens), i + k + 4)):
            if j > i + k and _modifier_start(tokens, j):
                break
            if tokens[j].lower() not in DETERMINERS:
                place.append(tokens[j].lower().strip(","))
        # the weather or time of day is the whole scene's ("under a blue sky", "on a sunny day";
        # "birds in the sky" are the birds')
        prep = " ".join(tokens[i : i + k]).lower()
        weather = bool(set(place[:3]) & WEATHER) or (prep == "under" and "sky" in place[:3])
        named = (
            inside
            and k
            and " ".join(tokens[i : i + k]).lower() in LOCATIVE
            and i + k < len(tokens)
            and (
                weather
                or not scene_subject
                and (tokens[i + k][:1].isupper() or bool(set(place[:3]) & SCENE_PLACES) or owned or animate_subject)
            )
        )
        if action or named or TIME_WORDS.match(" ".join(tokens[i:])):
            tokens, rest = tokens[:i], tokens[i:]
            break
    # "without shoes or socks", "no dogs and cats": two excluded things ("black and white" is
    # one word here: ADJ_PAIR joined it)
    items: list[str] = []
    for item in re.split(r"\s+(and|or)\s+", " ".join(tokens))[::2]:
        words = item.split()
        k = _modifier_start(words, 0)
        if items and k and " ".join(words[:k]).lower() in LOCATIVE:
            items[-1] += f" or {item}"  # "no one on the beach or in the water": two places, one thing
        else:
            items.append(item)
    whats = [
        ANYONE.sub("a person", _strip_det(NOT_COUNT.sub("", NOT_TAIL.sub("", w)))).replace("\x00", " ") for w in items
    ]
    # "an apple and not an orange": a word after "a" / "an" is a thing, not a colour of the apple
    # ("not a black one" is a colour: ONES)
    things = [bool(re.match(r"(?:a|an)\s+\S+$", w.strip(), re.IGNORECASE)) for w in items]
    # "a man not holding anything": no held thing is named; what is excluded is the man holding
    # something (it was "anything", which CLIP reads as any image)
    verb = re.search(r"\bnot\s+(wearing|holding|carrying|having)\s*$", cue, re.IGNORECASE)
    if verb and whats and ANYTHING.match(whats[0]):
        held = ANYTHING.sub("something", whats[0])
        doer = _doer(text[: m.start()]) or split_subject(text[: m.start()].strip(" ,"))[0]
        said = "with" if verb.group(1).lower() == "having" else verb.group(1).lower()
        whats[0] = " ".join(filter(None, (doer, said, held)))
    # "isn't red", ", not white" say what the noun before is not; "no blue" excludes blue things
    if predicate:
        before = text[: m.start()]
        # "a cat on the sofa, not black": the cat is not black; "a man with a hat but not in the
        # city" as with a comma (it was the hat)
        if m.group(0).lstrip().startswith(",") or re.match(r"\s*but\s+not\b", m.group(0), re.IGNORECASE):
            # the last part that is not itself a negation ("a car, not red, not blue": the car)
            parts = [p for p in re.split(r"[,;]", before) if p.strip() and not PREDICATE_START.match(p)]
            before = split_subject(parts[-1].strip())[0] if parts else before
            before = before or text[: m.start()]
        elif doer := _doer(before):  # "a selfie, a girl who isn't smiling": the girl does not smile
            whats = [f"{doer} {w}" if _a_fact(w.split()) else w for w in whats]
        whats = [w if thing else _with_noun(w, before) for w, thing in zip(whats, things, strict=False)]
    # "either a cat or a dog, but not both": no clause says "not both" (it excluded "both")
    return [w for w in whats if w and w.lower() not in ("both", "both of them", "either", "either of them")], " ".join(
        rest
    )


# words a cut negation can leave at the end of the wanted text ("a beach with [not a single
# person]" -> "a beach with"), and a subject alone ("I [don't want to see any cars]")
DANGLING = re.compile(r"(?:\s+|^)(?:with|and|but|or|that|who|which|where|has|have|is|are|of|the|a|an)$", re.IGNORECASE)
PRONOUN_OBJECTS = {"it", "them", "there", "here", "this", "that", "sight", "view"}
PRONOUN_ONLY = re.compile(
    r"^(?:i|we|you|me|us|please|(?:the|that|this)\s+ones?|(?:i|we|you|he|she|they|it|there)(?:['’](?:m|re|s|ve))?"
    # "the picture [where grandma isn't there]": a photo word alone asks for a photo
    r"|(?:(?:the|a|an|some|my|our|these|those|any)\s+)?(?:photo|picture|image|pic|shot|snapshot)s?)$",
    re.IGNORECASE,
)
# "a harbor, I [don't want to see ...]", "trees but I [don't like fences]"
PRONOUN_TAIL = re.compile(r"(?:\s*,|\s+(?:but|and))\s*(?:i|we|please)$", re.IGNORECASE)


# "mom at the restaurant where she's [not wearing her glasses]": who the cut negation was said of
WHERE_TAIL = re.compile(
    r"\s+(?:where|when|in\s+which)\s+(?P<who>(?:she|he|they|we|i|it|you|there)(?:['’](?:s|re|m|ve))?"
    r"|(?:the|my|our|his|her|their|a|an)\s+[\w-]+)(?:\s+(?:is|are|was|were|did|does|do|has|have|had))?$",
    re.IGNORECASE,
)


def _dangling(text: str) -> str:
    """`text` without the function words a cut negation left at its end (nothing if only a pronoun is left)."""
    text = WHERE_TAIL.sub("", PRONOUN_TAIL.sub("", text))
    while (cut := DANGLING.sub("", text)) != text:
        text = cut.rstrip(" ,;")
    return "" if PRONOUN_ONLY.match(text) else text


# where a scene is: a place of one of these, after a negated thing, is the subject's place
# places where people do things (an activity said after one is someone's: "a bar, no dancing")
VENUES = {
    "cafe",
    "restaurant",
    "bar",
    "pub",
    "beach",
    "park",
    "pool",
    "gym",
    "office",
    "classroom",
    "library",
    "kitchen",
    "street",
    "playground",
    "stadium",
    "market",
    "mall",
    "shop",
    "store",
    "museum",
    "hotel",
    "room",
    "bedroom",
    "bathroom",
    "studio",
    "court",
    "square",
    "plaza",
    "station",
    "airport",
    "lake",
    "garden",
    "church",
    "club",
}
SCENE_PLACES = {
    "garden", "park", "beach", "road", "street", "kitchen", "room", "field", "forest", "woods", "lake", "river",
    "city", "town", "village", "snow", "rain", "desert", "mountains", "mountain", "bridge", "sea", "ocean", "yard",
    "backyard", "office", "classroom", "library", "market", "station", "airport", "stadium", "pool", "farm",
    "countryside", "alley", "highway", "lot", "playground", "sidewalk", "church", "restaurant", "cafe", "bar",
    "hotel", "shop", "store", "mall", "museum", "bedroom", "bathroom", "hallway", "porch", "balcony", "garage",
    "barn", "meadow", "grass", "sand", "jungle", "hill", "hills", "valley", "harbor", "harbour", "pier", "dock",
    "island", "shore", "coast", "canyon", "square", "plaza", "court", "gym", "studio", "subway", "train", "bus",
    "dark", "fog", "mist", "night", "sunset", "water", "waves", "campsite", "parking",
}  # fmt: skip
# what the whole scene is in: the subject's, whatever is missing ("a field without trees under a blue sky")
WEATHER = {"day", "fog", "mist", "rain", "snow", "sunset", "sunrise", "night", "dusk", "dawn", "storm", "sunshine"}  # fmt: skip
# prepositions that say where a thing is (not "wearing", "holding", "during")
LOCATIVE = {
    "in", "on", "at", "under", "near", "behind", "beside", "by", "inside", "outside", "above", "below", "across",
    "along", "over", "among", "around", "against", "in front of", "on top of", "next to", "close to",
    "in the middle of",
}  # fmt: skip


def _placed_apart(nots: list[str]) -> tuple[list[str], list[str]]:
    """(the NOT items without their place, the places): ['cars on the street', 'dogs'] ->
    (['cars', 'dogs'], ['the street']). A pronoun is no place ('flowers in it')."""
    out, places = [], []
    for n in nots:
        tokens = n.split()
        for i in range(1, len(tokens)):
            k = _modifier_start(tokens, i)
            obj = tokens[i + k :]
            if k and " ".join(tokens[i : i + k]).lower() in LOCATIVE and obj and obj[0].lower() not in PRONOUN_OBJECTS:
                n = " ".join(tokens[:i])
                # "on the beach or in the water": the places are alternatives, without their prepositions
                alts = [a.split() for a in re.split(r"\s+or\s+", " ".join(obj), flags=re.IGNORECASE)]
                places.append(" or ".join(" ".join(a[_modifier_start(a, 0) :]) for a in alts if a))
                break
        out.append(n)
    return out, places


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,;.])", r"\1", text)
    text = re.sub(r"(?:[,;]\s*)+$", "", text)
    return text.strip(" ,;.。，")


def _strip_det(text: str) -> str:
    return STRIP_DET.sub("", text.strip())


def _modifier_start(tokens: list[str], i: int) -> int:
    """Length of the preposition starting at tokens[i] (0 when none)."""
    low = [t.lower() for t in tokens]
    for prep in PREPOSITIONS:
        words = prep.split()
        if low[i : i + len(words)] == words:
            return len(words)
    return 0


def _is_participle(tokens: list[str], i: int) -> bool:
    w = tokens[i].lower().split("\x00")[0]  # "playing\x00with": ACTION_WITH kept the object
    after_det = i > 0 and tokens[i - 1].lower() in DETERMINERS
    # "an empty parking lot", "a big swimming pool": a determiner, an adjective, then the -ing
    # word of a compound noun (it was an action: "an empty in the snow")
    named = (
        1 < i < len(tokens) - 1
        and tokens[i - 2].lower() in DETERMINERS
        and _is_property(tokens[i - 1], participle=False)
        and not _modifier_start(tokens, i + 1)
        and tokens[i + 1].lower() not in DETERMINERS
    )
    # "deer in a forest clearing at dawn", "at a zebra crossing": a place's compound noun (it was
    # "deer clearing"); after a thing itself it is an action ("a man crossing at the lights")
    placed = (
        w in COMPOUND_ING
        and i > 2
        and tokens[i - 2].lower() in DETERMINERS
        and not _is_property(tokens[i - 1], participle=False)
        and any(_modifier_start(tokens, j) == i - 2 - j for j in range(max(0, i - 5), i - 2))
        and (i + 1 == len(tokens) or tokens[i + 1].lower() not in DETERMINERS)
    )
    return (
        not after_det
        and not named
        and not placed
        and ((len(w) > 4 and w.endswith("ing") and w not in ING_NOUNS) or w in ED_PARTICIPLES)
    )


COMPOUND_ING = {
    "clearing", "crossing", "landing", "opening", "gathering", "meeting", "setting", "tasting", "screening",
    "parking", "dining", "boarding", "seating", "lighting", "housing", "training", "fitting", "bedding",
}  # fmt: skip


def split_subject(chunk: str) -> tuple[str, list[str]]:
    """('a woman', ['in a green dress', 'dancing']) for 'a woman in a green dress dancing'."""
    tokens = chunk.split()
    bounds = []
    i = 1
    while i < len(tokens):
        n = _modifier_start(tokens, i)
        prev = tokens[i - 1].lower()
        if n and (prev in POSTURE or prev in ED_PARTICIPLES or (prev, tokens[i].lower()) in COMPLEMENTS):
            i += n + 1  # "sitting on a bench" stays one modifier
            continue
        if n:
            bounds.append(i)
            i += n + 1  # the object of the preposition is never a boundary
            continue
        if _is_participle(tokens, i):
            bounds.append(i)
        i += 1
    if not bounds:
        return chunk, []
    subject = " ".join(tokens[: bounds[0]])
    mods = [" ".join(tokens[a:b]) for a, b in zip(bounds, bounds[1:] + [len(tokens)])]
    return subject, mods


def _expand_or(chunk: str) -> list[str]:
    chunk = re.sub(r"^either\s+", "", chunk, flags=re.IGNORECASE)  # "either a cat or a dog"
    # "a man wearing either a hat or a cap": what comes before "either" is each alternative's
    before, _, rest = chunk.partition(" either ")
    if rest and re.search(r"\s+or\s+", rest) and not re.search(r"\s+or\s+", before):
        return [f"{before} {a}" for a in _expand_or(rest)]
    alts = [a.strip() for a in re.split(r"\s+or\s+", chunk) if a.strip()]
    # "a man or a woman sitting on a bench or a chair": two lists, things and what the last of
    # them does; every pairing is an alternative
    j = next((i for i, a in enumerate(alts) if split_subject(a)[1]), 0)
    if 0 < j < len(alts) - 1 and not any(split_subject(a)[1] for a in alts[:j] + alts[j + 1 : -1]):
        subject = split_subject(alts[j])[0]
        done = _object_alternatives(alts[j:])
        if done != alts[j:] and all(d.startswith(subject + " ") for d in done):
            return [f"{s} {d[len(subject) + 1 :]}" for s in [*alts[:j], subject] for d in done]
    if len(alts) == 2:
        left, right = alts[0].split(), alts[1].split()
        l_core = left[1:] if left and left[0].lower() in DETERMINERS else left
        # the adjective ends the first alternative and describes the second one's noun: "a red
        # or blue car", and inside a fact, "a man in a red or a blue shirt" (the start, "a man
        # in", is each alternative's); not "a car that is red or a blue bus"
        shared = (
            len(l_core) == 1
            or len(left) > 1
            and (left[-2].lower() in DETERMINERS or right[0].lower() not in DETERMINERS)
        )
        if left[-1].lower() in ADJECTIVES and shared:
            # "a red or blue car at night" -> "a red car at night" / "a blue car at night"
            det = left[-2] if len(left) > 1 and left[-2].lower() in DETERMINERS else ""
            start = left[: len(left) - 1 - bool(det)]
            r_core = right[1:] if right[0].lower() in DETERMINERS else right
            head, mods = split_subject(" ".join(r_core))
            rest = (" " + " ".join(mods)) if mods else ""
            alts = [f"{alts[0]} {' '.join(head.split()[1:])}{rest}", " ".join([*start, det, *r_core]).strip()]
            alts = [re.sub(r"\s+", " ", a) for a in alts]
        elif (
            left[0].lower() in DETERMINERS
            and right[0].lower() not in DETERMINERS
            and len(left) > 1
            and not (_is_participle(right, 0) or _modifier_start(right, 0))  # "a dog sleeping or eating"
            and not split_subject(alts[0])[1]  # "a city at dawn or dusk": a second time, not "a dusk"
        ):
            # the second alternative shares the first one's start: "a cat or dog" -> "a dog",
            # "a bowl of apples or oranges" -> "a bowl of oranges"
            low = [w.lower() for w in left]
            start = left[: low.index("of") + 1] if "of" in low[1:-1] else left[:1]
            if start == left[:1] and start[0].lower() in ("a", "an"):
                # "a cat or dogs", "a sandwich or soup": a plural or a mass noun takes no article
                start = [indefinite_article(" ".join(right))] if _countable(split_subject(alts[1])[0]) else []
            alts = [alts[0], " ".join([*start, *right])]
    # "a cat or a dog on a sofa": the place of the last alternative belongs to every bare one
    _, mods = split_subject(alts[-1])
    bare = all(
        (len(a.split()) <= 3 or " of " in a)
        and (a.split()[0].lower() in DETERMINERS or alts[-1].split()[0].lower() not in DETERMINERS)
        and not split_subject(a)[1]
        for a in alts[:-1]
    )
    # and so does what it is doing ("a man, a woman or a child riding a bike")
    if mods and bare:
        return [f"{a} {' '.join(mods)}" for a in alts[:-1]] + [alts[-1]]
    return _object_alternatives(alts)


# who or what can be a subject of its own: "a man riding a horse, a woman or a child" lists
# riders, not what the man rides
PEOPLE = {
    "person", "man", "woman", "child", "kid", "boy", "girl", "people", "lady", "gentleman", "guy",
    "teenager", "player", "worker", "tourist", "couple", "family", "crowd", "rider", "driver", "father", "mother",
    "son", "daughter", "brother", "sister", "friend", "husband", "wife", "student", "teacher", "grandmother",
    "grandfather", "toddler", "dad", "mom", "mum",
}  # fmt: skip
ANIMATE = PEOPLE | {
    "baby", "dog", "cat", "bird", "horse", "cow", "sheep", "goat", "pig", "duck", "chicken", "rabbit", "puppy",
    "kitten", "animal", "deer", "bear", "fox", "elephant", "lion", "tiger", "monkey", "squirrel",
}  # fmt: skip


_ANIMATE_FORMS = sorted(
    ANIMATE | {w + "s" for w in ANIMATE} | {p for p, one in IRREGULAR.items() if one in ANIMATE}, key=len, reverse=True
)
OWNER_WITH = re.compile(
    rf"\b({'|'.join(_ANIMATE_FORMS)})\s+with(?=\s+(?!(?:no|nothing|none|neither|not|any|zero|out)\b)(?P<what>\w+(?:\s+\w+){{0,2}}))",
    re.IGNORECASE,
)
# what an animal has ("a cat with green eyes", "a dog with a ball"); "a dog with a car" names
# two things side by side, as the demo's scenes do
ANIMAL_PARTS = {
    "eyes", "eye", "ears", "tail", "fur", "spots", "stripes", "mane", "horns", "wings", "feathers", "paws", "collar",
    "leash", "bow", "ribbon", "ball", "stick", "bone", "frisbee", "toy", "hat", "scarf", "sweater", "coat", "harness",
}  # fmt: skip


def _owner_with(m: re.Match) -> str:
    """'a girl with' / 'a cat with [green eyes]' -> the owner and WITH_OWNED; else as it is."""
    person = singular(m.group(1).lower()) in PEOPLE
    if person or any(w.lower() in ANIMAL_PARTS for w in m["what"].split()):
        return f"{m.group(1)} {WITH_OWNED}"
    return m.group(0)


def _joined_subject(chunk: str, text: str) -> bool:
    """Whether `chunk` is a bare person or animal ('a boy', 'a white cat') followed by 'and' in `text`."""
    words = chunk.split()
    return (
        len(words) <= 3
        and singular(words[-1].lower()) in ANIMATE
        and bool(re.search(rf"(?:^|,\s*|\band\s+){re.escape(chunk)}\s+and\s", text))
    )


def _second_object(chunk: str, text: str) -> bool:
    """Whether `chunk`, after "and" in `text`, is a second thing the action before it is done to:
    a bare thing ('sunglasses', 'a fork'), not a person or an animal ('... and a man')."""
    words = chunk.split()
    bare = len(words) == 1 or (len(words) <= 3 and words[0].lower() in DETERMINERS)
    return (
        bare
        and not split_subject(chunk)[1]
        and singular(words[-1].lower()) not in ANIMATE
        and bool(re.search(rf"\band\s+{re.escape(chunk)}(?=\s*[,;.]|$)", text))
    )


PARTICLES = {"from", "to", "into", "with", "for", "at", "through", "across", "off", "onto", "about"}


def _countable(noun_phrase: str) -> bool:
    """A singular count noun ends `noun_phrase` ('a hat'), not a plural or a mass noun ('gloves', 'soup')."""
    head = noun_phrase.split()[-1].lower() if noun_phrase.split() else ""
    return bool(head) and singular(head) == head and head not in MASS and head not in PLURAL_ONLY


def _object_alternatives(alts: list[str]) -> list[str]:
    """The alternatives after the first are objects of its last fact when they are bare things:
    ['a man in a red shirt', 'a blue shirt'] (the same noun) -> 'a man in a blue shirt';
    ['a man riding a bike', 'a horse'] (what an action is done to, not a person) -> 'a man riding a horse';
    ['a cat on a sofa', 'a chair', 'a bed'] (a list of three or more things, none of them a
    person or an animal) -> 'a cat on a chair', 'a cat on a bed'. A place after the last
    alternative is every alternative's. Anything else is returned as it is."""
    subject, mods = split_subject(alts[0])
    if len(alts) < 2 or not mods:
        return alts
    if all(_modifier_start(a.split(), 0) for a in alts[1:]):  # "a dog in a park or on a beach": the dog's
        start = " ".join([subject, *mods[:-1]])
        return [alts[0], *(f"{start} {a}" for a in alts[1:])]
    if all(_is_participle(a.split(), 0) for a in alts[1:]):  # "a dog sleeping or eating": the dog's
        j = max((i for i, m in enumerate(mods) if _is_participle(m.split(), 0)), default=-1)
        if j < 0:
            return alts
        start = " ".join([subject, *mods[:j]])
        *others, last = alts[1:]
        last_core, trailing = split_subject(last)
        # "running or walking in the park": the place after the last action is every action's
        # when no other one has its own ("sitting on a bench or walking in the park")
        shared = trailing and not mods[j + 1 :] and not any(split_subject(a)[1] for a in others)
        tail = (" " + " ".join(trailing)) if shared else ""
        last = last_core if shared else last
        return [alts[0] + tail, *(f"{start} {a}{tail}" for a in others), f"{start} {last}{tail}"]
    fact = mods[-1].split()
    k = _modifier_start(fact, 0) or int(_is_participle(fact, 0))
    if k == 1 and len(fact) > 1 and (fact[0].lower() in POSTURE or _is_participle(fact, 0)):
        # "leaning against a wall or a fence", "fishing from a boat or the shore"
        k += _modifier_start(fact, 1) or int(fact[1].lower() in PARTICLES)
    obj = fact[k:]
    *others, last = alts[1:]
    last_head, trailing = split_subject(last)
    if not k or not obj or any(split_subject(a)[1] for a in others):
        return alts
    heads = [split_subject(a)[0].split()[-1].lower() for a in [*others, last_head]]
    same = all(h == obj[-1].lower() for h in heads)
    things = len(alts) >= 3 and not any(singular(h) in ANIMATE for h in heads)
    # what an action is done to: "a man riding a bike or a horse" (not "riding ... or a woman")
    done_to = _is_participle(fact, 0) and not any(singular(h) in PEOPLE for h in heads)
    # a second place or time, plain (no colour or size of its own, unlike a second subject in
    # "a red car on the street or a blue bus"): "a boat on a lake or a river", "at dawn or dusk"
    plain = [a.split() for a in [*others, last_head]]
    place = (
        not trailing
        and not _is_participle(fact, 0)
        and not any(singular(h) in ANIMATE for h in heads)
        and all(len(w) == 1 or (len(w) == 2 and w[0].lower() in DETERMINERS) for w in plain)
    )
    if not (same or things or done_to or place):
        return alts
    start = " ".join([subject, *mods[:-1], *fact[:k]])
    tail = (" " + " ".join(trailing)) if trailing else ""
    return [alts[0] + tail, *(f"{start} {a}{tail}" for a in [*others, last_head])]


def _not_but(m: re.Match) -> str:
    """'not a cat but a dog' -> 'a dog, not a cat'; 'not red but blue car' -> 'blue car, not red'
    (a property after a comma is said of the noun before it: NOT 'red car')."""
    return f"{m['pre']}{m['y'].strip()}, not {m['x']}"


def participle(verb: str) -> str:
    """The -ing form of an English verb by spelling rules: cry -> crying, smile -> smiling, lie ->
    lying, see -> seeing, run -> running (a short consonant-vowel-consonant verb doubles its last letter)."""
    v = verb.lower()
    if v.endswith("ie"):
        return verb[:-2] + "ying"
    if v.endswith("e") and not v.endswith(("ee", "ye", "oe")) and len(v) > 2:
        return verb[:-1] + "ing"
    if re.fullmatch(r"[^aeiou]*[aeiou][b-df-hj-np-tvz]", v) and len(v) <= 4:
        return verb + verb[-1] + "ing"
    return verb + "ing"


PLACED_BESIDE = re.compile(
    r"\b(parked|placed|left|standing|sitting|lying|leaning)\s+(beside|next to|alongside)\b", re.IGNORECASE
)
# "a man carrying a ladder on his shoulder", "a woman with a flower in her hair": a place on
# one's own body is the held or worn thing's, not the subject's ("a man on his shoulder")
BODY_PARTS = (
    "arms?|shoulders?|hands?|head|hair|lap|back|neck|face|ears?|nose|mouth|fingers?|wrists?|legs?|knees?|feet|foot|"
    "chest|hips?|paws?|teeth|lips|eyes?|cheeks?|forehead|belly|tail|beak|jaws?|hat|cap"
)
# (not before "or": "on his shoulders or in his arms" are alternatives; "with his hands" only at
# a clause's end: "with his hands on the wheel" is a fact of its own)
ON_BODY = re.compile(
    rf"(?<!\bor)(?<!\bnot)\s+(in|on|under|over|around|across|between|behind|with(?=\s+\S+\s+\S+\s*(?:[,;.]|$)))\s+"
    rf"((?:his|her|their|its|my|your)\s+(?:{BODY_PARTS}))\b(?!\s+or\b)",
    re.IGNORECASE,
)
# "the cat is on top of the fridge": where a thing is, as "the cat on top of the fridge" says it
# (not after "there", "it" or a relative pronoun: "a cup that is on a table")
# (a thing with its determiner, at a clause's start or after "the one where": not "she is in the
# kitchen", "whose tail is in the water", "a sign that says the shop is on sale")
COPULA_PLACE = re.compile(
    r"(?:^|(?<=[,;]\s)|(?<=\band\s)|(?<=\bone\swhere\s)|(?<=\bones\swhere\s)|(?<=\bphoto\swhere\s)"
    r"|(?<=\bpicture\swhere\s)|(?<=\bpic\swhere\s))"
    r"(?P<thing>(?:the|a|an|my|our|your|his|her|their|two|three|four|five|some|many|several)(?:\s+(?!(?:whose|who|that|which|where|says?)\b)[\w'’-]+){1,3}?)"
    r"\s+(?:is|are)\s+(?=(?:in|on|at|under|near|inside|outside|beside|behind|next\s+to|in\s+front\s+of)\s)",
    re.IGNORECASE,
)
_DESCRIBING = rf"(?:{'|'.join(sorted(ADJECTIVES | STATES | {'thin', 'fat', 'skinny', 'wooden', 'fluffy', 'pretty'}))})"
# (after a determiner: "the sky is blue, green grass" are two facts)
ADJ_COMMA = re.compile(
    rf"\b((?:a|an|the|some|my|our|his|her|their|two|three)\s+{_DESCRIBING}),\s+(?={_DESCRIBING}\s+[A-Za-z])",
    re.IGNORECASE,
)
BEHIND_END = re.compile(
    r"(?<=[a-z])(?<!ed)(?<!ing)(?<!\bleft)(?<!\bfell)(?<!\bstay)(?<!\bleave)(?<!\bfall)\s+(?:behind|in\s+the\s+back)(?=\s*(?:[,;.]|$))",
    re.IGNORECASE,
)
# "two women walking arm in arm down a street": an idiom, not the place "in arm"
IDIOMS = re.compile(
    r"\b(?:arm\s+in\s+arm|hand\s+in\s+hand|side\s+by\s+side|back\s+to\s+back|face\s+to\s+face|cheek\s+to\s+cheek"
    r"|shoulder\s+to\s+shoulder|head\s+to\s+toe|bumper\s+to\s+bumper|nose\s+to\s+nose|head\s+over\s+heels)\b",
    re.IGNORECASE,
)
ONES = re.compile(r"^(?:the\s+)?(ones?)\b", re.IGNORECASE)
PROPERTY_ONES = re.compile(r"(?:the\s+)?([\w-]+)\s+ones?", re.IGNORECASE)
ONES_WITH = re.compile(rf"^(?:the\s+)?ones?\s+(?:{WITH_OWNED}|with|of|showing|where)\s+", re.IGNORECASE)
PHOTO_WORD = re.compile(r"\b(?:photos?|pictures?|pics?|images?|shots?|snapshots?|selfies?)\b", re.IGNORECASE)
NONE_OF_ARE = re.compile(
    r"\bnone\s+of\s+(?P<det>the|these|those|my|our)\s+(?P<what>[A-Za-z-]+)\s+(?:are|is|were|was)\s+", re.IGNORECASE
)
# "kids at a school, none of them wearing uniforms", "dogs, none on a leash": what they have or
# where they are is excluded, not "them" (a clause "none wearing uniforms", NOT "them holding phones")
_NONE_OF = r"(?:(?<=,)|^)\s*none(?:\s+of\s+(?:them|whom|which))?\s+(?:(?:are|is|were|was)\s+)?"
NONE_OF_THEM = re.compile(
    _NONE_OF + r"(?:holding|wearing|carrying|with|having|has|have|on|in)\s+(?:an?\s+)?", re.IGNORECASE
)
# ... and what they do is done by none of the subject ("kids in a classroom, none of them smiling")
NONE_OF_THEM_DOING = re.compile(_NONE_OF + r"(?=[a-z]{3,}ing\b)", re.IGNORECASE)
# ... and a colour or state is theirs: "tulips, none of them red" excludes red tulips (it was "them red")
NONE_OF_THEM_ARE = re.compile(
    _NONE_OF + r"(?P<prop>[a-z-]+)(?:\s+(?P<join>or|nor|and)\s+(?P<prop2>[a-z-]+))?(?=\s*[,;.]|\s*$)", re.IGNORECASE
)


def _none_of_are(m: re.Match) -> str:
    """' no red tulips' for "tulips, none of them red" (' no black dogs, no brown dogs' for "none of
    them black or brown"): the last plural before it has the colour or state; the match itself
    when a word is neither or no plural comes before."""
    prop = m["prop"].lower()
    said = re.split(r"[,;]", m.string[: m.start()].rstrip(" ,;"))[-1]
    plurals = [
        w
        for w in re.findall(r"[A-Za-z]+", said)
        if (w.lower().endswith("s") and not w.lower().endswith("ss")) or w.lower() in SAME_PLURALS
    ]
    if not plurals or not _is_property(prop) or (m["prop2"] and not _is_property(m["prop2"].lower())):
        return m.group(0)  # colours are among its ADJECTIVES
    # "none of them black or brown": neither colour; "black and white": the two together (it
    # excluded "them black")
    if m["join"] and m["join"].lower() == "and":
        return f" no {m['prop']} and {m['prop2']} {plurals[-1]}"
    return "".join(f" no {p} {plurals[-1]}," for p in (m["prop"], m["prop2"]) if p).rstrip(",")


def _none_of(before: str) -> str:
    """Who "none of them" are: the subject of the clause before ("kids in a classroom, none of them
    smiling": no kids smiling), else "one" (no one)."""
    said = re.split(r"[,;]", before.rstrip(" ,;"))[-1].strip()
    subject = _strip_det(split_subject(said)[0]) if said else ""
    return subject if subject and subject.replace(" ", "").isalpha() else "one"


# How search boxes and lists say "no": "a tree NOT dog" (a boolean operator in capitals),
# "a tree -dog" (a word's leading minus), "a tree, dog excluded", "anything but dogs",
# "a non-red car" (a colour or property denied: "a car that isn't red")
SEARCH_SYNTAX = re.compile(
    r"(?-i:\s+NOT\s+(?=[a-z]))"  # not "NOT FOR SALE" on a sign
    r"|(?:(?<=\s)|^)-(?=[A-Za-z])"
    # a short thing named before it ("dogs excluded"; not "a beach where dogs are not allowed")
    r"|(?P<sep>^|,\s*)(?P<what>(?:[A-Za-z-]+\s+){0,2}[A-Za-z-]+)\s+(?:excluded|not\s+included|not\s+allowed)"
    r"(?=\s*[,;.]|$)"
    r"|\banything\s+(?:but|except|other\s+than)\s+",
    re.IGNORECASE,
)
NON_PROPERTY = re.compile(r"\b(?:(?P<det>an?)\s+)?non-(?P<prop>[a-z]+)\s+(?P<noun>[a-z]+)\b", re.IGNORECASE)


# Negation cues mistyped by one letter ("withuot", "wihtout", "exept", "excludng"): the NOT was
# lost and the typo searched for. Only these long cues: no English word is one edit from them.
MISTYPED_CUES = ("without", "except", "excluding")
WORD = re.compile(r"\b[A-Za-z]{5,10}\b")


def _one_edit(a: str, b: str) -> bool:
    """Whether `a` and `b` differ by exactly one edit: a substitution, an insertion, a deletion,
    or two neighbouring letters swapped (the optimal string alignment distance is 1)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        return len(diff) == 1 or swapped
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _fix_cue(m: re.Match) -> str:
    word = m.group(0)
    return next((cue for cue in MISTYPED_CUES if _one_edit(word.lower(), cue)), word)


# "a portrait where the person isn't smiling", "a phone on a table, the screen isn't cracked",
# "a man whose shirt isn't white": a property denied to a thing named after the subject, read
# as "no smiling person" (the thing was a clause of its own, "a portrait where the person")
WHERE_THE_ISNT = re.compile(
    r"(?:\s*,\s*|\s+(?:where|in\s+which|whose)\s+)(?:(?:the|its|his|her|their)\s+)?"
    r"(?P<noun>(?!(?:it|they|he|she|this|that|these|those|one)\b)[A-Za-z-]+)\s+"
    r"(?:(?:is|are|was|were)\s+not|isn'?t|aren'?t|wasn'?t|weren'?t)\s+"
    r"(?P<prop>(?!(?:a|an|the|there|here|in|out|up|down|at|by|to)\b)[A-Za-z-]+)"
    r"(?=\s*[,;.]|\s*$)",
    re.IGNORECASE,
)


# what says a thing is there, not how it looks
PRESENCE = {"allowed", "permitted", "included", "present", "visible", "around", "there", "shown"}


def _where_the_isnt(m: re.Match) -> str:
    """WHERE_THE_ISNT as a "no" clause: a property before its thing ("no cracked screen"); a
    switch after it ("no lights on"); an action after its doer, who stays wanted ("where the
    girl isn't smiling": a girl, no girl smiling)."""
    noun, prop = m["noun"], m["prop"]
    if prop.lower() in PRESENCE:  # "where dogs are not allowed": no dogs
        return f", no {noun}"
    if prop.lower() in ("on", "off"):
        return f", no {noun} {prop}"
    if not prop.lower().endswith("ing"):
        return f", no {prop} {noun}"
    plural = singular(noun.lower()) != noun.lower() or noun.lower() in PLURAL_ONLY
    return f", {noun if plural else indefinite_article(noun) + ' ' + noun}, no {noun} {prop}"


SECOND_NO = re.compile(r"\b(\w+)(?=\s+no\s+\w)", re.IGNORECASE)
# "no more than two cars", "not fewer than three people": a count, nothing excluded (it
# excluded "more than two cars")
_AMOUNT = rf"(?:{_COUNT}|eleven|twelve|several|half|a\s+(?:few|couple|handful|dozen|hundred|single))\b"
COMPARED_COUNT = re.compile(rf"\b(?:no|not)\s+(?P<than>more|fewer|less)\s+than\s+(?={_AMOUNT})", re.IGNORECASE)
# "at least two cups": a count, not the place "at" starts ("a table at least two cups")
AT_COUNT = re.compile(rf"\bat\s+(least|most)\b(?=\s+{_AMOUNT})", re.IGNORECASE)
# words after which "no" goes on the sentence ("with no", "there are no", "a no parking sign")
BEFORE_NO = {
    "with", "and", "but", "or", "is", "are", "was", "were", "has", "have", "had", "there", "of", "in", "on", "at",
    "by", "to", "a", "an", "the", "says", "saying", "say", "reads", "reading", "said", "want", "wants", "need",
    "absolutely", "almost", "nearly", "just", "show", "see", "find", "i", "we", "please", "that", "called",
    "titled", "named",
}  # fmt: skip


def _negated_list(m: re.Match) -> str:
    """'excluding cars, bikes and buses' -> 'excluding cars and no bikes and no buses'. Without a
    comma a person or an animal after 'and' is a second subject ('a dog without a collar and a
    cat'), and the text is returned as it is."""
    items = [i.strip() for i in re.split(r"\s*,\s*", m["items"])]
    if len(items) == 1 and singular(m["last"].split()[-1].lower()) in ANIMATE:
        return m.group(0)
    # "no people, a red car and a tree": a bare plural excluded, then after a comma things named
    # with "a" are wanted ("without a hat, a scarf and gloves", "without gloves or a scarf": one list)
    later = [*items[1:], m["last"]]
    if (
        len(items) > 1
        and not re.match(r"(?:a|an|the)\s", items[0], re.IGNORECASE)
        and any(re.match(r"(?:a|an)\s", i, re.IGNORECASE) for i in later)
    ):
        wanted = later[-1] if len(later) == 1 else ", ".join(later[:-1]) + f" {m['join']} " + later[-1]
        return f"{m['cue']} {items[0]}, {wanted}"
    return f"{m['cue']} {items[0]}" + "".join(f" and no {_strip_det(i)}" for i in [*items[1:], m["last"]])


def _nothing_place(m: re.Match) -> str:
    """'a table with nothing on it': the table is the "it" ('nothing'); 'nothing on the table':
    the table, empty ('the table with nothing'); 'a room with nothing on the walls': the walls are
    not the thing wanted, so what is on them is excluded ('without something on the walls';
    it wanted the walls and excluded any object)."""
    obj = m.group("obj")
    if obj.lower() in ("it", "them", "top"):
        return "nothing"
    if re.search(r"\bwith\s+$", m.string[: m.start()], re.IGNORECASE):
        return f"without something {m.group(0).split(None, 1)[1]}"
    return f"{obj} with nothing"


def _word_alternatives(m: re.Match) -> str:
    """'cats, dogs or birds' -> 'cats or dogs or birds' when the listed words are all plurals
    ('geese, mice or sheep': one plural makes 'sheep' one too; the last may be a mass noun), all
    participles or all names ('Paris, London or Rome'); anything else is left as it is."""
    words = [*re.split(r"\s*,\s*", m["items"].strip(" ,")), m["last"], m["next"]]
    low = [w.lower() for w in words]
    if any(w in DETERMINERS or w in ADJECTIVES or w in ("and", "or", "but", "not", "no") for w in low):
        return m.group(0)
    listed = low[:-1]  # the word after "or" may be a mass noun: "rocks, shells or seaweed"
    plurals = all(singular(w) != w or w in IRREGULAR for w in listed) and any(singular(w) != w for w in listed)
    participles = all(_is_participle([w], 0) for w in low)
    names = all(w[:1].isupper() for w in words)  # "Paris, London or Rome"
    if not (plurals or participles or names):
        return m.group(0)
    return " or ".join(words[:-1]) + " or " + m["next"]


def _colour_alternatives(m: re.Match) -> str:
    """'a red, blue or green balloon' -> 'a red balloon or a blue balloon or a green balloon'."""
    det = (m.group("det") or "").strip().lower()
    colours = [re.sub(r"^an?\s+", "", c) for c in [*re.split(r"\s*,\s*", m.group("first")), m.group("last")]]

    def article(colour: str) -> str:
        if det in ("a", "an"):
            return indefinite_article(colour) + " "
        return f"{det} " if det else ""

    return " or ".join(f"{article(c)}{c} {m.group('noun')}" for c in colours)


# "a red car, and no, not a blue one", "no, I mean a cat": a "no" that answers the speaker's own
# words is no part of the image (before a negation or a new start, not "a beach, no people")
SELF_CORRECTION = re.compile(
    r"(?:^|\s*[,;]|\s+-+|\s+(?=(?:and|but)\s))\s*(?:(?:and|but|oh|well|wait)[\s,]+)?(?:no|nope|nah)(?:\s*,?\s*wait)?\s*[,.!]+\s*"
    r"(?=(?:not|no|nobody|none|nothing|without|i|i'm|rather|instead|make\s+it)\b)",
    re.IGNORECASE,
)

# "a cat, no, I mean a dog": the part said just before the correction is taken back, not the
# query before it ("a beach, no people, no, I mean no dogs" keeps the beach); "a woman, no, a man"
# corrects the same way. What the correction starts with says which part it takes back
# (_corrected): "a tiger in a zoo, no, in the wild" keeps the tiger.
CORRECTED = re.compile(
    r"(?P<lead>^|[,;])\s*(?P<said>[^,;.]*?)\s*[,;.]\s*"
    r"(?:(?:no|nope|sorry|oops|wait|actually)(?:\s*,?\s*(?:wait|actually)\b)?"
    r"\s*(?:[,.!]*\s*(?P<mean>i\s+meant?\b(?!\s+it\b)|make\s+it\b)[\s,]*|[,.!]+\s*)"
    r"|(?P<mean2>i\s+meant?\b(?!\s+it\b)|actually\b)[\s,]*)"
    r"(?:make\s+it\s+)?"
    r"(?P<new>[^,;.]*[^,;.\s])",
    re.IGNORECASE,
)

DESCRIBED = re.compile(r"\s+(?:with|without|that|who|which)\s", re.IGNORECASE)
NEGATION_START = re.compile(r"(?:no|not|without|nothing|nobody|none|never)\b", re.IGNORECASE)
# "a cafe, no, the one with a red door", "a red car, no, the blue one": the correction names the
# thing taken back by "one", and keeps it
CORRECTED_ONE = re.compile(
    r"(?P<lead>^|[,;])\s*(?P<said>[^,;.]+?)\s*[,;.]\s*(?:no|nope|sorry|oops)\s*[,.!]*\s*(?:i\s+meant?\s+)?"
    r"(?:the|that|an?(?=\s+[\w-]+\s+one\b))\s+(?P<adj>(?:(?!one\b)[\w-]+\s+){0,3}?)one\b",
    re.IGNORECASE,
)


def _corrected_one(m: re.Match) -> str:
    said = m["said"]
    if NEGATION_START.match(said):  # "a beach, no people, no, the one with palm trees": which one?
        return m.group(0)
    subject, mods = split_subject(said)
    if not m["adj"]:
        # "the one with a red door" is another cafe, described by what follows: the thing without
        # its description ("a man with a hat, no, the one without a hat": a man without a hat)
        return f"{m['lead']} {DESCRIBED.split(subject, maxsplit=1)[0]}"
    adj = m["adj"].strip()
    said_colours = [w for w in re.findall(r"[A-Za-z]+", said) if w.lower() in COLOURS]
    if adj.lower() in COLOURS and said_colours:  # "a woman in a red dress, no, the blue one": the dress
        last = re.compile(rf"\b{said_colours[-1]}\b(?!.*\b{said_colours[-1]}\b)")
        return f"{m['lead']} {last.sub(adj, said)}"
    head = subject.split()[-1]
    if mods or " and " in said or singular(head.lower()) != head.lower():
        return m.group(0)  # "a man riding a horse, no, the white one": which one is not said
    return f"{m['lead']} {said.replace(subject, f'{indefinite_article(adj)} {adj} {head}', 1)}"


CORRECTED_COUNT = re.compile(rf"^{_COUNT}$", re.IGNORECASE)


def _corrected(m: re.Match) -> str:
    """The said part with the correction made, by what the correction starts with: a whole thing
    ("a goat, no, a sheep on a hill"; a thing of the same kind or without a description of its own
    keeps the said one's place: "a girl on a beach, no, a boy"), a place ("a tiger in a zoo, no,
    in the wild"), what is had or worn ("a woman with a hat, no, with an umbrella"), an action
    ("a man running, no, walking"), a count ("two dogs on a sofa, no, three"), a colour ("a red
    car, no, blue"), a held or worn thing ("a man holding an umbrella, no, a bag": _swap_had) or
    a negation of what was said ("a dog, no, not a dog"). A correction that names no part ("a big
    dog, no, small"; "the white one" of a man riding a horse) is dropped: the said part stays."""
    lead = f"{m['lead']} " if m["lead"] else ""
    said, new = m["said"].strip(), m["new"].strip()
    with_without = new.lower().startswith("without ") and re.search(r"\bwith\b", said, re.IGNORECASE)
    subject, mods = split_subject(said)
    if NEGATION_START.match(new) and said and not NEGATION_START.match(said) and not with_without:
        # "a dog, no, not a dog, a cat", "a man in a hat, actually no hat": what the negation
        # names is taken back from the said part (it was wanted and excluded at once)
        named = (
            singular(_strip_det(NEGATION_START.sub("", new, count=1)).split()[-1:][0].lower())
            if new.split()[1:]
            else ""
        )
        if named and singular(subject.split()[-1].lower()) == named:
            return f"{lead}{new}"
        kept = [mod for mod in mods if singular(mod.split()[-1].lower()) != named]
        if named and len(kept) < len(mods):
            return lead + " ".join([subject, *kept]) + ", " + new
    if NEGATION_START.match(new) and not (m["mean"] or m["mean2"] or with_without):
        return m.group(0)  # "a beach, no, no people": an emphatic "no", no correction
    if not said or NEGATION_START.match(said):
        return f"{lead}{new}"  # "no dogs, no, I mean no cats": a negation corrected whole
    words = new.split()
    first = words[0].lower()
    if re.match(r"(?:the|that|this|an?)\b.*\bones?$", new, re.IGNORECASE):
        return f"{lead}{said}"  # CORRECTED_ONE could not tell which thing "the white one" is
    if CORRECTED_COUNT.match(first) and len(words) == 1:
        if CORRECTED_COUNT.match(said.split()[0]):  # "two dogs on a sofa, no, three"
            return f"{lead}{new} {said.split(maxsplit=1)[1]}" if " " in said else f"{lead}{said}"
        return f"{lead}{said}"
    if first in COLOURS and len(words) <= 2 and words[-1].lower() in (first, "one"):
        old = [w for w in said.split() if w.lower() in COLOURS]
        if old:  # "a red car, no, blue": the last colour said
            return lead + re.sub(rf"\b{old[-1]}\b(?!.*\b{old[-1]}\b)", first, said)
        det = STRIP_DET.match(subject)
        if det:  # "a car, no, blue"
            rest = subject[det.end() :]
            return f"{lead}{indefinite_article(first)} {first} {rest}{said[len(subject) :]}"
        return f"{lead}{said}"
    colour = [w for w in words if w.lower() in COLOURS]
    old_colour = [w for w in said.split() if w.lower() in COLOURS]
    if words[-1].lower() == "one" and colour and old_colour:  # "a man in a red shirt, no, in a blue one"
        return lead + re.sub(rf"\b{old_colour[-1]}\b(?!.*\b{old_colour[-1]}\b)", colour[0], said)
    kind = _modifier_kind(new)
    if kind:
        # the modifier of the same noun ("in a red shirt, no, in a blue shirt"), else the last of
        # the same kind ("on a beach, no, by a lake"; "at night, no, during the day")
        same_noun = [i for i, mod in enumerate(mods) if mod.split()[-1].lower() == words[-1].lower()]
        same_kind = [i for i, mod in enumerate(mods) if _modifier_kind(mod) == kind]
        same_word = [i for i in same_kind if mods[i].split()[0].lower() == first]
        if same_noun or same_kind:
            i = (same_noun or same_word or same_kind)[-1]
            return lead + " ".join([subject, *mods[:i], new, *mods[i + 1 :]])
        return f"{lead}{said} {new}"  # "a tiger, no, in the wild": the place is added
    if first in ("with", "without"):
        tokens = said.split()
        at = [i for i, t in enumerate(tokens) if t.lower() in ("with", "without")]
        if at:  # "a woman with a hat on a beach, no, with an umbrella": up to the next modifier
            end = next(
                (j for j in range(at[-1] + 2, len(tokens)) if _modifier_start(tokens, j) or _is_participle(tokens, j)),
                len(tokens),
            )
            return lead + " ".join([*tokens[: at[-1]], new, *tokens[end:]])
        return f"{lead}{said} {new}"
    if first.endswith("ing") and _is_participle(["x", *words], 1):
        verbs = [i for i, mod in enumerate(mods) if _is_participle(mod.split(), 0)]
        if verbs:  # "a man running on a beach, no, walking": the action, the place stays
            i = verbs[0]
            return lead + " ".join([subject, *mods[:i], new, *mods[i + 1 :]])
        return f"{lead}{said} {new}"
    if first in DETERMINERS or CORRECTED_COUNT.match(first):
        new_subject, new_mods = split_subject(new)
        if not new_mods and (swapped := _swap_had(said, new)):
            return lead + swapped  # "a man holding an umbrella, no, a bag"
        places = [i for i, mod in enumerate(mods) if _modifier_kind(mod) == "place"]
        if not new_mods and places and new_subject.split()[-1].lower() in SCENE_PLACES:
            # "a boat on a lake, I mean a river": the place is corrected, not the boat
            i = places[-1]
            prep = mods[i].split()[: _modifier_start(mods[i].split(), 0)]
            return lead + " ".join([subject, *mods[:i], *prep, new, *mods[i + 1 :]])
        same = singular(new_subject.split()[-1].lower()) == singular(subject.split()[-1].lower())
        if not new_mods and mods and (same or _modifier_kind(mods[0]) == "place"):
            return lead + " ".join([new, *(mods if same else mods[:1])])  # "a girl on a beach, no, a boy"
        return f"{lead}{new}"
    if len(words) == 1 and first not in ADJECTIVES and not mods and len(said.split()) == 1:
        return f"{lead}{new}"  # "cats, sorry I meant kittens"
    det = STRIP_DET.match(subject)
    if len(words) == 1 and first not in ADJECTIVES and det and len(subject.split()) == 2:
        # "a dog on a sofa, no, cat": the thing (a word that may describe it is not)
        article = indefinite_article(new) if det[0].strip().lower() in ("a", "an") else det[0].strip()
        if singular(new.lower()) != new.lower():  # "a cat on a bed, no, dogs": no "a dogs"
            return f"{lead}{new}{said[len(subject) :]}"
        return f"{lead}{article} {new}{said[len(subject) :]}"
    return f"{lead}{said}"


HAD = ("with", "holding", "wearing", "carrying", "in")


def _swap_had(said: str, new: str) -> str | None:
    """`said` with the thing it has, holds or wears replaced by the thing `new` names: the one of
    the same noun ("a woman with a red umbrella, no, a blue umbrella"), else, when a person or an
    animal has it and `new` is neither, the last one ("a man holding an umbrella, no, a bag").
    None when `said` has nothing of the kind."""
    tokens = said.split()
    spans = []  # (start of the object, its end) after with / holding / wearing / carrying / in
    for i, t in enumerate(tokens[1:], 1):
        if t.lower() in HAD and not (t.lower() == "in" and _modifier_kind(" ".join(tokens[i:])) != "worn"):
            end = next(
                (j for j in range(i + 2, len(tokens)) if _modifier_start(tokens, j) or _is_participle(tokens, j)),
                len(tokens),
            )
            spans.append((i + 1, end))
    if not spans:
        return None
    head = singular(new.split()[-1].lower())
    same = [sp for sp in spans if singular(tokens[sp[1] - 1].lower()) == head]
    owner = singular(tokens[spans[0][0] - 2].lower()) if spans[0][0] >= 2 else ""
    if not same and not (owner in ANIMATE and head not in ANIMATE):
        return None
    start, end = (same or spans)[-1]
    return " ".join([*tokens[:start], new, *tokens[end:]])


def _modifier_kind(mod: str) -> str | None:
    """What a modifier of split_subject says: 'time' ('at night', 'during the day'), 'worn' ('in a
    red shirt'), 'place' ('on a beach', 'in front of a shop'), 'wearing' / 'holding' /
    'carrying', or None (an action, or not a modifier)."""
    words = mod.lower().split()
    if TIME_WORDS.match(mod) or words[0] == "during":
        return "time"
    if words[0] in ("wearing", "holding", "carrying"):
        return words[0]
    if words[0] == "in" and any(w in COLOURS for w in words[1:3]):
        return "worn"
    if any(" ".join(words[:n]) in LOCATIVE for n in (1, 2, 3, 4)):
        return "place"
    return None


# quoted words are text shown in the image, read whole: "a road sign that says "Do Not Enter""
# excluded 'Entering"', "a neon sign reading 'never give up'" excluded 'give up''
QUOTED = re.compile(
    r"[\"“”„«»][^\"“”„«»]{1,200}[\"“”„«»]|(?<![\w'‘])['‘][^'‘’\n]{1,200}?['’](?![\w'’])",
)
# ... its punctuation hidden too ('a billboard "Buy Now, Pay Later"' was two clauses), and shown again
QUOTED_HIDDEN: dict[str, str | int | None] = {" ": "\x00", ",": "\x0e", ";": "\x0f", ".": "\x10"}
QUOTED_SHOWN: dict[str, str | int | None] = {"\x0e": ",", "\x0f": ";", "\x10": ".", "\x11": None, "\x00": " "}
# A name in capitals with a negation in it ("the band Nothing But Thieves", "Dr. No movie
# poster", "a shirt with No Fear on it") is read whole, as a quote is: after a word in lower case
# or a title (the first word of a clause is capitalised for its own sake), and not in a query
# that capitalises most of its words. Its words are cut by \x11 so no negation reads them.
TITLE_NEGATIONS = {"No", "Nothing", "Never", "Not", "Without", "None", "Nobody", "Zero", "Minus"}
HONORIFICS = {"Dr", "Mr", "Mrs", "Ms", "Mx", "St", "Prof", "Sir", "Saint", "Doctor", "Captain", "Lady", "Lord"}
TITLE_SMALL = {"of", "the", "and", "for", "to", "a", "an", "in", "on", "at", "but", "with", "or"}
TITLE_AFTER_NOT = {
    "with", "but", "and", "or", "plus", "without", "has", "have", "had", "is", "are", "was", "were", "there", "want",
    "need", "show", "find", "see", "me", "please", "just", "also", "absolutely", "definitely", "really", "yet",
}  # fmt: skip
TITLE_TOKEN = re.compile(r"[\w'’-]+|[^\w\s]")


def _hide_quoted(m: re.Match) -> str:
    return m.group(0).translate(str.maketrans(QUOTED_HIDDEN))


def _hide_titles(query: str) -> str:
    """`query` with each capitalised name that holds a negation word hidden (TITLE_NEGATIONS)."""
    tokens = list(TITLE_TOKEN.finditer(query))
    words = [t.group(0) for t in tokens]
    alpha = [w for w in words if w[:1].isalpha()]
    if not alpha or sum(w[:1].isupper() for w in alpha) > 0.6 * len(alpha):
        return query
    spans, i = [], 1
    while i < len(words):
        honorific = words[i - 1] in HONORIFICS or (words[i - 1] == "." and i > 1 and words[i - 2] in HONORIFICS)
        after_word = re.fullmatch(r"[a-z][\w'’-]*", words[i - 1]) and words[i - 1] not in TITLE_AFTER_NOT
        if words[i] not in TITLE_NEGATIONS or not (honorific or after_word):
            i += 1
            continue
        end, j = i, i + 1
        while j < len(words):
            if re.fullmatch(r"[A-Z][\w'’-]*", words[j]):
                end, j = j, j + 1
            elif words[j] in TITLE_SMALL and j + 1 < len(words) and words[j + 1][:1].isupper():
                j += 1
            else:
                break
        if end > i or honorific:
            spans.append((tokens[i].start(), tokens[end].end()))
        i = end + 1
    for start, stop in reversed(spans):
        name = re.sub(r"\b(\w)", "\\1\x11", query[start:stop]).replace(" ", "\x00")
        query = query[:start] + name + query[stop:]
    return query


def _verb_base(verb: str) -> str:
    """The plain form of a verb in -s: "smokes" -> "smoke", "watches" -> "watch", "flies" -> "fly"."""
    if verb.endswith("ies"):
        return verb[:-3] + "y"
    if verb.endswith(("ches", "shes", "sses", "xes", "zes", "oes")):
        return verb[:-2]
    return verb[:-1]


def _show_quoted(text: str) -> str:
    return text.translate(str.maketrans(QUOTED_SHOWN))


def _english(query: str) -> Plan:
    raw = query  # the plan keeps the user's words: a plans file is looked up by them
    query = _hide_titles(QUOTED.sub(_hide_quoted, query))
    query = re.sub(r"\b(except|excluding|without)\s+no\s+", r"\1 ", query, flags=re.IGNORECASE)  # "except no geese"
    # "a dog that no longer has its collar": it has none now (it excluded "longer has its collar")
    query = re.sub(
        r"(?:\s+(?:that|who|which))?\s+no\s+longer\s+(?:has|have|had|wears?|wearing)\b", " without", query, flags=re.I
    )
    # "a shop that is no longer open", "a street no longer busy": it is not now (it excluded
    # "longer open"); "no longer" before anything else is left as it is
    query = re.sub(
        r"(?:\s+(?:that|who|which))?(?:\s+(?:is|are|was|were)|['’](?:s|re))?\s+no\s+longer\s+(?P<word>[a-z]+)\b",
        lambda m: (
            f" that isn't {m['word']}" if _is_property(m["word"]) or m["word"].lower().endswith("ed") else m.group(0)
        ),
        query,
        flags=re.I,
    )
    # "I hate crowds", "we can't stand cars": not wanted (it wanted "I hate crowds"); not what a
    # sign says ("a sign that says I hate mondays")
    query = re.sub(
        r"(?<!\bsays\s)(?<!\breads\s)(?<!\bsaying\s)(?<!\breading\s)(?<!\bwords\s)"
        r"\b(?P<who>i|we)\s+(?:really\s+)?(?:hate|dislike|can'?t\s+stand|cannot\s+stand)\s+(?=[a-z])",
        lambda m: f"{m['who']} don't want ",
        query,
        flags=re.I,
    )
    # "I don't really like red cars": the adverb says nothing (it was the verb: "reallying")
    query = re.sub(
        r"\b((?:do|does|did)\s+not|(?:don|doesn|didn)'?t)\s+(?:really|actually|particularly|especially|even)\s+",
        r"\1 ",
        query,
        flags=re.I,
    )
    # "a man who no longer smokes", "a clock that never ticks": it does not (it excluded "longer
    # smokes" and "smokes")
    query = re.sub(
        r"(?:\s+(?:that|who|which)|(?<!\bit)(?<!\bhe)(?<!\bshe)(?<!\bwe)(?<!\bi)(?<!\bthey)(?<!\byou))"
        r"\s+(?:no\s+longer|never)\s+(?P<verb>[a-z]+[^s\W]s)\b(?!\s+(?:and|or)\b)",
        lambda m: f" that doesn't {_verb_base(m['verb'])}",
        query,
        flags=re.I,
    )
    # "no longer in use", "no longer standing": not now (it excluded "longer in use")
    query = re.sub(r"\bno\s+longer\b(?=\s+(?:in\s|on\s|at\s|[a-z]+ing\b))", "not", query, flags=re.I)
    # "both cats and dogs": both wanted ("both cats" was a clause)
    query = re.sub(r"(?:(?<=^)|(?<=\s))(?<!not\s)both\s+(?=[^,;.]+?\s+and\s)", "", query, count=1, flags=re.I)
    # "a bench in a park, people not in the frame", "a street with people out of frame", "grandma
    # isn't there", "the sky isn't visible": none in the picture (it wanted "people not", "grandma")
    query = OUT_OF_PICTURE.sub(lambda m: f"no {m['x']}", query)
    # "not both cats and dogs", "cats and dogs, but not both": one or the other (it wanted "not
    # both cats", and both)
    query = re.sub(
        r"\bnot\s+both\s+(?P<a>[^,;.]+?)\s+and\s+(?P<b>[^,;.]+)", r"\g<a> or \g<b>", query, count=1, flags=re.I
    )
    query = re.sub(
        r"\s+and\s+(?P<b>[^,;.]+?)\s*,?\s*(?:but\s+)?not\s+both(?:\s+of\s+them)?\b", r" or \g<b>", query, flags=re.I
    )
    # "a woman not without her dog": two negations say "with" (it excluded "her dog")
    # ("a room that is not without windows": a room with windows)
    query = re.sub(
        r"(?:\s+(?:that|who|which)(?:\s+(?:is|are|was|were)|['’](?:s|re)))?\s+(?:not|never)\s+(?:without|lacking(?:\s+in)?)\b",
        " with",
        query,
        flags=re.IGNORECASE,
    )
    query = re.sub(r"^\s*(?:not|never)\s+(?:without|lacking)\s+", "", query, flags=re.IGNORECASE)
    query = COMPARED_COUNT.sub(lambda m: "at most " if m["than"].lower() == "more" else "at least ", query)
    query = AT_COUNT.sub(lambda m: f"at\x00{m.group(1)}", query)
    # "no cars no people": a second "no" after a thing starts a clause of its own
    query = SECOND_NO.sub(lambda m: m.group(1) + ("," if m.group(1).lower() not in BEFORE_NO else ""), query)
    # "a dog (no collar)", "a dog - not a cat": an aside is a clause of its own, and it ends
    # where its parenthesis does ("a dog (not a puppy) running in snow": the dog runs)
    query = re.sub(r"\s*\(\s*", ", ", query)
    query = re.sub(r"\s*\)\s*(?=\S)", ", ", query)
    query = re.sub(r"\s*\)", "", query)
    # shorthand: "w/o milk", "w/ a hat", "cat / dog"
    query = re.sub(r"\bw/o\b", "without", query, flags=re.IGNORECASE)
    query = re.sub(r"\bw/(?=\s)", "with", query, flags=re.IGNORECASE)
    query = re.sub(r"(?<=[A-Za-z])\s*/\s*(?=[A-Za-z])", " or ", query)
    query = SEARCH_SYNTAX.sub(lambda m: f"{m['sep'] or ''}no {m['what']}" if m["what"] else ", no ", query)
    query = re.sub(r"(?<=\w):\s+", ", ", query)  # "without people: a red car": a pause, as a comma is
    query = CORRECTED_ONE.sub(_corrected_one, query).strip()
    query = re.sub(r"\s*[,;.]\s*(?:no|nope)\s*[.!]*\s*$", "", query, flags=re.IGNORECASE)  # "a red car, no"
    query = re.sub(r"\s*[-–—]+\s*(no|nope)\s*[-–—]+\s*", r", \1, ", query, flags=re.IGNORECASE)  # "a car - no - blue"
    query = re.sub(r"[,;]\s*i\s+mean\s+it\s*(?=[,;.]|$)", "", query, flags=re.IGNORECASE)  # emphasis, no correction
    while (said := CORRECTED.sub(_corrected, query).strip()) != query:  # "a sofa, no, a chair, no, a bench"
        query = said
    while (said := SELF_CORRECTION.sub(", ", query).lstrip(" ,")) != query:  # "no, no, no dogs"
        query = said
    query = NON_PROPERTY.sub(
        lambda m: (
            f"{(indefinite_article(m['noun']) + ' ') if m['det'] else ''}{m['noun']} that isn't {m['prop']}"
            if m["prop"].lower() in STATES
            else m.group(0)
        ),
        query,
    )
    query = WORD.sub(_fix_cue, query)
    query = WHERE_THE_ISNT.sub(_where_the_isnt, query)
    query = NONE_OF_THEM.sub(" no ", query)
    query = NONE_OF_THEM_DOING.sub(lambda m: f" no {_none_of(m.string[: m.start()])} ", query)
    query = NONE_OF_THEM_ARE.sub(_none_of_are, query)
    # "none of the dogs are on leashes": the dogs are wanted, on a leash they are not
    query = NONE_OF_ARE.sub(lambda m: f"{m['det']} {m['what']}, no {m['what']} ", query)
    query = re.sub(r"\bwhere\s+nothing\s+is\s+", "with nothing ", query, flags=re.IGNORECASE)
    # "but not the ones with sunglasses": what the ones have stays with them (the thing: ONES)
    query = re.sub(r"\b(ones?)\s+with\s+", rf"\1 {WITH_OWNED} ", query, flags=re.IGNORECASE)
    query = re.sub(r"\s+[-–—]+\s+|\s*[–—]+\s*", ", ", query).strip(" ,")
    # "a cat, or a dog", "a cat or or a dog": one "or" between the alternatives
    query_split = OR_PUNCTUATED.sub(" or ", query)
    # "a red, blue or green balloon", "a cat, a dog or a rabbit": one OR group, not an AND
    # clause and a group of the last two
    query_split = COLOUR_LIST_OR.sub(_colour_alternatives, query_split)
    query_split = WORD_LIST_OR.sub(_word_alternatives, query_split)  # "cats, dogs, or birds"
    query_split = NOUN_LIST_OR.sub(  # "a cat, a dog or a rabbit"
        lambda m: re.sub(r"\s*,\s*", " or ", m["items"]) + m["last"] + " or ", query_split
    )
    # "black and white dog": an adjective pair is one word for splitting purposes, and so is a
    # count ("two or three cats"); "a dog, a cat or both" is one of them
    # "a big, red car", "a tall, thin man": two words of one thing (it was "a big" and "red car")
    query_split = ADJ_COMMA.sub(r"\1 ", query_split)
    query_split = ADJ_PAIR.sub(lambda m: f"{m.group(1)}\x00and\x00{m.group(2)}", query_split)
    query_split = COUNT_OR.sub(lambda m: f"{m.group(1)}\x00or\x00{m.group(2)}", query_split)
    query_split = re.sub(r"\s*,?\s+or\s+both\b", "", query_split, flags=re.IGNORECASE)
    # "a girl with a red umbrella crossing the street": the umbrella is the girl's (it was a
    # clause of its own, which crossed the street)
    query_split = OWNER_WITH.sub(_owner_with, query_split)
    # "a dog playing with a ball": the thing played with is the action's, not a second clause
    query_split = ACTION_WITH.sub(
        lambda m: m.group(0) if m.group(1).lower() in ING_NOUNS else f"{m.group(1)}\x00with", query_split
    )
    # "cows in a meadow with alps behind": behind everything, in the background (a clause "alps behind")
    query_split = BEHIND_END.sub(" in the background", query_split)
    query_split = COPULA_PLACE.sub(lambda m: f"{m['thing']} ", query_split)
    query_split = IDIOMS.sub(lambda m: "\x00".join(m.group(0).split()), query_split)
    query_split = ON_BODY.sub(lambda m: f"\x00{m.group(1)}\x00{m.group(2).replace(' ', chr(0))}", query_split)
    # "a scooter parked beside a fountain": where it is parked, not a second thing
    query_split = PLACED_BESIDE.sub(lambda m: f"{m.group(1)}\x00{m.group(2)}", query_split)
    query_split = NEITHER_BE.sub(lambda m: f" that isn't {m.group('first')} or ", query_split)
    # "neither a hat nor a scarf" excludes both, as "no a hat and no a scarf" does
    # "neither red nor blue cars": two coloured things, not "red" and "blue cars"
    query_split = NEITHER_ADJ.sub(lambda m: f"no {m['a']} {m['noun']} and no {m['b']} {m['noun']}", query_split)
    query_split = NEITHER_PROPERTY.sub(
        lambda m: f"not {m['a']} or {m['b']}", query_split
    )  # "a dog, neither big nor small"
    if NEITHER_NOR.search(query_split):
        query_split = NEITHER_NOR.sub(lambda m: f"no {m.group('first')} and no ", query_split)
        query_split = re.sub(r"\s+nor\s+", " and no ", query_split, flags=re.IGNORECASE)  # "... nor boats"
    query_split = NEGATED_LIST.sub(_negated_list, query_split)
    query_split = NO_THING_IS.sub(r"\1 ", query_split)
    query_split = PREDICATE_OR.sub(lambda m: f"{m['det'] or ''}{m['a']} or {m['b']} {m['noun']}", query_split)
    query_split = NOT_ONLY.sub("", query_split)  # "not only a cat but also a dog": both wanted
    query_split = NOT_PROPERTY_BUT.sub(
        lambda m: f"{indefinite_article(m['y'])} {m['y']} {m['noun']} that isn't {m['x']}", query_split
    )
    query_split = NOT_X_BUT_Y.sub(_not_but, query_split)
    query_split = BUT_ALSO.sub("and", query_split)
    # "nothing but sand": only sand, nothing excluded; "nothing on the table except a cup": the table too
    query_split = NOTHING_BUT.sub(lambda m: f"{m['obj']} with " if m["obj"] else "", query_split)
    query_split = NOTHING_PLACE.sub(_nothing_place, query_split)
    # "no" that names a thing rather than excluding one: "a no parking sign", "a sign that says
    # no entry"; the NUL keeps it one word until the clauses are written
    query_split = NAMED_NO.sub(lambda m: m.group(0)[:-1].rstrip() + "\x00", query_split)
    query_split = NEGATED_WEAR.sub(" not ", query_split)
    query_split = NEGATED_HAVE.sub(" without", query_split)
    # the word before stays ("pictures where [we didn't see] the sky": pictures is a carrier)
    query_split = WE_DID_NOT.sub(
        lambda m: f"{m['intro'] if (m['intro'] or '').lower() == ' where' else ''} without", query_split
    )
    query_split = DOES_NOT.sub(lambda m: f" not {participle(m['verb'])}", query_split)
    query_split = HAS_NO.sub(" with", query_split)
    query_split = NEGATED_BE.sub(" isn't", query_split)
    p = _english_plan(raw, query_split)
    return replace(
        p,
        optimized=_show_quoted(p.optimized),
        and_=[_show_quoted(a) for a in p.and_],
        not_=[_show_quoted(n) for n in p.not_],
        or_=[[_show_quoted(x) for x in g] for g in p.or_],
    )


def _english_plan(query: str, text: str) -> Plan:
    nots: list[str] = []
    text = _strip_carrier(text)
    for m in NOTHING.finditer(text):
        nots.append(_its_thing(_nothing_item(m), text[: m.start()]))
    text = NOTHING.sub("", text)

    def cut(m: re.Match) -> str:
        whats, rest = _negated(m, text)
        for what in whats:
            if what.lower() not in (n.lower() for n in nots):
                nots.append(what)
        return f" {rest}" if rest else ""

    positive = re.sub(r"^(?:but|and|or)\s+", "", _dangling(_clean(NEGATION.sub(cut, text))), flags=re.IGNORECASE)
    # "a house [without a roof] but with a chimney": the "but" was the negation's
    positive = re.sub(r"\s+but\s+(?=with\b)", " ", positive, flags=re.IGNORECASE)
    # "I [don't want any people], mountains": who asks is no part of the image
    positive = ", ".join(
        p
        for p in re.split(r"\s*,\s*", positive)
        if not PRONOUN_ONLY.match(re.sub(r"^(?:and|but|so|or)\s+", "", p, flags=re.IGNORECASE))
    )
    # nothing wanted but the excluded thing's place, or a time: the place is wanted ("no cars
    # on the street at night" -> "the street at night", NOT "cars")
    if nots and (not positive or TIME_WORDS.fullmatch(positive)):
        nots, places = _placed_apart(nots)
        if places:
            positive = f"{places[0]} {positive}".strip()
    # only a place is left, its preposition first ("[no green buses and no yellow buses] on a
    # bridge"): the place itself is wanted
    tokens = positive.split()
    if nots and tokens and (k := _modifier_start(tokens, 0)) and " ".join(tokens[:k]).lower() in LOCATIVE:
        if not TIME_WORDS.match(positive):
            positive = " ".join(tokens[k:])
    # nothing left but exclusions ("no person"): a neutral phrase, not the negated words, which
    # CLIP reads as the very thing excluded
    optimized = (positive or (NEUTRAL_EN if nots else text)).replace("\x00", " ")
    ands: list[str] = []
    ors: list[list[str]] = []
    subject = ""
    # "black and white dog": a one-word fragment before 'and' is an adjective, not a clause
    chunks = [c for c in CHUNK_SEPARATORS.split(positive) if c and c.strip()]
    merged: list[str] = []
    for c in chunks:
        if (
            merged
            and len(merged[-1].split()) == 1
            and not CJK.search(merged[-1])  # 咖啡 and a croissant: a noun, not an adjective
            and merged[-1].lower() not in DETERMINERS
            and not re.match(r"^(?:a|an|the)\b", merged[-1], re.IGNORECASE)
            and len(chunks) > 1
            and re.search(rf"\b{re.escape(merged[-1])}\s+and\s+{re.escape(c.split()[0])}", positive)
        ):
            merged[-1] = f"{merged[-1]} and {c}"
        else:
            merged.append(c.strip())
    action = ""
    bare_subjects: list[str] = []  # people or animals named bare, each followed by "and"
    for chunk in merged:
        chunk = re.sub(r"^(?:(?:with|and|but|also|or)\s+)+", "", chunk, flags=re.IGNORECASE)
        # "a laptop on it": "it" is the thing already named, so the place says nothing
        chunk = re.sub(rf"\s+{PRONOUN_PLACE}(?=\s|$)", "", chunk, flags=re.IGNORECASE)
        if not chunk or PRONOUN_ONLY.match(chunk):  # "I [don't want any people], mountains"
            continue
        if re.search(r"\s+or\s+", chunk):
            ors.append(_expand_or(chunk))
            continue
        tokens = chunk.split()
        if subject and (_modifier_start(tokens, 0) or _is_participle(tokens, 0)):
            chunk = f"{subject} {chunk}"  # "..., dancing in the rain" keeps the earlier subject
        elif action and _second_object(chunk, positive):
            ands.append(f"{action} {chunk}")  # "a woman wearing a hat and sunglasses"
            continue
        subj, mods = split_subject(chunk)
        # "a boy and a girl playing chess": both play; the bare subjects just before, joined by
        # "and", take the action and what follows it (not a place alone: "a cat and a dog on a
        # sofa" may be a scene of two things)
        acting = next((i for i, m in enumerate(mods) if _is_participle(m.split(), 0)), None)
        if acting is not None:
            while bare_subjects:
                other = bare_subjects.pop()
                ands.remove(other)
                ands += [f"{other} {m}" for m in mods[acting:]] if len(mods) > 1 else [f"{other} {mods[acting]}"]
        bare_subjects = [] if mods or not _joined_subject(chunk, positive) else [*bare_subjects, chunk]
        fact = mods[-1].split() if mods else []
        # the subject and verb of an action done to a thing ("a woman wearing"), or what a person
        # has ("a girl with"), for a second thing
        owned = len(fact) > 1 and (_is_participle(fact, 0) or fact[0] == WITH_OWNED)
        action = f"{subj} {fact[0]}" if owned else ""
        if len(mods) >= 2:
            subject = subj
            ands += [f"{subj} {m}" for m in mods]
        else:
            subject = subj if mods else chunk
            ands.append(chunk)
    ands = list(dict.fromkeys(a.replace("\x00", " ") for a in ands if a))
    if merged:  # ", not in the water" / ", not smiling" negate a fact about the subject
        head = split_subject(merged[0])[0]
        # a place where people do things does not act: "a cafe, no smoking" excludes someone
        # smoking, not "a cafe smoking" (but "a park, not covered in snow", "a train, not moving")
        venue = bool(set(head.lower().split()[-1:]) & VENUES)
        nots = [
            (f"a person {n}" if venue and re.fullmatch(r"[a-z]{3,}ing", n.lower()) else f"{head} {n}")
            if _a_fact(n.split())
            else n
            for n in nots
        ]
        # "the ones with sunglasses": the ones are the subject's kind ("kids with sunglasses"); the
        # ones of "photos from last summer, not the ones with my ex" are photos: what is in them
        noun = _strip_det(head).split()[-1] if _strip_det(head).split() else ""
        if photos := PHOTO_WORD.search(head):
            noun = photos.group(0)
        nots = [ONES_WITH.sub("", n) if photos else n for n in nots]
        nots = [
            ONES.sub(lambda m: noun if m.group(1).lower() == "ones" else singular(noun), n) if noun else n for n in nots
        ]
    # "cars except red ones": red cars (the ones are the wanted thing's kind)
    kind = _strip_det(split_subject(positive.split(",")[0])[0]).split()[-1:] if positive else []
    nots = [
        f"{one.group(1)} {kind[0]}"
        if kind and (one := PROPERTY_ONES.fullmatch(n)) and _is_property(one.group(1))
        else n
        for n in nots
    ]
    ors = [[x.replace("\x00", " ") for x in g] for g in ors]
    # a bare subject is implied by a longer clause about it ("a man" / "a man holding ...")
    ands = [a for a in ands if not any(b.lower().startswith(a.lower() + " ") for b in ands)]
    entities: dict[str, str | None] = {"time": None, "place": None, "person": None}
    # from the wanted text only: "a street, not at night" has no time
    if t := TIME_WORDS.search(positive):
        entities["time"] = t.group(1)
    if p := PLACE.search(positive):
        entities["place"] = p.group(1).strip()
    intent = Plan.intent_of(ands, nots, ors)

    def shown(t: str) -> str:
        return t.replace(WITH_OWNED, "with")

    return Plan(
        raw=query,
        intent=intent,
        entities=entities,
        optimized=shown(optimized),
        and_=[shown(a) for a in ands],
        not_=[shown(n) for n in nots],
        or_=[[shown(x).strip() for x in g] for g in ors],  # "red or blue but not both" left "red "
    )


# "not even one X" / "nothing at all": 一个人都没有 -> NOT 人, 什么也没有 -> NOT 东西
ZH_NONE = re.compile(
    r"(?:什么|(?:一个|一位|一只|一辆|一张|一条|一棵|一件|一本)(?P<what>(?!什么)[\u4e00-\u9fff]{1,3}?))(?:都|也)(?:没有|没)"
)


# Where an absence is said to be, left behind when the negation is cut: "一张床，床上没有枕头"
# leaves "床上", "一盘水果，里面没有香蕉" leaves "里面". Neither is a thing to look for.
ZH_PLACE_WORD = re.compile(r"^(?:里面|上面|下面|外面|里头|其中|这里|那里|周围|旁边)$")
# who asks, left alone when the negation is cut: 请[排除水印], 我[不想看到任何汽车]
ZH_ASKER = re.compile(r"^(?:请|麻烦|帮我|我|我们)$")
ZH_LOCATIVE = re.compile(r"^(?P<noun>[\u4e00-\u9fff]{1,4}?)(?:上面|里面|下面|上|里|中|内|下)$")


def _zh_no_clause(chunk: str, chunks: list[str]) -> bool:
    """Whether `chunk`, left behind by a cut negation, is no clause: it only says where, of a
    thing another chunk names ('床上' beside '一张床') or of nothing ('里面'), or who asks ('请')."""
    if ZH_ASKER.match(chunk):
        return True
    if ZH_PLACE_WORD.match(chunk):
        return len(chunks) > 1
    m = ZH_LOCATIVE.match(chunk)
    if not m:
        return False
    noun = m.group("noun")
    stem = noun[:-1] if len(noun) > 1 and noun[-1] in "面边头" else noun  # 湖面 -> 湖
    return any(stem in c for c in chunks if c != chunk)


MEASURE_WORDS = "个只张辆条件位片棵头匹双座碗杯把"  # Chinese measure words after 一 / 两 / 这 ...
ZH_MEASURE_DE = re.compile(rf"((?:^|[^\u4e00-\u9fff]|[一两三几这那])[{MEASURE_WORDS}])的")
ZH_PLACE_TAIL = re.compile(r"(?:在|放在|坐在|停在|躺在|站在)\s*[\u4e00-\u9fffA-Za-z][\u4e00-\u9fffA-Za-z ]*$")
ZH_MEASURE = re.compile(rf"^[一两三几这那][{MEASURE_WORDS}]")
# what opens a chunk without being part of the thing: 有一个喷泉, 也有一只狗
ZH_THERE_IS = re.compile(rf"^(?:(?:也|还|又)有|有(?=[一两三几这那][{MEASURE_WORDS}]))")
# 红色、蓝色或者绿色的气球 / 一只猫，一只狗或者一只兔子: a list of alternatives ending in 或者
ZH_LIST_OR = re.compile(
    rf"(?P<items>(?:(?:[^，,、；;。或和与及]{{1,4}}、)+|(?:[一两三几][{MEASURE_WORDS}][^，,、；;。或和与及]{{1,4}}[，,、])+))"
    rf"(?=[^，,、；;。或和与及]{{1,8}}?(?:或者|或是|或))"
)


def _zh_alternatives(alts: list[str]) -> list[str]:
    """Alternatives that are only a modifier take the noun of the last one: 红色或者蓝色的自行车 ->
    红色的自行车 / 蓝色的自行车 (it used to be 红色 / 蓝色的自行车), 大的或小的狗 -> 大的狗 / 小的狗;
    the last one's place goes to every other (一只猫或者一只狗在沙发上)."""
    alts = _zh_colour_alternatives(alts)
    # 沙发上一只猫或者一只狗: the place before the first thing is every thing's (一只狗在沙发上)
    if (place := ZH_PLACE_FIRST.match(alts[0])) and all(ZH_MEASURE.match(a) for a in alts[1:]):
        where = place["place"]
        return [f"{a}在{where}" for a in [alts[0][place.end() :], *alts[1:]]]
    last = alts[-1]
    if "的" in last:
        head = last.rsplit("的", 1)[1]
        out = []
        for a in alts[:-1]:
            core = ZH_MEASURE.sub("", a)  # 一只黑色或白色的猫: 黑色 is the modifier
            out.append(f"{a}{head}" if a.endswith("的") else a if "的" in a or len(core) > 3 else f"{a}的{head}")
        alts = [*out, last]
    # 一只猫或者一只狗在沙发上: the place of the last alternative belongs to every bare one
    place = ZH_PLACE_TAIL.search(last)
    if place:
        gap = " " if place.group(0).startswith(("在 ",)) else ""  # a mixed clause keeps its spaces
        alts = [a if ZH_PLACE_TAIL.search(a) else a + gap + place.group(0) for a in alts[:-1]] + [last]
    return alts


ZH_PLACE_END = "上里中下内边旁外"  # how a place word ends: 草地上, 公园里, 河边
ZH_PLACE_FIRST = re.compile(
    rf"^在?(?P<place>[\u4e00-\u9fff]{{1,4}}?[{ZH_PLACE_END}])(?=[一两三几这那][{MEASURE_WORDS}])"
)
ZH_COLOUR = re.compile(r"(?:[红蓝绿黄白黑紫橙棕粉灰金银]|咖啡)色")


def _zh_colour_alternatives(alts: list[str]) -> list[str]:
    """Colours listed inside one phrase: what comes before the first colour and after the last
    one is each colour's. 穿红色、蓝色或者绿色衣服的人 (split as 穿红色 / 蓝色 / 绿色衣服的人) ->
    穿红色衣服的人 / 穿蓝色衣服的人 / 穿绿色衣服的人. Returned as they are unless every alternative
    but the last is a colour (after the first one's words) and the last one goes on after its colour."""
    found = [ZH_COLOUR.search(a) for a in alts]
    if not all(found):
        return alts
    start = alts[0][: found[0].start()]  # type: ignore[union-attr]
    end = alts[-1][found[-1].end() :]  # type: ignore[union-attr]
    for i, (a, m) in enumerate(zip(alts, found)):
        assert m is not None
        before, after = a[: m.start()], a[m.end() :]
        if before not in ("", start) or (i < len(alts) - 1 and after not in ("", "的")):
            return alts
    if not end:
        return alts
    return [f"{start}{m.group(0)}{end}" for m in found if m]


ZH_PLACED = re.compile(
    rf"^(?P<thing>[^，,、；;。]+?)(?:{_ZH_POSE_VERB}在(?P<at>[^，,、；;。]+)|在(?P<place>[^，,、；;。]+[{ZH_PLACE_END}]))$"
)


def _zh_only_place(positive: str, nots: list[str]) -> str:
    """The wanted side of a query that only excludes, as the English rules give it ("no cars on
    the street" -> "the street"): 没有汽车停在路边 -> 路边 (and NOT 汽车, changed in `nots`),
    [没有红色的汽车]停在路边 -> 路边; a place alone loses its locative suffix, as the annotations
    write it (教室里没有学生 -> 教室). Anything else is returned as it is."""
    if not positive:
        for i, n in enumerate(nots):
            if m := ZH_PLACED.match(n):  # 停在门口: a verb of placing says 门口 is a place
                nots[i], positive = m["thing"], m["at"] or m["place"]
                break
    elif m := re.fullmatch(rf"{_ZH_POSE}在(?P<place>[^，,、；;。]+)", positive):
        positive = m["place"]
    m = ZH_LOCATIVE.match(positive)
    if m and len(m["noun"]) >= 2 and not ZH_MEASURE.match(positive) and not re.search("[在的有]", m["noun"]):
        positive = m["noun"]
    return positive


def _zh_there_is(m: re.Match, query: str) -> str:
    """What 除了X…没有 wants: 有X after a place (海滩上有沙子), X alone at a clause's start."""
    at_start = not query[: m.start()] or query[m.start() - 1] in "，,、；;。"
    return m.group("what") if at_start else f"有{m.group('what')}"


def _zh_not_but(m: re.Match) -> str:
    """不是X而是Y: Y, not X; with the words before it: a place (沙发上不是猫而是狗 -> 狗在沙发上) or
    a subject (他不是医生而是老师 -> 他是老师)."""
    pre, x, y = m["pre"], m["x"], m["y"]
    if pre and pre[-1] in ZH_PLACE_END:
        y = f"{y}在{pre.removeprefix('在')}"
    elif pre:
        y = f"{pre}是{y}"
    return f"{y}，不是{x}"


def _zh_either(m: re.Match) -> str:
    """要么…要么 as alternatives, each with the words before it: a place (草地上 -> 猫在草地上),
    or the thing two properties are said of (汽车 -> 红色的汽车)."""
    pre, a, b = m.group("pre"), m.group("a").removesuffix("的"), m.group("b").removesuffix("的")
    if not pre:
        return f"{a}或者{b}"
    if pre[-1] in ZH_PLACE_END:
        pre = pre.removeprefix("在")  # 在公园里要么…: one 在
        return f"{a}在{pre}或者{b}在{pre}"
    if ZH_PROPERTY.match(a) and ZH_PROPERTY.match(b):
        if counted := ZH_MEASURE.match(pre):  # 一只狗: 一只黑色的狗, not 黑色的一只狗
            return "或者".join(f"{pre[: counted.end()]}{p}的{pre[counted.end() :]}" for p in (a, b))
        return f"{a}的{pre}或者{b}的{pre}"
    return f"{pre}{a}或者{pre}{b}"


def _zh_property_thing(prop: str, query: str, m: re.Match) -> str:
    """A negated property with the thing it is said of, as the held-out annotations write it:
    一只不是棕色的狗 -> 棕色的狗; 一只白色的小猫，不是黑色的 -> 黑色的小猫 (the thing the clause
    before names). The property alone when no thing is found."""
    rest = query[m.end() :]
    more = ZH_MORE_PROPERTIES.match(rest)
    after = re.match(
        r"的(?P<noun>[^，,、；;。和与及的在]{1,4})(?=在|[，,、；;。]|$)", rest[more.end() if more else 0 :]
    )
    if after:
        return f"{prop}的{after.group('noun')}"
    # the clause before, past the other negations of a list (一只狗，既不是黑色也不是白色)
    segments = [ZH_NEG.sub("", c).strip(" 既也又还") for c in re.split(r"[，,、；;。]", query[: m.start()])]
    before = next((c for c in reversed(segments) if c), "")
    if re.match(r"的?(?:[，,、；;。]|也|又|$)", rest) and before:
        from csdclip_cli.rewrite.zh_clauses import tag

        subject = re.split(r"在|正在", before)[0] or before  # 一只猫在沙发上: the cat, not the sofa
        nouns = [w for w, f in tag(subject) if f.startswith("n") and not ZH_PROPERTY.match(w)]
        bare = ZH_MEASURE.sub("", subject)  # 一只鸟: jieba may not tag 鸟 a noun after 一只
        if not nouns and re.fullmatch(r"[\u4e00-\u9fff]{1,4}", bare) and not ZH_PROPERTY.match(bare):
            nouns = [bare]
        after_de = subject.rsplit("的", 1)[-1].strip() if "的" in subject else ""
        if not nouns and re.fullmatch(r"[A-Za-z][A-Za-z -]{0,30}", after_de):  # 蓝色的 sneakers
            nouns = [after_de]
        if nouns and (noun := ZH_MEASURE.sub("", nouns[-1])):
            return f"{prop}的{' ' if noun[:1].isascii() else ''}{noun}"
    return prop


# 和 / 与 / 及 join two things only as words of their own: 和服 (a kimono), 和平, 暖和 and 与众不同
# keep theirs. jieba finds the words; inside one, the character is hidden from the regexes.
ZH_JOINERS = {"和": "\x01", "与": "\x02", "及": "\x03"}
# 无 / 不 / 没 negate only as words of their own: 无人机 (a drone), 无线耳机, 无轨电车, 不锈钢,
# 无尾熊 and the city 无锡 are things (一架无人机在海滩上 excluded 人机在海滩上). Words of three or more
# characters and names are hidden; two-character 无X words (无人, 无糖, 无袖) say "without X".
ZH_NEGATORS = {"无": "\x05", "不": "\x06", "没": "\x07"}
# 别 ("don't") inside a word says nothing: 特别, 区别, 性别, and 别墅 / 别致 / 别人 begun by it
ZH_BIE = "\x08"
BIE_WORDS = {"别墅", "别致", "别针", "别名", "别扭", "别具", "别克", "别样"}  # not 别的 / 别人: "other"
# two-character 无 words that say how something is, not what is missing (一个无聊的男人 excluded 聊)
WU_WORDS = {
    "无聊", "无数", "无辜", "无边", "无助", "无奈", "无限", "无比", "无穷", "无私", "无知", "无敌", "无情", "无言",
    "无声", "无形", "无名", "无语", "无尽", "无际", "无忧", "无畏", "无趣", "无力", "无望", "无暇", "无价", "无垠",
}  # fmt: skip
ZH_HIDDEN = ZH_JOINERS | ZH_NEGATORS | {"别": ZH_BIE}
# words with a negator inside that negate nothing: 淹没 (flooded), 出没, 差不多, 了不起
ZH_NEGATOR_INSIDE = {
    "淹没", "沉没", "埋没", "出没", "湮没", "吞没", "隐没", "覆没", "泯没", "差不多", "了不起", "对不起", "来不及",
    "忍不住", "受不了", "不得不", "虚无", "要不然",
}  # fmt: skip


def _hide_joiners(text: str) -> str:
    """`text` with the joiners and negators inside jieba's words hidden (ZH_HIDDEN marks)."""
    if not any(c in text for c in ZH_HIDDEN):
        return text
    from csdclip_cli.rewrite.zh_clauses import tag

    out = []
    tokens = tag(text)
    for i, (word, flag) in enumerate(tokens):
        if len(word) > 1 and word not in ("以及", "和与"):
            for joiner, mark in ZH_JOINERS.items():
                word = word.replace(joiner, mark)
        if word[:1] in ZH_NEGATORS and (
            len(word) >= 3 or (len(word) == 2 and flag in ("ns", "nr", "nz")) or word in WU_WORDS
        ):
            word = ZH_NEGATORS[word[0]] + word[1:]
        if word in ZH_NEGATOR_INSIDE:  # 洪水淹没了街道 excluded 了街道上
            word = "".join(ZH_NEGATORS.get(c, c) for c in word)
        if _wu_attribute(tokens, i):
            word = ZH_NEGATORS["无"] + word[1:]
        if "别" in word[1:] or word in BIE_WORDS:
            word = word[0].replace("别", ZH_BIE) + word[1:].replace("别", ZH_BIE)
        out.append(word)
    return "".join(out)


def _wu_attribute(tokens: list[tuple[str, str]], i: int) -> bool:
    """Whether the 无 beginning jieba's word tokens[i] makes a kind of the thing named right after
    it (无袖连衣裙 a sleeveless dress, 无糖可乐, 无框眼镜: 无 / 框 / 眼镜), not an absence (无人的街道,
    街上无人, 无人海滩: no one there). ZH_NEGATORS' 2-character 无X words otherwise say "without X"."""
    word = tokens[i][0]
    if not word.startswith("无") or word[1:2] in ("人", ""):
        if word != "无" or i + 1 >= len(tokens) or len(tokens[i + 1][0]) != 1 or tokens[i + 1][0] == "人":
            return False
        i += 1  # 无 / 框 / 眼镜: jieba's one-character X
    elif len(word) != 2:
        return False
    after = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
    return bool(CJK.match(after[0])) and after[1].startswith(("n", "a")) and after[0] != "的"


def _show_joiners(text: str) -> str:
    for char, mark in ZH_HIDDEN.items():
        text = text.replace(mark, char)
    return text


@functools.lru_cache(maxsize=4096)  # the checks ask for one query's many times (jieba each time)
def lexical_negators_hidden(text: str) -> str:
    """`text` with 无 / 不 / 没 hidden where they begin a word that negates nothing (无人机, 不锈钢,
    无锡): for a search for negation cues. English text is returned as it is."""
    return _hide_joiners(text) if CJK.search(text) else text


_SEP = r"(^|[，,、；;])\s*"
_END = r"(?=[，,、；;。]|$)"
# How else people say what the rules read (each rewritten into the form the rules know), from a
# native speaker's 252 queries: other negation words, hedges and frame words before a negation,
# corrections, lists inside a 的-phrase
ZH_COLOUR_WORD = r"(?:深|浅|天|墨|咖啡)?[红橙黄绿青蓝紫黑白灰粉棕褐金银米]色"
ZH_SAID_OTHERWISE: list[tuple[re.Pattern, str | Callable[[re.Match], str]]] = [
    (
        re.compile(r"吗?\s*(?:[？?！!]+|(?<!\d)[：:](?!\d))\s*(?=\S)"),
        "，",
    ),  # 公园里有人吗？不要狗 / 帮我找：一座桥 (not 10:30)
    (re.compile(r"除了([^，,、；;。]{1,8}?)(?<![以之])外(?=的|[，,、；;。]|$)"), r"除了\1以外"),  # 除了狗外的宠物
    (re.compile(r"[？?！!。]+$"), ""),
    (re.compile(r"[，,]\s*(?=[，,])"), ""),  # 海边，，只有一只狗
    (re.compile(r"去掉|不需要|不想看到"), "不要"),
    (re.compile(r"不能有|不准有|不许有|禁止出现|不出现|不可以有"), "没有"),
    (re.compile(r"不包含"), "不含"),
    (re.compile(r"缺少|缺乏|看不(?:到|见)"), "没有"),  # 看不到天空的照片
    (re.compile(r"(?:我们?|你们?)?(?:不喜欢|讨厌)"), "不要"),  # 我不喜欢有人的照片: 我不喜欢有人 was wanted
    (
        re.compile(rf"({ZH_COLOUR_WORD})、(?=[\u4e00-\u9fff]{{1,3}}的)"),
        r"\1",
    ),  # 红色、闪亮的汽车: one car (一辆红色 was a clause)  # 缺少屋顶的房子 was wanted whole
    # two negations say "there is" (不是没有人的照片 excluded 没有人); 没有不戴帽子的人: all wear one
    # 蓝色的天空白色的云: two things said one after the other (a clause was 蓝色的天空白色)
    # (only between two nouns: not across 和 / 或 / 的, a measure word or a verb of wearing, nor in
    # what one wears: 穿白色的衬衫黑色的裤子的男人)
    (
        re.compile(
            rf"(的(?:(?![的和与及或还是也又没不无别要有穿戴着一两三几这那{MEASURE_WORDS}])[\u4e00-\u9fff]){{1,4}}?)(?={ZH_COLOUR_WORD}的)"
        ),
        lambda m: m[0] if re.search(r"[穿戴]", re.split(r"[，,、；;。]", m.string[: m.start()])[-1]) else m[1] + "，",
    ),
    (re.compile(r"(?:并不是|不是|并非)没有"), "有"),
    (re.compile(r"(?:并不是|不是|并非)不(?:想要|要)"), ""),
    (
        re.compile(r"(^|[，,、；;]\s*|所有的?|任何)有人(?=的|[，,、；;。]|$)"),
        r"\1人",
    ),  # (不是没)有人的照片, 排除所有有人的
    (re.compile(r"没有不(?=戴|穿|带|拿)"), ""),
    # a compared count excludes nothing (不超过两个人 is "at most two")
    (re.compile(r"不超过|不多于"), "最多"),
    (re.compile(r"不少于|不低于"), "至少"),
    (re.compile(r"空无一人"), "无人"),  # 空无一人的地铁站 excluded 一人
    (re.compile(r"((?:一[个只辆张条件位]|什么)[^，,、；;。]{0,3}?)(都|也)不要" + _END), r"\1\2没有"),  # 一个人都不要
    # 除了爷爷以外都在: everyone but grandpa, who is excluded
    (
        re.compile(
            r"除了([^，,、；;。]+?)(?:以外|之外)?[，,]?(?:其他的?|别的)?(?:什么)?(?:都在|都可以|都行|都要|都好)" + _END
        ),
        r"没有\1",
    ),
    (re.compile(r"(没有|没)([^，,、；;。]+?)陪(?:着|同)?" + _END), r"\1\2"),  # 没有大人陪
    # 天上一朵云都没有: not one cloud (it was wanted whole)
    (
        re.compile(
            r"(?<!除了)(?:一|半)[个只朵辆张片条棵位名头匹块架艘颗]?((?:(?!什么)[^，,、；;。都也]){1,4}?)(?:都|也)(?:没有|没)"
            + _END
        ),
        r"没有\1",
    ),
    (re.compile(r"(?:都行|都可以|都好|均可)" + _END), ""),  # 猫还是狗都行: either (OR [猫, 狗都行])
    (re.compile(_SEP + r"要(?!么|是|不)(?=[^，,、；;。]{2,})"), r"\1"),  # 不要红色的，要蓝色的车
    # 一只猫，背景不要是白色的: a white background is excluded (是白色的猫 was: the cat the query wants)
    (re.compile(_SEP + r"背景(?:里|中|上)?(?:不要|不能|不应该|别|不)是([^，,、；;。]+?)的?" + _END), r"\1不要\2的背景"),
    # hedges, pronouns and frames before a negation say nothing of the image: 最好没有人,
    # 它没有戴项圈, 天上没有云, 他的旁边没有其他人
    (re.compile(_SEP + r"(?:最好是?|尽量|希望|千万|请)(?=没|不|别|无)"), r"\1"),
    (
        re.compile(
            _SEP
            + r"(?:(?:它|他|她)们?的?)?(?:旁边|周围|附近|背后|后面|背景(?:里|中|上)?|(?<!^)天上|(?<!^)天空(?:里|中|上)?|"
            r"画面(?:里|中|上)?|照片(?:里|中|上)?|图片?(?:里|中|上)?)?(?:(?:它|他|她)们?)?(?=没|不要|别|无)"
        ),
        r"\1",
    ),
    # 天空中没有云 at the start: a sky is what is wanted (it was dropped as a frame, leaving no
    # clause); not when the negation is said of a thing after it (天空中没有云的沙漠: a desert)
    (
        re.compile(
            r"^天空?(?:里|中|上)(?=(?:没|不要|别|无)[^，,、；;。的]*(?:的(?:图片|照片|图像|画面|图))?(?:[，,、；;。]|$))"
        ),
        "天空",
    ),
    (
        re.compile(
            r"^天空?(?:里|中|上)?(?=(?:没|不要|别|无)[^，,、；;。]*的(?!(?:图片|照片|图像|画面|图)(?:[，,、；;。]|$)))"
        ),
        "",
    ),
    # 人不在画面里: no people in the picture (在画面里 was removed below, leaving 人不 wanted)
    (
        re.compile(
            r"(?P<pre>^|[，,、；;])\s*(?P<x>[^，,、；;。]+?)(?:都|也)?(?:不在|没在|不出现在|没出现在)"
            r"(?:画面|照片|图片|图|镜头)(?:里|中|上|内)?" + _END
        ),
        r"\g<pre>没有\g<x>",
    ),
    # 不在画面里的人: the people are not in it (不的人 was wanted)
    (
        re.compile(r"(?:不在|没在|不出现在|没出现在)(?:画面|照片|图片|图|镜头)(?:里|中|上|内)?的(?=[^，,、；;。])"),
        "没有",
    ),
    # 人不要太多: a crowd is what is not wanted (it wanted 人 and excluded 太多); 街上的人不要太多:
    # the street is wanted; 人不多的街道, 游客不要太多的景点: the street, the sight
    (
        re.compile(
            _SEP + r"(?:(?P<at>[^，,、；;。的]{1,6})的)?(?P<x>[^，,、；;。的]{1,4}?)(?:不要|不能|别|不想)太多" + _END
        ),
        lambda m: f"{m[1]}{m['at'] + '，' if m['at'] else ''}没有很多{m['x']}",
    ),
    (
        re.compile(_SEP + r"(?P<x>[^，,、；;。的]{1,4}?)(?:不要太多|不太多|不多)的(?P<y>[^，,、；;。的]{1,6})" + _END),
        r"\1\g<y>，没有很多\g<x>",
    ),
    # 不要同时有猫和狗, 猫和狗，但不要两个都有: one or the other (它 excluded 同时有猫)
    (re.compile(r"(?:不要|不是|别|不能)同时(?:有|出现)([^，,、；;。和与]+)[和与]([^，,、；;。]+)"), r"\1或\2"),
    (
        re.compile(
            r"([^，,、；;。和与]+)[和与]([^，,、；;。]+?)[，,]\s*(?:但是?)?(?:不要|别|不能)(?:两个|两样|两者|同时)都?有"
            + _END
        ),
        r"\1或\2",
    ),
    (re.compile(_SEP + r"(?:都|也)(?=没有?|不)"), r"\1"),  # 一群人，都没有戴眼镜 (都 was a clause)
    # 没有人戴帽子: people wearing hats are excluded (人戴帽子 was); 街上的人都没有打伞: the people are wanted
    # (没有人骑, a verb alone, stays: 人骑; 一个人都没有的, 既没有人也没有 are other rules')
    (re.compile(r"没有人(?=[戴穿拿打撑抽骑带抱牵])([^，,、；;。的]{2,})" + _END), r"没有\1的人"),
    (re.compile(r"(?<=[人们])(?:都|也)(?=(?:没有?|不)[戴穿拿打撑抽骑带抱牵在看笑])"), "，"),
    (re.compile(r"在(?:画面|照片|图片|图)(?:里|中(?![间心央])|上)"), ""),  # 别有人在画面里 (人在画面中间 was 人间)
    (re.compile(r"(不要|没有|别有)(?:背景|画面|照片|图片)(?:里|中|上)?的"), r"\1"),  # 不要背景里的车: the car
    (re.compile(_SEP + r"要(?!么|是)(?=[^，,、；;。]+?不要)"), r"\1"),  # 要猫不要狗
    (re.compile(_SEP + r"是([^，,、；;。不]+?)[，,]?不是"), r"\1\2，不是"),  # 是猫不是狗
    (re.compile(r"(?:颜色|顏色)(?=不是)"), ""),  # 一辆车，颜色不是红色
    # 一条街，没有一辆车是红色的: no red car (一辆车是红色 was the NOT)
    (
        re.compile(
            _SEP + rf"(?:没有|无)(?:一|任何一?)[{MEASURE_WORDS}]([^，,、；;。是]{{1,4}})是([^，,、；;。]+?)的?" + _END
        ),
        r"\1没有\3的\2",
    ),
    # 没有人和车的马路: the road is wanted, people and cars are not
    (
        re.compile(_SEP + r"(?:没有|无)([^，,、；;。的]+[和与及、][^，,、；;。的]+)的([^，,、；;。的]{1,4})" + _END),
        r"\1\3，没有\2",
    ),
    # 不要红色和蓝色的气球: both balloons are excluded, not the blue one wanted
    (
        re.compile(
            r"(不要|没有)([\u4e00-\u9fff]{1,3}色)(?:和|与|、|或者?)([\u4e00-\u9fff]{1,3}色)的([^，,、；;。的]{1,4})"
        ),
        r"\1\2的\4，\1\3的\4",
    ),
    # 穿裙子而不是裤子的女孩: the girl in a skirt; trousers are not worn
    (
        re.compile(r"(穿着?|戴着?)([^，,、；;。的而]+?)而不是([^，,、；;。的]+?)的([^，,、；;。的]{1,4})"),
        r"\1\2的\4，没有\1\3",
    ),
    # 一个穿白色T恤和牛仔裤的男人: each garment is the man's (the man was cut off the first)
    (
        re.compile(
            r"(?P<det>[一两三几这那][个位名]?)?(?<![不没])(?P<v>穿着?|戴着?)(?P<a>[^，,、；;。和与的或着]{1,6}?)(?:和|与|、)"
            # 或: an OR list; not 一只狗 or 打领带 after the joiner (another thing, another verb)
            r"(?P<v2>穿着?|戴着?)?(?![一两三几这那打撑拿说骑抱牵不没])(?P<b>[^，,、；;。和与的或着]{1,6}?)的(?P<head>[^，,、；;。的]{1,4})"
        ),
        lambda m: (
            f"{m['det'] or ''}{m['v']}{m['a']}的{m['head']}，{m['det'] or ''}{m['v2'] or m['v']}{m['b']}的{m['head']}"
        ),
    ),
    # 一个小孩没穿鞋在沙滩上跑, 一个没戴头盔骑摩托车的人: what is not worn or held ends where the place
    # or the next action begins (鞋在沙滩上跑 was excluded, the beach lost); said after the clause
    (
        re.compile(
            r"(?P<neg>没有?|不)(?P<v>穿着?|戴着?|带着?|打着?|撑着?|系着?)(?P<obj>[^，,、；;。和与及的在]{1,6}?)"
            r"(?P<rest>(?:在|正在|[走跑骑坐站躺开拿抱牵看玩吃喝])[^，,、；;。]*)"
        ),
        r"\g<rest>，\g<neg>\g<v>\g<obj>",
    ),
    # 一只鸟不在树上 (wanted the bird in the tree), 一只猫，不在沙发上而在床上: the thing is wanted, in
    # the place it is not in it is excluded (as "a bird, not in a tree"); 不在乎 / 不在意 are "care"
    (
        re.compile(
            r"(?P<subj>(?:^|(?<=[，,、；;。]))[^，,、；;。]+?)[，,]?\s*(?:不是在|不在|没在)(?!乎|意|话下)(?P<p1>[^，,、；;。而的]+?)"
            r"(?:[，,]?\s*(?:而是?|但是?|是)在(?P<p2>[^，,、；;。]+))?(?=[，,、；;。]|$)"
        ),
        lambda m: (
            # the thing itself, not what describes it (戴帽子的男人，不在城市里 excluded the hat-wearing
            # man's 的-phrase and wanted 男人的男人)
            f"{m['subj']}{'在' + m['p2'] if m['p2'] else ''}，"
            f"没有{ZH_CARRIER.sub('', m['subj'], count=1).split('的')[-1]}在{m['p1']}"
        ),
    ),
]
# a correction: 一条狗，不对，是一只猫 (the cat), 一个女孩在海边，不对，是在湖边 (the girl at the lake)
ZH_CORRECTED = re.compile(
    r"(?P<said>[^，,、；;。]+)[，,]\s*(?:不对|错了|不是|[哦噢啊呃]?不(?:对|不)?)\s*[，,]\s*(?:应该)?(?:是)?(?P<new>[^，,、；;。]+)"
)


def _zh_corrected(m: re.Match) -> str:
    said, new = m["said"], m["new"]
    if re.match(r"不|没|别|无|非", new):  # 一只猫，不，不要狗: an emphatic 不, no correction
        return f"{said}，{new}"
    from csdclip_cli.rewrite.zh_clauses import PLACE_TAIL

    if new.startswith("在") and "在" in said:  # only the place is corrected
        old_place, new_place = PLACE_TAIL.search(said), PLACE_TAIL.fullmatch(new)
        if old_place and new_place:  # 一个男人在公园跑步，不对，是在海边: he still runs
            return said[: old_place.start()] + new + said[old_place.end() :]
        return said[: said.rindex("在")] + new
    if ZH_MEASURE.match(new) and ZH_MEASURE.match(said) and "在" in said:  # 一个女孩在沙滩上，不对，是一个男孩
        return new + said[said.index("在") :]
    count = re.fullmatch(rf"[一二两三四五六七八九十几]+[{MEASURE_WORDS}]", new)
    if count and (old_count := re.match(rf"[一二两三四五六七八九十几]+[{MEASURE_WORDS}]", said)):
        return new + said[old_count.end() :]  # 三只猫，不对，是四只
    # 一个男孩骑着自行车，不对，是骑着摩托车 / 一个穿裙子的女孩，不对，是穿裤子的: from the verb on
    verb = next((new[:n] for n in (2, 1) if len(new) > n and new[:n] in said and CJK.match(new[:n])), None)
    if verb and not ZH_MEASURE.match(new):
        at = said.index(verb)
        if new.endswith("的") and "的" in said[at:]:
            return said[:at] + new + said[said.index("的", at) + 1 :]
        return said[:at] + new
    colour = re.fullmatch(rf"({ZH_COLOUR_WORD})的?", new)
    if colour and re.search(ZH_COLOUR_WORD, said):  # 一辆红色的车，不，是蓝色的: the colour
        return re.sub(ZH_COLOUR_WORD, colour[1], said, count=1)
    if colour and (measure := ZH_MEASURE.match(said)):  # 一辆车，不对，是蓝色的
        return f"{measure.group(0)}{colour[1]}的{said[measure.end() :]}"
    if new.endswith("的") and (photo := re.fullmatch(r"(.+?)的(?:图|图片|照片|画面)", said)):
        return new[:-1] if len(new) > 1 else photo.group(1)  # 找一张猫的图，哦不，是狗的: a dog
    if new.endswith("的") or len(new) <= 1:  # 一只大狗，不对，是小的: which part is corrected is not said
        return said  # (as in English: the query as said; "不对" was a clause of its own)
    return new


@functools.cache
def _t2s() -> Callable[[str], str]:
    """OpenCC's traditional-to-simplified conversion (its t2s table; loaded once, 3 ms)."""
    import opencc

    return opencc.OpenCC("t2s").convert


def simplified(text: str) -> str:
    """`text` with traditional Chinese characters in simplified ones (OpenCC t2s, character for
    character: 沒有人 -> 没有人); text without Chinese is returned as it is."""
    return _t2s()(text) if CJK.search(text) else text


def _zh_said_otherwise(text: str) -> str:
    """`text` in simplified characters (OpenCC t2s: 沒有 / 無 / 別 are the rules' 没有 / 无 / 别) and
    with the ways of saying things listed in ZH_SAID_OTHERWISE rewritten into the rules' forms;
    非 / 未 standing alone (jieba's words: not 非常, 非洲, 未来) become 不是 / 没."""
    text = simplified(text)
    if any(c in text for c in "非未除/") or "无人" in text:
        text = _zh_words_said_otherwise(text)
    while (said := ZH_CORRECTED.sub(_zh_corrected, text)) != text:  # 一条狗，不对，是一只猫，不对，是一只兔子
        text = said
    for pattern, words in ZH_SAID_OTHERWISE:
        text = pattern.sub(words, text)
    return text


def _zh_words_said_otherwise(text: str) -> str:
    """By jieba's words: 除 standing alone is 除了 (除狗外; not 除草机, 清除); 未 before wearing or
    holding is 没 (未打伞; not 未干, 未开封); 非 before a colour is 不是 (非黑白; not 非卖品,
    非机动车); "/" between two nouns of one length is 或者 (猫/狗; not 黑/白照片, 男/女厕所); 无人
    before a noun is 无人的 (无人海滩; not 无人机)."""
    from csdclip_cli.rewrite.zh_clauses import tag

    tokens = tag(text)
    out: list[str] = []
    for i, (word, flag) in enumerate(tokens):
        before = tokens[i - 1] if i else ("", "")
        after = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        if word == "除" and flag == "p":
            word = "除了"
        elif word == "未" and after[0][:1] in "戴穿带打撑拿系骑背" and after[0]:
            word = "没"
        elif word == "非" and (after[0] in ("黑白", "彩色") or after[0].endswith("色")) and after[0]:
            word = "不是"
        elif word == "/" and before[1].startswith("n") and after[1].startswith("n") and len(before[0]) == len(after[0]):
            word = "或者"
        elif word == "无人" and CJK.match(after[0]) and after[1].startswith("n"):
            word = "无人的"  # 无人海滩: a beach without people (it excluded 人海滩)
        out.append(word)
    return "".join(out)


# quoted words are text shown in the image: 一个写着“没有人”的牌子 (it excluded 人”), 「不要停车」
ZH_QUOTED = re.compile(r"[“「『\"][^“”「」『』\"]{1,100}[”」』\"]")


def _gen_as_and(text: str) -> str:
    """`text` with 跟 read as 和 where it joins two things (一个男孩跟一只狗在公园: the boy and the dog
    are in the park), a word of its own between a noun and a counted thing that no verb follows; not
    跟着 (following), 跟在…后面, 一个人跟狗说话 (with), 我跟你说 or 高跟鞋."""
    if "跟" not in text:
        return text
    from csdclip_cli.rewrite.zh_clauses import tag

    tokens = tag(text)

    def joins(i: int) -> bool:
        # a counted thing after it (一只狗): 跟狗说话, 跟他的狗散步 say "with" (jieba tags 散步 a noun)
        if not (0 < i < len(tokens) - 1 and tokens[i - 1][1].startswith("n") and tokens[i + 1][1] == "m"):
            return False
        j = i + 1  # the noun phrase after it, then what follows: a verb or 一起 make it "with"
        while j < len(tokens) and tokens[j][1][:1] in ("m", "n", "r", "q", "u", "a", "b"):
            j += 1
        return j > i + 1 and (j == len(tokens) or tokens[j][1][:1] not in ("v", "d"))

    return "".join("和" if word == "跟" and joins(i) else word for i, (word, _flag) in enumerate(tokens))


def _chinese(query: str) -> Plan:
    hidden: dict[str, str | int | None] = dict(ZH_HIDDEN)
    quoted = ZH_QUOTED.sub(lambda m: m.group(0).translate(str.maketrans(hidden)), query)
    p = _chinese_plan(query, _hide_joiners(_zh_said_otherwise(_gen_as_and(quoted))))

    # 没有猫没有狗只有鸟: after what is excluded, "only" says nothing of the bird (只有一个人的街道 keeps it)
    def shown(t: str) -> str:
        t = _show_joiners(t)
        return t.removeprefix("只有") if p.not_ and len(t) > 2 else t

    return Plan(
        raw=query,
        intent=p.intent,
        optimized=shown(p.optimized),
        and_=[shown(a) for a in p.and_],
        not_=[_show_joiners(n) for n in p.not_],
        or_=[[_show_joiners(x) for x in g] for g in p.or_],
    )


def _chinese_plan(raw: str, query: str) -> Plan:
    """The plan of Chinese `raw`, from `query` (raw with joiners inside words hidden)."""
    nots: list[str] = []
    query = ZH_CARRIER_END.sub("", ZH_CARRIER.sub("", query, count=1)) or query
    query = ZH_OR_PUNCTUATED.sub(r"\1", query)  # 一只猫，或者一只狗: one group
    query = ZH_ONLY.sub(lambda m: _zh_there_is(m, query), query)
    # 一个女孩，要么穿红裙子，要么穿蓝裙子: the subject before the commas is both alternatives'
    query = re.sub(r"([^，,、；;。]+)[，,]\s*要么([^，,、；;。]+)[，,]\s*要么", r"\1要么\2要么", query)
    query = ZH_EITHER.sub(_zh_either, query)
    query = ZH_NOT_BUT.sub(_zh_not_but, query)
    query = ZH_BOTH_NEG.sub(r"\1，\2", query)
    query = ZH_ONLY_OTHER.sub(
        lambda m: (
            (f"{m['head']}里有{m['what']}" if m["head"] else _zh_there_is(m, query))
            + (f"，没有其他{m['kind']}" if m["kind"] else "")
        ),
        query,
    )
    query = ZH_NOT_ONLY.sub("", query)
    query = ZH_LIST_OR.sub(lambda m: re.sub(r"[，,、]", "或者", m.group("items")), query)
    for m in ZH_NEG_PROPERTY.finditer(query):
        nots.append(m.group("what"))
    # 没有红色的车: no red car; 不是红色的车 opening the query: a car, but not a red one (after a
    # clause, 一辆车，不是红色的车, the thing is named already)
    query = ZH_NEG_PROPERTY.sub(
        lambda m: (m["thing"] if m["cue"] == "不是" and not m.start() else "") + (m["where"] or ""), query
    )
    for m in ZH_NONE.finditer(query):
        nots.append(m.group("what") or "东西")
    left = ZH_NONE.sub("", query).strip(" ，,、；;。")
    if nots and not left:  # 一个人也没有: only an exclusion (it used to read 有 as a second one)
        return Plan(raw=raw, intent=Plan.intent_of([], nots, []), optimized=NEUTRAL_ZH, and_=[], not_=nots)
    query = left or query
    for m in ZH_NEG.finditer(query):
        for what in re.split(r"或者|或是|[和与及或、]", m.group("what").strip(" 的")):
            # 不要白色的 / 不要短头发的: said of the thing the clause before names
            dangling = re.match(r"的(?:[，,、；;。]|$)", query[m.end() :]) and len(what) <= 4
            if m["head"]:  # 滑雪的人; 背景里的房子: a place says where, the house is excluded
                worn = m["verb"] if m["verb"] in ("穿", "戴", "带") else ""  # 没有穿校服的人
                what = m["head"] if what[-1] in ZH_PLACE_END else f"{worn}{what}的{m['head']}"
            else:
                what = _zh_property_thing(what, query, m) if ZH_PROPERTY.match(what) or dangling else what
            if what and what not in nots:
                nots.append(what)
    # 一座没有花园的房子 leaves 一座的房子: a measure word takes no 的
    positive = ZH_MEASURE_DE.sub(r"\1", ZH_NEG.sub("", query)).strip(" ，,、；;。的")
    positive = re.sub(r"的(?=[，,、；;。]|$)", "", positive)  # 一辆车[，不是红色]的，在街上: a 的 left alone
    positive = re.sub(r"^[和与及]+", "", positive)  # [没有狗]和一只猫: the joiner of the cut negation
    positive = re.sub(r"(^|[，,、；;])\s*(?:只要|只想要|只想看|只看)\s*", r"\1", positive)  # 不要人，只要山: the 山
    if re.fullmatch(rf"[一两三几这那][{MEASURE_WORDS}]", positive):  # 一张[不含文字的图片]: no thing is left
        positive = ""
    if nots:
        positive = _zh_only_place(positive, nots)
    optimized = positive or (NEUTRAL_ZH if nots else query)
    from csdclip_cli.rewrite.zh_clauses import distribute_existential, distribute_place, split_chunk

    chunks: list[str] = []
    joined: list[bool] = []  # joined[k]: chunk k follows a 和 / 与 (a comma list shares no place)
    ors: list[list[str]] = []
    pieces = re.split(f"({ZH_SEPARATORS.pattern})", positive)
    for k in range(0, len(pieces), 2):
        chunk, sep = pieces[k], (pieces[k - 1].strip() if k else "")
        chunk = ZH_THERE_IS.sub("", chunk.strip(" ，,、；;。").removeprefix("的").removesuffix("的"))
        if not chunk:
            continue
        # 一辆车，…，在街上: the car's place; 一个女孩，戴着眼镜: the girl's glasses
        if (
            chunk.startswith(("在", "戴着", "穿着", "拿着", "背着"))
            and chunks
            and len(chunk) > 2 - chunk.startswith("在")
        ):
            chunks[-1] += chunk
            continue
        alts = [a.strip() for a in ZH_OR.split(chunk) if a.strip()]
        if len(alts) > 1:
            ors.append(_zh_alternatives(alts))
        elif alts:  # 一只猫或者 / 或者一只猫: one alternative is no choice
            chunks.append(alts[0])
            joined.append(sep in ("和", "与", "及", "以及"))
    for c in [c for c in chunks if _zh_no_clause(c, chunks)]:
        del joined[chunks.index(c)]
        chunks.remove(c)
        optimized = (
            re.sub(rf"[，,、；;]?\s*{re.escape(c)}(?=[，,、；;]|$)", "", optimized).strip(" ，,、；;") or optimized
        )
    if not chunks and not ors and nots:  # nothing wanted is left: the neutral phrase
        optimized = NEUTRAL_ZH
    chunks = [_show_joiners(c) for c in chunks]  # jieba reads the clause whole
    things = distribute_place(distribute_existential(chunks), joined)
    ands = list(dict.fromkeys(c for chunk in things for c in split_chunk(chunk)))
    intent = Plan.intent_of(ands, nots, ors)
    return Plan(raw=raw, intent=intent, optimized=optimized, and_=ands, not_=nots, or_=ors)


def _is_chinese(part: str) -> bool:
    """More CJK characters than Latin words."""
    return len(CJK.findall(part)) > len(re.findall(r"[A-Za-z]+", part))


def script_runs(query: str) -> list[tuple[bool, str]]:
    """The query cut at commas into runs of one language: [(is_chinese, text), ...].
    'a red car, no dog, 没有人' -> [(False, 'a red car, no dog'), (True, '没有人')]."""
    runs: list[tuple[bool, list[str]]] = []
    for part in re.split(r"\s*[,;，；、]\s*", query):
        if not part.strip():
            continue
        zh = _is_chinese(part)
        if runs and runs[-1][0] == zh:
            runs[-1][1].append(part)
        else:
            runs.append((zh, [part]))
    return [(zh, ("，" if zh else ", ").join(parts)) for zh, parts in runs]


def _merge(query: str, plans: list[Plan]) -> Plan:
    def union(lists: list[list]) -> list:
        out: list = []
        for xs in lists:
            out += [x for x in xs if x not in out]
        return out

    ands, nots = union([p.and_ for p in plans]), union([p.not_ for p in plans])
    ors = union([p.or_ for p in plans])
    entities = {k: next((p.entities.get(k) for p in plans if p.entities.get(k)), None) for k in plans[0].entities}
    optimized = ", ".join(p.optimized for p in plans if p.and_ or p.or_) or query
    intent = Plan.intent_of(ands, nots, ors)
    return Plan(raw=query, intent=intent, entities=entities, optimized=optimized, and_=ands, not_=nots, or_=ors)


# Words of the other language inside a run (a mixed query without commas): their cues in this
# one's words, so that its rules read them ("帮我找 a cat without 尾巴", "no 车 no 人")
EN_IN_ZH = [
    (re.compile(r"^\s*(?:(?:please\s+)?(?:show|find|give|get)\s+me|search\s+for|find)\s+", re.IGNORECASE), ""),
    (re.compile(r"\b(?:pictures?|photos?|images?)\s+of\s+", re.IGNORECASE), ""),
    (re.compile(r"\s*\bbut\b\s*", re.IGNORECASE), "，"),  # "一个女孩在海边 but no 男人": no clause "but"
    (re.compile(r"\s*\b(?:without|no)\b\s*", re.IGNORECASE), "，没有"),
    (re.compile(r"\s*\bnot\b\s*", re.IGNORECASE), "，不是"),
    (re.compile(r"\s+or\s+", re.IGNORECASE), "或者"),
    (re.compile(r"\s+and\s+", re.IGNORECASE), "和"),
]
ZH_IN_EN = [
    (re.compile(r"^\s*(?:请|麻烦)?(?:帮我|给我)?(?:找|搜索|看看)(?:一下)?(?:一张|一些)?\s*"), ""),
    (re.compile(r"^\s*(?:照片|图片|图像|画面)\s*(?=of\b)"), "a photo "),
    (re.compile(r"\s*(?:没有|不要|不含|无)\s*"), ", no "),
    (re.compile(r"\s*(?:或者|或)\s*"), " or "),
    (re.compile(r"\s*(?:和|与)\s*"), " and "),
]


def _one_script(text: str, zh: bool) -> str:
    """`text` with the other language's carriers and cues (EN_IN_ZH / ZH_IN_EN) in this one's words."""
    if zh and re.search(r"[A-Za-z]", text):
        for pattern, words in EN_IN_ZH:
            text = pattern.sub(words, text)
        return text.strip(" ，")
    if not zh and CJK.search(text):
        for pattern, words in ZH_IN_EN:
            text = pattern.sub(words, text)
        return text.strip(" ,")
    return text


class RuleRewriter:
    """English and Chinese rules; a query that mixes the two is cut into runs of one language
    at its commas, each parsed by its own rules, and the plans merged."""

    name = "rules"
    fingerprint = "rules-v55"

    def rewrite(self, query: str) -> Plan:
        """The rule-based plan of `query`: English rules, Chinese rules, or both merged for a query that
        mixes them. Raises UsageError for a query without a letter or digit."""
        query = require_query(query)
        if not CJK.search(query):
            return _english(query)
        runs = script_runs(query)
        if len(runs) <= 1:  # one language, its cues read in the other one's words too
            zh = not runs or runs[0][0]
            text = _one_script(query, zh) or query
            plan = _chinese(text) if zh else _english(text)
            return plan if plan.raw == query else replace(plan, raw=query)
        runs = [(zh, _one_script(text, zh) or text) for zh, text in runs]
        return _merge(query, [_chinese(text) if zh else _english(text) for zh, text in runs])
