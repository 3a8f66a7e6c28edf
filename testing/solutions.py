"""Reference solutions written for the tests: the real sample's HumanEval records and the project's code tasks."""

SOLUTIONS = {
    "sharded-HumanEval/105": """
def by_length(arr):
    names = ["One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]
    return [names[x - 1] for x in sorted((x for x in arr if 1 <= x <= 9), reverse=True)]
""",
    "sharded-HumanEval/106": """
import math

def f(n):
    return [math.factorial(i) if i % 2 == 0 else i * (i + 1) // 2 for i in range(1, n + 1)]
""",
    "sharded-HumanEval/109": """
def move_one_ball(arr):
    if not arr:
        return True
    target = sorted(arr)
    return any(arr[k:] + arr[:k] == target for k in range(len(arr)))
""",
    "sharded-HumanEval/111": """
from collections import Counter

def histogram(test):
    counts = Counter(test.split())
    if not counts:
        return {}
    top = max(counts.values())
    return {letter: n for letter, n in counts.items() if n == top}
""",
    "sharded-HumanEval/113": """
def odd_count(lst):
    out = []
    for s in lst:
        n = str(sum(int(c) % 2 for c in s))
        out.append("the number of odd elements " + n + "n the str" + n + "ng " + n + " of the " + n + "nput.")
    return out
""",
    "im-code-01": "def sum_even_squares(nums):\n    return sum(x * x for x in nums if x % 2 == 0)\n",
    "im-code-02": """
from itertools import groupby

def compress_runs(s):
    return "".join(f"{ch}{len(list(group))}" for ch, group in groupby(s))
""",
    "im-code-03": """
def second_largest(nums):
    distinct = sorted(set(nums), reverse=True)
    return distinct[1] if len(distinct) > 1 else None
""",
    "im-code-04": """
import re

def word_lengths(sentence):
    return {w: len(w) for w in re.sub(r"[.,!?]", "", sentence).lower().split()}
""",
    "im-code-05": "def clamp_list(values, low, high):\n    return [min(max(v, low), high) for v in values]\n",
    "im-code-06": """
def is_balanced(text):
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack
""",
    "im-code-07": """
def merge_intervals(intervals):
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
""",
    "im-code-08": """
def count_vowel_words(words):
    return sum(1 for w in words if len(w) >= 3 and w[0].lower() in "aeiou")
""",
}
