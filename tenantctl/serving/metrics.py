"""Prometheus metrics of one server, labelled by tenant (and endpoint or kind), and the middleware
that counts and times its requests."""

from __future__ import annotations

import time
from typing import Any


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("tenantctl_requests_total", "Requests by tenant, endpoint and status",
                                ["tenant", "endpoint", "status"], registry=self.registry)
        self.latency = Histogram("tenantctl_request_seconds", "Request latency by tenant and endpoint",
                                 ["tenant", "endpoint"], registry=self.registry)
        self.tokens = Counter("tenantctl_tokens_total", "LLM tokens by tenant and kind", ["tenant", "kind"],
                              registry=self.registry)
        self.loaded = Gauge("tenantctl_tenants_loaded", "Tenants loaded in memory", registry=self.registry)
        self.loaded_bytes = Gauge("tenantctl_loaded_bytes", "Estimated bytes of loaded tenant indexes",
                                  registry=self.registry)
        self.queue = Gauge("tenantctl_llm_queue", "Questions waiting for the shared model", ["tenant"],
                           registry=self.registry)

    def forget_gone(self, tenants: set[str]) -> None:
        """Drop every series of a tenant not in `tenants` (deleted, also by the CLI while serving): its
        counters must not outlive it. The label "" (requests without a tenant) stays."""
        for metric, labels in ((self.requests, ("tenant", "endpoint", "status")),
                               (self.latency, ("tenant", "endpoint")), (self.tokens, ("tenant", "kind"))):
            gone = {tuple(s.labels[n] for n in labels) for family in metric.collect() for s in family.samples
                    if s.labels.get("tenant") and s.labels["tenant"] not in tenants}
            for values in gone:
                metric.remove(*values)

    def render(self, pool: Any, scheduler: Any, tenants: set[str] | None = None) -> str:
        """The metrics text; given the registry's `tenants`, without the series of the others."""
        from prometheus_client import generate_latest

        if tenants is not None:
            self.forget_gone(tenants)
        self.loaded.set(len(pool))
        self.loaded_bytes.set(pool.used_bytes)
        self.queue.clear()
        for tenant, n in scheduler.queued().items():
            self.queue.labels(tenant).set(n)
        return generate_latest(self.registry).decode()


class Measure:
    """Pure ASGI middleware (it never wraps `receive`, so a route sees its client disconnect): counts
    requests by tenant, endpoint and status, and times the ones that selected a tenant."""

    def __init__(self, app: Any, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            tenant = (scope.get("state") or {}).get("tenant", "")
            route = scope.get("route")
            endpoint = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(tenant, endpoint, str(status[0])).inc()
            if tenant:
                self.metrics.latency.labels(tenant, endpoint).observe(time.perf_counter() - started)
