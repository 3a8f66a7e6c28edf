"""Actions, data2text, summary and translation: prompts, concat templates, extraction and scoring as in the
reference protocol, and the per-run TaskConfig."""

import json
import re
from pathlib import Path

import pytest
from intent_mediator import RoleLMs
from intent_mediator.data.agreement import RecordResolver
from intent_mediator.data.loaders import load_records
from intent_mediator.data.records import validate_record
from intent_mediator.errors import ModelConfigError
from intent_mediator.signatures.judge import JudgeInsight
from intent_mediator.simulation.conversation import ConversationSettings, run_conversation
from intent_mediator.tasks import TaskConfig, get_task
from intent_mediator.tasks.actions import parse_calls
from intent_mediator.tasks.bleu import answer_text
from intent_mediator.tasks.summary import citations, trim_to_words


def lic(shared_lic, task, suffix=""):
    file = "sharded_translation.json" if task == "translation" else "sample_5_per_task.json"
    return [r for r in load_records(shared_lic / file, tasks=[task]) if r.task_id.endswith(suffix)]


# ---- actions ---------------------------------------------------------------------------------------------------
FOREST = (
    "[random_forest.train(n_estimators=100, max_depth=10, data=data_random_forest), "
    "random_forest.train(n_estimators=200, max_depth=20, data=data_random_forest), "
    "random_forest.train(n_estimators=300, max_depth=30, data=data_random_forest), "
    "random_forest.train(n_estimators=400, max_depth=40, data=data_random_forest)]"
)


def test_actions_accepts_unquoted_variable_arguments_as_bfcl_does(shared_lic):
    task = get_task("actions")
    (record,) = lic(shared_lic, "actions", "parallel_156")
    assert task.score(record, task.extract(FOREST, record)).value == 1.0
    assert task.score(record, FOREST.replace("data=data_random_forest", "data=df")).value == 0.0
    assert task.score(record, FOREST.replace("max_depth=40", "max_depth=40.0")).value == 0.0  # an int parameter


def test_actions_finds_calls_in_prose_fences_and_lines(shared_lic):
    task = get_task("actions")
    (record,) = lic(shared_lic, "actions", "parallel_69")
    calls = "[calculate_triangle_area(base=10, height=5), calculate_triangle_area(base=8, height=6)]"
    replies = [
        f"I'll compute both areas with these calls: {calls} and then add them up.",
        f"```python\n{calls}\n```",
        "Sure!\ncalculate_triangle_area(base=10, height=5)\ncalculate_triangle_area(base=8, height=6)",
        "[calculate_triangle_area(10, 5), calculate_triangle_area(8, 6)]",  # positional, in the spec's order
        "[calculate_triangle_area(base=5 * 2, height=5), calculate_triangle_area(base=8, height=6)]",
    ]
    for reply in replies:
        assert task.score(record, task.extract(reply, record)).value == 1.0, reply
    assert task.score(record, calls.replace("height=6", "height=7")).value == 0.0
    assert task.score(record, calls.replace("height=6", "height=6, unit='cm'")).value == 0.0  # unexpected
    assert parse_calls("The function calculate_triangle_area needs a base and a height. Which triangle?") is None


def test_actions_reads_a_list_of_quoted_calls_as_the_reference_parser_does(shared_lic):
    # BFCL's parser strips [, ] and ' from a reply's ends, so ['f(x=1)'] is one call there; the embedded model
    # answers that way. Any number of quoted calls is read here; quoted text that is not a call is not.
    task = get_task("actions")
    (record,) = lic(shared_lic, "actions", "parallel_69")
    one, two = "calculate_triangle_area(base=10, height=5)", "calculate_triangle_area(base=8, height=6)"
    assert task.score(record, task.extract(f"['{one}', '{two}']", record)).value == 1.0
    assert task.score(record, task.extract(f'["{one}", "{two}"]', record)).value == 1.0
    assert task.score(record, task.extract(f"['{one}']", record)).value == 0.0  # one call of two
    for reply in (f"['{one}', 'and the other one']", "['Which triangle do you mean?']", "[]", "['f(x=1)\x00']"):
        assert parse_calls(reply) is None, reply  # the last holds a null byte, which ast.parse refuses


def test_actions_optional_parameters_and_bfcl_string_standardization(shared_lic):
    task = get_task("actions")
    (record,) = lic(shared_lic, "actions", "parallel_198")
    plain = (
        "[lawsuit_search(entity='Google', county='Santa Clara'), lawsuit_search(entity='Facebook', county='San Mateo')]"
    )
    assert task.score(record, plain).value == 1.0  # state is optional ("" among its values)
    spelled = plain.replace("'Santa Clara'", "'santa-clara'").replace(
        "county='San Mateo'", "county='San Mateo', state='CA'"
    )
    assert task.score(record, spelled).value == 1.0
    assert task.score(record, plain.replace("'Google'", "'Alphabet'")).value == 0.0


