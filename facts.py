"""Fact loss: does a mediated request keep everything the user said that is still in force, and nothing else?

A fact is a number, a clock time or date, a quoted value, a name, a code identifier, or a constraint word
(a filter, order or format term such as "only", "cheapest", "descending", "lowercase") from the user's turns.
A fact is withdrawn when the user takes it back ("15, not 12", "ghana instead of germany", "forget the
parking", or a "no" to something the assistant suggested) and does not state it again later. A request

- loses a fact when a fact still in force does not appear in it,
- keeps a withdrawn value when a withdrawn fact appears in it,
- invents a number when it holds a number the user never gave.

`check_request` works on a transcript's user turns (the Mediator's own check); `record_fact_check` works on a
record's shards and uses its revision structure and its fully specified prompt (for names a lowercase user
typed) to know the final intent exactly. Matching is deliberately literal: numbers compare by value (a percent
also matches its fraction), everything else case-insensitively as text, constraint words by stem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FACT_KINDS = ("number", "time", "quoted", "name", "identifier", "constraint")
# The kinds a request must keep verbatim. Constraint words are often rightly paraphrased ("cheapest first" ->
# "ascending price"), so their loss is reported on its own and never triggers a repair.
VALUE_KINDS = ("number", "time", "quoted", "name", "identifier")

_TIME = re.compile(r"\b\d{1,2}:\d{2}\b|\b\d{4}-\d{2}-\d{2}\b")
_NUMBER = re.compile(r"(?<![\w.])-?\$?\d[\d,]*(?:\.\d+)?%?")
_QUOTED = re.compile(r"(?<!\w)['\"\u2018\u201c]([^'\"\u2019\u201d\n]{1,80}?)['\"\u2019\u201d](?!\w)")
_IDENTIFIER = re.compile(r"\b[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+\b|\b[a-z]+[A-Z][A-Za-z0-9]*\b")
_PERCENT_WORD = re.compile(r"(\d)\s*(?:percent|per cent)\b", re.I)
_NAME = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*\b")
_WORD = re.compile(r"[a-z][a-z'-]*")
# Numbers in words: the words a number is spelled with, and the scales that multiply them ("two dozen", "three
# hundred"). `in_digits` reads a number in words as one number, for the fact check and the router (`cues`) alike.
NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen".split()
    )
} | {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
NUMBER_SCALES = {"dozen": 12, "hundred": 100, "thousand": 1000}
_NUMBER_WORD = "|".join(sorted([*NUMBER_WORDS, *NUMBER_SCALES], key=len, reverse=True))
# Where `str.splitlines` ends a line: "\n", a bare "\r", "\u2028" and the rest. A no-break space is not one.
LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
# Number words in a row, apart by spaces or hyphens but never by a line break (joined turns stay apart). A run may
# hold several numbers ("two three-bedroom flats", "nineteen ninety-nine"): `_spelled` splits it.
_SPACE_IN_LINE = "[^\\S" + "".join(re.escape(c) for c in sorted(LINE_BREAKS)) + "]"
_NUMBER_RUN_TEXT = rf"\b(?:{_NUMBER_WORD})(?:(?:{_SPACE_IN_LINE}|-)+(?:{_NUMBER_WORD}))*\b"
_NUMBER_RUN = re.compile(_NUMBER_RUN_TEXT, re.I)
# Filter, order and format terms. Matched by stem, so "sorted" finds "sort" and "lowercasing" finds "lowercase".
CONSTRAINT_STEMS = (
    "only", "except", "exclud", "without", "ignor", "skip", "least", "most", "more than", "less than", "under",
    "above", "below", "before", "after", "ascend", "descend", "cheapest", "highest", "lowest", "largest",
    "smallest", "sort", "order", "alphabetic", "unique", "distinct", "even", "odd", "empty", "lowercase",
    "uppercase", "case-insensitive", "decimal", "round", "negative", "positive", "duplicate", "first", "last",
)  # fmt: skip
_CONSTRAINTS = tuple((stem, re.compile(rf"\b{re.escape(stem)}")) for stem in CONSTRAINT_STEMS)  # compiled once
_NOT_NAMES = frozenset(
    "I The A An And But Or So If Then What How Why When Where Which Who Please Also Yes No Not Now Just Only Can "
    "Could Would Should Do Does Did Is Are It Its This That These Those My Our Your We You They He She Let Make "
    "Write Find Get Give Show List Use Keep Add Return Actually Sorry Wait Correction Forget Scratch Cancel Drop "
    "One Two Each Every Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
)
_TOKEN = re.compile(r"\w+")
# `check_request` looks at most this many places in a request for its non-numeric facts; past that (only a hostile
# request gets there) it fails closed: the check fails, and the user's own turns are sent.
MAX_FACT_LOOKS = 200_000
_STOP = frozenset("the a an of to it its that this one ones thing them what i me my you your any some".split())
# The value taken back is one token, or a number in words ("not two thousand").
_WITHDRAW_VALUE = re.compile(
    rf"\b(?:not|instead of|rather than|no longer)\s+(?:the\s+|a\s+|an\s+)?({_NUMBER_RUN_TEXT}|\$?[\w.:%'-]+)", re.I
)
_WITHDRAW_TOPIC = re.compile(
    r"\b(?:forget|scratch|cancel|drop|remove|never mind)\s+(?:about\s+)?(?:the\s+)?([\w' ]+)", re.I
)
_SUGGESTION = re.compile(r"\byou (?:suggested|proposed|mentioned|offered)\b([^.!?]*)[.!?]?\s*(yes|no)?", re.I)


@dataclass(frozen=True)
class Fact:
    """One fact: its kind, a normalised key for matching, and the text as the user wrote it."""

    kind: str
    key: str
    text: str


@dataclass
class FactCheck:
    """What a request kept and lost of the user's facts."""

    in_force: list[Fact] = field(default_factory=list)
    missing: list[Fact] = field(default_factory=list)
    withdrawn: list[Fact] = field(default_factory=list)
    withdrawn_present: list[Fact] = field(default_factory=list)
    invented: list[str] = field(default_factory=list)

    @property
    def lost_values(self) -> list[Fact]:
        """Missing facts of the value kinds (constraint words excluded)."""
        return [f for f in self.missing if f.kind in VALUE_KINDS]

    @property
    def values(self) -> list[Fact]:
        return [f for f in self.in_force if f.kind in VALUE_KINDS]

    @property
    def ok(self) -> bool:
        """No value lost, no withdrawn value kept and no number invented."""
        return not (self.lost_values or self.withdrawn_present or self.invented)

    @property
    def loss(self) -> float:
        """Share of the values in force that the request lost (0 when the user stated none)."""
        return len(self.lost_values) / len(self.values) if self.values else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "facts": len(self.in_force),
            "values": len(self.values),
            "missing": [f.text for f in self.missing],
            "missing_by_kind": _count_kinds(self.missing),
            "facts_by_kind": _count_kinds(self.in_force),
            "withdrawn": [f.text for f in self.withdrawn],
            "withdrawn_present": [f.text for f in self.withdrawn_present],
            "invented": list(self.invented),
            "loss": self.loss,
        }


