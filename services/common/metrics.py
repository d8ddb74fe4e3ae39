"""Prometheus metrics: per-RPC counts and latency, served over HTTP."""

from __future__ import annotations

import threading
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip


class Metrics:
    """A registry per server, so several servers can share a process."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.rpc_requests = Counter(
            "codeact_rpc_requests",
            "RPCs handled, by method and status code",
            ["service", "method", "code"],
            registry=self.registry,
        )
        self.rpc_latency = Histogram(
            "codeact_rpc_duration_seconds",
            "Time from the start of an RPC to its end, streams included",
            ["service", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._http: tuple[WSGIServer, threading.Thread] | None = None
        # Label lookups cost more than the observations; keep the children.
        self._counters: dict[tuple[str, str], Any] = {}
        self._histograms: dict[str, Any] = {}

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        counter = self._counters.get((method, code))
        if counter is None:
            counter = self._counters[(method, code)] = self.rpc_requests.labels(
                self.service, method, code
            )
        histogram = self._histograms.get(method)
        if histogram is None:
            histogram = self._histograms[method] = self.rpc_latency.labels(self.service, method)
        counter.inc()
        histogram.observe(seconds)

    def serve_http(self, host: str, port: int) -> int:
        """Expose /metrics; returns the bound port."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        self._http = (server, thread)
        return int(server.server_port)

    def stop_http(self) -> None:
        if self._http is not None:
            server, thread = self._http
            server.shutdown()
            server.server_close()
            thread.join(timeout=2)
            self._http = None
