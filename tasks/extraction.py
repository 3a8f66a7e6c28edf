"""Find the final answer a reply commits to, the way a careful reader does; shared by the task parsers.

Order: explicit final-answer markers (`\\boxed{}`, `####`, "the answer is", "Final answer:", a bold value), then a
careful fallback on the concluding sentence. A number is read as written: thousands separators, currency,
decimals, fractions, mixed numbers and percentages; units and trailing remarks after it are ignored
("\\boxed{124} km in 4 weeks" -> 124, "48 m^2" -> 48, "x = 18 (which is 3 x 6)" -> 18).

    final_number("So the total is $3,360 over 4 years.")     # FinalNumber(value=3360.0, text='$3,360', ...)
    parse_number("1 1/2")                                      # 1.5
    numbers_match(12.5, 12.50)                                 # True
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

# A number as people write it: sign, currency, thousands separators, decimals, a fraction or mixed number, "%".
# Not the exponent of a unit (m^2), not part of a word or identifier (x2, 4th).
NUMBER = re.compile(
    r"(?<![\w^.])(?<!\^\{)"
    r"(?P<sign>[-−])?\s?(?P<cur>[$€£])?\s?"
    r"(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s+\d+/\d+)?(?:/\d+)?|\.\d+)"
    r"(?P<pct>\s?%)?"
    r"(?!\d|,\d{3}|\.\d|st\b|nd\b|rd\b|th\b)"
)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASHES = re.compile(r"####\s*([^\n]*)")
_ANSWER_PHRASE = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:\*\*)?\s*(?:is|would\s+be|will\s+be|=|:)(?!\s*not\b)\s*(?:\*\*)?:?",
    re.I,
)
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__", re.S)
_BOLD_LABEL = re.compile(r"^\s*(?:step|part|case|option|scenario|day|week|year|month|round|stage)\b", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-Z(*$\d\\-])|\n+")
_PARENS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_REMARK = re.compile(
    r"(?:,|;|\s[—–-]{1,2})\s*(?:which|that is|that's|i\.e\.|e\.g\.|or|about|roughly|since|because)\b.*$", re.I
)
_PARENS_KEEP_NUMBERS = re.compile(r"[()]")
_ALTERNATIVE_LABEL = re.compile(r"(?:^|\n)\W*((?:option|case|scenario|interpretation)\s*\w+)", re.I)
_TRAILING_PREP = re.compile(
    r"\s+(?:over|in|for|per|across|after|within|during|each|every|from|at|by|on|a|an|of)\s+"
    r"(?:the\s+|a\s+|an\s+|those\s+|these\s+|all\s+|its\s+|their\s+|his\s+|her\s+)?"
    r"(?:[-−]?[$€£]?\d[\d,./]*%?)[^\d]*$",
    re.I,
)
_OFFER = re.compile(
    r"^\s*(?:would\s+you\s+like|do\s+you\s+(?:want|need)|want\s+me\s+to|shall\s+I|let\s+me\s+know|"
    r"is\s+there\s+anything|anything\s+else|(?:does|did)\s+(?:this|that)\s+(?:help|make\s+sense|answer|match|work|"
    r"look\s+(?:right|good|correct)|sound\s+(?:right|good))|is\s+(?:this|that)\s+what\s+you|"
    r"(?:can|may)\s+I\s+help|any\s+(?:other|further|more)\s+questions|would\s+it\s+help|"
    r"if\s+you(?:'d|\s+would)\s+like|feel\s+free|happy\s+to\s+help|hope\s+(?:this|that)\s+helps|"
    r"need\s+(?:any(?:thing)?|more|further)\s+(?:help|else|explanation))",
    re.I,
)
_OPENER = re.compile(
    r"^\W*(?:(?:ok(?:ay)?|alright|all\s+right|sure|got\s+it|noted|understood|thanks|thank\s+you|great|i\s+see)\b[\s,.:;!—–-]*)+"
    r"(?:so\b[\s,]*)?",
    re.I,
)
_CONCLUSION_SPLIT = re.compile(r"\b(?:so|therefore|thus|hence|which\s+means|that\s+means)\b", re.I)
_STRONG_CUE = re.compile(
    r"=|\b(?:so|therefore|thus|hence|total|totals|altogether|in\s+all|answer|result|comes?\s+to|came\s+to|"
    r"equals?|overall|combined|sum)\b",
    re.I,
)
_WEAK_CUE = re.compile(
    r"\b(?:each|apiece|receives?|received|gets?|got|left|remains?|remaining|needs?|needed|spent|spends?|costs?|"
    r"earns?|earned|saves?|saved|started\s+with|starts?\s+with|ends?\s+up|ended\s+up|makes?|made|pays?|paid|"
    r"takes?|took|produces?|produced|scores?|scored|buys?|bought|sold|sells?|is|are|was|were|will\s+be)\b",
    re.I,
)
_DEFERRAL = re.compile(
    r"\b(?:I\s+(?:still\s+)?need\s+(?:to\s+know|more|the|a|some)|once\s+you\s+(?:tell|share|give|provide|confirm|let)|"
    r"before\s+I\s+can|(?:can't|cannot|can\s+not|unable\s+to)\s+(?:yet\s+)?(?:determine|calculate|compute|work\s+out|"
    r"give|answer|say|know)|not\s+enough\s+information|missing\s+(?:information|details|the)|"
    r"(?:as\s+soon\s+as|when)\s+you\s+(?:tell|share|give|provide))",
    re.I,
)
_CONDITIONAL_START = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:\*\*)?(?:if\b|assuming\b|in\s+case\b|otherwise\b|alternatively\b|"
    r"(?:case|option|scenario|interpretation)\s*(?:\d+|[A-C])\b)",
    re.I,
)
_EITHER_OR = re.compile(
    r"\b(?:either|could\s+be|might\s+be|may\s+be|depending)\b[^.?!\n]*?\d[^.?!\n]*?\bor\b\s*[$€£]?\d",
    re.I,
)
_AMBIGUITY = re.compile(
    r"\b(?:two|several|multiple|different|both)\s+(?:ways|readings|interpretations|possibilities|scenarios|cases)\b|"
    r"\balternatively\b|\bon\s+the\s+other\s+hand\b|\bambiguous\b|\bdepends?\s+on\s+(?:whether|if|how|which|the\s+order)\b",
    re.I,
)
_STOPWORDS = frozenset(
    "the and for with that this his her its their they she him was were are has have had did does will would "
    "from into over each then than them there what when which who how many much also just now still".split()
)


@dataclass(frozen=True)
class FinalNumber:
    """The number a reply commits to. `explicit`: it came from a final-answer marker, not the fallback."""

    value: float
    text: str
    explicit: bool
    marker: str
    percent: bool = False
    decimals: int = 0


def parse_number(text: str) -> float | None:
    """The value of the first number in `text` ("$1,234.50" -> 1234.5, "3/4" -> 0.75, "45%" -> 45.0)."""
    found = first_number(text)
    return None if found is None else found.value


def first_number(text: str, *, explicit: bool = False, marker: str = "fallback") -> FinalNumber | None:
    match = NUMBER.search(_unlatex(text))
    return _as_final(match, explicit, marker) if match else None


def last_number(text: str, *, explicit: bool = False, marker: str = "fallback") -> FinalNumber | None:
    matches = list(NUMBER.finditer(_unlatex(text)))
    return _as_final(matches[-1], explicit, marker) if matches else None


def all_numbers(text: str) -> list[float]:
    return [value for m in NUMBER.finditer(_unlatex(text)) if (value := _value(m)) is not None]


def _value(match: re.Match) -> float | None:
    raw = match.group("num").replace(",", "")
    try:
        if " " in raw:  # a mixed number: "1 1/2"
            whole, fraction = raw.split(None, 1)
            numerator, denominator = fraction.split("/")
            value = float(whole) + float(numerator) / float(denominator)
        elif "/" in raw:
            numerator, denominator = raw.split("/", 1)
            value = float(numerator) / float(denominator)
        else:
            value = float(raw)
    except (ValueError, ZeroDivisionError):
        return None
    return -value if match.group("sign") else value


def _as_final(match: re.Match, explicit: bool, marker: str) -> FinalNumber | None:
    value = _value(match)
    if value is None:
        return None
    raw = match.group("num")
    decimals = len(raw.split(".", 1)[1]) if "." in raw and "/" not in raw else 0
    return FinalNumber(value, match.group(0).strip(), explicit, marker, bool(match.group("pct")), decimals)


def _unlatex(text: str) -> str:
    """LaTeX number notation as plain text: \\frac{3}{4} -> 3/4, 12{,}000 -> 12,000, \\$ -> $, \\text{km} -> km."""
    text = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"(\1)/(\2)", text)
    text = re.sub(r"\((-?\d+(?:\.\d+)?)\)/\((\d+(?:\.\d+)?)\)", r"\1/\2", text)
    text = text.replace("{,}", ",").replace("\\$", "$").replace("\\%", "%").replace("\\,", "").replace("\\!", "")
    text = re.sub(r"\\(?:text|mathrm|textbf|mathbf)\s*\{([^{}]*)\}", r" \1", text)
    return text.replace("\\left", "").replace("\\right", "").replace("\\times", "×").replace("\\cdot", "·")


def boxed_contents(text: str) -> list[str]:
    """The contents of every `\\boxed{...}` (balanced braces), in order."""
    contents = []
    for match in _BOXED.finditer(text):
        depth, start = 1, match.end()
        for index in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                contents.append(text[start:index])
                break
    return contents


def _span_number(span: str, marker: str) -> FinalNumber | None:
    """The number a marked span states: after its last "=", the first number, units and remarks ignored."""
    span = _PARENS.sub(" ", _unlatex(span).replace("**", " "))
    if "=" in span:
        after = span.rsplit("=", 1)[1]
        if NUMBER.search(after):
            span = after
    return first_number(span, explicit=True, marker=marker)


def marked_numbers(text: str) -> list[FinalNumber]:
    """Every number stated by an explicit final-answer marker, strongest marker kind first, in text order."""
    for marker, spans in (
        ("boxed", boxed_contents(text)),
        ("####", _HASHES.findall(text)),
        ("answer phrase", [text[m.end() :].split("\n", 1)[0] for m in _ANSWER_PHRASE.finditer(text)]),
        ("bold", _bold_values(text)),
    ):
        found = [number for span in spans if (number := _span_number(span, marker)) is not None]
        if found:
            return found
    return []


def _bold_values(text: str) -> list[str]:
    """Bold spans that state a value (a number and at most a few words), not bold step headings: a span opening
    with a step word, or one ending in a colon ("**Calculate 15% of $180:**" introduces what follows)."""
    spans = []
    for match in _BOLD.finditer(text):
        inner = (match.group(1) or match.group(2)).strip()
        heading = inner.endswith(":") or text[match.end() : match.end() + 1] == ":"
        if heading or _BOLD_LABEL.match(inner) or not NUMBER.search(_unlatex(inner)):
            continue
        if len(re.findall(r"[A-Za-z]+", NUMBER.sub(" ", inner))) <= 5:
            spans.append(inner)
    return spans


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def is_offer(sentence: str) -> bool:
    """A closing courtesy ("Would you like me to explain?", "Let me know if ..."), not a question about the task."""
    return bool(_OFFER.match(sentence.lstrip("*_ >-")))


def task_questions(text: str) -> list[str]:
    """The questions a reply asks about the task: sentences ending in "?", closing offers excluded."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    return [s for s in sentences(text) if s.rstrip("*_ )").endswith("?") and not is_offer(s)]


