"""Code generation (HumanEval, LiveCodeBench): the extracted function must pass the record's tests."""

from __future__ import annotations

import ast
import base64
import io
import json
import pickle
import re
import zlib

from intent_mediator.data.records import Instruction
from intent_mediator.tasks.base import Score, Task, TaskConfig, register
from intent_mediator.tasks.sandbox import run_python_tests

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)


def extract_code(response: str) -> str | None:
    """The last fenced code block holding a function, else the text from the first top-level `def`/`import`."""
    for block in reversed(_FENCE.findall(response)):
        if re.search(r"^\s*def ", block, re.M):
            return block.strip() + "\n"
    match = re.search(r"^(?:def |from |import )", response, re.M)
    if not match:
        return None
    lines = []
    for line in response[match.start() :].splitlines():
        if lines and line and not line[0].isspace() and not re.match(r"(def |from |import |class |@|#)", line):
            break  # prose after the code
        lines.append(line)
    return "\n".join(lines).strip() + "\n"


def bind_function_name(code: str, func_name: str) -> str | None:
    """Make `func_name` callable: alias the last top-level function when the model named it differently.

    Returns:
        The code, or None when it does not parse or defines no function.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    names = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not names:
        return None
    if func_name in names:
        return code
    return f"{code}\n{func_name} = {names[-1]}\n"


class _JsonOnlyUnpickler(pickle.Unpickler):
    """LiveCodeBench wraps its private tests as a pickled JSON string: refuse anything but plain data."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from test data")


def decode_test_cases(value: str | list | None) -> list[dict]:
    """Test cases from a JSON string, a list, or LiveCodeBench's base64(zlib(pickle(json)))."""
    if not value:
        return []
    if isinstance(value, list):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raw = zlib.decompress(base64.b64decode(value))
        return json.loads(_JsonOnlyUnpickler(io.BytesIO(raw)).load())


@register
class CodeTask(Task):
    name = "code"

    def full_prompt(self, record: Instruction) -> str:
        if record.get("source") == "livecodebench" or record.get("question_content"):
            starter = record.get("starter_code") or ""
            return f"{record['question_content']}\n\nStart from this code:\n```python\n{starter}\n```"
        return f"Complete this Python function:\n```python\n{record['prompt'].strip()}\n```"

    def extract(self, response: str, record: Instruction) -> str | None:
        return extract_code(response)

    def score(self, record: Instruction, answer: str, config: TaskConfig | None = None) -> Score:
        func_name = record["metadata"]["func_name"]
        code = bind_function_name(answer, func_name)
        if code is None:
            return Score(0.0, "the answer holds no parseable Python function")
        if record.get("test"):
            result = run_python_tests(code, func_name, test=record["test"])
        else:
            cases = decode_test_cases(record.get("public_test_cases")) + decode_test_cases(
                record.get("private_test_cases")
            )
            cases = [case for case in cases if case.get("testtype", "functional") == "functional"]
            if not cases:
                return Score(0.0, "the record has no functional test cases to run")
            result = run_python_tests(code, func_name, cases=cases)
        return Score(1.0 if result.passed else 0.0, result.reason)
