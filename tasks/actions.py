"""Function calling (BFCL v3 parallel): the answer is a list of Python calls matching the reference calls.

Checking follows BFCL's AST checker (the reference's `eval_bfcl.py`): calls match the reference calls one to
one in any order; names match exactly; every parameter the spec requires, and every reference parameter without
"" among its acceptable values, must be present; no parameter outside the spec and the reference; a value has
the spec's type (an int passes for a float; a tuple for a list), and strings compare after dropping spaces and
`,./-_*^` and ignoring case. An unquoted name (`data=data_random_forest`) is read as the string of its name, as
BFCL does: the reference answers spell such variables as strings. Where we are more lenient than BFCL (calls
found inside prose or a fenced block, positional arguments bound to the spec's parameter order), the README's
protocol-differences table says why.
"""

from __future__ import annotations

import ast
import json
import operator
import re
from typing import Any

from intent_mediator.data.records import Instruction
from intent_mediator.tasks.base import Score, Task, TaskConfig, register

Call = tuple[str, dict[str, Any]]

_FENCE = re.compile(r"```[ \t]*(?:python|py|json|tool_code)?[ \t]*\n(.*?)```", re.S | re.I)
_INLINE = re.compile(r"`([^`\n]+)`")
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
_ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    raise ValueError("not a function name")


