"""Checking a tenant's files (`verify`) and rebuilding what can be derived from the store (`repair`).

The store (store.db) is the source of truth; the FAISS index and the full-text table are derived from
the chunks it holds, so damage to them is repaired from the store alone: no source file is re-read and
the embedding model is not loaded (except for `repair --reembed`, which re-embeds every stored chunk
with the configured embedder). Damage to the store itself cannot be repaired from anything else:
verify says so and names the way out (a backup, or deleting the tenant and ingesting again).

`verify` only reads. It takes no lock, so a writer working at the same moment may make it see an index
one generation behind the store; that is reported as a stale index, which readers already cope with
(they rebuild it in memory) and which the writer's own next step, or `repair`, resolves.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenantctl import textproc
from tenantctl.errors import IndexCorrupt, StorageError, StoreTooNew, TenantctlError
from tenantctl.fileio import sha256_file
from tenantctl.storage.index import Manifest, ManifestInvalid, parse_manifest, rebuild_index
from tenantctl.storage.layout import MANIFEST_FILE, STORE_FILE, STRAY_RE, TENANT_FILE, UPLOADS_DIR
from tenantctl.storage.maintenance import fts_check_fails, fts_faults, refill_fts, replace_vectors
from tenantctl.storage.store import STORE_FORMAT_VERSION, unwritable, unwritable_hint
from tenantctl.storage.tenants import BrokenTenant, TenantFolder, each_tenant

if TYPE_CHECKING:
    from tenantctl.config import Config
    from tenantctl.models.embedding import Embedder
    from tenantctl.storage.store import Store
    from tenantctl.storage.tenants import Tenant

_EMBED_BATCH = 256  # chunks embedded together by `repair --reembed`


@dataclass
class Problem:
    """One finding. `message` is a single line naming the file, the fault and the fix."""

    code: str  # e.g. index-checksum, index-stale, fts-count, store-corrupt (see verify_dir)
    file: str  # the file concerned, relative to the tenant's folder
    message: str
    fix: str  # the command (or action) that fixes it
    repairable: bool  # whether `tenantctl repair` fixes it


@dataclass
class TenantReport:
    tenant: str
    path: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # harmless findings, e.g. leftovers of a crash
    generation: int | None = None  # the store's
    documents: int | None = None
    chunks: int | None = None
    embedder: str | None = None
    dim: int | None = None
    index_file: str | None = None
    index_generation: int | None = None
    index_vectors: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


@dataclass
class RepairReport:
    tenant: str
    actions: list[str]
    before: TenantReport
    after: TenantReport
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.after.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant, "ok": self.ok, "actions": self.actions, "seconds": self.seconds,
            "before": self.before.to_dict(), "after": self.after.to_dict(),
        }


# -- verify -----------------------------------------------------------------------------------------


@dataclass
class _StoreFacts:
    generation: int
    documents: int
    chunk_ids: list[int]
    embedder: str | None
    dim: int | None


class _Checker:
    def __init__(self, tenant_id: str, folder: Path) -> None:
        self.id = tenant_id
        self.folder = folder
        self.report = TenantReport(tenant_id, str(folder))

    def problem(self, code: str, file: str, what: str, *, fix: str | None = None, repairable: bool = True) -> None:
        fix = fix or f"tenantctl repair {self.id}"
        tail = f"run `{fix}`" if fix.startswith("tenantctl ") else fix
        self.report.problems.append(Problem(code, file, f"{file}: {what}; {tail}", fix, repairable))

    def not_repairable(self, code: str, file: str, what: str) -> None:
        # Deleting the tenant (the fix it gave) loses its tenant.yaml (quotas, prompts, tools) and API keys too.
        gone = f"{MANIFEST_FILE} and its index-*.faiss" if code == "store-missing" else \
            f"{STORE_FILE}, {MANIFEST_FILE} and its index-*.faiss"
        self.problem(
            code, file, what, repairable=False,
            fix=f"restore {STORE_FILE} from a backup (`tenantctl tenant export`/`import`), or start its store afresh, "
                f"keeping its settings and keys: move {gone} out of {self.folder} and ingest its documents again",
        )

    # -- the store ----------------------------------------------------------------------------------
    def store(self) -> _StoreFacts | None:
        files = TenantFolder(self.folder)
        if not files.store_path.is_file():
            self.not_repairable("store-missing", STORE_FILE, "missing")
            return None
        try:
            with closing(files.open_store(readonly=True)) as store:
                return self._store_facts(store.conn)
        except StoreTooNew:
            self.problem("store-format", STORE_FILE, f"store format is newer than this tenantctl knows "
                         f"({STORE_FORMAT_VERSION})", fix="upgrade tenantctl", repairable=False)
            return None
        except (sqlite3.DatabaseError, StorageError) as exc:
            if (blocked := unwritable(self.folder)) is not None:  # a read-only folder: deleting the tenant was advised
                self.problem("store-unopenable", STORE_FILE, f"cannot be opened: its folder takes no new file "
                             f"({blocked.strerror or type(blocked).__name__})", repairable=False,
                             fix=unwritable_hint(blocked))
                return None
            reason = exc.__cause__ if isinstance(exc, StorageError) and exc.__cause__ else exc
            self.not_repairable("store-corrupt", STORE_FILE, f"cannot be read by SQLite ({reason})")
            return None

    def _store_facts(self, conn: sqlite3.Connection) -> _StoreFacts | None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            self.not_repairable("store-corrupt", STORE_FILE, "holds no tenantctl tables")
            return None
        if version < STORE_FORMAT_VERSION:
            self.report.notes.append(
                f"{STORE_FILE}: store format {version}; the next write brings it to {STORE_FORMAT_VERSION}"
            )
        conn.execute("BEGIN")  # one snapshot for every count below
        try:
            result = [row[0] for row in conn.execute("PRAGMA quick_check")]
            if result != ["ok"]:
                more = f" (and {len(result) - 1} more)" if len(result) > 1 else ""
                self.not_repairable("store-corrupt", STORE_FILE, f"fails SQLite's integrity check: {result[0]}{more}")
                return None
            meta = dict(conn.execute("SELECT key, value FROM meta"))
            facts = _StoreFacts(
                generation=int(meta.get("generation") or 0),
                documents=conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0],
                chunk_ids=[row[0] for row in conn.execute("SELECT id FROM chunks ORDER BY id")],
                embedder=meta.get("embedder"),
                dim=int(meta["embedder_dim"]) if meta.get("embedder_dim") else None,
            )
            self._check_vectors(conn, facts)
            self._check_fts(conn, facts)
        finally:
            conn.execute("COMMIT")
        r = self.report
        r.generation, r.documents, r.chunks = facts.generation, facts.documents, len(facts.chunk_ids)
        r.embedder, r.dim = facts.embedder, facts.dim
        return facts

    def _check_vectors(self, conn: sqlite3.Connection, facts: _StoreFacts) -> None:
        if not facts.chunk_ids:
            return
        if facts.dim is None:
            self.problem("vectors-dim", STORE_FILE,
                         f"holds {len(facts.chunk_ids)} chunks but records no embedder dimension",
                         fix=f"tenantctl repair {self.id} --reembed")
            return
        wrong = conn.execute("SELECT COUNT(*) FROM chunks WHERE length(vector) != ?", (facts.dim * 4,)).fetchone()[0]
        if wrong:
            self.problem("vectors-dim", STORE_FILE,
                         f"{wrong} of {len(facts.chunk_ids)} chunk vectors are not {facts.dim}-dimensional "
                         f"float32 as recorded for embedder {facts.embedder!r}",
                         fix=f"tenantctl repair {self.id} --reembed")

    def _check_fts(self, conn: sqlite3.Connection, facts: _StoreFacts) -> None:
        for code, what in fts_faults(conn, len(facts.chunk_ids)):
            self.problem(code, STORE_FILE, what)

    # -- the manifest and the index -----------------------------------------------------------------
    def index(self, facts: _StoreFacts | None) -> None:
        manifest_path = self.folder / MANIFEST_FILE
        if not manifest_path.exists():
            if facts is not None and facts.chunk_ids:
                self.problem("manifest-missing", MANIFEST_FILE,
                             f"missing, but {STORE_FILE} holds {len(facts.chunk_ids)} chunks "
                             "(searches rebuild the index in memory meanwhile)")
            return
        try:
            manifest = parse_manifest(manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            self.problem("manifest-unreadable", MANIFEST_FILE, f"cannot be read ({exc})")
            return
        except ManifestInvalid as exc:
            self.problem(exc.code, MANIFEST_FILE, str(exc))
            return
        r = self.report
        r.index_file, r.index_generation, r.index_vectors = manifest.index_file, manifest.generation, manifest.vectors
        if facts is not None:
            self._manifest_against_store(manifest, facts)
        index = self._index_file(manifest)
        current = facts is not None and manifest.generation == facts.generation
        if index is not None and current and facts is not None and manifest.vectors == len(facts.chunk_ids):
            ids = _index_ids(index)
            if ids is not None and ids != facts.chunk_ids:
                self.problem("index-ids", manifest.index_file,
                             f"holds vectors of other chunks than {STORE_FILE} at generation {manifest.generation}")

    def _manifest_against_store(self, m: Manifest, facts: _StoreFacts) -> None:
        chunks = len(facts.chunk_ids)
        if m.generation != facts.generation:
            self.problem("index-stale", MANIFEST_FILE,
                         f"index is stale: built at generation {m.generation} with {m.vectors} vectors, "
                         f"{STORE_FILE} is at generation {facts.generation} with {chunks} chunks "
                         "(searches rebuild it in memory meanwhile)")
        elif m.vectors != chunks:
            self.problem("index-count", MANIFEST_FILE,
                         f"says {m.vectors} vectors, {STORE_FILE} holds {chunks} chunks "
                         f"at the same generation {m.generation}")
        if facts.dim is not None and (m.dim != facts.dim or (facts.embedder and m.embedder != facts.embedder)):
            self.problem("index-embedder", MANIFEST_FILE,
                         f"index built with embedder {m.embedder!r} (dim {m.dim}), {STORE_FILE} records "
                         f"{facts.embedder!r} (dim {facts.dim})")

    def _index_file(self, m: Manifest) -> Any | None:
        """The index file named by the manifest, loaded when its size and checksum match (else None)."""
        name, path = m.index_file, self.folder / m.index_file
        if not path.is_file():
            self.problem("index-missing", name, f"missing (named by {MANIFEST_FILE})")
            return None
        size = path.stat().st_size
        if size != m.bytes:
            self.problem("index-size", name, f"is {size} bytes, {MANIFEST_FILE} says {m.bytes} (the file is damaged)")
            return None
        if sha256_file(path) != m.sha256:
            self.problem("index-checksum", name,
                         f"sha256 differs from the one in {MANIFEST_FILE} (the file is damaged)")
            return None
        # Only a file whose checksum matches is handed to FAISS: a damaged header can make it misbehave.
        try:
            import faiss

            index = faiss.read_index(str(path))
        except (RuntimeError, MemoryError) as exc:
            self.problem("index-unreadable", name, f"cannot be loaded by FAISS ({str(exc).strip().splitlines()[0]})")
            return None
        if index.ntotal != m.vectors or index.d != m.dim:
            self.problem("index-shape", name, f"holds {index.ntotal} vectors of dimension {index.d}, "
                                              f"{MANIFEST_FILE} says {m.vectors} of {m.dim}")
            return None
        return index

    def strays(self) -> None:
        named = self.report.index_file
        for entry in sorted(self.folder.iterdir()):
            if STRAY_RE.fullmatch(entry.name) and entry.name != named:
                self.report.notes.append(f"{entry.name}: left over (by an interrupted write?); "
                                         f"`tenantctl repair {self.id}` removes it")

    def uploads(self) -> None:
        """Uploaded files the store does not hold as they are: a server killed mid-upload left them."""
        from tenantctl.ingestion.uploads import unindexed_in

        folder = self.folder / UPLOADS_DIR
        try:
            left = unindexed_in(folder, lambda: TenantFolder(self.folder).open_store(readonly=True))
        except (sqlite3.DatabaseError, TenantctlError):  # the store's own faults are reported above
            return
        if left:
            names = ", ".join(p.name for p in left[:3]) + (", …" if len(left) > 3 else "")
            self.report.notes.append(
                f"{UPLOADS_DIR}/: {textproc.plural(len(left), 'uploaded file')} not indexed ({names}), left by a "
                f"server killed mid-upload; the tenant's next upload indexes them, or `tenantctl ingest {self.id} "
                f"{folder}`")


def _index_ids(index: Any) -> list[int] | None:
    """The ids of an IndexIDMap(2), sorted; None for another kind of index."""
    import faiss

    id_map = getattr(index, "id_map", None)
    if id_map is None:
        return None
    return sorted(int(i) for i in faiss.vector_to_array(id_map))


def verify_dir(tenant_id: str, folder: Path) -> TenantReport:
    """Check one tenant's folder: store, full-text index, manifest and FAISS index. Never writes."""
    check = _Checker(tenant_id, folder)
    if not (folder / TENANT_FILE).is_file():
        check.problem("tenant-missing", TENANT_FILE, "missing: the tenant's folder is gone or incomplete",
                      fix="restore the folder, or remove the tenant", repairable=False)
        return check.report
    facts = check.store()
    check.index(facts)
    check.strays()
    if facts is not None:
        check.uploads()
    return check.report