def _count_kinds(facts: Iterable[Fact]) -> dict[str, int]:
    out: dict[str, int] = {}
    for fact in facts:
        out[fact.kind] = out.get(fact.kind, 0) + 1
    return out


def number_key(text: str) -> str | None:
    """`"$1,250.50"` -> `"1250.5"`, `"4.5%"` -> `"4.5%"`; None when the text is not a number."""
    cleaned = text.lower().replace(",", "").replace("$", "").rstrip(".")
    percent = cleaned.endswith("%")
    cleaned = cleaned.rstrip("%")
    try:
        return _fmt(float(cleaned)) + ("%" if percent else "")
    except ValueError:
        return None


def _variants(key: str) -> set[str]:
    """The ways a request may state a number: a percent also as its fraction."""
    if key.endswith("%"):
        return {key, _fmt(float(key[:-1]) / 100)}
    return {key}


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _numbers(text: str) -> list[tuple[str, str]]:
    """(key, text) of every number in `text`, numbers in words included (`in_digits`: "two thousand three hundred"
    is 2300), clock times and dates excluded."""
    stripped = _PERCENT_WORD.sub(r"\1%", in_digits(_TIME.sub(" ", text)))
    found = [(number_key(m.group()), m.group().rstrip(",")) for m in _NUMBER.finditer(stripped)]
    return [(key, raw) for key, raw in found if key is not None]


