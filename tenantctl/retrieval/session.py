"""One open tenant for a run of requests: its handle, one connection to its store, and a searcher over
that connection.

What a request does to a tenant beyond retrieval goes through the session: a search is checked and
metered here (`search`), a question is admitted here (`admit_question`: status and quota) and metered
by its caller, and chat sessions and usage live in `store`. The `Searcher` it owns only retrieves.
"""

from __future__ import annotations

from tenantctl.config import Config, SearchMode
from tenantctl.models.embedding import Embedder, MakeEmbedder
from tenantctl.retrieval.search import Hit, Searcher, check_query
from tenantctl.storage.tenants import Tenant


class TenantSession:
    def __init__(self, tenant: Tenant, cfg: Config, embedder: Embedder | None = None,
                 make_embedder: MakeEmbedder | None = None) -> None:
        self.tenant = tenant
        self.cfg = cfg
        self.store = tenant.open_store()
        self.searcher = Searcher(tenant, self.store, cfg, embedder, make_embedder)

    def close(self) -> None:
        self.store.close()

    def fork(self) -> TenantSession:
        """A session of the same tenant with its own store connection, sharing this one's loaded index
        and embedder (both are only read), for work that must not hold this session for long."""
        twin = TenantSession.__new__(TenantSession)
        twin.tenant, twin.cfg = self.tenant, self.cfg
        twin.store = self.tenant.open_store()
        twin.searcher = self.searcher.over(twin.store)
        return twin

    def search(self, query: str, k: int | None = None, mode: SearchMode | None = None,
               candidates: int | None = None) -> list[Hit]:
        """The k best chunks for `query`, checked and recorded as one `search` usage event."""
        from tenantctl.storage.metering import track

        check_query(query, self.cfg)
        with track(self.store, "search"):
            return self.searcher.search(query, k, mode, candidates)

    def admit_question(self) -> int | None:
        """Refuse a question of a suspended tenant or one over its daily question quota (typed errors);
        returns the usage row claimed for it under `questions_per_day` (see `check_question_quota`)."""
        from tenantctl.storage.metering import check_question_quota

        self.tenant.require_active("questions")
        return check_question_quota(self.tenant, self.store)
