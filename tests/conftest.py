"""Shared fixtures: an isolated DSPy cache, the scripted engine, and paths to ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# INTENT_MEDIATOR_LIC_DIR points elsewhere (e.g. from a git worktree); the agreement loader reads it too.
SHARED_LIC = Path(os.environ.get("INTENT_MEDIATOR_LIC_DIR") or REPO.parent / "shared" / "lic")


@pytest.fixture(autouse=True, scope="session")
def _isolated_dspy_cache(tmp_path_factory):
    # Tests must never read answers cached by an earlier run or by the user's own work.
    import dspy

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    os.environ.setdefault("INTENT_MEDIATOR_CACHE", str(Path.home() / ".cache" / "intent-mediator"))
    yield


@pytest.fixture(autouse=True)
def _dspy_call_records():
    # `limit_call_records` (every `cli.main` and benchmark `main()` calls it) changes process-wide DSPy state:
    # put it back so that no test depends on which ran before it.
    import dspy
    from dspy.clients import base_lm

    saved = (base_lm.MAX_HISTORY_SIZE, dspy.settings.max_history_size, dspy.settings.trace)
    yield
    base_lm.MAX_HISTORY_SIZE = saved[0]
    dspy.configure(max_history_size=saved[1], trace=saved[2])


@pytest.fixture
def engine():
    from intent_mediator import ScriptedEngine

    return ScriptedEngine()


@pytest.fixture
def shared_lic() -> Path:
    if not SHARED_LIC.is_dir():
        pytest.skip(f"the shared benchmark sample is not at {SHARED_LIC} (clone ../shared beside the repository)")
    return SHARED_LIC


def _dev_server(starter):
    """Start a throwaway server; skip (locally) or fail (in CI, where .ci/run installs them) without binaries."""
    from intent_mediator.stores.dev_servers import ServerUnavailable

    try:
        with starter() as url:
            yield url
    except ServerUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (.ci/run installs it; CI must run these tests)")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL on a loopback port for the whole session (Debian package `postgresql`)."""
    from intent_mediator.stores.dev_servers import postgres_server

    yield from _dev_server(postgres_server)


@pytest.fixture(scope="session")
def redis_url():
    """A real Redis on a loopback port for the whole session (Debian package `redis-server`)."""
    from intent_mediator.stores.dev_servers import redis_server

    yield from _dev_server(redis_server)
