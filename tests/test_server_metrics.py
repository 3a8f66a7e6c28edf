"""The server's Prometheus metrics: standard exposition, histograms, and aggregation across worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from intent_mediator.server.metrics import ServerMetrics
from prometheus_client.parser import text_string_to_metric_families


def families(text: bytes) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text.decode())}


def test_exposition_has_help_type_and_histogram_buckets():
    metrics = ServerMetrics()
    metrics.observe_request("/v1/chat/completions", 200, 0.004)
    metrics.observe_request("/v1/chat/completions", 504, 2.0)
    metrics.observe_upstream("mediator", 0.3)
    metrics.fallback("mediator_error")
    metrics.observe_usage({"mediator": {"prompt_tokens": 120, "completion_tokens": 30}, "upstream": {}})
    text, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    assert (
        b"# HELP intent_mediator_request_seconds" in text
        and b"# TYPE intent_mediator_request_seconds histogram" in text
    )
    found = families(text)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for s in found["intent_mediator_request_seconds"].samples
    }
    route = ("route", "/v1/chat/completions")
    assert samples[("intent_mediator_request_seconds_bucket", (("le", "0.005"), route))] == 1
    assert samples[("intent_mediator_request_seconds_count", (route,))] == 2
    requests = {
        tuple(sorted(s.labels.items())): s.value
        for s in found["intent_mediator_requests"].samples
        if s.name.endswith("_total")
    }
    assert requests[(route, ("status", "504"))] == 1
    tokens = {s.labels["kind"]: s.value for s in found["intent_mediator_tokens"].samples if s.name.endswith("_total")}
    assert tokens == {"prompt": 120, "completion": 30}


def test_two_apps_in_one_process_keep_separate_counts():
    a, b = ServerMetrics(), ServerMetrics()
    a.error("upstream_timeout")
    assert b'intent_mediator_errors_total{kind="upstream_timeout"} 1.0' in a.render()[0]
    assert b"upstream_timeout" not in b.render()[0]


def test_worker_processes_are_aggregated_in_multiprocess_mode(tmp_path):
    worker = textwrap.dedent(
        """
        from intent_mediator.server.metrics import ServerMetrics
        m = ServerMetrics()
        m.observe_request("/v1/chat/completions", 200, 0.01)
        m.fallback("no_memory")
        """
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    env.update({k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME")})
    for _ in range(2):  # two workers, each its own process
        subprocess.run([sys.executable, "-c", worker], check=True, env=env)
    reader = (
        "import sys; from intent_mediator.server.metrics import ServerMetrics; "
        "sys.stdout.buffer.write(ServerMetrics().render()[0])"
    )
    out = subprocess.run([sys.executable, "-c", reader], check=True, env=env, capture_output=True).stdout
    found = families(out)
    fallbacks = [s.value for s in found["intent_mediator_fallbacks"].samples if s.name.endswith("_total")]
    counts = [s.value for s in found["intent_mediator_request_seconds"].samples if s.name.endswith("_count")]
    assert fallbacks == [2] and counts == [2]
