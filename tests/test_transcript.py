import pytest
from intent_mediator import TranscriptError, Turn
from intent_mediator.transcript import as_dicts, normalize_transcript


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