def in_digits(text: str) -> str:
    """`text` with each number in words in digits (any case): "eighteen" -> "18", "twenty-five" -> "25", "two
    dozen" -> "24", "two thousand three hundred" -> "2300". Words that cannot continue a number start the next
    one: "two three-bedroom flats" -> "2 3-bedroom flats", "nineteen ninety-nine" -> "19 99". "one" alone stays a
    word: it is as often a pronoun ("the closest one")."""
    return _NUMBER_RUN.sub(_spelled, text)


def _spelled(match: re.Match[str]) -> str:
    """The numbers of one `_NUMBER_RUN` match, in digits, apart by spaces."""
    words = re.findall(r"[a-z]+", match.group().lower())
    if words == ["one"]:
        return match.group()
    numbers: list[int] = []
    total = current = 0
    last = None  # the kind of the number's last word: unit, teen, tens, hundred, thousand, dozen
    for word in words:
        kind = _kind(word)
        if last is not None and not _continues(kind, last, total, current):
            numbers.append(total + current)
            total = current = 0
            last = None
        if kind == "hundred":
            current = (current or 1) * 100
        elif kind == "thousand":
            total, current = total + (current or 1) * 1000, 0
        elif kind == "dozen":
            current = (current or 1) * 12
        else:
            current += NUMBER_WORDS[word]
        last = kind
    numbers.append(total + current)
    return " ".join(map(str, numbers))


def _kind(word: str) -> str:
    if word in NUMBER_SCALES:
        return word
    value = NUMBER_WORDS[word]
    return "unit" if value < 10 else "teen" if value < 20 else "tens"


def _continues(kind: str, last: str, total: int, current: int) -> bool:
    """Whether a word of `kind` goes on with the number read so far ("twenty" then "five", "two" then "hundred")
    rather than starting the next one ("two" then "three", "twenty" then "twenty")."""
    if kind == "unit":
        return last in ("hundred", "thousand") or (last == "tens" and current % 10 == 0)
    if kind in ("teen", "tens"):
        return last in ("hundred", "thousand")
    if kind == "hundred":
        return last in ("unit", "teen", "tens") and current < 100
    if kind == "thousand":
        return last in ("unit", "teen", "tens", "hundred") and total == 0
    return last in ("unit", "teen", "tens")  # dozen


def extract_facts(text: str, names: Iterable[str] = ()) -> list[Fact]:
    """The facts one message states (withdrawals not yet applied).

    Args:
        text: The message.
        names: Extra names to look for case-insensitively (a lowercase user's "casa verde").
    """
    facts: dict[tuple[str, str], Fact] = {}

    def add(kind: str, key: str, raw: str) -> None:
        facts.setdefault((kind, key), Fact(kind, key, raw.strip()))

    for match in _TIME.finditer(text):
        add("time", match.group(), match.group())
    for key, raw in _numbers(text):
        add("number", key, raw)
    for match in _QUOTED.finditer(text):
        add("quoted", match.group(1).strip().lower(), match.group(1))
    for match in _IDENTIFIER.finditer(text):
        add("identifier", match.group(), match.group())
    for match in _NAME.finditer(text):
        words = [w for w in match.group().split() if w not in _NOT_NAMES]
        if len(words) == 1 and _sentence_start(text, match.start()):
            continue  # "Pens cost $2": a capital at a sentence start says nothing
        if words:
            name = " ".join(words)
            add("name", name.lower(), name)
    lowered = text.lower()
    for name in names:
        if re.search(rf"\b{re.escape(name.lower())}\b", lowered):
            add("name", name.lower(), name)
    for stem, pattern in _CONSTRAINTS:
        if pattern.search(lowered):
            add("constraint", stem, stem)
    return list(facts.values())


