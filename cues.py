"""Cues the joined-additions router reads: whether a user turn can simply be appended to the request so far.

`Mediator(join_additions=True)` sends a turn that only adds information joined to the last request, without an
LM call. A turn goes to the LM instead when it changes or takes back something said or answers or points at the
assistant's reply (`refers_back`), gives a new value to something already given one with no cue word, or uses
the opposite of a word said earlier (`restates_value`), answers or picks from the reply just before it
(`answers_reply`, `picks_label`), or is a single word that could as well replace as add (`terse`). A false alarm
costs one Mediator call; a miss sends the assistant a stale request. Every cue reads each turn once, in time
linear in its length, so a hostile client's long messages and conversations stay cheap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from intent_mediator.facts import (
    _NOT_NAMES,
    _STOP,
    _TIME,
    LINE_BREAKS,
    in_digits,
    last_mark,
    number_key,
)

# A turn that answers the assistant ("yes", "no, the other one") or points at what it wrote ("the list you
# suggested", "your query", "the one above") means nothing without the assistant's reply; one that changes or
# takes back something said ("actually", "instead", "forget", "i meant", "not the highest") must be resolved,
# not appended. Deliberately broad: a false alarm costs one Mediator call, a miss a stale request.
_REVISES = re.compile(
    r"\b(?:actu?al+y|actul+y|acutal+y|instead|rather|not|no longer|forget|scratch|scrap|cancel|drop|remove|"
    r"never ?mind|(?<!with )(?<!using )(?<!via )nvm(?! (?:install|use|ls|run|exec|alias))|"  # not the node tool
    r"change|switch|swap|replace|rename|correction|meant|i mean|make it|make that|should be|"
    r"was wrong|on second thought|how about|what about|wait|hold on|sorry|oops|ugh|my bad|typos?|undo|except|skip|"
    r"ignore|leave (?:\w+ ){0,3}(?:out|off)|without|anymore|any more|(?:do|does|did|is|are|was|were|wo|ca|should|would|"
    r"could|have|has)nt|bother)\b|n't\b",
    re.I,
)
_POINTS_AT_ASSISTANT = re.compile(
    r"^\W*(?:(?:h+m+|u+m+|u+h+|oh|ah|well|ugh)\W+)?(?:yes|yeah|yep|yup|no|nope|nah|sure|ok|okay|fine|right|"
    r"correct|exactly|agreed|perfect|great|"
    r"sounds good|go ahead|do that|do it|use it|let's|lets|go with|i prefer)\b"
    r"|\b(?:option|approach|alternative)\b"
    r"|\bthe (?:first|second|third|last|other) (?:one|option|approach|version|way)\b"
    r"|\byou(?:'ve| have)?\s+(?:just\s+)?(?:suggested|proposed|mentioned|said|wrote|gave|listed|showed|used|offered|"
    r"recommended|asked|computed|calculated|got|did|made)\b"
    r"|\byour\b|\babove\b|\bas before\b"
    r"|\b(?:that|this|those|these) (?:one|ones|list|option|version|code|query|function|answer|result|suggestion"
    r"|idea)\b"
    r"|^\W*(?:looks|that's|thats|all) (?:good|great|right|fine)\b|^\W*(?:that|it) works\b|\bworks for me\b"
    r"|^\W*(?:the|that) (?:\w+ )?ones?(?![\w-])"
    r"|\b(?:take|want|pick|choose|prefer|go for|do|book|use|get|keep|order) the (?:\w+ )?one(?![\w-])"
    # "book the third" (not "the 15th": a date); a bare "the kitchen speaker" (it picks or replaces, adds
    # nothing); "that loses the order" (a fault found in the reply)
    r"|^\W*(?:[\w']+\W+){0,3}the (?:first|second|third|fourth|fifth|last)\W*$"
    r"|^\W*the(?: (?!(?:is|are|was|were|has|have|had|will|can|should|must|does|do)\b)[^\W\d_][\w'-]*){1,2}\W*$"
    r"|^\W*(?:that|this) (?:loses|breaks|fails|misses|crashes|drops|ignores|skips|hangs|overwrites|throws|errors"
    r"|doesn't|doesnt|isn't|isnt|won't|wont)\b"
    r"|\b(?:whoever|whichever)(?:'s)? (?:is )?(?:fine|ok|okay|works|free|available)\b|\beither (?:one|is|way)\b"
    r"|^\W*wrong\b|\b(?:is|was|it's|its|that's|thats|got (?:it|that)) wrong\b",
    re.I,
)
# Words that stand between a value and the thing it is the value of ("utilities are 150", "top 5", "drinks at 3"):
# skipped when looking for that thing, the value's slot (`restates_value`).
_SLOT_FILLER = frozenset(
    "is are was were be been being the a an at of to for by about around roughly only just each per every it its "
    "and or now then so still also too make makes made set use should would will must please".split()
)
# `restates_value` reads a turn with at most this many numbers (each is compared with every earlier number).
MAX_RESTATED_VALUES = 50
# A turn that marks itself as an addition ("also in 2023", "and on March 7", "the second bond pays $60").
_MARKED_ADDITION = re.compile(
    r"^\W*(?:and|plus|then)\b|\b(?:also|too|as well|in addition|second|third|fourth|fifth|next|another|other)\b", re.I
)
_SLOT_TOKEN = re.compile(r"-?\$?\d+(?:,\d{3})*(?:\.\d+)?%?|[a-z][a-z'_-]*")
# A clock time as users write it ("7:30", "7pm", "6:30 am"): a bare new one after an earlier one replaces it.
_CLOCK = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*([ap]m)\b|\b(\d{1,2}):(\d{2})\b", re.I)
# A reply's last line that asks for more of the task or offers more help, not for a choice: what answers it
# adds information ("Could you provide more details?", "Would you like me to explain further?").
_NOT_A_CHOICE = re.compile(
    r"\b(?:more|additional|further|any other)\s+(?:details?|information|info|context|specifics)\b|\bclarify\b"
    r"|\b(?:tell|give|show) me (?:a (?:bit|little) )?more\b|\bmore about\b|\bexplain\b|\banything else\b"
    r"|\b(?:any|other|more|further) questions?\b|\bfurther (?:assistance|help)\b|\bhelp (?:you )?with\b",
    re.I,
)
_YES_NO_TAIL = re.compile(r"\s*\((?:y/n|yes/no|y or n|yes or no)\)\s*$", re.I)
_WORD = re.compile(r"[^\W\d_][\w'-]*")  # a word in any alphabet ("Zürich")
# An option's label in a reply: "1) plain json.load" or "(a) by amount" anywhere; "2. Southwest", "B: only
# positive amounts", "**1.** plain" or "- **A**: by amount" at the start of a line (a "2." inside a sentence is
# a number).
_OPTION_LABEL = re.compile(
    r"(?:^|(?<=[\s(]))\(?([1-9]|[A-Ea-e])\)\s|^[ \t>*_#-]*\(?([1-9]|[A-Ea-e])\**[.):]\**[ \t]", re.M
)
_ORDINALS = ("first", "second", "third", "fourth", "fifth")
# A turn that opens with a label or an ordinal, alone or before a conjunction or a word of assent ("B", "option
# 2", "#3, please", "2 but ...", "2 is fine", "the second one", "2nd please"); not "3 weeks".
_PICKED_LABEL = re.compile(
    r"^\W*(?:option |number |#|the )?([1-9]|[A-Ea-e]|first|second|third|fourth|fifth|[1-5](?:st|nd|rd|th))"
    r"(?:\W*$|[\s,.;:!]+(?:but|and|please|pls|then|with|thanks|one|option|is|sounds|works|looks)\b)",
    re.I,
)
_LIST_NUMBER = re.compile(r"\d{1,2}[.)]\s*$")  # "2. Southwest": a list item, not a new sentence
# Capitalised words that are not names (sentence openers, weekdays, pronouns): they never mark a pick.
_COMMON_CAPITALS = frozenset(word.lower().rstrip("s") for word in _NOT_NAMES)
# A turn of at most this many words that names something only the assistant's reply named picks from that reply.
PICK_WORDS = 5
# At most this many pairs of numbers compared in one call of `restates_any`; past it the router cannot tell
# cheaply, and says the turn restates a value (the LM resolves it): a hostile table of numbers costs one call.
MAX_SLOT_COMPARISONS = 20_000

# Closed sets of values a task holds one of at a time (a weekday, a size, a sort order, a separator): a turn that
# says little more than one of them, after an earlier turn gave another, replaces it ("every thursday" after
# "every Monday", "semicolons" after "joined with commas", "medium" after "a large pepperoni"). "May", "March",
# "Sat" and "Sun" are left out: they are also ordinary words.
# Each word (as `_content_words` leaves it: singular, so "tues" is "tue") maps to its kind and its canonical value.
_KINDS: dict[str, tuple[str, str]] = {
    word: (kind, canonical.split("/")[0])
    for kind, values in {
        "weekday": "monday/mon tuesday/tue wednesday/wed thursday/thu/thur friday/fri saturday sunday",
        "month": "january/jan february/feb april/apr june/jun july/jul august/aug september/sept october/oct "
        "november/nov december/dec",
        "size": "small medium large",
        "order": "ascending/asc descending/desc",
        "separator": "comma semicolon tab pipe colon newline",
    }.items()
    for canonical in values.split()
    for word in canonical.split("/")
}
_ORDINAL_DAY = re.compile(r"\b([1-3]?\d)(?:st|nd|rd|th)\b", re.I)  # "the 19th": a day of the month
# Words that may stand beside such a value without adding anything ("ugh it's the 19th", "lowest first").
# As `_content_words` leaves them ("it's" -> "it'").
_BESIDE_A_VALUE = frozenset("ugh oh hmm um uh ah well it'".split())
# Curly quotes as the plain ones every cue reads ("it’s", "don’t").
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
# Opposites: a turn that uses one where an earlier turn used the other, beside the same words, flips it
# ("lowest first" after "sorted highest first", "keep punctuation" after "strip punctuation").
_OPPOSITE_PAIRS = (
    "ascending/descending asc/desc increasing/decreasing ascending/decreasing increasing/descending highest/lowest "
    "largest/smallest biggest/smallest highest/smallest largest/lowest biggest/lowest most/least most/fewest "
    "oldest/newest oldest/youngest oldest/latest earliest/latest earliest/newest shortest/longest keep/strip "
    "keep/remove keep/drop keep/exclude keep/ignore include/exclude include/ignore include/skip "
    "inclusive/exclusive sensitive/insensitive uppercase/lowercase even/odd positive/negative top/bottom "
    "horizontal/vertical"
)
# "upper case", "upper-case" and "upper_case" are read as "uppercase" (but "upper bound" stays two words).
_LETTER_CASE = re.compile(r"\b(upper|lower)[\s_-]?case\b")
_BOUND = re.compile(r"\bat (?:least|most)\b")  # "at least 3", "at most 10": bounds, which add, not opposites
# Units as users shorten them after a number ("4 s" and "6 seconds", "5 yrs" and "8 years", "45min"): read in
# full. Only after a number: "min length" is no minute, "the 90s" and "m/s" no seconds.
_SHORT_UNIT = re.compile(r"(\d)(?:\s+(s)|\s*(sec|secs|min|mins|h|hr|hrs|wk|wks|yr|yrs))\b")
_UNITS = {"s": "seconds", "sec": "seconds", "min": "minutes", "h": "hours", "hr": "hours", "wk": "weeks", "yr": "years"}
# "twice" and "thrice" are read as "2 times" and "3 times", beside the numbers in words (`facts.in_digits`).
_MULTIPLE = re.compile(r"\b(twice|thrice)\b")


def _opposite_table(pairs: str) -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for pair in pairs.split():
        one, other = pair.split("/")
        table.setdefault(one, set()).add(other)
        table.setdefault(other, set()).add(one)
    return {word: frozenset(others) for word, others in table.items()}


_OPPOSITES = _opposite_table(_OPPOSITE_PAIRS)
_NEIGHBOUR_FILLER = _SLOT_FILLER | _STOP | {"all"}  # "remove all duplicates": the word beside it is duplicates

Slot = tuple[str, str | None, str | None, str]
Beside = tuple[str, str | None, str | None]  # a word, the content word before it and the one after (or None)


def refers_back(text: str) -> bool:
    """Whether a user turn changes or takes back something said, or answers or points at the assistant's reply:
    either way it cannot simply be appended to the request so far."""
    text = text.translate(_QUOTES)
    return _REVISES.search(text) is not None or _POINTS_AT_ASSISTANT.search(text) is not None


def restates_value(text: str, earlier: Sequence[str]) -> bool:
    """Whether `text` gives a new value to something an earlier turn already gave one ("utilities are 180" after
    "utilities are 150", "top 5" after "the top 3 words"): a silent correction, with no cue word to flag it.

    Two numbers fill the same slot when the nearest non-filler word before them is the same, and the word before
    that and the word after them agree (or one side has none): "top 3 words" / "top 5" do; "pizza costs 14 euros"
    / "soda costs 3 euros" and "buys 3 apples" / "buys 5 pears" don't. A bare value's slot is its unit ("65 mph"
    after "going 60 mph"), a percentage may name its thing on either side ("vat is 19%" after "20% vat"), and a
    bare clock time replaces an earlier one ("7:30" after "at 7pm"; "7:00 pm" and "19:00" are the same time).
    Number words are numbers ("eighteen months" after "twelve months"; not "one"), "twice" is "2 times", and
    short units are the long ones ("6 seconds" after "4 s"). Only a turn whose words all appear in the earlier
    turn can restate it ("she reads 40 pages on sundays" adds to "she reads 24 pages a day"), and a turn that
    marks itself as an addition ("also in 2023", "and on March 7", "the second bond pays $60", "then 60 km per
    hour") never does.
    """
    return restates_any([*earlier, text], start=len(earlier))


def restates_any(said: Sequence[str], start: int = 0) -> bool:
    """Whether any of `said[start:]` restates a value of a turn before it (`restates_value`), each turn read once."""
    readings = [_Reading.of(text) for text in said]
    compared = 0
    for k in range(start, len(readings)):
        new = readings[k]
        if new.marked or len(new.slots) > MAX_RESTATED_VALUES:
            continue  # a further value ("also in 2023"), or a table of values rather than a correction
        mine = frozenset(word for word, _, _ in new.opposites)
        for index in range(k):
            turn = readings[index]
            compared += len(new.opposites) * len(turn.opposites)
            if compared > MAX_SLOT_COMPARISONS:
                return True  # cannot tell cheaply; the LM resolves it
            if any(_flips(one, other, mine) for one in new.opposites for other in turn.opposites):
                return True  # "lowest first" after "sorted highest first"
            # Each subset test below costs the new turn's length only when the earlier turn is at least as long:
            # over a conversation, at most the length of everything said.
            if new.kinds and len(new.plain) <= len(turn.split) and not new.plain - turn.split:
                if _replaces(new.kinds, turn.kinds):
                    return True  # "every thursday" after "every Monday", "semicolons" after "joined with commas"
            if len(new.words) > len(turn.words) or new.words - turn.words:
                continue  # the turn says something the earlier one did not: "40 pages on sundays" after "24 a day"
            if turn.clocks and any(not any(clock & theirs for theirs in turn.clocks) for clock in new.clocks):
                return True  # "7:30" after "a table at 7pm"
            for slot in new.slots:
                others = _counterparts(slot, turn)
                compared += len(others)
                if compared > MAX_SLOT_COMPARISONS:
                    return True  # cannot tell cheaply; the LM resolves it
                values = {other[3] for other in others if _same_slot(slot, other)}
                if values and slot[3] not in values:
                    return True
    return False


@dataclass(frozen=True)
class _Reading:
    """What `restates_any` reads of one turn, once: its numbers' slots (indexed by slot word and by unit), content
    words, clock times (each as the minutes of the day it can mean) and whether it marks itself as an addition."""

    slots: list[Slot]
    words: frozenset[str]
    clocks: list[frozenset[int]]
    marked: bool
    by_word: dict[str, list[Slot]]
    by_unit: dict[str, list[Slot]]
    ends: dict[str, list[Slot]]  # percentages by slot word with no content word after them (`_ends`)
    kinds: dict[str, frozenset[str]]  # closed-set values by kind ("weekday": {"monday"}), `_KINDS`
    split: frozenset[str]  # content words with "-" and "_" splitting them ("tab-separated": tab, separated)
    plain: frozenset[str]  # `split` without those values and the words that may stand beside one
    opposites: list[Beside]  # each word that has an opposite, with its neighbours (`_opposites`)

    @classmethod
    def of(cls, text: str) -> _Reading:
        text = text.translate(_QUOTES)
        slots = _slots(text)
        by_word: dict[str, list[Slot]] = {}
        by_unit: dict[str, list[Slot]] = {}
        ends: dict[str, list[Slot]] = {}
        for slot in slots:
            by_word.setdefault(slot[0], []).append(slot)
            if slot[2] is not None:
                by_unit.setdefault(slot[2], []).append(slot)
            if slot[0] and _ends(slot):
                ends.setdefault(slot[0], []).append(slot)
        words = frozenset(_content_words(_CLOCK.sub(" ", text)))
        clocks = [_minutes(match) for match in _CLOCK.finditer(text)]
        dashless = _CLOCK.sub(" ", re.sub(r"[-_]", " ", text))
        split = _content_words(dashless)
        kinds: dict[str, set[str]] = {}
        for word in split:
            if word in _KINDS:
                kind, value = _KINDS[word]
                kinds.setdefault(kind, set()).add(value)
        for match in _ORDINAL_DAY.finditer(text):
            kinds.setdefault("day of the month", set()).add(str(int(match.group(1))))
        plain = _content_words(_ORDINAL_DAY.sub(" ", dashless)) - _KINDS.keys() - _BESIDE_A_VALUE
        return cls(
            slots,
            words,
            clocks,
            bool(_MARKED_ADDITION.search(text)),
            by_word,
            by_unit,
            ends,
            {kind: frozenset(values) for kind, values in kinds.items()},
            frozenset(split),
            frozenset(plain),
            _opposites(text),
        )


def _opposites(text: str) -> list[Beside]:
    """(the word, the nearest content word before it, the nearest after) of each word of `text` that has an
    opposite (`_OPPOSITES`), each in the table's form ("strips", "stripping": strip) and the neighbours
    singular; "-" and "_" split words ("case-insensitive"), "upper case" is "uppercase"."""
    text = _LETTER_CASE.sub(r"\1case", _BOUND.sub(" ", re.sub(r"[-_]", " ", text.lower())))
    words = [t for t in _SLOT_TOKEN.findall(text) if t[0].isalpha() and t not in _NEIGHBOUR_FILLER]
    found = []
    for i, word in enumerate(words):
        form = _opposite_form(word)
        if form is not None:
            before = words[i - 1].rstrip("s") if i else None
            found.append((form, before, words[i + 1].rstrip("s") if i + 1 < len(words) else None))
    return found


def _opposite_form(word: str) -> str | None:
    """`word` as `_OPPOSITES` lists it ("keeps" and "keeping" are "keep", "removing" is "remove", "stripping" is
    "strip"), or None."""
    forms = [word, word[:-1] if word.endswith("s") else ""]
    if word.endswith("ing"):
        stem = word[:-3]
        forms += [stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else ""]
    return next((form for form in forms if form in _OPPOSITES), None)


def _flips(one: Beside, other: Beside, mine: frozenset[str]) -> bool:
    """Whether `one` (a word of the new turn, whose `_opposites` words are `mine`) is the opposite of an earlier
    turn's `other` beside the same words (or beside nothing on a side), and the new turn does not also use
    `other`'s word ("the highest and the lowest")."""
    return (
        other[0] in _OPPOSITES[one[0]]
        and other[0] not in mine
        and _agree(one[1], other[1])
        and _agree(one[2], other[2])
    )


def _replaces(new: dict[str, frozenset[str]], old: dict[str, frozenset[str]]) -> bool:
    """Whether a turn's closed-set values give a kind an earlier turn already gave a value a different one."""
    return any(kind in old and not values & old[kind] for kind, values in new.items())


def _slots(text: str) -> list[Slot]:
    """(slot word, the word before it, word after, value key) of each number. The slot is the nearest word before
    the number that is not filler, singular: "utilities are 150" -> ("utilitie", None, None, "150"), "pizza costs
    14 euros" -> ("cost", "pizza", "euro", "14"); a bare value's is empty and its unit counts: "65 mph" -> ("",
    None, "mph", "65"). A number between them ends the look back."""
    tokens = _SLOT_TOKEN.findall(_numerals(_TIME.sub(" ", text.lower())))
    found = []
    for i, token in enumerate(tokens):
        if not _is_number(token) or (key := number_key(token)) is None:
            continue
        words: list[str] = []
        for t in (tokens[k] for k in range(i - 1, -1, -1)):  # no copy of tokens[:i] per number
            if _is_number(t) or len(words) == 2:  # "15% of the bill, 80": the bill's word is not "15%"
                break
            if t not in _SLOT_FILLER:
                words.append(t.rstrip("s"))
        after = tokens[i + 1] if i + 1 < len(tokens) and tokens[i + 1].isalpha() else None
        if words:
            found.append((words[0], words[1] if len(words) > 1 else None, after.rstrip("s") if after else None, key))
        elif after and after not in _SLOT_FILLER and after not in _STOP:
            found.append(("", None, after.rstrip("s"), key))  # "65 mph", but not "3 or 4"
    return found


def _is_number(token: str) -> bool:
    """Whether a `_SLOT_TOKEN` token is a number ("14", "$1,200", "-3.5", "50%"), not a word."""
    return token[-1].isdigit() or token.endswith("%")


def _numerals(text: str) -> str:
    """`text` (lower case) with its numbers in digits and its short units in full: "eighteen months" -> "18
    months", "twice the width" -> "2 times the width", "4 s" -> "4 seconds" (`facts.in_digits`, `_MULTIPLE`,
    `_SHORT_UNIT`)."""
    text = _MULTIPLE.sub(lambda m: "2 times" if m.group(1) == "twice" else "3 times", in_digits(text))
    return _SHORT_UNIT.sub(_unit_in_full, text)


def _unit_in_full(match: re.Match[str]) -> str:
    return f"{match.group(1)} {_UNITS[match.group(2) or match.group(3).rstrip('s')]}"


def _counterparts(slot: Slot, turn: _Reading) -> list[Slot]:
    """The numbers of an earlier turn that may be values of what `slot` is a value of: those of the same slot
    word, or for a bare value those of the same unit; for a percentage also across the two ("vat is 19%" after
    "20% vat", "19% vat" after "vat is 20%")."""
    word, _, after, key = slot
    if not word:
        return turn.by_unit.get(after or "", []) + (turn.ends.get(after or "", []) if key.endswith("%") else [])
    return turn.by_word.get(word, []) + (turn.by_unit.get(word, []) if _ends(slot) else [])


def _same_slot(one: Slot, other: Slot) -> bool:
    """Whether two of `_slots`' numbers are values of the same thing: the same slot word beside agreeing words, a
    bare value by its unit alone, or two percentages, the thing named after one and before the other
    (`_counterparts`; not "each notebook was $4" after "he bought 3 notebooks": a price, then a count)."""
    word, before, after, key = one
    if not word:
        return after is not None and (other[2] == after or (other[0] == after and key.endswith("%") and _ends(other)))
    if other[0] != word:
        return other[2] == word and _ends(one) and other[3].endswith("%")
    return _agree(other[1], before) and _agree(other[2], after)


def _ends(slot: Slot) -> bool:
    """Whether a slot is a percentage after its slot word with nothing but filler after it ("vat is 19%", "vat
    is 19% now"): what it is a percentage of may be named after another one ("20% vat")."""
    return slot[3].endswith("%") and bool(slot[0]) and (slot[2] is None or slot[2] in _NEIGHBOUR_FILLER)


def _minutes(match: re.Match[str]) -> frozenset[int]:
    """The minutes of the day a `_CLOCK` match can mean: "7pm" 1140; "7:30" 450 or 1170 (no am or pm)."""
    if match.group(3):
        hour = int(match.group(1)) % 12 + (12 if match.group(3).lower() == "pm" else 0)
        return frozenset({hour * 60 + int(match.group(2) or 0)})
    hour, minute = int(match.group(4)), int(match.group(5))
    return frozenset({hour * 60 + minute, (hour + 12) * 60 + minute} if hour < 12 else {hour * 60 + minute})


def asks_user(reply: str) -> bool:
    """Whether an assistant reply ends by asking the user to choose or confirm something ("Which one?", "Shall I
    book it? (y/n)"). A plea for more details or an offer of more help ("Could you provide more information?",
    "Anything else?") does not count: what answers it adds information, which is what joining is for."""
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    if not lines:
        return False
    last = _YES_NO_TAIL.sub("", lines[-1])
    return re.sub(r"[^\w?]+$", "", last).endswith("?") and _NOT_A_CHOICE.search(last) is None


def answers_reply(text: str, reply: str | None, earlier: Sequence[str]) -> bool:
    """Whether a user turn may answer or pick from the assistant's reply before it, and so means nothing without
    that reply: the reply ends by asking the user to choose or confirm ("45 min" after "How long should the
    meeting be?"), or the turn is short and names something in capitals that only the reply named ("book Lirico"
    after "Hotel Lirico ($132), Palazzo Celio ($145)", "the group by one" after "GROUP BY email, or a self join").

    Args:
        text: The user's turn.
        reply: The assistant's reply before it; None when there was none.
        earlier: The user's turns before `text`: a name the user already wrote is theirs, not the reply's.
    """
    return answers_any([(reply, text)], earlier)


def answers_any(exchanges: Sequence[tuple[str | None, str]], earlier: Sequence[str] = ()) -> bool:
    """Whether any user turn of `exchanges` (the assistant's reply before it or None, then the turn; in order)
    answers or picks from its reply (`answers_reply`). `earlier`: the user's turns before them. Each turn's words
    are read once."""
    known: set[str] = set().union(*map(_pick_words, earlier))
    names: dict[str, set[str]] = {}  # user turns in a row follow one reply: it is read once
    labels: dict[str, set[int]] = {}
    for reply, text in exchanges:
        words = _pick_words(text)
        if reply and reply.strip():
            if reply not in names:
                if asks_user(reply):
                    return True
                names[reply], labels[reply] = _reply_names(reply), option_labels(reply)
            if _picks(text, labels[reply]):
                return True
            if len(text.split()) <= PICK_WORDS and any(len(word) > 2 for word in (words & names[reply]) - known):
                return True
        known |= words
    return False


def terse(text: str) -> bool:
    """Whether a follow-up turn is one word or value alone ("munich", "B", "70k", "semicolons"): it cannot say by
    itself whether it adds to the request or replaces something in it, so the LM reads it with the rest. One
    that marks itself as an addition ("also", "and porto?") is not terse, nor a clock time ("7:30pm"), which
    replaces an earlier time or adds the first (`restates_value`)."""
    words = text.split()
    return len(words) == 1 and not _MARKED_ADDITION.search(text) and not _CLOCK.fullmatch(text.strip(" \t.!?,"))


def picks_label(text: str, reply: str) -> bool:
    """Whether a turn picks one of the labelled options of the reply before it ("B" or "2 but with defaults"
    after "1) plain json.load, 2) with a fallback", "the second one" after "**A.** ... **B.** ..."): the turn
    opens with a label or an ordinal, alone or before a conjunction or a word of assent, and the reply labelled
    two or more options, one of them at that place."""
    return _picks(text, option_labels(reply))


def option_labels(reply: str) -> set[int]:
    """The places (1, 2, ...; "b" is 2) of the options a reply labels (`_OPTION_LABEL`)."""
    return {_place(inline or line_start) for inline, line_start in _OPTION_LABEL.findall(reply)}


def _picks(text: str, labels: set[int]) -> bool:
    match = _PICKED_LABEL.match(text.translate(_QUOTES)) if len(labels) >= 2 else None
    return match is not None and _place(match.group(1)) in labels


def _place(label: str) -> int:
    """1 for "1", "a", "A", "first" and "1st"; 2 for "2", "b", "second", "2nd"; and so on."""
    label = label.lower()
    if label in _ORDINALS:
        return _ORDINALS.index(label) + 1
    return int(label[0]) if label[0].isdigit() else ord(label) - ord("a") + 1


def _pick_words(text: str) -> set[str]:
    """A turn's words, in any alphabet, lower case and singular, without filler."""
    words = {match.group().lower().rstrip("s") for match in _WORD.finditer(text.translate(_QUOTES))}
    return words - _SLOT_FILLER - _STOP


def _reply_names(reply: str) -> set[str]:
    """The capitalised words of a reply that are names ("Lirico", "Zürich", "GROUP"), lower case and singular: not
    the first word of a sentence or line (unless it follows a list number, "2. Southwest"), nor a common word."""
    names = set()
    for match in _WORD.finditer(reply):
        if not match.group()[0].isupper():
            continue
        i = last_mark(reply, match.start(), lines=True)
        starts = i < 0 or reply[i] in ".!?:" or reply[i] in LINE_BREAKS
        if starts and not (i >= 0 and reply[i] == "." and _LIST_NUMBER.search(reply, max(i - 3, 0), i + 1)):
            continue
        names.add(match.group().lower().rstrip("s"))
    return names - _COMMON_CAPITALS


def _content_words(text: str) -> set[str]:
    """A turn's words, lower case and singular, without filler; numbers in words and short units are read as
    digits and in full (`_numerals`)."""
    words = {t for t in _SLOT_TOKEN.findall(_numerals(text.lower())) if t[0].isalpha()} - _SLOT_FILLER - _STOP
    return {word for word in (t.rstrip("s") for t in words) if word}


def _agree(one: str | None, other: str | None) -> bool:
    return one == other or one is None or other is None
