"""DSPy metrics: one return value that every DSPy consumer reads correctly."""

import dspy
import pytest
from intent_mediator import MetricResult, load_records, task_metric, to_examples

MATH = load_records("builtin", tasks=["math"])
CODE = load_records("builtin", tasks=["code"])


def test_a_failing_score_is_falsy_and_a_passing_one_truthy():
    assert not MetricResult(0.0, "wrong") and MetricResult(1.0, "right")
    assert not MetricResult(0.5, "half") and MetricResult(0.5, "half", passing=0.5)
    assert float(MetricResult(0.25)) == 0.25 and MetricResult(1.0) >= 1.0  # BootstrapFewShot's metric_threshold


def test_task_metric_scores_and_explains():
    example = to_examples(MATH[:1])[0]
    metric = task_metric()
    good = metric(example, dspy.Prediction(response="It comes to 255."))
    none = metric(example, dspy.Prediction(response="Which bakery?"), None, "mediator.rewrite", None)  # GEPA: 5 args
    assert (good.score, none.score) == (1.0, 0.0) and good and not none
    assert "Correct" in good.feedback and "no math answer" in none.feedback


def test_feedback_names_the_turns_the_request_left_out():
    example = to_examples(MATH[:1])[0]
    request = MATH[0].shards[0].shard
    result = task_metric()(example, dspy.Prediction(response="It is 12.", request=request))
    assert not result and "left out" in result.feedback and MATH[0].shards[1].shard in result.feedback
    assert MATH[0].shards[0].shard not in result.feedback.split("left out", 1)[1]


def test_code_feedback_says_which_test_failed_and_how():
    record = CODE[0]  # sum_even_squares, scored by an assert-based check
    wrong = "def sum_even_squares(nums):\n    return sum(x * x for x in nums)\n"
    result = task_metric()(to_examples([record])[0], dspy.Prediction(response=f"```python\n{wrong}```"))
    assert not result
    assert "test 0: expected 20, got 30" in result.feedback and "[1, 2, 3, 4]" in result.feedback


def test_evaluate_averages_the_scores():
    examples = to_examples(MATH[:2])

    class Fixed(dspy.Module):
        def forward(self, transcript, context):
            return dspy.Prediction(response="It comes to 255.")  # right for the first record only

    result = dspy.Evaluate(devset=examples, metric=task_metric(), num_threads=1)(Fixed())
    assert result.score == 50.0


def test_an_example_without_a_record_gets_a_clear_error():
    with pytest.raises(KeyError, match="to_examples"):
        task_metric()(dspy.Example(question="?"), dspy.Prediction(response="1"))
