"""A cheap proxy for selecting guidelines: how faithfully the Mediator's request recovers the task.

Score in [0, 1] = (share of shards whose key terms appear in the request) x (1 - share of the request's numbers
that no shard mentions). It needs Mediator calls only, no assistant, so users can compile without running the
assistant on every candidate.
"""

from __future__ import annotations

import re

from intent_mediator.data.records import Instruction

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_WORD = re.compile(r"[a-z][a-z'-]{3,}")
_STOP = frozenset(
    "that this with from have what they them each also only want need just into over then than "
    "will would should could there their about which when your".split()
)


def _terms(text: str) -> set[str]:
    lowered = text.lower().replace(",", "")
    return {w for w in _WORD.findall(lowered) if w not in _STOP} | set(_NUMBER.findall(lowered))


def faithfulness(request: str, shards: list[str]) -> float:
    """Coverage of every shard's information times the share of numbers not invented."""
    request_terms = _terms(request)
    covered = []
    for shard in shards:
        terms = _terms(shard)
        if terms:
            numbers = set(_NUMBER.findall(shard.replace(",", "")))
            # Numbers carry most of a shard's information: all must survive; words may be rephrased.
            words = terms - numbers
            word_share = len(words & request_terms) / len(words) if words else 1.0
            covered.append(float(numbers <= request_terms) * (0.5 + 0.5 * word_share) if numbers else word_share)
    coverage = sum(covered) / len(covered) if covered else 1.0
    told = {n for shard in shards for n in _NUMBER.findall(shard.replace(",", ""))}
    said = _NUMBER.findall(request.replace(",", ""))
    invented = [n for n in said if n not in told]
    return coverage * (1 - len(invented) / len(said) if said else 1.0)


def record_faithfulness(request: str, record: Instruction) -> float:
    return faithfulness(request, [shard.shard for shard in record.shards if shard.shard.strip()])


def proxy_score(program, records: list[Instruction], mediator_lm=None) -> float:
    """Mean faithfulness (0-100) of the Mediator's request for each record's shards revealed one per turn, with
    a non-committal assistant in between."""
    from intent_mediator.lm import lm_scope
    from intent_mediator.transcript import Turn

    scores = []
    for record in records:
        turns = []
        for shard in record.shards:
            turns += [Turn.user(shard.shard), Turn.assistant("Could you tell me more?")]
        with lm_scope(mediator_lm):
            request = program.mediator(transcript=turns[:-1]).request
        scores.append(100.0 * record_faithfulness(request, record))
    return sum(scores) / len(scores)