def verify_tenant(tenant: Tenant) -> TenantReport:
    try:
        pooled = tenant.pooled
    except TenantctlError as exc:  # its tenant.yaml is not valid: every command of the tenant refuses to run
        return _settings_invalid(tenant.id, tenant.dir, exc)
    if pooled:
        return verify_pooled(tenant)
    return verify_dir(tenant.id, tenant.dir)


def _settings_invalid(tenant_id: str, folder: Path, error: TenantctlError) -> TenantReport:
    """A tenant whose tenant.yaml cannot be read or is not valid: that problem first, then what its folder's
    files show (a local store is checked as always; where the settings say a store lives cannot be read)."""
    report = verify_dir(tenant_id, folder) if (folder / STORE_FILE).is_file() else TenantReport(tenant_id, str(folder))
    hint = error.hint or f"fix {folder / TENANT_FILE}"
    report.problems.insert(0, Problem("tenant-settings", TENANT_FILE, f"{error.message}; {hint}", hint,
                                      repairable=False))
    return report


def verify_pooled(tenant: Tenant) -> TenantReport:
    """A pooled tenant has no files to check: its rows must agree (each document's chunk count with
    its chunks, every vector with the recorded dimension). PostgreSQL keeps them crash-safe."""
    report = TenantReport(tenant.id, "postgres")
    with tenant.open_store() as store:
        counts, facts = store.counts(), store.consistency()
        report.documents, report.chunks, report.generation = counts.documents, facts["chunks"], store.generation()
        report.embedder, dim = store.get_meta("embedder"), store.get_meta("embedder_dim")
    report.dim = int(dim) if dim else None
    if facts["chunks"] != counts.chunks:
        report.problems.append(Problem("store-count", "postgres", f"documents list {counts.chunks} chunks, the "
                                       f"pool holds {facts['chunks']}", "re-ingest the tenant", repairable=False))
    if facts.get("counted") not in (None, facts["chunks"]):
        report.problems.append(Problem(
            "keyword-stats", "postgres", f"the keyword statistics count {facts['counted']} chunks, the pool holds "
            f"{facts['chunks']}", f"move the tenant out and back (`tenantctl tenant move {tenant.id} --to local`)",
            repairable=False))
    if report.dim is not None and facts["dims"] not in ([], [report.dim]):
        report.problems.append(Problem("vector-size", "postgres", f"vectors of dimensions {facts['dims']}, the "
                                       f"embedder gives {report.dim}", "re-ingest the tenant", repairable=False))
    return report


