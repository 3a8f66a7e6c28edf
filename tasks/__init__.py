"""One module per Lost-in-Conversation task: prompts, deterministic answer parsing and scoring.

get_task("math").score(record, "The answer is 42") -> Score(value, reason)
get_task("summary").score(record, summary, TaskConfig(judge_lm=lm))  # per-run settings are passed in
as_metric("code")  # a DSPy metric returning dspy.Prediction(score=..., feedback=...)
"""

from intent_mediator.tasks import actions, code, data2text, database, math, summary, translation  # noqa: F401
from intent_mediator.tasks.base import TASKS, Score, Task, TaskConfig, as_metric, get_task

__all__ = ["TASKS", "Score", "Task", "TaskConfig", "as_metric", "get_task"]
