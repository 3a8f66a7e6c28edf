"""The Refiner as a DSPy user expects it: metric first, their examples intact, settings kept, errors that say why."""

import dspy
import pytest
from intent_mediator import MediatedAssistant, MetricResult, Refiner, RefinerError, task_metric, to_examples
from intent_mediator.metrics import MetricError
from intent_mediator.optimizers.search import StudyMismatch
from intent_mediator.programs.mediator import Mediator
from intent_mediator.simulation.conversation import ConversationSettings
from intent_mediator.testing.refiner_world import EXPLICIT, KEEP_ALL, LAZY, RECORDS, roles, world

TRAIN, VAL = RECORDS[:4], RECORDS[4:8]
SMALL = {"rounds": 1, "candidates_per_round": 1, "pairs_per_batch": 3, "workers": 2}


def settings(engine, **kwargs):
    return ConversationSettings(roles=roles(engine), persona=LAZY, **kwargs)


def test_the_metric_comes_first_and_gets_the_users_examples_intact():
    engine = world()
    seen = []

    def exact_answer(example, pred, trace=None):
        seen.append((example.task_id, example.my_label, type(example).__name__))
        return dspy.evaluate.answer_exact_match(example, pred)  # needs the user's `answer` field

    trainset = [example.copy(my_label="mine") for example in to_examples(TRAIN)]
    valset = [example.copy(my_label="val") for example in to_examples(VAL)]
    program = Refiner(exact_answer, settings=settings(engine), **SMALL).compile(
        MediatedAssistant(), trainset=trainset, valset=valset
    )
    assert program.guidelines[0] == KEEP_ALL and program.refiner_report["best"]["score"] == 100.0
    assert {label for _, label, _ in seen} == {"mine", "val"} and {kind for *_, kind in seen} == {"Example"}


def test_positional_settings_get_a_clear_type_error():
    with pytest.raises(TypeError, match="metric first"):
        Refiner(ConversationSettings(roles=roles(world())))


def test_settings_default_to_the_surrounding_dspy_context():
    refiner = Refiner(mode="paper")
    assert refiner.settings.roles.models() == dict.fromkeys(("assistant", "mediator", "user", "judge", "refiner"))
    assert refiner.settings.user_sim == "deterministic" and refiner.settings.program is not None


def test_settings_are_copied_whole_incremental_history_included():
    engine = world()
    refiner = Refiner(settings=settings(engine, mediator_history="incremental", max_turns=9), mode="paper")
    copied = refiner._settings(MediatedAssistant())
    assert copied.mediator_history == "incremental" and copied.max_turns == 9 and copied.persona is LAZY
    assert refiner.budget in copied.callbacks


def test_a_failing_metric_has_its_own_error():
    def broken(example, pred, trace=None):
        raise AttributeError("no field 'gold'")

    with pytest.raises(MetricError, match=r"metric broken raised AttributeError: no field 'gold' \(example im-math"):
        Refiner(broken, settings=settings(world()), **SMALL).compile(MediatedAssistant(), trainset=TRAIN)


def test_a_compile_whose_conversations_all_failed_says_so_with_the_first_error():
    engine = world()
    engine.rules[1].reply = lambda call: (_ for _ in ()).throw(ConnectionError("upstream down"))  # the assistant
    with pytest.raises(
        RefinerError, match=r"all 8 conversations failed while mining pairs; the first error: .*upstream"
    ):
        Refiner(settings=settings(engine), **SMALL).compile(MediatedAssistant(), trainset=TRAIN)


def test_examples_without_a_record_are_refused_naming_the_position():
    with pytest.raises(RefinerError, match=r"trainset\[0\].*to_examples"):
        Refiner(settings=settings(world()), mode="paper").compile(
            MediatedAssistant(), trainset=[dspy.Example(question="?")]
        )