def verify_all() -> list[TenantReport]:
    """Every registered tenant, in id order; a broken one is reported with what is wrong with it."""
    reports = []
    for tenant in each_tenant():
        if isinstance(tenant, BrokenTenant) and tenant.dir is None:
            report = TenantReport(tenant.id, "")
            report.problems.append(Problem("tenant-invalid", "", tenant.error.message,
                                           tenant.error.hint or "", repairable=False))
            reports.append(report)
        elif isinstance(tenant, BrokenTenant):
            reports.append(verify_dir(tenant.id, tenant.dir))
        else:  # one tenant's invalid tenant.yaml is its problem: the others are still verified
            with tenant.as_current():  # a pooled tenant's store runs only in its own tenant's context
                reports.append(verify_tenant(tenant))
    return reports


# -- repair -----------------------------------------------------------------------------------------


def repair_tenant(
    tenant: Tenant,
    cfg: Config | None = None,
    *,
    wait: float = 0,
    reembed: bool = False,
    embedder: Embedder | None = None,
) -> RepairReport:
    """Under the tenant's write lock: optionally re-embed every chunk, rebuild the full-text table if it is
    out of step, rebuild the FAISS index from the stored vectors, remove leftovers, and verify again.

    The store's generation is bumped, so every long-running reader drops an index it may have loaded
    from a damaged file. Raises IndexCorrupt when the store itself is damaged (nothing to rebuild from).
    """
    if tenant.pooled:
        return _repair_pooled(tenant, cfg, wait=wait, reembed=reembed, embedder=embedder)
    started = time.perf_counter()
    actions: list[str] = []
    with tenant.write_lock(wait):
        before = verify_tenant(tenant)
        fatal = [p for p in before.problems if p.code.startswith(("store-", "tenant-"))]
        if fatal:
            what = fatal[0].message.split("; ")[0]
            raise IndexCorrupt(f"{what}; repair rebuilds from the store and cannot fix this", fatal[0].fix)
        leftovers = _strays(tenant.dir)
        with closing(tenant.open_store()) as store:
            if reembed:
                actions.append(_reembed(store, _embedder(cfg, embedder)))
            fts = _repair_fts(store)
            if fts:
                actions.append(fts)
            actions.append(rebuild_index(tenant.dir, store, tenant.id))
        actions.extend(_remove_strays(tenant.dir, leftovers))
        after = verify_tenant(tenant)
    from tenantctl import logs

    logs.event("repair", level="info" if after.ok else "error", reembed=reembed, actions=len(actions),
               problems_before=len(before.problems), problems_after=len(after.problems))
    return RepairReport(tenant.id, actions, before, after, round(time.perf_counter() - started, 3))