def test_actions_spec_required_parameters_and_variables_of_another_type():
    spec = {
        "name": "fit",
        "parameters": {
            "type": "dict",
            "properties": {"frame": {"type": "dict"}, "alpha": {"type": "float"}, "flag": {"type": "boolean"}},
            "required": ["frame", "alpha"],
        },
    }
    record = validate_record(
        {
            "task_id": "inline-actions-1",
            "task": "actions",
            "shards": [{"shard_id": 1, "shard": "fit it"}],
            "function": [spec],
            "fully_specified_question": [[{"role": "user", "content": "fit it"}]],
            "reference_answer": [{"fit": {"frame": ["df"], "alpha": [1.0], "flag": [""]}}],
        }
    )
    task = get_task("actions")
    assert task.score(record, "[fit(frame=df, alpha=1)]").value == 1.0  # a variable; an int for a float
    assert task.score(record, "[fit(frame='df', alpha=1.0)]").value == 1.0
    assert task.score(record, "[fit(frame=DF, alpha=1.0)]").value == 0.0  # variables compare exactly
    assert task.score(record, "[fit(alpha=1.0, flag=True)]").value == 0.0  # frame is required
    assert task.score(record, "[fit(frame=df, alpha=1.0, flag='yes')]").value == 0.0  # wrong type


def test_actions_prompts(shared_lic):
    task = get_task("actions")
    (record,) = lic(shared_lic, "actions", "parallel_129")
    system = task.system_prompt(record)
    assert "create_histogram" in system and "say so" in system and "[func_a(" in system
    assert task.full_prompt(record) == record["fully_specified_question"][0][0]["content"]
    concat = task.concat_prompt(record)
    assert concat.startswith("Create two histograms. We are working with two sets of data.")
    assert "- " not in concat and concat.endswith("Make sure each histogram has 5 bins.")


# ---- data2text ---------------------------------------------------------------------------------------------------
AFC = "AFC 3 was an event held on April 14, 2012, at Geelong Arena in Geelong, Australia."


@pytest.mark.parametrize(
    "reply",
    [
        AFC,
        f"{AFC} Let me know if you'd like changes!",
        f"Sure! {AFC}",
        f"Here's a one-sentence description of the cells:\n\n{AFC}\n\nLet me know if you'd like any changes.",
        f'**Description:** "{AFC}"',
        f"{AFC}\n\nThis sentence focuses on the highlighted cells (event, date, arena and location).",
    ],
)
def test_data2text_scores_the_description_not_the_chatter(shared_lic, reply):
    task = get_task("data2text")
    record = lic(shared_lic, "data2text")[0]
    assert record["references"][0] == AFC
    assert task.score(record, task.extract(reply, record)).value == pytest.approx(1.0)


def test_data2text_scores_every_line_of_a_multi_line_description(shared_lic):
    task = get_task("data2text")
    record = lic(shared_lic, "data2text")[0]
    reply = "AFC 3 was an event held on April 14, 2012,\nat Geelong Arena in Geelong, Australia."
    assert task.score(record, task.extract(reply, record)).value == pytest.approx(1.0)  # not only the last line


def test_data2text_prompts(shared_lic):
    task = get_task("data2text")
    record = lic(shared_lic, "data2text")[0]
    assert task.system_prompt(record)
    full = task.full_prompt(record)
    assert record["table_highlighted_html"] in full and "table_page_title: 2012 in AFC" in full
    concat = task.concat_prompt(record)
    assert all(shard.shard.strip() in concat for shard in record.shards) and "\n- " not in concat


# ---- translation -------------------------------------------------------------------------------------------------
def test_translation_prompts_follow_the_reference(shared_lic):
    task = get_task("translation")
    record = lic(shared_lic, "translation")[0]
    assert "German" in task.system_prompt(record)
    assert task.full_prompt(record).endswith(record["document_de"]) and "English" in task.full_prompt(record)
    first, second = (task.shard_text(record, shard) for shard in record.shards[:2])
    assert "whole document" in first and first.endswith(f"Chunk 1:\n\n{record.shards[0].shard}")
    assert second.endswith(f"Chunk 2:\n\n{record.shards[1].shard}")
    concat = task.concat_prompt(record)
    assert "- " not in concat.replace(" - ", "")  # no bullets in front of the German lines
    positions = [concat.index(shard.shard.strip()) for shard in record.shards]
    assert positions == sorted(positions)


