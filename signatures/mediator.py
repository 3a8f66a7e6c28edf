"""The Mediator's signature and the way learned guidelines are written into its instructions."""

from __future__ import annotations

import re

import dspy
from intent_mediator.transcript import Turn


class MediateRequest(dspy.Signature):
    """Rewrite a chat between a user and an assistant as the one message the user would have sent had they said
    everything at once.

    - Keep the user's question or goal as a question or instruction; never answer it.
    - Keep every number, name, quoted value, unit, format and condition the user gave, word for word.
    - A change replaces the old value; a withdrawal removes it; a suggestion the user accepts becomes their own
      requirement; one they reject is left out. Take nothing else from the assistant.
    - Spell out what "it", "that one" or "same as before" point to.
    - Add nothing of your own: no assumed values, examples, steps, formulas, code or answers.
    - Write as the user, in the first person.
    """

    transcript: list[Turn] = dspy.InputField(desc="Oldest turn first; the last turn is the user's.")
    request: str = dspy.OutputField(desc="The user's complete request, sent to the assistant as its only message.")


class RepairRequest(dspy.Signature):
    """A request was written from a user's chat messages, and a check against those messages found the problems
    listed. Rewrite the request so that every problem is fixed and the rest stays as it is. Use the user's own
    words and values; add no value they did not give, and do not answer or solve the request."""

    user_turns: list[str] = dspy.InputField(desc="The user's messages, oldest first.")
    draft: str = dspy.InputField(desc="The request to fix.")
    problems: list[str] = dspy.InputField(desc="What the check found wrong with the draft.")
    request: str = dspy.OutputField(desc="The fixed request.")


GUIDELINES_HEADER = "Guidelines learned for this user and domain (apply each one whenever it fits):"
_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s+(.*\S)\s*$")


def split_instructions(instructions: str) -> tuple[str, list[str]]:
    """Split Mediator instructions into the base prompt and the numbered guidelines written after it.

    Returns:
        The base instructions and the guidelines, in order; an empty list when there is no guidelines section.
    """
    base, header, rest = instructions.partition(GUIDELINES_HEADER)
    if not header:
        return instructions, []
    guidelines = [match.group(2) for line in rest.splitlines() if (match := _NUMBERED.match(line))]
    return base.rstrip(), guidelines


def render_instructions(base: str, guidelines: list[str]) -> str:
    """Append a numbered guidelines section to `base`; no section when there are no guidelines.

    Raises:
        ValueError: when a guideline is empty or spans several lines (it could not be read back unchanged).
    """
    cleaned = []
    for index, rule in enumerate(guidelines, start=1):
        if not isinstance(rule, str) or not rule.strip():
            raise ValueError(f"guideline {index} is empty; give each guideline as a non-empty string")
        if "\n" in rule.strip():
            raise ValueError(f"guideline {index} spans several lines; give each guideline as one line")
        cleaned.append(re.sub(r"^\s*\d+[.)]\s+", "", rule.strip()))
    if not cleaned:
        return base
    numbered = "\n".join(f"{number}. {rule}" for number, rule in enumerate(cleaned, start=1))
    return f"{base}\n\n{GUIDELINES_HEADER}\n{numbered}"