def _embedder(cfg: Config | None, embedder: Embedder | None) -> Embedder:
    if embedder is not None:
        return embedder
    if cfg is None:
        raise ValueError("repair --reembed needs the config or an embedder")
    from tenantctl.models.embedding import get_embedder

    return get_embedder(cfg.embedder.for_index(None))  # what a new index gets: converts an older one


def _repair_pooled(tenant: Tenant, cfg: Config | None, *, wait: float, reembed: bool,
                   embedder: Embedder | None) -> RepairReport:
    """A tenant in PostgreSQL has no derived files to rebuild: repair checks it and, with `reembed`,
    re-embeds every chunk from its stored text (all vectors swapped in one transaction)."""
    from tenantctl.storage.pg.maintenance import chunk_texts, replace_vectors

    started = time.perf_counter()
    actions: list[str] = []
    with tenant.write_lock(wait):
        before = verify_tenant(tenant)
        if reembed:
            model = _embedder(cfg, embedder)
            with tenant.open_store() as store:
                rows = chunk_texts(store)
                vectors: dict[int, Any] = {}
                for at in range(0, len(rows), _EMBED_BATCH):
                    batch = rows[at:at + _EMBED_BATCH]
                    encoded = model.encode([textproc.embed_input(heading, text) for _, heading, text in batch])
                    vectors.update({cid: encoded[i] for i, (cid, _, _) in enumerate(batch)})
                with store.transaction():
                    count = replace_vectors(store, vectors, int(model.dim))
                    store.set_meta("embedder", model.name)
                    store.set_meta("embedder_dim", str(int(model.dim)))
            actions.append(f"re-embedded {textproc.plural(count, 'chunk')} with {model.name} (dim {int(model.dim)})")
        after = verify_tenant(tenant)
    return RepairReport(tenant.id, actions, before, after, round(time.perf_counter() - started, 3))


