"""The Mediator: rewrites a multi-turn transcript into one explicit request, guided by learned guidelines."""

from __future__ import annotations

import logging
from typing import Any

import dspy
from intent_mediator.adapters import LeanChatAdapter
from intent_mediator.cues import answers_any, refers_back, restates_any, terse
from intent_mediator.facts import FactCheck, check_request
from intent_mediator.finish import cut_off, finish_reasons
from intent_mediator.lm import lm_scope, wants_json
from intent_mediator.signatures import MediateRequest, RepairRequest, render_instructions, split_instructions
from intent_mediator.transcript import (
    Turn,
    as_dicts,
    compact_transcript,
    last_reply_index,
    normalize_transcript,
    user_turns,
)

logger = logging.getLogger(__name__)

# A repaired request that still lost more than this share of the user's values is not used (see `Mediator._checked`).
UNUSABLE_LOSS = 0.5
# Paths (`Prediction.mediation`) on which the Mediator made no LM call.
NO_CALL_PATHS = ("passthrough", "joined")


class Mediator(dspy.Module):
    """Writes the explicit, self-contained request a user meant across the turns of a conversation.

    The guidelines live in the predictor's instructions (the Mediator's system prompt), so `save()` and
    `load()` carry them like any other DSPy prompt state.

    Check and repair: every request is checked against all of the user's turns (`facts.check_request`): each
    number, clock time, quoted value, name and identifier still in force must appear in it, no withdrawn value
    may, and no number the user never gave. When the check fails, one call to the `repair` predictor gets the
    user's turns, the draft and the problems found. If the repaired request still invents a number, keeps a
    withdrawn value or lost more than half of the values in force (a draft that answered the request instead of
    rewriting it looks like this), it is discarded and the user's turns, joined, are sent instead; if it only
    lost a few values, the user turns that hold them are appended verbatim. So the assistant never gets a
    request that dropped a value the user gave. The check costs no LM call; the repair runs only on a failed
    check. A rewrite that stopped at the Mediator's token cap (finish reason "length") is not the whole request
    however well it checks, so the user's turns are sent instead; a repair cut off there counts as a failed
    repair. `Prediction.mediation` says which path a request took: "passthrough", "joined", "rewrite",
    "repaired", "appended", "user turns" or "cut off".

    Joined additions (`join_additions=True`): when the user's new turns only add to what they said
    (none changes or takes back what was said, or answers or points at the assistant's reply, and
    `join_user_turns` of the last request and the new turns passes the same check), that join is already the
    whole request; it is sent without an LM call (path "joined"). A rewrite could only lose something there:
    the join is LiC's concat, the ceiling of any rewrite when the user only adds information. The LM rewrites
    the turns that change, withdraw, accept or reject.

    Args:
        guidelines: Learned rules, one string each; None or [] for the uncompiled Mediator.
        chain_of_thought: Let the Mediator reason before writing the request.
        passthrough_first_turn: A one-turn transcript has nothing to consolidate: return it unchanged and save
            the LM call, compiled or not. False mediates every turn (the paper's Mediator).
        check: Check each request against the user's turns and repair it (see above).
        join_additions: Send turns that only add information joined to the last request, without an LM call
            (see above). Off by default until held-out measurements choose it (README); off, the LM rewrites
            every turn after the first.
        lean: Send the Mediator's calls through `LeanChatAdapter` (DSPy's chat layout without its boilerplate);
            False leaves the adapter to the surrounding `dspy.context`. Engines that ask for JSON get DSPy's
            JSONAdapter either way.
        lm: The mediator role's LM; None uses the LM of the surrounding `dspy.context`.
    """

    # Goes up whenever what the Mediator sends for the same LM replies changes, so that a run or a compile made
    # under an earlier behaviour is not resumed under this one (recorded in run and compile fingerprints).
    # 1: every Mediator before the revision was recorded; 2: a rewrite or repair stopped at its token cap is not
    # used (path "cut off"); 3: a compiled Mediator passes a one-turn transcript through too (before, only an
    # uncompiled one did; 4 of the 8 recorded first-turn rewrites that changed more than case and punctuation
    # invented a value or dropped the question); 4: the fact check of requests and joins reads numbers in words
    # with the router's reading (`facts.in_digits`: "two thousand three hundred" is 2300, "twenty-five" 25,
    # "seventy" 70; before, each word alone, and "seventy", "eighty", "thousand" and hyphenated words not at
    # all), and that reading, the router's too, starts a new number where a word cannot go on with the last
    # ("two three-bedroom": 2 and 3, not 5) and at a line break. Every follow-up of the read router files, the
    # 370 shards and 104 recorded replies routes as under join revision 8, so that number stays.
    # `join_additions` is an option, recorded in fingerprints when on.
    behaviour_revision: int = 4
    # The same for the router of `join_additions` (which turns are joined without a call), recorded only when
    # joining is on. 1: the first cue list (54d4e0b, widened in 1ecb67e); 2: cues widened on the held-out dev
    # follow-ups plus `restates_value` (a silent new value for something already given); 3: plus
    # `cues.answers_reply` (a turn after a reply that asks the user to choose, or one picking a name from the
    # reply) and bare values and clock times in `restates_value`; 4: after a review, offers of more help
    # ("Anything else?") are not choices, clock times compare as times, every user turn after a reply pairs
    # with it, names in any alphabet, and a cap on the numbers compared; 5: a bare "\r" or any other line break
    # opens a line in the reply as "\n" does (a capitalised word after it is not taken for a name); 6: a
    # percentage ends the look back for a number's slot word, as any other number does ("15% of the bill, 80");
    # 7: rules for the misses of the five read follow-up files: a one-word follow-up ("munich", "B") goes to the
    # LM, a closed set's value replaces another ("every thursday" after "every Monday"), opposites flip
    # ("lowest first" after "highest first"), picks by option label or ordinal ("B", "book the third"), a bare
    # noun phrase ("the kitchen speaker"), "that <verb>s" about the reply, "hold on", "leave ... off"; 8: rules for
    # test5's misses: number words and "twice" are numbers ("eighteen months" after "twelve months"), short units
    # the long ones ("6 seconds" after "4 s"), a percentage names its thing on either side ("vat is 19%" after
    # "20% vat"), more opposites ("odd" after "even"), "nvm"; any white space but a line break (a no-break space)
    # stands between a reply's sentences as a space does.
    join_revision: int = 8

    def __init__(
        self,
        guidelines: list[str] | None = None,
        *,
        chain_of_thought: bool = False,
        passthrough_first_turn: bool = True,
        check: bool = True,
        join_additions: bool = False,
        lean: bool = True,
        lm: dspy.LM | None = None,
    ):
        super().__init__()
        self.rewrite = dspy.ChainOfThought(MediateRequest) if chain_of_thought else dspy.Predict(MediateRequest)
        self.repair = dspy.Predict(RepairRequest)
        self.passthrough_first_turn = passthrough_first_turn
        self.check = check
        self.join_additions = join_additions
        self.lean = lean
        self.role_lm = lm
        self.set_guidelines(guidelines or [])

    @property
    def predictor(self) -> dspy.Predict:
        """The predictor whose instructions hold the guidelines (ChainOfThought keeps it as `.predict`)."""
        return getattr(self.rewrite, "predict", self.rewrite)

    @property
    def guidelines(self) -> list[str]:
        """The current guidelines, in order."""
        return split_instructions(self.predictor.signature.instructions)[1]

    def set_guidelines(self, guidelines: list[str]) -> None:
        """Replace the guidelines. Rebinds the signature: the class is shared between copies of the program."""
        base, _ = split_instructions(self.predictor.signature.instructions)
        self.predictor.signature = self.predictor.signature.with_instructions(
            render_instructions(base, list(guidelines))
        )

    def forward(self, transcript: list[Turn | dict[str, Any]], previous_request: str | None = None) -> dspy.Prediction:
        """Rewrite `transcript` into one explicit request.

        Args:
            transcript: The conversation so far, ending with the user's turn.
            previous_request: The request this Mediator wrote for the conversation before the assistant's
                last reply. Given, the Mediator reads that request, the reply and the user's new turns instead
                of the whole transcript (incremental mediation: each turn is read once, so a call does not
                grow with the assistant's earlier replies).
        """
        everything = normalize_transcript(transcript)
        turns = compact_transcript(everything, previous_request) if previous_request else everything
        if self.passthrough_first_turn and len(turns) == 1:
            return dspy.Prediction(request=turns[0].content, mediated=False, mediation="passthrough")
        said = user_turns(everything)
        if self.join_additions:
            # With incremental history turns[0] is the last request (compact_transcript): it resolved the turns
            # before it.
            resolved = bool(previous_request) and last_reply_index(turn.role for turn in everything) is not None
            if (joined := joined_addition(turns, said, resolved_first=resolved)) is not None:
                return dspy.Prediction(request=joined, mediated=False, mediation="joined")
        # Plain dicts render exactly like Turns, and traces holding them serialise: SIMBA and GEPA show traces
        # to their reflection LM, and bootstrapped demos must save to JSON. DSPy would warn that dicts are not
        # Turns on every call.
        with (
            lm_scope(self.role_lm, adapter=self._adapter()),
            dspy.context(warn_on_type_mismatch=False),
            finish_reasons() as reasons,
        ):
            out = self.rewrite(transcript=as_dicts(turns))
        request = (out.request or "").strip()
        if request and cut_off(reasons):
            # JSON and chat parsers both accept a request that ends mid-sentence; its question is often the part lost.
            logger.warning("Mediator's request stopped at its token cap; sending the user's turns joined instead")
            return dspy.Prediction(
                request=join_user_turns(said), mediated=False, fallback="request cut off", mediation="cut off"
            )
        if not request:
            # An empty rewrite would leave the assistant with nothing; the user's own words lose less.
            logger.warning("Mediator returned an empty request; sending the user's turns joined instead")
            return dspy.Prediction(
                request=join_user_turns(said), mediated=False, fallback="empty request", mediation="user turns"
            )
        if not self.check:
            return dspy.Prediction(request=request, mediated=True, mediation="rewrite")
        return self._checked(request, said)

    def _adapter(self) -> dspy.Adapter | None:
        return self.adapter_for(self.role_lm or dspy.settings.lm)

    def adapter_for(self, lm: dspy.LM | None) -> dspy.Adapter | None:
        """`LeanChatAdapter` for `lm`, or None (`lm_scope` picks DSPy's own layout) without `lean` or for an engine
        that asks for JSON (the embedded model: JSONAdapter). A lean JSON layout was measured there and dropped:
        the 1.5B Mediator then wrote the assistant's function calls as its requests (README, design notes)."""
        if not self.lean or wants_json(lm):
            return None
        return LeanChatAdapter()

    def layout_name(self, lm: dspy.LM | None) -> str:
        """The class name of the adapter this Mediator's calls go through with `lm` (its own LM when it has one),
        as recorded in run and compile fingerprints."""
        lm = self.role_lm or lm
        adapter = self.adapter_for(lm) or (dspy.JSONAdapter() if wants_json(lm) else None)  # as `lm_scope` picks
        return type(adapter or dspy.settings.adapter or dspy.ChatAdapter()).__name__

    def _checked(self, request: str, said: list[str]) -> dspy.Prediction:
        """Check `request` against the user's turns; repair it once, then fall back to the user's own words."""
        found = check_request(request, said)
        if found.ok:
            return dspy.Prediction(request=request, mediated=True, problems=[], repaired=False, mediation="rewrite")
        problems = describe_problems(found, said)
        with lm_scope(self.role_lm, adapter=self._adapter()), finish_reasons() as reasons:
            fixed = (self.repair(user_turns=said, draft=request, problems=problems).request or "").strip()
        repaired = request if cut_off(reasons) else fixed or request
        after = check_request(repaired, said)
        if len(after.lost_values) > len(found.lost_values):
            repaired, after = request, found  # the repair lost more than it restored: keep the draft
        mediation = "repaired"
        if after.invented or after.withdrawn_present or after.loss > UNUSABLE_LOSS:
            # Appending cannot remove what the draft made up or kept after a withdrawal, and a draft that lost
            # most values is not the user's request (typically the Mediator answered it): send the user's words.
            logger.info("Mediator request unusable after repair (%s); sending the user's turns", after.as_dict())
            repaired, mediation = join_user_turns(said), "user turns"
        elif after.lost_values:
            # A few values still missing: append every user turn that holds one, verbatim.
            holders = [text for text in said if any(_states(text, fact.key, fact.kind) for fact in after.lost_values)]
            repaired += "\n\nAlso, as I said: " + " / ".join(dict.fromkeys(holders))
            mediation = "appended"
            logger.info("Mediator request still lost %s after repair; appended the user's turns", after.lost_values)
        return dspy.Prediction(
            request=repaired,
            mediated=mediation != "user turns",  # as for an empty rewrite: the user's words, not the Mediator's
            problems=problems,
            repaired=True,
            mediation=mediation,
        )