def _sentence_start(text: str, position: int) -> bool:
    """Whether `position` starts the text or a sentence: only white space since the last ".!?:"."""
    i = last_mark(text, position)
    return i < 0 or text[i] in ".!?:"


def last_mark(text: str, position: int, *, lines: bool = False) -> int:
    """The index of the last character before `position` that is not white space (with `lines`, a line break
    counts as a mark, not as white space), or -1. Scans back over the white space only (no copy of the text
    before it), so reading every capitalised word of a long message costs linear time."""
    i = position - 1
    while i >= 0 and text[i].isspace() and not (lines and text[i] in LINE_BREAKS):
        i -= 1
    return i


def _withdrawals(text: str, earlier: Sequence[str], names: Iterable[str]) -> tuple[set[tuple[str, str]], set[int]]:
    """What `text` takes back: the keys of "X, not Y" values and of suggestions the user answers with "no"
    (gone wherever they were stated), and the earlier turns whose topic it drops ("forget the parking": the
    values of the latest earlier turn on parking)."""
    keys: set[tuple[str, str]] = set()
    for match in _WITHDRAW_VALUE.finditer(text):
        token = match.group(1).strip(".,;:'").lower()
        facts = extract_facts(token, names)
        if facts:
            keys |= {(f.kind, f.key) for f in facts}
        elif token not in _STOP and len(token) > 2:
            keys.add(("term", token))
    for match in _SUGGESTION.finditer(text):
        if (match.group(2) or "").lower() == "no":
            keys |= {(f.kind, f.key) for f in extract_facts(match.group(1), names)}
    turns: set[int] = set()
    for match in _WITHDRAW_TOPIC.finditer(text):
        words = [w.split("'")[0] for w in _WORD.findall(match.group(1).lower())]
        topic = [w for w in words if w not in _STOP and len(w) > 2][:3]
        for index in range(len(earlier) - 1, -1, -1):
            if topic and any(re.search(rf"\b{re.escape(w[:6])}", earlier[index].lower()) for w in topic):
                turns.add(index)
                break
    return keys, turns


def facts_in_force(
    user_texts: Sequence[str], names: Iterable[str] = (), dropped: Mapping[int, Iterable[int]] | None = None
) -> tuple[list[Fact], list[Fact]]:
    """The user's facts still in force and the ones they withdrew, reading the turns in order.

    Each fact remembers the turns that stated it. A withdrawn value ("not 12") is gone from every turn; a
    dropped topic ("forget the crates") removes the values of that one turn, so a value another turn also
    states stays. A fact stated again after its withdrawal is in force again.

    Args:
        user_texts: The user's turns, oldest first.
        names: Names to look for case-insensitively besides capitalised ones.
        dropped: Turn index -> earlier turn indices it withdraws, when known (a record's `revises`); added to
            the topics found in the text.
    """
    names = list(names)
    sources: dict[tuple[str, str], set[int]] = {}
    first: dict[tuple[str, str], Fact] = {}
    stated_by: list[list[Fact]] = []
    for index, text in enumerate(user_texts):
        keys, topics = _withdrawals(text, user_texts[:index], names)
        topics |= set((dropped or {}).get(index, ()))
        for key in keys:
            sources[key] = set()
            first.setdefault(key, Fact(key[0], key[1], key[1]))
        for turn in topics:
            for fact in stated_by[turn]:
                if fact.kind != "constraint":  # a topic's constraint words may still hold elsewhere
                    sources.get((fact.kind, fact.key), set()).discard(turn)
        stated = [f for f in extract_facts(_strip_withdrawals(text), names) if (f.kind, f.key) not in keys]
        stated_by.append(stated)
        for fact in stated:
            sources.setdefault((fact.kind, fact.key), set()).add(index)
            first.setdefault((fact.kind, fact.key), fact)
    in_force = [first[key] for key, where in sources.items() if where]
    gone = [first[key] for key, where in sources.items() if not where]
    return in_force, gone