def defers(text: str) -> bool:
    """The reply says it cannot answer yet ("I still need the price", "once you tell me ...")."""
    return bool(_DEFERRAL.search(text))


def _content_words(text: str) -> set[str]:
    words = {w.lower().rstrip("s") for w in re.findall(r"[A-Za-z']{3,}", text)}
    return {w for w in words if w not in _STOPWORDS}


def restates(sentence: str, value: float, given: Iterable[str]) -> bool:
    """`sentence` repeats something the user said: a user sentence with the same number and mostly the same words."""
    words = _content_words(NUMBER.sub(" ", sentence))
    if not words:
        return True
    for source in given:
        for said in sentences(source):
            if any(numbers_match(v, value) for v in all_numbers(said)):
                said_words = _content_words(NUMBER.sub(" ", said))
                shared = len(words & said_words)
                if shared >= 0.5 * len(said_words) or shared >= 0.75 * len(words):
                    return True
    return False


def fallback_number(text: str, given: Iterable[str] = ()) -> FinalNumber | None:
    """The number the concluding sentence states, or None when the reply commits to no result.

    The concluding sentence is the last statement (not a question or offer) holding a number. Parenthetical
    remarks, trailing clauses ("which is ...") and trailing phrases like "over 4 years" are dropped, then the
    number after the last "=" or else the last number is taken. A number the user gave counts only when the
    sentence concludes (so, total, =, ...) or states a result without merely repeating the user's words.
    """
    given = list(given)
    statements = [s for s in sentences(re.sub(r"```.*?```", " ", text, flags=re.S)) if not s.rstrip().endswith("?")]
    statements = [s for s in statements if not is_offer(s)]
    for index in range(len(statements) - 1, -1, -1):
        sentence = statements[index]
        cleaned = _PARENS.sub(" ", _unlatex(sentence).replace("**", " ")).strip()
        if not NUMBER.search(cleaned):
            continue
        if any(defers(later) for later in statements[index:]):
            return None
        sentence = _OPENER.sub("", sentence)  # "Okay, so ..." acknowledges; its "so" concludes nothing
        clauses = [c for c in _CONCLUSION_SPLIT.split(cleaned) if NUMBER.search(c)]
        cleaned = clauses[-1] if clauses else cleaned
        if "=" in cleaned and NUMBER.search(cleaned.rsplit("=", 1)[1]):
            found = first_number(_REMARK.sub("", cleaned.rsplit("=", 1)[1]))
        else:
            cleaned = _REMARK.sub("", cleaned)
            while True:
                trimmed = _TRAILING_PREP.sub("", cleaned)
                if trimmed == cleaned or not NUMBER.search(trimmed):
                    break
                cleaned = trimmed
            found = last_number(cleaned)
        if found is None:
            return None
        given_values = [v for source in given for v in all_numbers(source)]
        if given and any(numbers_match(v, found.value) for v in given_values):
            if _STRONG_CUE.search(sentence):
                return found
            if restates(sentence, found.value, given) or not _WEAK_CUE.search(sentence):
                return None
        return found
    return None


