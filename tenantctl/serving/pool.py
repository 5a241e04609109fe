"""The long-running side of tenantctl: loaded tenants under a memory budget, a fair queue in front of
the one shared model, and per-tenant rate limits. Used by `tenantctl serve`."""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from tenantctl.config import Config, EmbedderConfig
from tenantctl.errors import RateLimited, TenantctlError
from tenantctl.models.embedding import BatchingEmbedder, get_embedder
from tenantctl.retrieval.session import TenantSession
from tenantctl.storage.tenants import open_tenant

# Beyond its vectors, a loaded tenant holds a SQLite connection, caches and Python objects.
TENANT_OVERHEAD_BYTES = 2 << 20


class Overloaded(TenantctlError):
    """The shared model's queue is full."""


@dataclass
class Loaded:
    session: TenantSession
    lock: threading.Lock = field(default_factory=threading.Lock)
    bytes: int = 0
    last_used: float = 0.0
    closed: bool = False
    identity: tuple[int, int] = (0, 0)  # (device, inode) of store.db when loaded


class TenantPool:
    """Tenants loaded on demand and evicted least-recently-used to stay within a memory budget.
    An index changed by another process (a CLI ingest) is picked up at the next search, because the
    searcher reloads whenever the store's generation moves."""

    def __init__(self, cfg: Config, budget_bytes: int) -> None:
        self.cfg = cfg
        self.budget = budget_bytes
        self._loaded: collections.OrderedDict[str, Loaded] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0
        self.evictions = 0
        # Tenants of one embedder share it, and it embeds their concurrent queries in one call. Indexes
        # built before int8 became the default keep fp32, so a pool may hold one of each precision.
        self.embedders: dict[str, BatchingEmbedder] = {}
        self.embedder = self.embedder_for(cfg.embedder.for_index(None))  # a new index's

    def embedder_for(self, settings: EmbedderConfig) -> BatchingEmbedder:
        """The batching embedder for these settings (`EmbedderConfig.for_index`), one per identity."""
        identity = settings.identity
        found = self.embedders.get(identity)
        if found is None:
            with self._lock:
                found = self.embedders.get(identity)  # another request may have made it meanwhile
                if found is None:
                    found = self.embedders[identity] = BatchingEmbedder(get_embedder(settings))
        return found

    def __len__(self) -> int:
        return len(self._loaded)

    @property
    def used_bytes(self) -> int:
        """Memory the loaded tenants take. Read under the pool's lock: between a load and the evictions it
        causes the pool is briefly over its budget, and no reader sees that."""
        with self._lock:
            return self._used_bytes()

    def _used_bytes(self) -> int:
        return sum(entry.bytes for entry in self._loaded.values())

    def acquire(self, tenant_id: str) -> Loaded:
        with self._lock:
            entry = self._loaded.get(tenant_id)
        if entry is not None and entry.identity != _identity(entry.session.store.path):
            self.drop(tenant_id)  # deleted and re-created (or imported) meanwhile: load it afresh
            entry = None
        if entry is not None:
            with self._lock:
                if self._loaded.get(tenant_id) is entry:  # else evicted meanwhile: `use` sees it closed
                    self._loaded.move_to_end(tenant_id)
            entry.last_used = time.monotonic()
            return entry
        tenant = open_tenant(tenant_id)
        session = TenantSession(tenant, self.cfg, make_embedder=self.embedder_for)
        try:
            index = session.searcher.index()  # IndexMismatch, a damaged store...: the request fails
        except BaseException:
            session.close()  # and leaves no connection open behind it
            raise
        entry = Loaded(session, bytes=_index_bytes(index) + TENANT_OVERHEAD_BYTES, last_used=time.monotonic(),
                       identity=_identity(session.store.path))
        with self._lock:
            existing = self._loaded.get(tenant_id)
            if existing is None:
                self._loaded[tenant_id] = entry
                self.loads += 1
                evicted = self._evict(keep=tenant_id)
        if existing is not None:  # another request loaded it meanwhile
            session.close()
            return existing
        self._close(evicted)
        return entry

    @contextlib.contextmanager
    def use(self, tenant_id: str) -> Iterator[TenantSession]:
        """A loaded tenant's session, held exclusively for the block (one SQLite connection each)."""
        while True:
            entry = self.acquire(tenant_id)
            with entry.lock:
                if entry.closed:  # evicted between acquire and lock: load it again
                    continue
                # Its tenant.yaml as it is now (answer settings...): parsed again only when it changed.
                entry.session.tenant.__dict__.pop("config", None)
                yield entry.session
                break
        self.refresh_size(tenant_id)

    def refresh_size(self, tenant_id: str) -> None:
        evicted: list[Loaded] = []
        with self._lock:
            entry = self._loaded.get(tenant_id)
            if entry is not None and entry.session.searcher._index is not None:
                entry.bytes = _index_bytes(entry.session.searcher._index) + TENANT_OVERHEAD_BYTES
                evicted = self._evict(keep=tenant_id)
        self._close(evicted)

    def _evict(self, keep: str) -> list[Loaded]:
        """Take least-recently-used tenants out until the rest fit the budget; the caller closes them
        (`_close`) once it has let go of the pool's lock: closing a tenant's last connection to its
        store checkpoints and syncs it (about 20 ms here), and no other request should wait for that."""
        evicted = []
        while self._used_bytes() > self.budget and len(self._loaded) > 1:
            victim = next(iter(self._loaded))
            if victim == keep:
                self._loaded.move_to_end(keep)
                continue
            evicted.append(self._loaded.pop(victim))
            self.evictions += 1
        return evicted

    def _close(self, evicted: list[Loaded]) -> None:
        for entry in evicted:
            # Close once no search is in flight. A request of this very thread holds the lock when
            # its own load triggers eviction: mark it, and let the request finish first.
            if entry.lock.acquire(blocking=False):
                try:
                    entry.closed = True
                    entry.session.close()
                finally:
                    entry.lock.release()
            else:
                entry.closed = True
                threading.Thread(target=self._close_later, args=(entry,), daemon=True).start()

    @staticmethod
    def _close_later(entry: Loaded) -> None:
        with entry.lock:
            entry.session.close()

    def drop(self, tenant_id: str) -> None:
        with self._lock:
            entry = self._loaded.pop(tenant_id, None)
        if entry is not None:
            with entry.lock:
                entry.closed = True
                entry.session.close()

    def close(self) -> None:
        for tenant_id in list(self._loaded):
            self.drop(tenant_id)