def joined_addition(turns: list[Turn], said: list[str], *, resolved_first: bool = False) -> str | None:
    """The user's turns in `turns` joined, when they only add information: none changes or takes back what was
    said or refers to the assistant's reply (`cues.refers_back`), none gives a new value to something already
    given a value (`cues.restates_value`), and the join passes the fact check against
    everything the user said (nothing withdrawn still in it, nothing lost). None otherwise.

    Args:
        turns: The transcript the Mediator reads, ending with the user's new turn(s).
        said: Every turn the user typed, oldest first.
        resolved_first: `turns[0]` is the Mediator's last request (incremental history): it already resolved
            the turns before it, so only the turns after it are read for cues. Otherwise every user turn is (a
            raw "ok, do that" answered earlier still means nothing without the reply it answered).
    """
    users = [turn for turn in turns if turn.role == "user"]
    last_reply = last_reply_index(turn.role for turn in turns)
    new = [turn for turn in turns[0 if last_reply is None else last_reply + 1 :] if turn.role == "user"]
    read = users[1:] if resolved_first else users
    if not new or not any(turn.content.strip() for turn in new) or any(refers_back(t.content) for t in read):
        return None
    if any(terse(turn.content) for turn in users[1:]):
        return None  # "munich", "B", "70k": a follow-up of one word may replace as well as add
    exchanges = _after_replies(turns)  # (reply before it, text) of every user turn; `read` are the last ones
    if answers_any(exchanges[len(exchanges) - len(read) :], earlier=said[: max(len(said) - len(read), 0)]):
        return None  # "45 min" after "How long should the meeting be?", "book Lirico" after a list of hotels
    # The turns read are the last ones the user typed; one that gives a slot a new value corrects it silently.
    if restates_any(said, start=max(len(said) - len(read), 0)):
        return None
    joined = join_user_turns([turn.content for turn in users])
    return joined if joined and check_request(joined, said).ok else None