def test_a_resume_with_other_settings_is_refused_naming_what_differs(tmp_path):
    storage = f"sqlite:///{tmp_path / 'refiner.db'}"
    Refiner(settings=settings(world()), storage=storage, **SMALL).compile(
        MediatedAssistant(), trainset=TRAIN, valset=VAL
    )
    other = ConversationSettings(roles=roles(world()), persona=EXPLICIT)
    with pytest.raises(StudyMismatch, match=r"persona: stored \"lazy\", now \"explicit\""):
        Refiner(settings=other, storage=storage, **SMALL).compile(MediatedAssistant(), trainset=TRAIN, valset=VAL)
    with pytest.raises(StudyMismatch, match="val: stored"):
        Refiner(settings=settings(world()), storage=storage, **SMALL).compile(
            MediatedAssistant(), trainset=TRAIN, valset=VAL[:2]
        )
    dspy_layout = MediatedAssistant()
    dspy_layout.mediator.lean = False  # the same prompt through DSPy's own adapter: other scores
    with pytest.raises(StudyMismatch, match=r"mediator_layout: stored \"LeanChatAdapter\", now \"ChatAdapter\""):
        Refiner(settings=settings(world()), storage=storage, **SMALL).compile(dspy_layout, trainset=TRAIN, valset=VAL)
    # Sampling settings and record content change every score too.
    from dataclasses import replace

    engine = world()
    hotter = replace(roles(engine), assistant=engine.lm("assistant", temperature=0.2))
    with pytest.raises(StudyMismatch, match=r"temperatures: stored .*\"assistant\": 1\.0"):
        Refiner(settings=ConversationSettings(roles=hotter, persona=LAZY), storage=storage, **SMALL).compile(
            MediatedAssistant(), trainset=TRAIN, valset=VAL
        )
    edited = [TRAIN[0].model_copy(update={"fields": {**TRAIN[0].fields, "answer": "#### 1"}}), *TRAIN[1:]]
    with pytest.raises(StudyMismatch, match="records: stored"):
        Refiner(settings=settings(world()), storage=storage, **SMALL).compile(
            MediatedAssistant(), trainset=edited, valset=VAL
        )
    # A study stored before the layout (or the keys added since) was recorded had the lean chat layout on this
    # model: it resumes.
    import optuna
    from intent_mediator.optimizers.search import LATER_KEYS

    (study,) = [
        optuna.load_study(study_name=s.study_name, storage=storage) for s in optuna.get_all_study_summaries(storage)
    ]
    older = {k: v for k, v in study.user_attrs["config"].items() if k != "mediator_layout" and k not in LATER_KEYS}
    study.set_user_attr("config", older)
    # The same compile resumes.
    again = Refiner(settings=settings(world()), storage=storage, **SMALL).compile(
        MediatedAssistant(), trainset=TRAIN, valset=VAL
    )
    assert again.guidelines[0] == KEEP_ALL
    # A study stored before the Mediator's behaviour revision was recorded scored a revision-1 Mediator: refused.
    study.set_user_attr("config", {k: v for k, v in older.items() if k != "mediator_revision"})
    with pytest.raises(StudyMismatch, match=f"mediator_revision: stored 1, now {Mediator.behaviour_revision}"):
        Refiner(settings=settings(world()), storage=storage, **SMALL).compile(
            MediatedAssistant(), trainset=TRAIN, valset=VAL
        )
    # Candidates whose Mediator joins additive turns score differently: a study made without the option is refused.
    study.set_user_attr("config", older)
    with pytest.raises(StudyMismatch, match="join_additions"):
        Refiner(settings=settings(world()), storage=storage, **SMALL).compile(
            MediatedAssistant(join_additions=True), trainset=TRAIN, valset=VAL
        )
    # A joining study of an earlier router (stored without its revision) is refused too.
    study.set_user_attr("config", {**older, "join_additions": True})
    with pytest.raises(StudyMismatch, match="join_revision"):
        Refiner(settings=settings(world()), storage=storage, **SMALL).compile(
            MediatedAssistant(join_additions=True), trainset=TRAIN, valset=VAL
        )


def test_a_metric_returning_metric_results_drives_selection():
    calls = []

    def strict(example, pred, trace=None):
        calls.append(example.task_id)
        return MetricResult(task_metric()(example, pred).score, "checked")

    program = Refiner(strict, settings=settings(world()), **SMALL).compile(
        MediatedAssistant(), trainset=to_examples(TRAIN), valset=to_examples(VAL)
    )
    assert calls and program.refiner_report["best"]["score"] == 100.0
