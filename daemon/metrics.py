"""Prometheus metrics of one daemon core, kept in the core's own registry (never the global one).

Label values are model names from the config and the app's own routes, never anything a client
sent, so a fuzzer or a buggy plugin cannot grow the label set.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Completion latencies on a CPU range from a few ms (one token) to seconds (a long block).
_TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)


class DaemonMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "codegend_requests", "Completion requests by how they ended",
            ["model", "outcome"], registry=r)
        self.cancellations = Counter(
            "codegend_cancellations",
            "Cancelled or superseded requests; stage=queued ones never cost compute",
            ["model", "stage"], registry=r)
        self.queue_depth = Gauge(
            "codegend_queue_depth", "Requests waiting for the model", ["model"], registry=r)
        self.time_to_first_token = Histogram(
            "codegend_time_to_first_token_seconds",
            "From accepting a request (queue wait included) to its first token",
            ["model"], buckets=_TTFT_BUCKETS, registry=r)
        self.token_latency = Histogram(
            "codegend_token_latency_seconds", "Time between successive generated tokens",
            ["model"], buckets=_TOKEN_BUCKETS, registry=r)
        self.generated_tokens = Counter(
            "codegend_generated_tokens", "Tokens generated", ["model"], registry=r)
        self.forward_passes = Counter(
            "codegend_forward_passes",
            "Model forward passes, prefill included; speculative decoding makes generated "
            "tokens / forward passes exceed 1", ["model"], registry=r)
        self.draft_tokens = Counter(
            "codegend_draft_tokens",
            "Prompt-lookup draft tokens verified in a forward pass, accepted or rejected",
            ["model", "outcome"], registry=r)
        self.prompt_tokens = Counter(
            "codegend_prompt_tokens", "Prompt tokens of finished generations", ["model"],
            registry=r)
        self.reused_prefix_tokens = Counter(
            "codegend_reused_prefix_tokens",
            "Prompt tokens whose KV cache came from the previous request", ["model"],
            registry=r)
        self.prefix_cache_hit_ratio = Gauge(
            "codegend_prefix_cache_hit_ratio",
            "Share of prompt tokens served from the KV prefix cache since the model loaded",
            ["model"], registry=r)
        self.config_reloads = Counter(
            "codegend_config_reloads", "Config changes applied or rejected", ["result"],
            registry=r)
        # How many trips a client makes (one per completion is the goal); the label is the
        # route the app defines, or "other", never the raw path a client sent.
        self.http_requests = Counter(
            "codegend_http_requests", "HTTP requests by route", ["route"], registry=r)
        self._prompt_totals: dict[str, tuple[int, int]] = {}  # model -> (prompt, reused)
        self._prompt_lock = threading.Lock()  # engine threads of several models report here

    def record_prompt(self, model: str, prompt_tokens: int, reused_tokens: int) -> None:
        self.prompt_tokens.labels(model).inc(prompt_tokens)
        self.reused_prefix_tokens.labels(model).inc(reused_tokens)
        with self._prompt_lock:
            total, reused = self._prompt_totals.get(model, (0, 0))
            total, reused = total + prompt_tokens, reused + reused_tokens
            self._prompt_totals[model] = (total, reused)
            self.prefix_cache_hit_ratio.labels(model).set(reused / total if total else 0.0)

    def record_passes(self, model: str, passes: int, drafted: int, accepted: int) -> None:
        """Count one generation's forward passes and how its drafts fared."""
        self.forward_passes.labels(model).inc(passes)
        self.draft_tokens.labels(model, "accepted").inc(accepted)
        self.draft_tokens.labels(model, "rejected").inc(drafted - accepted)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