def _identity(path: Any) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0)
    return (st.st_dev, st.st_ino)


def _index_bytes(index: Any) -> int:
    if index is None:  # a pooled tenant: its vectors stay in PostgreSQL
        return 0
    return int(index.size * index.faiss_index.d * 4 * 1.1)


class FairScheduler:
    """One worker runs jobs for the shared model, taking tenants in turn: each tenant has its own FIFO
    queue and the worker serves them round-robin, so one tenant's burst waits behind itself, not in
    front of everyone else. Each tenant's line holds at most `per_tenant` jobs; the whole queue at most
    `max_queue` — except that a tenant with nothing waiting is always admitted, so no burst of others
    can refuse a tenant's first question. A job withdrawn before it runs (its client went away) leaves
    the queue at once."""

    def __init__(self, max_queue: int, per_tenant: int | None = None) -> None:
        self.max_queue = max_queue
        self.per_tenant = per_tenant or max_queue
        self._queues: collections.OrderedDict[str, collections.deque] = collections.OrderedDict()
        self._cond = threading.Condition()
        self._pending = 0
        self._stop = False
        self.served: list[str] = []  # tenants in the order their jobs ran (bounded; for tests and metrics)
        self.withdrawn = 0
        self._worker = threading.Thread(target=self._run, name="tenantctl-llm", daemon=True)
        self._worker.start()

    def submit(self, tenant_id: str, job: Callable[[], Any]) -> Future:
        future: Future = Future()
        with self._cond:
            waiting = len(self._queues.get(tenant_id) or ())
            if waiting >= self.per_tenant:
                raise Overloaded(
                    f"tenant {tenant_id!r} already has {waiting} questions waiting for the shared model",
                    "wait for an answer before asking more, or raise `server.max_queue_per_tenant` in config.yaml",
                )
            if waiting and self._pending >= self.max_queue:
                raise Overloaded(
                    f"the shared model's queue is full ({self.max_queue} questions waiting)",
                    "retry in a few seconds, or raise `server.max_queue` in config.yaml",
                )
            self._queues.setdefault(tenant_id, collections.deque()).append((job, future))
            self._pending += 1
            self._cond.notify()
        return future

    def withdraw(self, tenant_id: str, future: Future) -> bool:
        """Take a job that has not started out of the queue; False when it already runs or ran."""
        with self._cond:
            queue = self._queues.get(tenant_id)
            for item in list(queue or ()):
                if item[1] is future:
                    queue.remove(item)
                    self._pending -= 1
                    self.withdrawn += 1
                    if not queue:
                        del self._queues[tenant_id]
                    future.cancel()
                    return True
        return False

    def queued(self) -> dict[str, int]:
        with self._cond:
            return {t: len(q) for t, q in self._queues.items() if q}

    def _next(self) -> tuple[str, Callable[[], Any], Future] | None:
        with self._cond:
            while not self._stop and self._pending == 0:
                self._cond.wait()
            if self._stop:
                return None
            # The first tenant with work runs one job, then goes to the back of the line.
            for tenant_id, queue in list(self._queues.items()):
                if queue:
                    job, future = queue.popleft()
                    self._pending -= 1
                    self._queues.move_to_end(tenant_id)
                    if not queue:
                        del self._queues[tenant_id]
                    return tenant_id, job, future
        return None

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            tenant_id, job, future = item
            if not future.set_running_or_notify_cancel():
                continue
            self.served.append(tenant_id)
            del self.served[:-1000]
            try:
                future.set_result(job())
            except BaseException as exc:  # delivered to the waiting request
                future.set_exception(exc)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()


class RateLimiter:
    """Token buckets per tenant and kind of request, from each tenant's `rate_limit` settings."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, tenant_id: str, kind: str, per_minute: float | None) -> None:
        if per_minute is None:
            return
        now = time.monotonic()
        capacity = max(1.0, per_minute)
        with self._lock:
            tokens, stamp = self._buckets.get((tenant_id, kind), (capacity, now))
            tokens = min(capacity, tokens + (now - stamp) * per_minute / 60.0)
            if tokens < 1.0:
                self._buckets[(tenant_id, kind)] = (tokens, now)
                raise RateLimited(
                    f"tenant {tenant_id!r} exceeded its rate limit of {per_minute:g} {kind} per minute",
                    "slow down and retry, or raise `rate_limit` in its tenant.yaml",
                    retry_after=(1.0 - tokens) * 60.0 / per_minute,
                )
            self._buckets[(tenant_id, kind)] = (tokens - 1.0, now)