def _strip_withdrawals(text: str) -> str:
    """The text without the values it withdraws and the suggestions it rejects."""
    text = _SUGGESTION.sub(lambda m: "" if (m.group(2) or "").lower() == "no" else m.group(0), text)
    return _WITHDRAW_VALUE.sub(" ", text)


class _Request:
    """A request read once for `check_request`: lower-cased, its numbers' keys, and where each word starts, so
    checking many facts against a long request costs time linear in both (a hostile 1 MB message with tens of
    thousands of names or quoted values used to be searched once per fact)."""

    def __init__(self, request: str) -> None:
        self.lowered = request.lower()
        self.number_keys = {key for key, _ in _numbers(request)}
        self.starts: dict[str, list[int]] = {}
        for match in _TOKEN.finditer(self.lowered):
            self.starts.setdefault(match.group(), []).append(match.start())
        self.looks = 0
        self.exhausted = False  # MAX_FACT_LOOKS reached: what was not found yet is unknown

    def states(self, fact: Fact) -> bool:
        """Whether the request states `fact`: numbers by value (a percent also as its fraction); constraint stems
        at a word start; withdrawn terms as whole words; names, quoted values, identifiers and times as text
        that starts where a word of the request starts."""
        if fact.kind == "number":
            return bool(_variants(fact.key) & self.number_keys)
        if fact.kind == "constraint":  # one of CONSTRAINT_STEMS: a fixed, short list
            return re.search(rf"\b{re.escape(fact.key)}", self.lowered) is not None
        return self._holds(fact.key.lower(), whole_word=fact.kind == "term")

    def _holds(self, key: str, *, whole_word: bool) -> bool:
        first = _TOKEN.search(key)
        if first is None:
            return key in self.lowered  # no word to anchor on ("$$$"): rare, and searched plainly
        for position in self.starts.get(first.group(), ()):
            self.looks += 1
            if self.looks > MAX_FACT_LOOKS:
                self.exhausted = True  # a hostile request; `check_request` then fails closed
                return False
            start = position - first.start()
            if start >= 0 and self.lowered.startswith(key, start):
                end = start + len(key)
                if not whole_word or end == len(self.lowered) or not self.lowered[end].isalnum():
                    return True
        return False


def invented_numbers(request: str, told: Sequence[str]) -> list[str]:
    """Numbers in `request` that no text in `told` holds (as given, as a percent's fraction or as a percent)."""
    known: set[str] = {_fmt(v) for v in (0, 1)}  # "one request", "0 or more": not facts anyone gave
    for text in told:
        for key, _ in _numbers(text):
            known |= _variants(key)
    return [raw for key, raw in _numbers(_TIME.sub(" ", request)) if not _variants(key) & known]


def check_request(
    request: str,
    user_texts: Sequence[str],
    *,
    names: Iterable[str] = (),
    context: Sequence[str] = (),
    dropped: Mapping[int, Iterable[int]] | None = None,
) -> FactCheck:
    """Check a request against the user's turns.

    Args:
        request: The mediated request.
        user_texts: The user's turns, oldest first.
        names: Names to look for case-insensitively besides capitalised ones.
        context: Other texts whose numbers are not inventions (the assistant's turns, the task's context).
        dropped: Turn index -> earlier turns it withdraws, when known (see `facts_in_force`).
    """
    in_force, withdrawn = facts_in_force(user_texts, names, dropped)
    read = _Request(request)
    missing = [f for f in in_force if not read.states(f)]
    # Constraint words may rightly reappear ("the lowest, not the highest"): only values count here.
    withdrawn_present = [f for f in withdrawn if f.kind != "constraint" and read.states(f)]
    if read.exhausted:  # fail closed: a value not looked for counts as lost, a withdrawn one as still there
        withdrawn_present = [f for f in withdrawn if f.kind != "constraint"]
    return FactCheck(
        in_force=in_force,
        missing=missing,
        withdrawn=withdrawn,
        withdrawn_present=withdrawn_present,
        invented=invented_numbers(request, [*user_texts, *context]),
    )


