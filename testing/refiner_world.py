"""A scripted world where guidelines decide success, for the Refiner's tests.

The assistant only answers correctly when its message holds the whole task (the original question, or every
shard) and no meta-talk. The Mediator follows whichever known guideline its system prompt holds:
  KEEP_ALL   -> join every user turn;
  ANNOUNCED  -> keep the first turn and the turns announced as "One more requirement", minus the announcement;
  neither    -> restate every user turn in capitals (the uncompiled failure: every value is kept, so the
                Mediator's fact check passes, but the assistant no longer recognises the task); with
                `world(uncompiled="last")`, keep only the last user turn (a failure the check would repair, for
                Mediators run with `check=False`).
The refiner LM writes KEEP_ALL when the failed conversations hold no announcements, ANNOUNCED when they do.
"""

import itertools

from intent_mediator import RoleLMs, ScriptedEngine
from intent_mediator.data.loaders import load_records
from intent_mediator.data.personas import Persona
from intent_mediator.signatures import DistillGuidelines

KEEP_ALL = "Keep every detail from every user turn: each short follow-up adds to the same task."
ANNOUNCED = "Only follow-ups announced as 'One more requirement' add to the task; keep the requirement itself."
NOISE = "Prefer short sentences."
PREFIX = "One more requirement for the same task: "

LAZY = Persona("lazy", "terse")
EXPLICIT = Persona("explicit", "announces additions", followup=PREFIX + "{shard}")
RECORDS = load_records("builtin", tasks=["math"])
GOLD = {r.task_id: r["answer"].split("####")[-1].strip() for r in RECORDS}


def mediator_reply(call, uncompiled: str = "shout"):
    turns = call.user_turns()
    if KEEP_ALL in call.system:
        kept = turns
    elif ANNOUNCED in call.system:
        kept = [turns[0]] + [t.removeprefix(PREFIX) for t in turns[1:] if t.startswith(PREFIX)]
    elif uncompiled == "last":
        kept = turns[-1:]
    else:
        return {"request": " ".join(turns).upper()}
    return {"request": " ".join(kept)}


def assistant_reply(call):
    message = call.last_user
    if "One more requirement" not in message:
        for record in RECORDS:
            if record["question"] == message or all(s.shard in message for s in record.shards):
                return f"The answer is {GOLD[record.task_id]}."
    return "Could you tell me more?"


def refiner_reply(call):
    announced = any(
        PREFIX.strip() in turn["content"]
        for pair in call.inputs["pairs"]
        for turn in pair["failed_transcript"]
        if turn["role"] == "user"
    )
    return {"guidelines": [ANNOUNCED if announced else KEEP_ALL, NOISE]}


def any_proposal(call):
    """What every other optimizer's proposal prompt gets (GEPA, MIPROv2, SIMBA): the useful rule, in each output
    field (SIMBA's `module_advice` as advice for the Mediator's predictor)."""
    advice = {"mediator.rewrite": KEEP_ALL}
    return {field: advice if field == "module_advice" else KEEP_ALL for field in call.output_fields}


def world(refiner=refiner_reply, *, any_proposal: bool = False, uncompiled: str = "shout") -> ScriptedEngine:
    """The scripted world; `any_proposal=True` also answers DSPy optimizers' proposal prompts (`any_proposal`);
    `uncompiled` is the uncompiled Mediator's failure ("shout" or "last", see the module's docstring)."""
    if uncompiled not in ("shout", "last"):
        raise ValueError(f"uncompiled must be 'shout' or 'last', got {uncompiled!r}")
    engine = ScriptedEngine()
    engine.on(role="mediator", reply=lambda call: mediator_reply(call, uncompiled))
    engine.on(role="assistant", reply=assistant_reply)
    engine.on(role="refiner", signature=DistillGuidelines, reply=refiner)
    if any_proposal:
        engine.default = globals()["any_proposal"]
    return engine


def alternating_world() -> ScriptedEngine:
    """The world with a refiner that proposes [KEEP_ALL, NOISE] and [NOISE, KEEP_ALL] in turn: two candidates
    whose scores depend on how many rules a trial keeps."""
    lists = itertools.cycle([[KEEP_ALL, NOISE], [NOISE, KEEP_ALL]])
    return world(refiner=lambda call: {"guidelines": next(lists)})


def roles(engine: ScriptedEngine) -> RoleLMs:
    return RoleLMs.scripted(engine)
