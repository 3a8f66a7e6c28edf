"""Shared BLEU scoring for the continuous text tasks (data2text, translation)."""

from __future__ import annotations

from intent_mediator.tasks.base import Score


def bleu_score(hypothesis: str, references: list[str]) -> Score:
    """Corpus BLEU (sacrebleu) of one hypothesis against its references, scaled to [0, 1]."""
    import sacrebleu

    references = [ref for ref in references if ref and ref.strip()]
    if not references:
        return Score(0.0, "the record has no reference text")
    bleu = sacrebleu.corpus_bleu([hypothesis.strip()], [[ref] for ref in references])
    return Score(min(1.0, bleu.score / 100.0), f"BLEU {bleu.score:.1f}")