def _reembed(store: Store, embedder: Embedder) -> str:
    """Re-embed every chunk from its stored heading and text; all vectors and the recorded embedder are
    swapped in at once (storage.maintenance.replace_vectors)."""
    dim = int(embedder.dim)

    def encode(rows: list[tuple[int, str, str]]) -> list[bytes]:
        vectors = embedder.encode([textproc.embed_input(heading, text) for _, heading, text in rows])
        return [vector.tobytes() for vector in vectors]

    count = replace_vectors(store, encode, batch=_EMBED_BATCH,
                            meta={"embedder": embedder.name, "embedder_dim": str(dim)})
    return f"re-embedded {textproc.plural(count, 'chunk')} with {embedder.name} (dim {dim})"


def _repair_fts(store: Store) -> str | None:
    """Refill the full-text table from the chunks when it is out of step or fails FTS5's own check."""
    faults = [what for _, what in fts_faults(store.conn, store.chunk_count())]
    failed = None if faults else fts_check_fails(store)
    if failed:
        faults.append(failed)
    if not faults:
        return None
    count = refill_fts(store)
    return f"rebuilt the full-text index from {textproc.plural(count, 'chunk')} ({faults[0]})"


def _strays(folder: Path) -> list[str]:
    """Temporary files of interrupted writes, and index files the manifest does not name."""
    from tenantctl.storage.index import read_manifest

    named = (read_manifest(folder) or {}).get("index_file")
    return [e.name for e in sorted(folder.iterdir()) if STRAY_RE.fullmatch(e.name) and e.name != named]


def _remove_strays(folder: Path, before: list[str]) -> list[str]:
    """Remove the leftovers (call under the lock); report those found before the rebuild (which may
    itself have removed some)."""
    now = _strays(folder)
    for name in now:
        (folder / name).unlink(missing_ok=True)
    return [f"removed leftover {name}" for name in dict.fromkeys([*before, *now])]
