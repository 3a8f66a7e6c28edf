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

# The project's revision tasks: a solution for the FINAL intent (SOLUTIONS) and one for the intent before the
# revision (STALE_SOLUTIONS), which the record's tests must reject.
SOLUTIONS.update(
    {
        "im-code-r01": "def chunk_list(xs, size):\n    return [xs[i : i + size] for i in range(0, len(xs), size)]\n",
        "im-code-r02": "def clean_strings(items):\n    return [s.strip() for s in items if s.strip()]\n",
        "im-code-r03": "def count_vowels(text):\n    return sum(ch in 'aeiou' for ch in text)\n",
        "im-code-r04": """
def format_duration(seconds):
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
""",
        "im-code-r05": "def dedupe(items):\n    return list(dict.fromkeys(items))\n",
        "im-code-r06": "def is_strong(p):\n    return len(p) >= 10 and any(c.isdigit() for c in p)\n",
        "im-code-r07": """
def mean_value(values):
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else 0
""",
        "im-code-r08": """
def top_word(text):
    words = text.lower().split()
    return max(words, key=lambda w: (words.count(w), -words.index(w)))
""",
        "im-code-r09": "def to_fahrenheit(temps):\n    return [round(t * 9 / 5 + 32) for t in temps]\n",
        "im-code-r10": "def affordable(items, top):\n    return [p['name'] for p in items if p['price'] <= top]\n",
        "im-code-r11": "def initials(name):\n    return ''.join(w[0].upper() + '.' for w in name.split())\n",
        "im-code-r12": """
from itertools import accumulate

def running_total(nums):
    return list(accumulate(nums))
""",
    }
)

STALE_SOLUTIONS = {
    "im-code-r01": "def chunk_list(items, size=3):\n    return [items[i : i + 3] for i in range(0, len(items), 3)]\n",
    "im-code-r02": "def clean_strings(items):\n    return [s.strip().lower() for s in items if s.strip()]\n",
    "im-code-r03": "def count_vowels(text):\n    return sum(ch in 'aeiou' for ch in text.lower())\n",
    "im-code-r04": """
def format_duration(seconds):
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
""",
    "im-code-r05": "def dedupe(items):\n    return sorted(set(items))\n",
    "im-code-r06": "def is_strong(password):\n    return len(password) >= 8 and any(c.isdigit() for c in password)\n",
    "im-code-r07": """
def mean_value(values):
    kept = [v for v in values if v is not None]
    return round(sum(kept) / len(kept), 2) if kept else 0
""",
    "im-code-r08": """
def top_word(text):
    words = text.lower().split()
    return min(set(words), key=lambda w: (-words.count(w), w))
""",
    "im-code-r09": "def to_fahrenheit(temps):\n    return [round(t * 9 / 5 + 32, 1) for t in temps]\n",
    "im-code-r10": """
def affordable(products, max_price):
    return [p['name'] for p in products if p['price'] <= max_price and p['in_stock']]
""",
    "im-code-r11": "def initials(name):\n    return ''.join(w[0].upper() for w in name.split())\n",
    "im-code-r12": """
def running_total(nums):
    out, total = [], 0
    for n in nums:
        if n >= 0:
            total += n
        out.append(total)
    return out
""",
}