def final_number(text: str, given: Iterable[str] = ()) -> FinalNumber | None:
    """The final number a reply commits to: the last explicit marker's, else the careful fallback's.

    Args:
        text: The reply.
        given: What the user said (question, shards): numbers merely repeated from it are not answers.
    """
    marked = marked_numbers(text)
    if marked:
        return marked[-1]
    return fallback_number(text, given)


def hedges(text: str) -> bool:
    """The reply offers several candidate answers under different assumptions instead of committing to one."""
    marked = marked_numbers(text)
    values = {round(n.value, 9) for n in marked}
    pieces = re.split(r"(?<=[.!?;])\s+|\n+", text)
    conditional = [s for s in pieces if _CONDITIONAL_START.match(s)]
    if len(values) >= 2 and (conditional or _EITHER_OR.search(text) or re.search(r"\bdepend", text, re.I)):
        return True
    if _EITHER_OR.search(_PARENS.sub(" ", text)) and not marked:
        return True
    branch_values = set()
    for sentence in conditional:
        found = last_number(_PARENS.sub(" ", sentence))
        if found is not None:
            branch_values.add(round(found.value, 9))
    if len(conditional) >= 2 and len(branch_values) >= 2:
        return True
    if _AMBIGUITY.search(text):
        results = set()
        for clause in re.split(r"[.;\n]\s|,\s*but\b|\bbut\b", _PARENS_KEEP_NUMBERS.sub(" ", text)):
            if "=" in clause and (found := first_number(clause.rsplit("=", 1)[1])) is not None:
                results.add(round(found.value, 9))
        if len(results) >= 2:
            return True
    labels = {m.group(1).lower() for m in _ALTERNATIVE_LABEL.finditer(text)}
    return len(labels) >= 2 and text.count("```") >= 4


def numbers_match(got: float, gold: float, *, decimals: int = 0, percent: bool = False) -> bool:
    """Equal up to float noise; an answer written to `decimals` places matches the gold rounded to them;
    a percentage matches either its number (45% = 45) or its fraction (45% = 0.45)."""
    candidates = [got, got / 100] if percent else [got]
    for value in candidates:
        if math.isclose(value, gold, rel_tol=1e-9, abs_tol=1e-9):
            return True
        if decimals >= 2 and math.isclose(value, round(gold, decimals), abs_tol=10 ** -(decimals + 3)):
            return True
    return False