def test_translation_scores_the_translation_inside_the_reply(shared_lic):
    task = get_task("translation")
    record = lic(shared_lic, "translation")[0]
    english = record["document_en"]
    chatty = f"Here is the English translation of the document so far:\n\n{english}\n\nLet me know if you need changes."
    labelled = "\n".join(f"Chunk {i}:\n{line}" for i, line in enumerate(english.splitlines(), 1))
    for reply in (english, chatty, f"```\n{english}\n```", labelled):
        assert task.score(record, task.extract(reply, record)).value == pytest.approx(1.0)
    half = "\n".join(english.splitlines()[:5])
    assert task.score(record, task.extract(half, record)).value < 0.7


def test_answer_text_keeps_the_middle_of_a_reply():
    reply = "Sure, here is the translation:\nHe said: let me know.\nWould you like it shorter?\nThe end."
    assert answer_text(reply) == "He said: let me know.\nWould you like it shorter?\nThe end."


# ---- summary -----------------------------------------------------------------------------------------------------
def test_trim_to_300_words_cuts_each_line_in_proportion():
    lines, cut = trim_to_words("\n".join(["word " * 199 + "[1]", "", "word " * 199 + "[2]"]))
    assert cut == pytest.approx(100 / 400) and lines[1] == ""
    assert [len(line.split()) for line in lines] == [150, 0, 150]
    assert trim_to_words("short [1]") == (["short [1]"], 0.0)
    assert citations("a [3][7], b [12, 4] c [x]") == {3, 7, 12, 4}


def summary_record(shared_lic):
    return lic(shared_lic, "summary", "summary_8")[0]


def test_summary_prompt_states_insight_count_word_limit_and_citation_format(shared_lic):
    task = get_task("summary")
    record = summary_record(shared_lic)
    n = len(record["insights"])
    for prompt in (task.full_prompt(record), task.shard_text(record, record.shards[0]), task.concat_prompt(record)):
        assert f"in {n} bullet points" in prompt and "300 words" in prompt and "[2][9]" in prompt
        assert record["query"] in prompt
    concat = task.concat_prompt(record)
    assert concat.count("Rewrite the summary") == 0 and concat.count("Document ") == len(record["documents"])
    later = task.shard_text(record, record.shards[1])
    assert later.count("Document ") == len(record.shards[1].doc_idxs) and "300 words" not in later


def test_summary_citations_are_scored_against_all_reference_documents(shared_lic, engine):
    task = get_task("summary")
    record = summary_record(shared_lic)
    first = record["insights"][0]
    shown = {i for s in record.shards for i in s.doc_idxs}
    reference = set(record["insightid2ref_citations"][first["insight_id"]])
    cited = sorted(reference & shown)
    assert 0 < len(cited) < len(reference), "the insight also cites documents the record does not show"

    def verdict(call):
        if call.inputs["insight"] != first["insight"]:
            return {"coverage": "none", "bullet": 0}
        assert call.inputs["bullets"].startswith("1. Intro.\n2. Patients ask")
        return {"coverage": "full", "bullet": 2}

    engine.on(role="judge", reply=verdict)
    config = TaskConfig(judge_lm=engine.lm("judge"))
    answer = "Intro.\n\nPatients ask about it " + "".join(f"[{i}]" for i in cited) + "\n- Another point [1]"
    score, again = task.score(record, answer, config), task.score(record, answer, config)
    p, r = 1.0, len(cited) / len(reference)
    assert score.value == pytest.approx((2 * p * r / (p + r)) / len(record["insights"]))
    assert score == again and len(engine.requests) == len(record["insights"])  # the second came from the cache
    assert score.metadata["coverage"] == pytest.approx(1 / len(record["insights"]))


def test_summary_partial_coverage_and_a_trimmed_citation(shared_lic, engine):
    task = get_task("summary")
    record = summary_record(shared_lic)
    first = record["insights"][0]
    doc = record["insightid2ref_citations"][first["insight_id"]][0]

    def verdict(call):
        return (
            {"coverage": "partial", "bullet": 1}
            if call.inputs["insight"] == first["insight"]
            else {"coverage": "none", "bullet": 0}
        )

    engine.on(role="judge", reply=verdict)
    config = TaskConfig(judge_lm=engine.lm("judge"))
    short = task.score(record, f"- a point [{doc}]", config)
    n_ref = len(record["insightid2ref_citations"][first["insight_id"]])
    assert short.value == pytest.approx(0.5 * (2 / (1 + n_ref)) / len(record["insights"]))
    # 600 words: the trim halves the bullet and its citation at the end is cut off.
    long = task.score(record, "- " + "word " * 598 + f"[{doc}]", config)
    assert long.value == 0.0 and "trimmed 50%" in long.reason


