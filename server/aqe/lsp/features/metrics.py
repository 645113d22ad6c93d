"""Prometheus metrics for a long-running `aqe serve --tcp` that a team shares (opt-in: `metricsPort`).

Exposed in the Prometheus text format on http://metricsHost:metricsPort/metrics:
- `aqe_lsp_requests_total{method}` and `aqe_lsp_request_duration_seconds{method}`: every request from
  the client, timed from its arrival to its response (so queueing behind other work counts);
- `aqe_lsp_notifications_total{method}`;
- `aqe_model_queue_depth` and `aqe_model_requests_running`: the model queue, read at scrape time;
- `aqe_model_requests_total`, `aqe_model_calls_total` and `aqe_model_cache_hits_total`: requests to the
  model, the model calls they cost, and those answered by an identical call already in flight.

The registry belongs to the server (no process-global state), and the protocol is timed by wrapping
its two JSON-RPC entry points on the instance, so nothing else in the server changes. Method names
become labels only when they are LSP methods or methods the server serves: a client cannot grow the label set at will.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Container, Iterator
from typing import Any

from lsprotocol.types import METHOD_TO_TYPES
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from aqe.lsp.server import AqeLanguageServer

log = logging.getLogger(__name__)

OTHER_METHOD = "other"
_MAX_TIMED_REQUESTS = 10_000
"""Requests whose response never comes (a client that vanished) must not grow the table for ever."""
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def method_label(method: str, served: Container[str]) -> str:
    """The method, when it is an LSP method or one the server has a handler for; else `other`."""
    if method in METHOD_TO_TYPES or method in served:
        return method
    return OTHER_METHOD


class ModelQueueCollector(Collector):
    """Reads the model queue of the server when scraped: the service is rebuilt on a settings change."""

    def __init__(self, server: AqeLanguageServer) -> None:
        self.server = server

    def collect(self) -> Iterator[Any]:
        service = getattr(self.server, "models", None)
        queue = getattr(service, "queue", None)
        stats = getattr(queue, "stats", None)
        yield GaugeMetricFamily(
            "aqe_model_queue_depth", "Model requests waiting for a worker.", queue.queued if queue else 0
        )
        yield GaugeMetricFamily(
            "aqe_model_requests_running", "Model requests being generated now.", queue.running if queue else 0
        )
        yield CounterMetricFamily("aqe_model_requests", "Requests to the model layer.", stats.submitted if stats else 0)
        yield CounterMetricFamily("aqe_model_calls", "Model calls made.", stats.model_calls if stats else 0)
        yield CounterMetricFamily(
            "aqe_model_cache_hits",
            "Model requests answered by an identical call already in flight, without a call of their own.",
            stats.coalesced if stats else 0,
        )


class ServerMetrics:
    def __init__(self, server: AqeLanguageServer) -> None:
        self.server = server
        self.registry = CollectorRegistry()
        self.requests = Counter("aqe_lsp_requests", "LSP requests received.", ["method"], registry=self.registry)
        self.notifications = Counter(
            "aqe_lsp_notifications", "LSP notifications received.", ["method"], registry=self.registry
        )
        self.latency = Histogram(
            "aqe_lsp_request_duration_seconds",
            "Time from a request's arrival to its response.",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(ModelQueueCollector(server))
        self._started: dict[Any, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._http: Any = None

    def instrument(self, protocol: Any) -> None:
        handle_request = protocol._handle_request
        handle_notification = protocol._handle_notification
        send_response = protocol._send_response

        def timed_request(msg_id: Any, method_name: str, params: Any) -> Any:
            label = method_label(method_name, protocol.fm.features)
            self.requests.labels(label).inc()
            with self._lock:
                if len(self._started) < _MAX_TIMED_REQUESTS:
                    self._started[msg_id] = (label, time.perf_counter())
            return handle_request(msg_id, method_name, params)

        def counted_notification(method_name: str, params: Any) -> Any:
            self.notifications.labels(method_label(method_name, protocol.fm.features)).inc()
            return handle_notification(method_name, params)

        def timed_response(msg_id: Any, result: Any = None, error: Any = None) -> Any:
            with self._lock:
                started = self._started.pop(msg_id, None)
            if started is not None:
                self.latency.labels(started[0]).observe(time.perf_counter() - started[1])
            return send_response(msg_id, result, error)

        protocol._handle_request = timed_request
        protocol._handle_notification = counted_notification
        protocol._send_response = timed_response

    def start(self) -> None:
        settings = self.server.settings
        if not settings.metrics_port or self._http is not None:
            return
        try:
            self._http, _ = start_http_server(settings.metrics_port, settings.metrics_host, registry=self.registry)
        except OSError as error:
            log.error("metrics: cannot listen on %s:%s (%s)", settings.metrics_host, settings.metrics_port, error)
            return
        log.info("metrics on http://%s:%s/metrics", settings.metrics_host, settings.metrics_port)

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None


def register(server: AqeLanguageServer) -> None:
    metrics = ServerMetrics(server)
    metrics.instrument(server.protocol)
    server.metrics = metrics  # type: ignore[attr-defined]
    server.listen("initialized", metrics.start)
    server.listen("shutdown", metrics.stop)
