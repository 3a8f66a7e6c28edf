"""One module per Lost-in-Conversation task: prompts, deterministic answer parsing and scoring.

get_task("math").score(record, "The answer is 42") -> Score(value, reason)
get_task("summary").score(record, summary, TaskConfig(judge_lm=lm))  # per-run settings are passed in
DSPy metrics (task_metric) live in intent_mediator.metrics.
"""

from intent_mediator.tasks import actions, code, data2text, database, math, summary, translation  # noqa: F401
from intent_mediator.tasks.base import TASKS, Score, Task, TaskConfig, get_task

__all__ = ["TASKS", "Score", "Task", "TaskConfig", "get_task"]
