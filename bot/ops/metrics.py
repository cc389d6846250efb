"""Prometheus metrics (names prefixed `ideabot_`), served at /metrics when
IDEABOT_METRICS_ADDRESS is set.

Each bot has its own registry, so several bots in one process (tests, benchmarks) never mix
their numbers. Counters the bot already keeps on its hot paths (votes accepted, card edits)
are read at scrape time by a collector instead of being incremented a second time per event.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIServer

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

# Interactions are answered in milliseconds; Discord's deadline is 3 s.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
BATCH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LLM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_CALLBACK_PATH = re.compile(r"/interactions/(\d+)/[^/]+/callback$")
# Ids and tokens out of the route label, so the label set stays small.
_ID_SEGMENT = re.compile(r"/(\d{5,}|[A-Za-z0-9_\-.]{40,})(?=/|$)")


def route_label(method: str, path: str) -> str:
    return f"{method} {_ID_SEGMENT.sub('/{id}', path)}"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.interactions = Counter(
            "ideabot_interactions", "Interactions handled, by command and outcome", ["command", "outcome"], registry=r
        )
        self.interaction_ack = Histogram(
            "ideabot_interaction_ack_seconds",
            "From receiving an interaction to Discord accepting its first response",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.vote_batch = Histogram(
            "ideabot_vote_batch_seconds",
            "Writing one batch of reaction events",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.discord_requests = Counter(
            "ideabot_discord_requests",
            "REST requests, by method and status",
            ["method", "status"],
            registry=r,
        )
        self.rate_limited = Counter(
            "ideabot_discord_rate_limited", "REST answers with status 429, by route", ["route"], registry=r
        )
        self.llm_requests = Counter(
            "ideabot_llm_requests", "LLM requests, by kind and outcome", ["kind", "outcome"], registry=r
        )
        self.llm_latency = Histogram(
            "ideabot_llm_request_seconds", "LLM request time, by kind", ["kind"], buckets=LLM_BUCKETS, registry=r
        )
        self.digests_posted = Counter("ideabot_digests_posted", "Weekly digests posted", registry=r)
        self.gateway_sessions = Counter(
            "ideabot_gateway_sessions", "Gateway sessions, by kind (ready: new session, resumed)", ["kind"], registry=r
        )
        self.recounted_votes = Counter(
            "ideabot_recounted_votes", "Votes changed by recounts after downtime", registry=r
        )
        self._received: dict[int, float] = {}
        self.port: int | None = None
        self._server: WSGIServer | None = None
        self._thread: Thread | None = None

    # --- interactions ------------------------------------------------------------------

    def interaction_received(self, interaction_id: int) -> None:
        self._received[interaction_id] = time.monotonic()
        if len(self._received) > 10_000:  # answers that never came: do not grow without bound
            for key in list(self._received)[:5_000]:
                del self._received[key]

    def _interaction_acknowledged(self, interaction_id: int) -> None:
        started = self._received.pop(interaction_id, None)
        if started is not None:
            self.interaction_ack.observe(time.monotonic() - started)

    def observe_llm(self, kind: str, outcome: str, seconds: float) -> None:
        self.llm_requests.labels(kind, outcome).inc()
        self.llm_latency.labels(kind).observe(seconds)

    # --- REST, through aiohttp's tracing (no change to discord.py) -----------------------

    def http_trace(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()

        async def on_request_end(
            session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams
        ) -> None:
            status = params.response.status
            self.discord_requests.labels(params.method, str(status)).inc()
            if status == 429:
                self.rate_limited.labels(route_label(params.method, params.url.path)).inc()
            match = _CALLBACK_PATH.search(params.url.path)
            if match is not None and status < 400:
                self._interaction_acknowledged(int(match.group(1)))

        trace.on_request_end.append(on_request_end)
        return trace

    # --- the HTTP endpoint ----------------------------------------------------------------

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on a background thread; returns the bound port (0 picks one)."""
        self._server, self._thread = start_http_server(port, host, registry=self.registry)
        self.port = int(self._server.server_port)
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class CountersCollector(Collector):
    """Counters kept elsewhere, read when Prometheus scrapes."""

    def __init__(self, counters: dict[str, tuple[str, Callable[[], float]]]) -> None:
        self.counters = counters

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, (documentation, read) in self.counters.items():
            yield CounterMetricFamily(name, documentation, value=read())
