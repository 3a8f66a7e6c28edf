import pytest
from intent_mediator import TranscriptError, Turn
from intent_mediator.transcript import as_dicts, compact_transcript, normalize_transcript


def test_dicts_and_turns_mix():
    turns = normalize_transcript(
        [{"role": "user", "content": "a"}, Turn.assistant("b"), {"role": "user", "content": "c"}]
    )
    assert [t.role for t in turns] == ["user", "assistant", "user"]
    assert as_dicts(turns)[1] == {"role": "assistant", "content": "b"}


@pytest.mark.parametrize(
    ("transcript", "message"),
    [
        ([], "empty"),
        (None, "list of turns"),
        ("hello", "list of turns"),
        ([Turn.user("a"), Turn.assistant("b")], "ends with an assistant turn (turn 1)"),
        ([{"role": "system", "content": "x"}], "turn 0: unknown role 'system'"),
        ([{"role": "user", "content": 3}], "turn 0: field 'content' must be a string"),
        ([Turn.user("a"), 7], "turn 1: expected a Turn"),
    ],
)
def test_bad_transcripts_raise_one_clear_error(transcript, message):
    with pytest.raises(TranscriptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        normalize_transcript(transcript)


def test_compaction_replaces_what_came_before_the_last_reply_with_the_previous_request():
    turns = [Turn.user("a"), Turn.assistant("b"), Turn.user("c"), Turn.assistant("d"), Turn.user("e")]
    assert compact_transcript(turns, "a and c") == [Turn.user("a and c"), Turn.assistant("d"), Turn.user("e")]
    two_user_turns = [Turn.user("a"), Turn.user("c")]  # no reply yet: nothing was answered, nothing to compact
    assert compact_transcript(two_user_turns, "a") == two_user_turns