def test_summary_without_a_judge_names_the_record(shared_lic):
    import dspy

    record = summary_record(shared_lic)
    with dspy.context(lm=None), pytest.raises(ModelConfigError, match="sharded-summary_8"):
        get_task("summary").score(record, "- something [1]")


def test_a_summary_conversation_through_the_python_api_uses_the_judge_role(shared_lic, engine):
    record = summary_record(shared_lic)
    engine.on(role="assistant", reply="- Home monitoring tips come up [85]")
    engine.on(role="judge", signature=JudgeInsight, reply={"coverage": "none", "bullet": 0})
    engine.on(role="judge", reply={"kind": "answer_attempt"})
    settings = ConversationSettings(roles=RoleLMs.scripted(engine))
    assert settings.task_config.judge_lm is settings.roles.judge
    trajectory = run_conversation(record, "full", 0, settings)
    assert trajectory.error is None and trajectory.score == 0.0
    assert len(engine.requests_for("judge")) == len(record["insights"])


# ---- TaskConfig reaches the database task --------------------------------------------------------------------
def test_spider_dir_comes_from_the_task_config(shared_lic, tmp_path, monkeypatch):
    import sqlite3

    record = lic(shared_lic, "database")[0]
    monkeypatch.delenv("INTENT_MEDIATOR_SPIDER_DIR", raising=False)
    folder = tmp_path / record["db_id"]
    folder.mkdir()
    sqlite3.connect(folder / f"{record['db_id']}.sqlite").close()  # an empty database: no tables
    task = get_task("database")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):  # it opened the file in that folder
        task.score(record, "SELECT 1", TaskConfig(spider_dir=tmp_path))
    assert not hasattr(task, "spider_dir")  # nothing on the shared task object


def test_default_concat_reads_as_one_message():
    record = load_records("builtin", tasks=["math"])[0]
    message = get_task("math").concat_prompt(record)
    assert "\n" not in message and len(re.findall(r"[.?!](?: |$)", message)) == len(record.shards)
    reversed_order = get_task("math").concat_prompt(record, list(reversed(record.shards)))
    assert reversed_order.startswith(record.shards[-1].shard.strip()[:1].upper())


def test_task_config_is_json_free_and_frozen():
    config = TaskConfig(spider_dir="x")
    with pytest.raises(AttributeError):
        config.spider_dir = "y"  # type: ignore[misc]
    assert json.dumps({"spider_dir": str(config.spider_dir)})


# ---- the labelled agreement items of these four families --------------------------------------------------------
AGREEMENT = Path(__file__).resolve().parents[1] / "data" / "agreement"
FAMILIES = ("actions", "data2text", "summary", "translation")


def agreement_items():
    for family in FAMILIES:
        for line in (AGREEMENT / f"{family}.jsonl").read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            yield pytest.param(family, item, id=item["id"])


def scripted_judge(engine, record, verdicts):
    """The human's coverage verdicts as the judge: the covering bullet is the numbered line holding the snippet."""
    texts = {i["insight"]: i["insight_id"] for i in record["insights"]}

    def verdict(call):
        wanted = verdicts.get(texts[call.inputs["insight"]])
        if not wanted:
            return {"coverage": "none", "bullet": 0}
        lines = call.inputs["bullets"].splitlines()
        (number,) = [int(line.split(".", 1)[0]) for line in lines if wanted["bullet_text"] in line]
        return {"coverage": wanted["coverage"], "bullet": number}

    engine.on(role="judge", signature=JudgeInsight, reply=verdict)
    return TaskConfig(judge_lm=engine.lm("judge"))


@pytest.mark.parametrize(("family", "item"), list(agreement_items()))
def test_agreement_items_extract_and_score_as_labelled(shared_lic, engine, family, item):
    """The task's own part of the pipeline: an attempt's answer is found and scored as the human scored it; a
    reply that is not an attempt has no answer for the task's parser (classification itself is judging's)."""
    record = RecordResolver(shared_lic).resolve(item["record"], item["id"])  # lic: or builtin:
    task = get_task(family)
    answer = task.extract(item["reply"], record)
    if item["kind"] != "answer_attempt":
        assert answer is None
        return
    assert answer is not None
    config = scripted_judge(engine, record, item["judge"]) if family == "summary" else None
    assert task.score(record, answer, config).value == pytest.approx(item["score"], abs=item.get("tolerance", 0))


def test_agreement_files_are_complete():
    for family in FAMILIES:
        items = [json.loads(line) for line in (AGREEMENT / f"{family}.jsonl").read_text().splitlines()]
        assert len(items) >= 12, family
        assert all(item["kind"] == "answer_attempt" or item["score"] == 0 for item in items)