def _value(node: ast.expr) -> Any:
    """An argument's value: literals as Python values, bare names and expressions as BFCL reads them."""
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _value(node.operand)
        if isinstance(operand, (int, float)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
        raise ValueError("a sign before a non-number")
    if isinstance(node, ast.List):
        return [_value(item) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(item) for item in node.elts)
    if isinstance(node, ast.Set):
        return [_value(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        keys = [key for key in node.keys if key is not None]  # a None key stands for `**mapping`
        if len(keys) != len(node.keys):
            raise ValueError("** inside a dict")
        return {_value(key): _value(value) for key, value in zip(keys, node.values, strict=True)}
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and (not isinstance(right, (int, float)) or abs(right) > 64):
            raise ValueError("exponent out of range")
        try:
            return _ARITHMETIC[type(node.op)](left, right)
        except (TypeError, ZeroDivisionError, OverflowError) as exc:
            raise ValueError(str(exc)) from exc
    if isinstance(node, ast.Name):
        return node.id  # an unquoted variable stands for its name
    if isinstance(node, (ast.Attribute, ast.Subscript)):
        return ast.unparse(node)
    if isinstance(node, ast.Call):
        if not node.keywords:
            return ast.unparse(node)
        return {_name(node.func): {kw.arg: _value(kw.value) for kw in node.keywords if kw.arg}}
    raise ValueError(f"unsupported argument {ast.unparse(node)!r}")


def _calls_in(source: str, specs: dict[str, dict], *, quoted: bool = True) -> list[Call] | None:
    """The calls `source` is made of, or None. With `quoted`, a list of strings that each hold calls counts too
    (`['f(x=1)']`: BFCL's parser strips `[`, `]` and `'` from the ends of a reply, so it reads that one-call
    form; any number of quoted calls is read here)."""
    try:
        tree = ast.parse(source.strip())
    except (SyntaxError, ValueError):  # ValueError: a null byte in the source
        return None
    nodes: list[ast.expr] = []
    for statement in tree.body:
        if not isinstance(statement, ast.Expr):
            return None
        value = statement.value
        nodes.extend(value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value])
    if quoted and nodes and all(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in nodes):
        inner = [_calls_in(str(getattr(n, "value", "")), specs, quoted=False) for n in nodes]
        return None if any(found is None for found in inner) else [c for found in inner for c in found or []]
    calls = []
    for node in nodes:
        if not isinstance(node, ast.Call) or any(isinstance(arg, ast.Starred) for arg in node.args):
            return None
        try:
            name = _name(node.func)
            params = list((specs.get(name, {}).get("parameters", {}).get("properties") or {}).keys())
            # Positional arguments bind to the spec's parameter order; extra ones get names no reference has.
            args = {(params[i] if i < len(params) else f"*{i}"): _value(arg) for i, arg in enumerate(node.args)}
            for keyword in node.keywords:
                if keyword.arg is None or keyword.arg in args:
                    return None
                args[keyword.arg] = _value(keyword.value)
        except ValueError:
            return None
        calls.append((name, args))
    return calls or None


def _bracketed(text: str) -> list[str]:
    """Every top-level [...] span of the text, brackets inside quotes ignored."""
    spans, depth, start, quote = [], 0, 0, ""
    for i, char in enumerate(text):
        if quote:
            if char == quote and text[i - 1] != "\\":
                quote = ""
        elif char in "'\"" and depth:
            quote = char
        elif char == "[":
            depth, start = depth + 1, i if depth == 0 else start
        elif char == "]" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans


def parse_calls(response: str, specs: dict[str, dict] | None = None) -> list[Call] | None:
    """The calls in a reply: the whole reply, else the last fenced block, bracketed list or `code` span that
    parses as calls, else the last run of lines that each parse as calls."""
    specs = specs or {}
    text = response.strip()
    candidates = [text, *reversed(_FENCE.findall(text)), *reversed(_bracketed(text))]
    candidates += reversed(_INLINE.findall(text))
    for candidate in candidates:
        calls = _calls_in(candidate, specs)
        if calls:
            return calls
    runs: list[list[Call]] = [[]]
    for line in text.splitlines():
        calls = _calls_in(line.strip().rstrip(",;"), specs) if line.strip() else None
        if calls:
            runs[-1].extend(calls)
        elif runs[-1]:
            runs.append([])
    found = [run for run in runs if run]
    return found[-1] if found else None


def _standard(value: str) -> str:
    return re.sub(r"[ ,./\-_*^]", "", value).lower().replace("'", '"')


def _same(value: Any, option: Any) -> bool:
    """One value against one acceptable value: strings standardized, containers element by element."""
    if isinstance(value, str) and isinstance(option, str):
        return _standard(value) == _standard(option)
    if isinstance(value, (list, tuple)) and isinstance(option, (list, tuple)):
        return len(value) == len(option) and all(_same(v, o) for v, o in zip(value, option, strict=True))
    if isinstance(value, dict) and isinstance(option, dict):
        if set(value) - set(option):
            return False
        for key, acceptable in option.items():
            acceptable = acceptable if isinstance(acceptable, list) else [acceptable]
            if key not in value:
                if "" not in acceptable:
                    return False
            elif not any(_same(value[key], o) for o in acceptable if o != ""):
                return False
        return True
    if isinstance(value, bool) or isinstance(option, bool):
        return value is option
    return value == option


def _is(value: Any, types: tuple[type, ...]) -> bool:
    return isinstance(value, types) and (not isinstance(value, bool) or bool in types)


def _type_ok(value: Any, spec: dict, acceptable: list) -> tuple[bool, bool]:
    """(type fits, value is a variable name): BFCL accepts a string where the reference spells a variable."""
    expected = _TYPES.get(spec.get("type", ""))
    if expected is None:
        return True, False
    fits = _is(value, expected)
    if fits and spec.get("type") in ("array", "tuple") and isinstance(spec.get("items"), dict):
        inner = _TYPES.get(spec["items"].get("type", ""))
        fits = inner is None or all(_is(item, inner) for item in value)
    if fits:
        return True, False
    answer_types = {type(option) for option in acceptable if option != ""}
    return (isinstance(value, str) and answer_types == {str}), True


def _call_matches(call: Call, ref_name: str, ref_params: dict[str, list], spec: dict) -> bool:
    name, args = call
    properties = spec.get("parameters", {}).get("properties", {})
    if name != ref_name or set(args) - set(ref_params) or (properties and set(args) - set(properties)):
        return False
    required = set(spec.get("parameters", {}).get("required", [])) & set(properties)
    if required - set(args):
        return False
    for param, acceptable in ref_params.items():
        if param not in args:
            if "" not in acceptable:
                return False
            continue
        fits, variable = _type_ok(args[param], properties.get(param, {}), acceptable)
        if not fits:
            return False
        options = [option for option in acceptable if option != ""]
        if variable:
            if args[param] not in options:
                return False
        elif not any(_same(args[param], option) for option in options):
            return False
    return True


def match_calls(calls: list[Call], reference: list[dict], specs: dict[str, dict]) -> bool:
    """One-to-one matching of predicted calls to reference calls, in any order (backtracking; lists are short)."""
    if len(calls) != len(reference):
        return False

    def assign(index: int, used: frozenset[int]) -> bool:
        if index == len(reference):
            return True
        ((ref_name, ref_params),) = reference[index].items()
        return any(
            i not in used
            and _call_matches(calls[i], ref_name, ref_params, specs.get(ref_name, {}))
            and assign(index + 1, used | {i})
            for i in range(len(calls))
        )

    return assign(0, frozenset())


def _specs(record: Instruction) -> dict[str, dict]:
    functions = record["function"]
    if isinstance(functions, str):
        functions = json.loads(functions)
    return {spec["name"]: spec for spec in functions}


def _call_text(call: Call) -> str:
    name, args = call
    return f"{name}({', '.join(f'{key}={value!r}' for key, value in args.items())})"


@register
class ActionsTask(Task):
    name = "actions"
    scoring_revision = 2  # 2: a list of quoted calls, ['f(x=1)'], is read as those calls (it was "discussion")

    def system_prompt(self, record: Instruction) -> str:
        functions = json.dumps(list(_specs(record).values()), ensure_ascii=False)
        return (
            "You solve requests by calling functions. Read the request, pick the functions from the list below "
            "that accomplish it, and call each one as many times as the request needs.\n"
            "If no listed function fits the request, or the request leaves out a value a call needs, say so "
            "instead of guessing.\n"
            "When you make calls, your reply is the list of calls and nothing else, written as a Python list: "
            "[func_a(param1=value1, param2=value2), func_b(param=value)].\n\n"
            f"The functions you can call (JSON):\n{functions}"
        )

    def full_prompt(self, record: Instruction) -> str:
        question = record["fully_specified_question"]
        if isinstance(question, str):
            return question
        return question[0][0]["content"]

    def extract(self, response: str, record: Instruction) -> str | None:
        calls = parse_calls(response, _specs(record))
        return "[" + ", ".join(_call_text(call) for call in calls) + "]" if calls else None

    def score(self, record: Instruction, answer: str, config: TaskConfig | None = None) -> Score:
        specs = _specs(record)
        calls = parse_calls(answer, specs)
        if not calls:
            return Score(0.0, "the answer is not a list of Python calls")
        reference = record["reference_answer"]
        if match_calls(calls, reference, specs):
            return Score(1.0, f"all {len(reference)} calls match the reference")
        return Score(0.0, f"{len(calls)} calls do not match the {len(reference)} reference calls")
