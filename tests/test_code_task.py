"""The code task: extraction picks the answer's block, and scoring matches what a careful human expects."""

import base64
import json
import pickle
import zlib

import pytest
from intent_mediator.data.loaders import load_records
from intent_mediator.data.records import validate_record
from intent_mediator.tasks import get_task
from intent_mediator.tasks.code import decode_test_cases, extract_code, strip_script_code, top_level_functions
from intent_mediator.testing.solutions import SOLUTIONS


def records(shared_lic):
    return load_records(shared_lic / "sample_5_per_task.json", tasks=["code"]) + load_records("builtin", tasks=["code"])


def builtin(index=0):
    return load_records("builtin", tasks=["code"])[index]


def lcb_record(func_name, cases, starter=""):
    """A LiveCodeBench-shaped record (functional tests only)."""
    return validate_record(
        {
            "task_id": f"test-lcb-{func_name}",
            "task": "code",
            "source": "lcb_easy",
            "question_content": "Solve it.",
            "starter_code": starter,
            "public_test_cases": json.dumps(cases),
            "metadata": {"func_name": func_name},
            "shards": [{"shard_id": 1, "shard": "Solve it."}],
        }
    )


def score(record, reply):
    task = get_task("code")
    answer = task.extract(reply, record)
    return None if answer is None else task.score(record, answer)


def test_correct_solutions_pass_and_wrong_ones_fail(shared_lic):
    task = get_task("code")
    for record in records(shared_lic):
        reply = f"Here you go:\n```python\n{SOLUTIONS[record.task_id]}```\nIt handles the edge cases."
        answer = task.extract(reply, record)
        result = task.score(record, answer)
        assert result.value == 1.0, (record.task_id, result.reason)
        wrong = f"def {record['metadata']['func_name']}(*args):\n    return None\n"
        assert task.score(record, wrong).value == 0.0


def test_typing_annotations_work_without_imports():
    record = builtin(0)  # sum_even_squares(nums)
    reply = (
        "```python\ndef sum_even_squares(nums: List[int]) -> int:\n"
        "    return sum(x * x for x in nums if x % 2 == 0)\n```"
    )
    assert score(record, reply).value == 1.0
    # and the standard modules are there by name, as in the benchmark's harness
    reply = "```python\ndef sum_even_squares(nums):\n    return sum(math.prod([x, x]) for x in nums if x % 2 == 0)\n```"
    assert score(record, reply).value == 1.0


def test_class_solution_answers_call_the_method():
    record = lcb_record("twoSum", [{"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]", "testtype": "functional"}])
    reply = (
        "Use a hash map:\n```python\nclass Solution:\n"
        "    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
        "        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n"
        "                return [seen[target - x], i]\n            seen[x] = i\n```"
    )
    assert score(record, reply).value == 1.0


def test_top_level_input_does_not_block_or_decide_the_score():
    record = builtin(0)
    reply = (
        "```python\ndef sum_even_squares(nums):\n    return sum(x * x for x in nums if x % 2 == 0)\n\n"
        "n = int(input())\nnums = list(map(int, input().split()))\nprint(sum_even_squares(nums))\n"
        "sum_even_squares([1, 2])\nassert sum_even_squares([2]) == 5\n"
        "if __name__ == '__main__':\n    print(sum_even_squares([int(x) for x in input().split()]))\n```"
    )
    result = score(record, reply)
    assert result.value == 1.0, result.reason


def test_script_code_is_blanked_keeping_line_numbers():
    code = (
        "import sys\nLIMIT = 10\ndef f(x):\n    print(x)\n    return x\n"
        "f(3)\nx = input()\nfor _ in range(3):\n    print(1)\n"
    )
    stripped = strip_script_code(code)
    assert stripped.splitlines() == [
        "import sys",
        "LIMIT = 10",
        "def f(x):",
        "    print(x)",
        "    return x",
        "",
        "",
        "",
        "",
    ]


def test_extraction_picks_the_block_that_defines_the_function():
    solution = "def second_largest(nums):\n    return sorted(set(nums))[-2]\n"
    reply = (
        f"First the buggy version you had:\n```python\ndef second_largest(nums):\n    return max(nums)\n```\n"
        f"Fixed:\n```python\n{solution}```\nUsage:\n```python\nprint(second_largest([1, 3, 2]))\n```\n"
        "Output:\n```\n2\n```\nAnd a test:\n```python\ndef test_it():\n    assert second_largest([1, 2]) == 1\n```"
    )
    assert extract_code(reply, "second_largest") == solution
    assert extract_code(reply) == solution  # without the name: the last block with a non-test function


def test_extraction_finds_no_code_in_prose():
    assert extract_code("I need more details first. What should happen on empty input?") is None
    assert extract_code("You could define a function that loops over the list and sums the squares.") is None
    assert extract_code("Run it like this:\n```python\nprint(f(3))\n```") is None
    unfenced = "Sure.\n\ndef f(x):\n    return x + 1\n\nThis adds one."
    assert extract_code(unfenced) == "def f(x):\n    return x + 1\n"


def test_top_level_functions_skip_test_helpers():
    code = "def helper(x):\n    return x\n\ndef solve(x):\n    return x\n\ndef test_solve():\n    pass\n"
    assert top_level_functions(code) == ["helper", "solve"]
    assert top_level_functions("not python (") == []


def test_a_differently_named_function_is_tested_when_func_name_is_missing():
    record = builtin(0)
    reply = (
        "```python\ndef square(x):\n    return x * x\n\n"
        "def solve(nums):\n    return sum(square(x) for x in nums if x % 2 == 0)\n```"
    )
    assert score(record, reply).value == 1.0


def test_tuples_count_as_lists_and_forged_equality_fails():
    record = lcb_record("pair", [{"input": "3", "output": "[3, 4]", "testtype": "functional"}])
    assert score(record, "```python\ndef pair(x):\n    return (x, x + 1)\n```").value == 1.0
    always_equal = "    def __eq__(self, other):\n        return True\n\n"
    forged = f"```python\nclass Any:\n{always_equal}def pair(x):\n    return Any()\n```"
    result = score(record, forged)
    assert result.value == 0.0 and "not plain data" in result.reason
    subclass = f"```python\nclass L(list):\n{always_equal}def pair(x):\n    return L([0])\n```"
    assert score(record, subclass).value == 0.0  # compared as the plain list [0]


def test_livecodebench_private_tests_decode_without_unpickling_objects():
    cases = [{"input": "1\n2", "output": "3", "testtype": "functional"}]
    packed = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()
    assert decode_test_cases(packed) == cases

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    hostile = base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode()
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        decode_test_cases(hostile)


def test_check_style_tests_run_when_there_are_no_cases():
    record = validate_record(
        {
            "task_id": "test-he-check",
            "task": "code",
            "source": "humaneval",
            "prompt": "from typing import Tuple\n\ndef pair(x: int) -> Tuple[int, int]:\n    pass\n",
            "test": "def check(candidate):\n    assert candidate(1) == (1, 2)\n    assert candidate(5) == (5, 6)\n",
            "metadata": {"func_name": "pair"},
            "shards": [{"shard_id": 1, "shard": "Pair."}],
        }
    )
    good = score(record, "```python\ndef pair(x: int) -> Tuple[int, int]:\n    return (x, x + 1)\n```")
    assert good.value == 1.0, good.reason
    wrong = score(record, "```python\ndef pair(x):\n    return [x, x + 1]\n```")  # check() wants a tuple
    assert wrong.value == 0.0 and "tests.py line 2" in wrong.reason