def record_names(record: Any, full_prompt: str | None = None) -> list[str]:
    """Names in a record's fully specified prompt that its shards mention (in any case)."""
    if not full_prompt:
        return []
    shards = " ".join(shard.shard for shard in record.shards).lower()
    # A full prompt can hold code: the first word of a docstring (`"""Names of the products`) starts a sentence,
    # not a name.
    names = {
        m.group()
        for m in _NAME.finditer(full_prompt)
        if " " in m.group()
        or not (_sentence_start(full_prompt, m.start()) or full_prompt[: m.start()].endswith(('"""', "'''")))
    }
    return sorted(n for n in names if n not in _NOT_NAMES and re.search(rf"\b{re.escape(n.lower())}\b", shards))


def record_texts(record: Any) -> list[str]:
    """A record's shards as the user states them, in order, each rejected proposal marked as rejected, so
    that the final intent follows from the texts (withdraw-kind shards are applied by `record_fact_check`)."""
    texts = []
    for shard in record.shards:
        text = shard.shard
        if shard.kind == "reject-proposal" and shard.proposal:
            text += f" (you suggested {shard.proposal}. no)"
        texts.append(text)
    return texts


def record_fact_check(record: Any, request: str, full_prompt: str | None = None) -> FactCheck:
    """`check_request` for a record's shards, its revisions applied, names taken from its full prompt."""
    position = {shard.shard_id: index for index, shard in enumerate(record.shards)}
    dropped = {
        position[shard.shard_id]: [position[target] for target in shard.revises or []]
        for shard in record.shards
        if shard.kind == "withdraw"
    }
    return check_request(request, record_texts(record), names=record_names(record, full_prompt), dropped=dropped)


def fact_loss_summary(checks: dict[str, FactCheck]) -> dict[str, Any]:
    """Aggregate per-conversation checks: pooled value loss (lost values / values), loss by kind (constraint
    words included), withdrawn values kept, invented numbers, and the share of conversations that lost no value."""
    facts = sum(len(c.values) for c in checks.values())
    lost = sum(len(c.lost_values) for c in checks.values())
    by_kind: dict[str, list[int]] = {}
    for check in checks.values():
        for kind, n in _count_kinds(check.in_force).items():
            by_kind.setdefault(kind, [0, 0])[0] += n
        for kind, n in _count_kinds(check.missing).items():
            by_kind.setdefault(kind, [0, 0])[1] += n
    return {
        "conversations": len(checks),
        "values": facts,
        "lost": lost,
        "loss": lost / facts if facts else 0.0,
        "loss_by_kind": {kind: (m / n if n else 0.0) for kind, (n, m) in sorted(by_kind.items())},
        "withdrawn_kept": sum(len(c.withdrawn_present) for c in checks.values()),
        "invented_numbers": sum(len(c.invented) for c in checks.values()),
        "lossless_share": sum(not c.lost_values for c in checks.values()) / len(checks) if checks else None,
    }


def trajectory_fact_check(trajectory: Any, record: Any = None, full_prompt: str | None = None) -> FactCheck | None:
    """Check the last request of a mediated conversation against what the user had said up to it.

    The user's messages are the ones actually sent (persona wording included). With the record, its
    withdraw-kind shards are applied by shard id and names come from its full prompt. None when the
    conversation holds no request (not a mediated one).
    """
    turns = list(trajectory.turns)
    last = max((i for i, turn in enumerate(turns) if getattr(turn, "request", None)), default=None)
    if last is None:
        return None
    said = [turn.user for turn in turns[: last + 1]]
    names: list[str] = []
    dropped: dict[int, list[int]] = {}
    if record is not None:
        names = record_names(record, full_prompt)
        index_of = {turn.shard_id: i for i, turn in enumerate(turns[: last + 1]) if turn.shard_id is not None}
        for shard in record.shards:
            if shard.kind == "withdraw" and shard.shard_id in index_of:
                dropped[index_of[shard.shard_id]] = [index_of[t] for t in shard.revises or [] if t in index_of]
    return check_request(turns[last].request, said, names=names, dropped=dropped)
