"""Code generation (HumanEval, LiveCodeBench): the extracted function must pass the record's tests.

As in the benchmark, the functional test cases (`public_test_cases` + `private_test_cases`) are what is run; a
HumanEval `check(candidate)` test is used only for records without them. The candidate's module is loaded after
the standard imports the benchmark prepends (typing, math, collections, itertools, ...) and the imports of the
record's own prompt, so a correct function annotated `List[int]` passes. A `class Solution` answer is tested
through its method. Top-level script code that reads input or prints (and `if __name__ == "__main__":` blocks,
demo calls and asserts) is dropped before loading, so it neither blocks nor decides the score.
"""

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

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.S | re.I)
_CODE_START = re.compile(r"^(?:def |async def |from \S+ import |import |class )", re.M)
MAX_CODE_CHARS = 100_000

# The modules the benchmark's harness makes available before running a solution (star-imported, then as names).
STANDARD_MODULES = (
    "string",
    "re",
    "datetime",
    "collections",
    "heapq",
    "bisect",
    "copy",
    "math",
    "random",
    "statistics",
    "itertools",
    "functools",
    "operator",
    "io",
    "sys",
    "json",
)
_IO_NAMES = {"input", "print", "open", "exit", "quit", "breakpoint"}
_IO_ATTRIBUTES = {"stdin", "stdout", "stderr", "readline", "readlines", "buffer"}


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _defines(tree: ast.Module, func_name: str) -> bool:
    """True when the module defines `func_name` at top level or as a method of a top-level class."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == func_name:
            return True
        if isinstance(node, ast.ClassDef) and any(
            isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == func_name for item in node.body
        ):
            return True
    return False


def top_level_functions(code: str) -> list[str]:
    """Names of the module's top-level functions, in order (test helpers named `test*` left out)."""
    tree = _parse(code)
    if tree is None:
        return []
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("test")
    ]


def extract_code(response: str, func_name: str | None = None) -> str | None:
    """The code block holding the answer, or None when the reply holds no function.

    Fenced blocks (python or untagged) are tried from last to first: the last one that parses and defines
    `func_name` (as a function or a method, e.g. of `class Solution`) wins; else the last one holding a
    top-level function; usage examples, tests that only call the function, and result blocks are skipped.
    Without fences, the text from the first top-level `def`/`import`/`class` line up to the prose that follows.
    """
    blocks = [block.strip() + "\n" for block in _FENCE.findall(response) if block.strip()]
    parsed = [(block, _parse(block)) for block in blocks]
    if func_name:
        for block, tree in reversed(parsed):
            if tree is not None and _defines(tree, func_name):
                return block
    for block, tree in reversed(parsed):
        if tree is not None and top_level_functions(block):
            return block
    for block, _ in reversed(parsed):  # a function that does not parse still is the answer (it scores 0)
        if re.search(r"^\s*(?:async )?def ", block, re.M):
            return block
    if blocks:
        return None
    match = _CODE_START.search(response)
    if not match:
        return None
    lines: list[str] = []
    for line in response[match.start() :].splitlines():
        if (
            lines
            and line
            and not line[0].isspace()
            and not re.match(r"(def |async def |from |import |class |@|#)", line)
        ):
            break  # prose after the code
        lines.append(line)
    code = "\n".join(lines).strip() + "\n"
    return code if re.search(r"^\s*(?:async )?def ", code, re.M) else None


def _touches_io(node: ast.AST) -> bool:
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and child.id in _IO_NAMES:
            return True
        if isinstance(child, ast.Attribute) and child.attr in _IO_ATTRIBUTES:
            return True
    return False


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) and "__main__" in ast.unparse(node.test)


def strip_script_code(code: str) -> str:
    """The module without top-level script code: `if __name__ == "__main__":` blocks, statements that read input
    or print, asserts, and bare calls of the module's own functions (demo runs). Definitions, imports and
    constants stay; dropped lines become blank so line numbers in error messages still match the answer.
    """
    tree = _parse(code)
    if tree is None:
        return code
    defined = {
        node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    lines = code.splitlines()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        demo_call = (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and any(isinstance(n, ast.Name) and n.id in defined for n in ast.walk(node.value))
        )
        if _is_main_guard(node) or isinstance(node, ast.Assert) or demo_call or _touches_io(node):
            for index in range(node.lineno - 1, node.end_lineno or node.lineno):
                lines[index] = ""
    return "\n".join(lines) + "\n"


def standard_prelude(record: Instruction) -> str:
    """The imports a solution may rely on: the benchmark's standard set plus those of the record's prompt."""
    lines = [f"from {module} import *" for module in STANDARD_MODULES]
    lines += ["from builtins import *", "from typing import *"]
    lines += [f"import {module}" for module in STANDARD_MODULES]
    tree = _parse(record.get("prompt") or "")
    if tree is not None:
        lines += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(lines) + "\n"


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
        return extract_code(response, (record.get("metadata") or {}).get("func_name"))

    def score(self, record: Instruction, answer: str, config: TaskConfig | None = None) -> Score:
        func_name = record["metadata"]["func_name"]
        if len(answer) > MAX_CODE_CHARS:
            return Score(0.0, f"the answer is longer than {MAX_CODE_CHARS} characters")
        tree = _parse(answer)
        if tree is None or not (_defines(tree, func_name) or top_level_functions(answer)):
            return Score(0.0, "the answer holds no parseable Python function")
        names = top_level_functions(answer)
        cases = decode_test_cases(record.get("public_test_cases")) + decode_test_cases(record.get("private_test_cases"))
        cases = [case for case in cases if case.get("testtype", "functional") == "functional"]
        if not cases and not record.get("test"):
            return Score(0.0, "the record has no functional test cases to run")
        result = run_python_tests(
            strip_script_code(answer),
            func_name,
            cases=cases or None,
            test=None if cases else record["test"],
            prelude=standard_prelude(record),
            fallback_name=names[-1] if names else None,
        )
        return Score(1.0 if result.passed else 0.0, result.reason, {"sandbox": result.isolation})