def _after_replies(turns: list[Turn]) -> list[tuple[str | None, str]]:
    """(the assistant's reply before it or None, its text) of each user turn, in order. Every user turn after a
    reply pairs with it, and assistant turns in a row count as one reply."""
    pairs: list[tuple[str | None, str]] = []
    reply: str | None = None
    previous = None
    for turn in turns:
        if turn.role == "assistant":
            reply = f"{reply}\n{turn.content}" if previous == "assistant" and reply is not None else turn.content
        elif turn.role == "user":
            pairs.append((reply, turn.content))
        previous = turn.role
    return pairs


def join_user_turns(said: list[str]) -> str:
    """The user's turns as one message, oldest first: the request of last resort (LiC's concat, unrewritten)."""
    return "\n".join(text.strip() for text in said if text.strip())


def _states(text: str, key: str, kind: str) -> bool:
    return any(f.key == key and f.kind == kind for f in check_request("", [text]).in_force)


def describe_problems(found: FactCheck, said: list[str]) -> list[str]:
    """One plain sentence per problem of a failed check, quoting the user's turn where it helps."""
    problems = []
    for fact in found.lost_values:
        source = next((text for text in said if _states(text, fact.key, fact.kind)), None)
        where = f' (the user wrote "{source}")' if source else ""
        problems.append(f"The request leaves out {fact.text}{where}; include it.")
    for fact in found.withdrawn_present:
        problems.append(f"The request still has {fact.text}, which the user withdrew or replaced; remove it.")
    for number in found.invented:
        problems.append(
            f"The request states {number}, which the user never gave; remove it (do not compute or assume values)."
        )
    return problems
