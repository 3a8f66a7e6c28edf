"""How a module binds its role's LM for one call without touching global settings."""

from __future__ import annotations

import contextlib

import dspy


def lm_scope(lm: dspy.LM | None, *, adapter: dspy.Adapter | None = None):
    """A thread-local `dspy.context` that selects `lm` (when given) and the adapter for this call.

    Engines that can enforce a JSON schema (the embedded model) declare `prefers_json_adapter`; the structured
    prompt then goes through `dspy.JSONAdapter`, so even a small model returns parseable fields.
    """
    settings: dict = {}
    if lm is not None:
        settings["lm"] = lm
    if adapter is not None:
        settings["adapter"] = adapter
    elif getattr(getattr(lm or dspy.settings.lm, "engine", None), "prefers_json_adapter", False):
        settings["adapter"] = dspy.JSONAdapter()
    return dspy.context(**settings) if settings else contextlib.nullcontext()
