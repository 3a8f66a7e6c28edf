"""Shared pieces of the BLEU-scored text tasks (data2text, translation): the reply's text, and its BLEU.

The reference scores the whole reply. A careful reader scores the description or translation inside it: what
the model wrote around it ("Sure! Here is the translation:", "Let me know if you'd like changes!",
"Note: I kept the names as they are.", "Chunk 2:" labels) is not part of the answer, so `answer_text` removes
such lines from the edges of the reply and such sentences from the first and last line, and nothing in between.
"""

from __future__ import annotations

import re

from intent_mediator.tasks.base import Score

_MARKUP = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[*_]{1,3}(?=\S))|(?<=\S)[*_]{1,3}\s*$")
_LABEL = re.compile(
    r"^(?:(?:document\s+)?chunk|part|section|paragraph)\s*\d+\s*:?$"
    r"|^(?:(?:updated|revised|final|full|complete|new|english|one-sentence)\s+)*"
    r"(?:translation|description|summary|answer|output|english|text|sentence|version)"
    r"(?:\s+\([^)]*\))?\s*:$",
    re.I,
)
_OPENER = re.compile(
    r"^(?:(?:sure|certainly|of course|absolutely|okay|ok|great|got it|alright|understood|thanks?(?: you)?)"
    r"(?:[,!.]+|\s*[-\u2013\u2014]))\s*",
    re.I,
)
# "Here's the updated translation of the whole document so far:", "Below is a one-sentence description:"
_LEAD_IN = re.compile(
    r"^(?:here(?:'s| is| are)|below is|the following is|i(?:'ve| have) (?:updated|revised|translated)"
    r"|based on [^:]{0,80}?,? here(?:'s| is))\b[^:\n]{0,140}?"
    r"\b(?:translation|translated|description|sentence|summary|version|text|document|table|chunks?)\b[^:\n]{0,60}:\s*",
    re.I,
)
_CLOSER = re.compile(
    r"(?:let me know|please let me know|would you like|do you want|shall i|should i|feel free|"
    r"i hope (?:this|that|it) helps|hope (?:this|that) helps|if you(?:'d| would)? (?:like|need|want)|"
    r"is there anything|happy to (?:help|adjust|revise))\b",
    re.I,
)
_NOTE = re.compile(
    r"^\(?(?:note|notes|translator'?s? note|explanation)\s*:|^\(?this (?:description|sentence|translation|summary)\b"
    r"|^\(?i (?:have |'ve )?(?:kept|focused|translated|included|chose|highlighted|rendered)\b",
    re.I,
)
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+[\"'\u201d)]?|$)\s*")


def _plain(line: str) -> str:
    """The line without markdown emphasis (`**`, `__`) and heading or quote marks."""
    return _MARKUP.sub("", re.sub(r"\*\*|__", "", line.strip())).strip()


def _is_chatter(line: str) -> bool:
    plain = _plain(line)
    return (
        not plain
        or bool(_LABEL.match(plain))
        or bool(_CLOSER.match(plain))
        or bool(_NOTE.match(plain))
        or bool(re.fullmatch(r"[-=*_]{3,}", plain))
        or bool(_OPENER.sub("", plain) == "" or _LEAD_IN.fullmatch(_OPENER.sub("", plain)))
    )


def _trim_closers(line: str) -> str:
    sentences = _SENTENCE.findall(line)
    while len(sentences) > 1 and (_CLOSER.match(sentences[-1].strip()) or _NOTE.match(sentences[-1].strip())):
        sentences.pop()
    return "".join(sentences).strip()


def answer_text(reply: str) -> str:
    """The reply without the chatter around its answer: lead-ins, labels, offers and notes at its edges."""
    text = re.sub(r"```[\w-]*", "", reply)
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not (_LABEL.match(_plain(line)) and len(_plain(line)) < 40)]
    while lines and _is_chatter(lines[0]):
        lines.pop(0)
    while lines and _is_chatter(lines[-1]):
        lines.pop()
    if not lines:
        return ""
    first = _plain(lines[0])
    first = _LEAD_IN.sub("", _OPENER.sub("", first))
    first = re.sub(r"^(?:description|translation|english|answer|summary)\s*:\s*", "", first, flags=re.I)
    lines[0] = first
    lines[-1] = _trim_closers(_plain(lines[-1]) if len(lines) > 1 else lines[0])
    lines = [line for line in lines if line.strip()]
    return _unquote(lines[0]) if len(lines) == 1 else "\n".join(lines)


def only_questions(text: str) -> bool:
    """True when every sentence of the text is a question: a request for input, not a description or translation."""
    sentences = [sentence.strip() for sentence in _SENTENCE.findall(text) if sentence.strip()]
    return bool(sentences) and all(sentence.rstrip("\"')\u201d").endswith("?") for sentence in sentences)


def _unquote(line: str) -> str:
    line = line.strip()
    if len(line) > 2 and line[0] in '"\u201c' and line[-1] in '"\u201d' and line.count('"') <= 2:
        return line[1:-1].strip()
    return line


def bleu_score(hypothesis: str, references: list[str]) -> Score:
    """Corpus BLEU (sacrebleu, default 13a tokenization) of one hypothesis against its references, in [0, 1]."""
    import sacrebleu

    references = [ref.strip() for ref in references if ref and ref.strip()]
    if not references:
        return Score(0.0, "the record has no reference text")
    bleu = sacrebleu.corpus_bleu([hypothesis.strip()], [[ref] for ref in references])
    return Score(min(1.0, bleu.score / 100.0), f"BLEU {bleu.score:.1f}")
