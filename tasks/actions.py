"""Function calling (BFCL parallel): the answer is a Python list of calls matching the reference calls.

Calls match in any order, one to one, by function name, required parameters, parameter types (from the
function specs) and values among the acceptable ones. An empty string among the acceptable values marks an
optional parameter.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from intent_mediator.data.records import Instruction
from intent_mediator.tasks.base import Score, Task, register

_FENCE = re.compile(r"```[ \t]*(?:python|py|json)?[ \t]*\n(.*?)```", re.S | re.I)
_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "float": (int, float),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "array": (list, tuple),
    "tuple": (list, tuple),
    "dict": (dict,),
    "object": (dict,),
}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    raise ValueError("not a function name")


def _calls_in(source: str, specs: dict[str, dict]) -> list[tuple[str, dict[str, Any]]] | None:
    try:
        tree = ast.parse(source.strip())
    except SyntaxError:
        return None
    nodes: list[ast.expr] = []
    for statement in tree.body:
        if not isinstance(statement, ast.Expr):
            return None
        value = statement.value
        nodes.extend(value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value])
    calls = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            return None
        try:
            name = _name(node.func)
            params = list((specs.get(name, {}).get("parameters", {}).get("properties") or {}).keys())
            args = {params[i]: ast.literal_eval(arg) for i, arg in enumerate(node.args) if i < len(params)}
            args.update({kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg})
        except (ValueError, SyntaxError, TypeError):
            return None
        calls.append((name, args))
    return calls or None


def parse_calls(response: str, specs: dict[str, dict] | None = None) -> list[tuple[str, dict[str, Any]]] | None:
    """The calls in a reply: a fenced block, else the first bracketed list of calls, else the whole text."""
    specs = specs or {}
    candidates = [*reversed(_FENCE.findall(response))]
    candidates += [match.group(0) for match in re.finditer(r"\[[^\[\]]*?\w+\s*\(.*\)\s*\]", response, re.S)]
    candidates.append(response)
    for candidate in candidates:
        calls = _calls_in(candidate, specs)
        if calls:
            return calls
    return None


def _normalize(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"[\s,./\-_*^]", "", value).lower()
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def _call_matches(name: str, args: dict[str, Any], ref_name: str, ref_params: dict[str, list], spec: dict) -> bool:
    if name != ref_name or set(args) - set(ref_params):
        return False
    properties = spec.get("parameters", {}).get("properties", {})
    for param, acceptable in ref_params.items():
        if param not in args:
            if "" not in acceptable:
                return False
            continue
        value = args[param]
        expected_types = _TYPES.get(properties.get(param, {}).get("type", ""), None)
        if expected_types and (
            not isinstance(value, expected_types) or (isinstance(value, bool) and bool not in expected_types)
        ):
            return False
        if _normalize(value) not in [_normalize(option) for option in acceptable if option != ""]:
            return False
    return True


def match_calls(calls: list[tuple[str, dict]], reference: list[dict], specs: dict[str, dict]) -> bool:
    """One-to-one matching of predicted calls to reference calls, in any order (backtracking; lists are short)."""
    if len(calls) != len(reference):
        return False

    def assign(index: int, used: frozenset[int]) -> bool:
        if index == len(reference):
            return True
        ((ref_name, ref_params),) = reference[index].items()
        return any(
            i not in used
            and _call_matches(*calls[i], ref_name, ref_params, specs.get(ref_name, {}))
            and assign(index + 1, used | {i})
            for i in range(len(calls))
        )

    return assign(0, frozenset())


def _specs(record: Instruction) -> dict[str, dict]:
    functions = record["function"]
    if isinstance(functions, str):
        functions = json.loads(functions)
    return {spec["name"]: spec for spec in functions}


@register
class ActionsTask(Task):
    name = "actions"

    def system_prompt(self, record: Instruction) -> str:
        return (
            "You can call the functions below. To call them, reply with a Python list of calls, for example "
            "[func_a(x=1), func_b(y='text')].\n\n"
            f"Functions:\n{json.dumps(list(_specs(record).values()), indent=1)}"
        )

    def full_prompt(self, record: Instruction) -> str:
        question = record["fully_specified_question"]
        if isinstance(question, str):
            return question
        return question[-1][-1]["content"]

    def extract(self, response: str, record: Instruction) -> str | None:
        calls = parse_calls(response, _specs(record))
        if not calls:
            return None
        return "[" + ", ".join(f"{n}({', '.join(f'{k}={v!r}' for k, v in a.items())})" for n, a in calls) + "]"

    def score(self, record: Instruction, answer: str) -> Score:
        specs = _specs(record)
        calls = parse_calls(answer, specs)
        if not calls:
            return Score(0.0, "the answer is not a list of Python calls")
        reference = record["reference_answer"]
        if match_calls(calls, reference, specs):
            return Score(1.0, f"all {len(reference)} calls match the reference")
        return Score(0.0, f"{len(calls)} calls do not match the {len(reference)} reference calls")
