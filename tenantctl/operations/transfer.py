"""Moving a tenant between homes or machines: `tenant export` writes one .tar.gz, `tenant import` reads it.

An export holds, flat at the top of the archive, and nothing else:

    export.json         format version, the tenant's registry row, the tenantctl version, the time,
                        and the sha256 and size of every other member
    tenant.yaml         the tenant's settings
    store.db            a consistent copy of the store, taken with SQLite's online backup API (a tenant
                        in PostgreSQL: its rows written into such a store; import puts them back there)
    manifest.json       the index manifest, when the tenant has an index ...
    index-<gen>.faiss   ... and the index file it names

Export holds the tenant's write lock, so no ingest, reindex or repair runs meanwhile, and writes the
archive under a temporary name beside the target before renaming it into place. Import trusts nothing:
it checks every member's name and type before extracting anything (and extracts with tarfile's "data"
filter as a second line of defence), verifies every checksum in a staging folder under tenants/, and
only then renames the folder into place and adds the registry row.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tenantctl import __version__, paths
from tenantctl.errors import BadInput, InvalidTenantId, StoreTooNew, TenantctlError, TenantExists
from tenantctl.fileio import fsync_dir, iso_utc, sha256_file, write_atomic
from tenantctl.storage import registry
from tenantctl.storage.index import load_manifest, read_manifest
from tenantctl.storage.layout import INDEX_GLOB, INDEX_NAME_RE, MANIFEST_FILE, STORE_FILE, TENANT_FILE
from tenantctl.storage.store import check_format, merge_full_text
from tenantctl.storage.tenants import Tenant, TenantFolder, drop_orphan_keys, open_tenant

EXPORT_FORMAT = "tenantctl-tenant-export"
EXPORT_FORMAT_VERSION = 1
EXPORT_META = "export.json"
STATUSES = ("active", "suspended")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_MAX_MEMBERS = 16  # an export has at most 5; stop reading a hostile archive early
_MAX_META_BYTES = 1 << 20
_IMPORT_HINT = "import only archives written by `tenantctl tenant export`"
_EXPECTED = f"{EXPORT_META}, {TENANT_FILE}, {STORE_FILE}, {MANIFEST_FILE} and one index-<generation>.faiss"


@dataclass
class ExportResult:
    tenant: str
    file: str
    bytes: int
    documents: int
    chunks: int
    exported_at: str
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImportResult:
    tenant: str
    source_tenant: str
    file: str
    path: str
    status: str
    display_name: str | None
    created_at: str
    exported_at: str | None
    documents: int
    chunks: int
    members: list[str] = field(default_factory=list)
    seconds: float = 0.0
    dropped_sources: list[str] = field(default_factory=list)  # re-add them with `source add`
    store: str = "local"  # where it lives now: local, or the PostgreSQL store it was exported from
    usage_left_behind: int = 0  # usage events of the source tenant not copied: imported under a new id
    unknown_model: str | None = None  # its answer.model when this home's config.yaml has no such entry
    missing_tool_files: list[str] = field(default_factory=list)  # sql tools' files, never in an export

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- export -------------------------------------------------------------------------------------------


def _an_export(path: Path) -> bool:
    """Whether `path` is a tenantctl export (a .tar.gz whose first member is export.json): the only file
    besides an empty one that an export replaces."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            first = tar.next()
    except (tarfile.TarError, OSError, EOFError):
        return False
    return first is not None and first.name == EXPORT_META


def export_tenant(tenant_id: str, dest: Path, wait: float = 0) -> ExportResult:
    """Write tenant `tenant_id` to the .tar.gz `dest` (replacing, atomically, an earlier export there)."""
    started = time.perf_counter()
    tenant = open_tenant(tenant_id)
    dest = Path(dest).expanduser().absolute()
    if dest.is_dir():
        raise BadInput(f"{dest} is a folder", "pass the name of the .tar.gz file to write")
    if not dest.parent.is_dir():
        raise BadInput(f"folder {dest.parent} does not exist", "create it first, or export somewhere else")
    if dest.resolve().is_relative_to(paths.tenants_dir().resolve()):  # e.g. into another tenant's uploads/
        raise BadInput(f"{dest} is inside the tenants' folders", "export to a folder outside the tenantctl home")
    target = dest.resolve()
    own = target.parent == paths.home().resolve() and (target.exists() or target.name.startswith(
        (paths.registry_file().name, paths.config_file().name)))
    if own or target.is_relative_to(paths.log_dir().resolve()):
        # the home's own files: `tenant export acme <home>/registry.db` replaced the registry with the archive
        raise BadInput(f"{dest} is one of the tenantctl home's own files",
                       "export to a folder outside the tenantctl home")
    if target.is_file() and target.stat().st_size and not _an_export(target):
        # `tenant export acme ~/docs/acme/handbook.pdf` (a slip of the shell) replaced the handbook
        raise BadInput(f"{dest} exists and is not a tenantctl export: not replaced",
                       "export to another name, or remove that file first")
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    except OSError as exc:
        raise TenantctlError(f"cannot write in {dest.parent}: {exc.strerror}", "export somewhere else") from exc
    try:
        with tenant.write_lock(wait):
            files = _snapshot(tenant, work)
            documents, chunks, store_version, generation = _store_facts(TenantFolder(work))
            record = registry.get(tenant.id) or tenant.record  # the row as of now, under the lock
        members = {name: {"sha256": sha256_file(path), "bytes": path.stat().st_size} for name, path in files}
        exported_at = iso_utc()
        meta = {
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "tenant": {
                "id": record.id,
                "status": record.status,
                "display_name": record.display_name,
                "created_at": record.created_at,
            },
            "tenantctl_version": __version__,
            "exported_at": exported_at,
            "store_format_version": store_version,
            "store_generation": generation,
            "members": members,
        }
        archive = work / "archive.tar.gz"
        _write_archive(archive, json.dumps(meta, indent=2, ensure_ascii=False).encode(), files)
        size = archive.stat().st_size
        os.replace(archive, dest)
        fsync_dir(dest.parent)
    except OSError as exc:
        raise TenantctlError(
            f"cannot export tenant {tenant.id!r} to {dest}: {exc.strerror or exc}",
            "check the free space and permissions of the target folder",
        ) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportResult(
        tenant=tenant.id, file=str(dest), bytes=size, documents=documents, chunks=chunks,
        exported_at=exported_at, members=members, seconds=round(time.perf_counter() - started, 3),
    )


def _snapshot_pooled(tenant: Tenant, work: Path) -> list[tuple[str, Path]]:
    """A tenant in PostgreSQL, written as a local tenant's store would hold it (documents, chunks with
    their vectors, usage, chat sessions; no index files: the importing side builds the index), with its
    tenant.yaml naming its placement."""
    from tenantctl.storage import sessions
    from tenantctl.storage.pg.transfer import copy_documents
    from tenantctl.storage.store import Store

    copy = TenantFolder(work)
    shutil.copyfile(tenant.config_path, copy.config_path)
    with tenant.open_store() as src, Store(copy.store_path) as dst:
        with src.snapshot():  # one consistent state of the tenant's rows
            copy_documents(src, dst)
            usage = [tuple(row) for row in src.usage_rows()]
            if usage:
                dst.record_usage(usage)
            sessions.copy_all(src, dst)
    return [(TENANT_FILE, copy.config_path), (STORE_FILE, copy.store_path)]


def _snapshot(tenant: Tenant, work: Path) -> list[tuple[str, Path]]:
    """Copy what goes into the archive to `work`: the settings and index files as they are, the store
    through SQLite's backup API (the raw file may lack what still sits in its write-ahead log)."""
    if tenant.pooled:
        return _snapshot_pooled(tenant, work)
    folder, copy = tenant.dir, TenantFolder(work)
    if not tenant.store_path.is_file():
        raise TenantctlError(
            f"tenant folder {folder} has no {STORE_FILE}",
            "check the tenant with `tenantctl doctor`; nothing was exported",
        )
    files: list[tuple[str, Path]] = []
    shutil.copyfile(tenant.config_path, copy.config_path)
    files.append((TENANT_FILE, copy.config_path))
    try:
        with tenant.open_store(readonly=True) as src:
            dst = sqlite3.connect(copy.store_path)  # the backup's target: a new file, filled page by page
            try:
                src.conn.backup(dst)
                _forget_removed(dst)
            finally:
                dst.close()
    except sqlite3.Error as exc:
        raise TenantctlError(
            f"cannot read the store of tenant folder {folder}: {exc}",
            "check it with `tenantctl verify`, or restore it from an earlier export",
        ) from exc
    files.append((STORE_FILE, copy.store_path))

    # The index is derived data: include it only when the manifest and the file it names agree,
    # otherwise leave both out and let the importing side rebuild it from the store.
    manifest = load_manifest(folder)
    if manifest is not None and (folder / manifest.index_file).is_file():
        name = manifest.index_file
        shutil.copyfile(tenant.manifest_path, copy.manifest_path)
        shutil.copyfile(folder / name, work / name)
        files += [(MANIFEST_FILE, copy.manifest_path), (name, work / name)]
    return files


def _forget_removed(copy: sqlite3.Connection) -> None:
    """The copy's full-text index merged into one segment, the pages it frees zeroed and dropped: words
    of documents removed before (or replaced) that FTS5 still kept leave nothing in the archive."""
    try:
        with copy:
            merge_full_text(copy)
    except sqlite3.OperationalError:  # a store never migrated (no tables yet)
        return
    copy.execute("VACUUM")


def _store_facts(folder: TenantFolder) -> tuple[int, int, int, int]:
    """Documents, chunks, format version and generation of the copied store."""
    with folder.open_store(readonly=True) as store:
        version = store.format_version()
        try:
            counts = store.counts()
            return counts.documents, counts.chunks, version, store.generation()
        except sqlite3.OperationalError:  # a store never migrated (no tables yet)
            return 0, 0, version, 0


def _write_archive(target: Path, meta: bytes, files: list[tuple[str, Path]]) -> None:
    now = int(time.time())

    def info(name: str, size: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime, ti.mode, ti.type = size, now, 0o644, tarfile.REGTYPE
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        return ti

    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # tenant data: owner only
    with os.fdopen(fd, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(info(EXPORT_META, len(meta)), io.BytesIO(meta))
            for name, path in files:
                with path.open("rb") as fh:
                    tar.addfile(info(name, path.stat().st_size), fh)
        raw.flush()
        os.fsync(raw.fileno())


# -- import -------------------------------------------------------------------------------------------


def import_tenant(archive: Path, as_id: str | None = None) -> ImportResult:
    """Create a tenant from an archive written by `export_tenant`, under its own id or `as_id`.

    Refuses (BadInput, nothing written) an archive that is not a .tar.gz, holds anything but the
    expected regular files, or whose export.json is missing, invalid or disagrees with the contents;
    refuses an id that is invalid or already taken (InvalidTenantId, TenantExists).
    """
    started = time.perf_counter()
    if as_id is not None:
        paths.validate_tenant_id(as_id)
    archive = Path(archive).expanduser()
    if not archive.is_file():
        raise BadInput(f"{archive} does not exist or is not a file", "pass the .tar.gz written by `tenant export`")

    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise _unreadable(archive, exc) from exc
    with tar:
        members = _checked_members(tar, archive)
        meta = _read_meta(tar, members, archive)
        source = meta["tenant"]
        source["display_name"] = printable(source["display_name"])
        tenant_id = as_id if as_id is not None else source["id"]
        try:
            paths.validate_tenant_id(tenant_id)
        except InvalidTenantId as exc:
            raise InvalidTenantId(f"{archive} holds the invalid tenant id {tenant_id!r}",
                                  "import it under a valid id with --as ID") from exc
        folder = paths.tenant_dir(tenant_id)
        _refuse_existing(tenant_id, folder)
        staged = _stage_and_place(tar, members, meta, archive, tenant_id, folder)
    documents, chunks, dropped, placement, left = staged
    _register(tenant_id, folder, source)
    store = _place(tenant_id, placement)
    if store == "local":
        open_tenant(tenant_id).open_store().close()  # its uploads' paths name this folder (Store.relocate)
    return ImportResult(
        tenant=tenant_id, source_tenant=source["id"], file=str(archive), path=str(folder),
        status=source["status"], display_name=source["display_name"], created_at=source["created_at"],
        exported_at=meta.get("exported_at"), documents=documents, chunks=chunks,
        members=sorted(m for m in members if m != EXPORT_META), seconds=round(time.perf_counter() - started, 3),
        dropped_sources=dropped, store=store, usage_left_behind=left, unknown_model=_unknown_model(tenant_id),
        missing_tool_files=_missing_tool_files(tenant_id),
    )


def _missing_tool_files(tenant_id: str) -> list[str]:
    """The data files its sql tools name that are not in its folder (an export carries none): each of those
    tools fails until the operator copies its file in."""
    try:
        tenant = open_tenant(tenant_id)
        return [str(t.file) for t in tenant.config.tools
                if t.kind == "sql" and t.file and not (tenant.dir / t.file).is_file()]
    except TenantctlError:
        return []


def _unknown_model(tenant_id: str) -> str | None:
    """The imported tenant's `answer.model` (a pilot model of the home it came from) when this home's
    config.yaml has no entry of that name: every question of it would fail until one is added."""
    from tenantctl.config import load_config

    try:
        model = open_tenant(tenant_id).config.answer.model
        return model if model is not None and model not in load_config().models else None
    except TenantctlError:  # a config.yaml or tenant.yaml that does not load says so at the next command
        return None


def _place(tenant_id: str, placement: str) -> str:
    """An archive of a tenant that lived in PostgreSQL is imported into the same kind of store when this
    home is in cluster mode (moved there from its staged folder, checked like any move); else it stays
    local. Returns where it is."""
    from tenantctl.storage import cluster

    if placement == "local" or cluster.postgres() is None:
        return "local"
    from tenantctl.operations.move import move_tenant

    move_tenant(tenant_id, placement)
    return placement


def printable(text: str | None) -> str | None:
    """`text` without control characters (terminal escape sequences), as a display name must be."""
    if text is None:
        return None
    return "".join(ch for ch in text if ch.isprintable()) or None


def _stage_and_place(
    tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], meta: dict[str, Any], archive: Path,
    tenant_id: str, folder: Path,
) -> tuple[int, int, list[str], str, int]:
    """Extract into a staging folder under tenants/, verify everything there, then rename it into place
    (the folder appears whole or not at all). Returns the store's documents and chunks, the sources
    dropped, the placement and the usage events left with the source tenant."""
    from tenantctl.storage.tenants import clean_leftovers

    tenants_dir = paths.private_dir(paths.tenants_dir())
    clean_leftovers()
    needed = sum(m.size for m in members.values())
    free = shutil.disk_usage(tenants_dir).free
    if needed > free:
        raise TenantctlError(f"importing needs {needed} bytes, {tenants_dir} has {free} free", "free some disk space")
    # Named like create_tenant's staging folders; names starting with '.' are never tenants.
    staging = tenants_dir / f".importing-{tenant_id}-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        try:
            tar.extractall(staging, members=list(members.values()), filter="data")
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise _unreadable(archive, exc) from exc
        except OSError as exc:
            raise TenantctlError(
                f"cannot import into {tenants_dir}: {exc.strerror or exc}",
                "check the free space and permissions of the home",
            ) from exc
        os.unlink(staging / EXPORT_META)
        _verify_staged(staging, meta, archive)
        staged = TenantFolder(staging)
        _check_schema(staged, archive)
        documents, chunks = _check_store(staged, archive)
        left = _leave_usage_behind(staged, tenant_id, meta["tenant"]["id"])
        _set_tenant_yaml_id(staged.config_path, tenant_id, archive)
        dropped = _drop_sources(staged.config_path)
        placement = _stage_locally(staged.config_path)
        _make_private(staging)
        _refuse_existing(tenant_id, folder)
        try:
            os.rename(staging, folder)
        except OSError as exc:
            raise TenantExists(f"tenant {tenant_id!r} already exists", "pick another id with --as ID") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return documents, chunks, dropped, placement, left


def _leave_usage_behind(folder: TenantFolder, tenant_id: str, source_id: str) -> int:
    """A copy under a new id is a new tenant: the usage history stays the source tenant's (else the
    all-tenant `usage` report counts it twice). Returns the events not copied."""
    if tenant_id == source_id:
        return 0
    conn = sqlite3.connect(folder.store_path)
    try:
        with conn:
            return conn.execute("DELETE FROM usage").rowcount
    except sqlite3.OperationalError:  # a store from before metering has no usage table
        return 0
    finally:
        conn.close()


def _stage_locally(path: Path) -> str:
    """The staged tenant is a local one (its store.db is here); returns the placement its tenant.yaml
    named, which `_place` restores."""
    import yaml

    from tenantctl.config import STORE_KINDS, dump_yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    placement = data.get("store", "local")
    if placement != "local":
        data["store"] = "local"
        dump_yaml(data, path)
    return placement if placement in STORE_KINDS else "local"


def _check_schema(folder: TenantFolder, archive: Path) -> None:
    """Refuse a store holding anything tenantctl did not create: a trigger could delete usage rows (a
    quota bypass) or burn CPU on every search, a view could stand in for a table."""
    from tenantctl.storage.store import foreign_schema

    try:
        conn = sqlite3.connect(f"file:{folder.store_path}?mode=ro", uri=True)
        try:
            foreign = foreign_schema(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BadInput(f"{archive}: its {STORE_FILE} is not a usable SQLite store ({exc})", _IMPORT_HINT) from exc
    if foreign:
        raise _unsafe(archive, f"its {STORE_FILE} holds schema objects tenantctl does not create: "
                               f"{', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}")


def _drop_sources(path: Path) -> list[str]:
    """An imported tenant starts without sources: they name folders of the machine it came from (or,
    written by anyone, another tenant's folder or /etc). The operator adds them again with `source add`,
    which checks them against this home and `ingest.source_roots`."""
    import yaml

    from tenantctl.config import dump_yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    sources = data.get("sources") or []
    if not sources:
        return []
    data["sources"] = []
    dump_yaml(data, path)
    return [str(s.get("path")) if isinstance(s, dict) else str(s) for s in sources]


def _make_private(folder: Path) -> None:
    """Owner-only modes for an imported tenant's folder and files, whatever the archive or umask said."""
    os.chmod(folder, 0o700)
    for item in folder.iterdir():
        os.chmod(item, 0o600 if item.is_file() else 0o700)


def _register(tenant_id: str, folder: Path, source: dict[str, Any]) -> None:
    """Add the registry row; on failure take the folder back out, so no half-imported tenant is left."""
    try:
        registry.add(tenant_id, source["display_name"], source["created_at"], status=source["status"])
    except BaseException as exc:
        trash = paths.tenants_dir() / f".deleting-{tenant_id}-{os.getpid()}-{int(time.time())}"
        os.rename(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)
        if isinstance(exc, sqlite3.IntegrityError):
            raise TenantExists(f"tenant {tenant_id!r} already exists", "pick another id with --as ID") from exc
        raise
    drop_orphan_keys(tenant_id)  # an imported tenant starts without keys


def _unreadable(archive: Path, exc: BaseException) -> BadInput:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return BadInput(f"{archive} is not a tenantctl export: not a readable .tar.gz ({reason})", _IMPORT_HINT)


def _unsafe(archive: Path, what: str) -> BadInput:
    return BadInput(f"refusing {archive}: {what}", _IMPORT_HINT)


def _checked_members(tar: tarfile.TarFile, archive: Path) -> dict[str, tarfile.TarInfo]:
    """Every member, checked before anything is extracted: a plain relative name from the expected set,
    a regular file, present once."""
    members: dict[str, tarfile.TarInfo] = {}
    try:
        for count, member in enumerate(tar, start=1):
            if count > _MAX_MEMBERS:
                raise _unsafe(archive, f"it holds more than {_MAX_MEMBERS} members (an export has {_EXPECTED})")
            name = member.name
            parts = re.split(r"[/\\]", name)
            if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
                raise _unsafe(archive, f"member {name!r} has an absolute path")
            if ".." in parts:
                raise _unsafe(archive, f"member {name!r} has a '..' component")
            if member.issym():
                raise _unsafe(archive, f"member {name!r} is a symbolic link")
            if member.islnk():
                raise _unsafe(archive, f"member {name!r} is a hard link")
            if member.ischr() or member.isblk() or member.isfifo():
                raise _unsafe(archive, f"member {name!r} is a device or pipe")
            if member.isdir():
                raise _unsafe(archive, f"member {name!r} is a folder (an export holds {_EXPECTED})")
            if not member.isreg():
                raise _unsafe(archive, f"member {name!r} is not a regular file")
            if name not in (EXPORT_META, TENANT_FILE, STORE_FILE, MANIFEST_FILE) and not INDEX_NAME_RE.fullmatch(name):
                raise _unsafe(archive, f"unexpected member {name!r} (an export holds {_EXPECTED})")
            if name in members:
                raise _unsafe(archive, f"member {name!r} appears twice")
            members[name] = member
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise _unreadable(archive, exc) from exc
    if not members:
        raise BadInput(f"{archive} is not a tenantctl export: the archive is empty", _IMPORT_HINT)
    return members


def _read_meta(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], archive: Path) -> dict[str, Any]:
    """export.json, validated against the archive's members."""

    def bad(what: str) -> BadInput:
        return BadInput(f"{archive} is not a valid tenantctl export: {what}", _IMPORT_HINT)

    meta = _load_meta(tar, members, archive, bad)
    _check_meta_tenant(meta, bad)
    store_version = meta.get("store_format_version")
    if isinstance(store_version, int):
        _check_store_format(store_version, archive)
    _check_meta_members(meta, members, bad)
    return meta


def _load_meta(
    tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], archive: Path, bad: Callable[[str], BadInput]
) -> dict[str, Any]:
    """export.json parsed, describing a tenant export of a format this tenantctl reads."""
    info = members.get(EXPORT_META)
    if info is None:
        raise bad(f"it has no {EXPORT_META}")
    if info.size > _MAX_META_BYTES:
        raise bad(f"{EXPORT_META} is too large")
    try:
        fh = tar.extractfile(info)
        meta = json.loads(fh.read().decode("utf-8")) if fh else None
    except (tarfile.TarError, OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise bad(f"{EXPORT_META} cannot be read ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise bad(f"{EXPORT_META} does not describe a tenant export")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad(f"{EXPORT_META} has no format_version")
    if version > EXPORT_FORMAT_VERSION:
        raise BadInput(
            f"{archive} has export format {version}, newer than this tenantctl reads ({EXPORT_FORMAT_VERSION})",
            "upgrade tenantctl",
        )
    if version < 1:
        raise bad(f"{EXPORT_META} has an invalid format_version {version!r}")
    return meta


def _check_meta_tenant(meta: dict[str, Any], bad: Callable[[str], BadInput]) -> None:
    """The registry row in export.json: id, status, creation time, display name."""
    tenant = meta.get("tenant")
    if not isinstance(tenant, dict):
        raise bad(f"{EXPORT_META} has no tenant")
    if not isinstance(tenant.get("id"), str):
        raise bad(f"{EXPORT_META} has no tenant id")
    if tenant.get("status") not in STATUSES:
        raise bad(f"{EXPORT_META} has an invalid tenant status {tenant.get('status')!r}")
    if not isinstance(tenant.get("created_at"), str):
        raise bad(f"{EXPORT_META} has no tenant created_at")
    if tenant.get("display_name") is not None and not isinstance(tenant["display_name"], str):
        raise bad(f"{EXPORT_META} has an invalid display name")
    tenant.setdefault("display_name", None)


def _check_meta_members(
    meta: dict[str, Any], members: dict[str, tarfile.TarInfo], bad: Callable[[str], BadInput]
) -> None:
    """export.json lists exactly the archive's members, each with a checksum and its size."""
    listed = meta.get("members")
    if not isinstance(listed, dict):
        raise bad(f"{EXPORT_META} lists no members")
    for name, entry in listed.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                and _SHA256_RE.fullmatch(entry["sha256"]) and isinstance(entry.get("bytes"), int)):
            raise bad(f"{EXPORT_META} has no valid checksum for {name!r}")
    present = set(members) - {EXPORT_META}
    if set(listed) != present:
        missing, extra = sorted(set(listed) - present), sorted(present - set(listed))
        what = "; ".join(filter(None, [
            f"missing {', '.join(missing)}" if missing else "",
            f"not listed in {EXPORT_META}: {', '.join(extra)}" if extra else "",
        ]))
        raise bad(f"the members do not match {EXPORT_META} ({what})")
    for required in (TENANT_FILE, STORE_FILE):
        if required not in present:
            raise bad(f"it has no {required}")
    indexes = [n for n in present if INDEX_NAME_RE.fullmatch(n)]
    if len(indexes) > 1 or bool(indexes) != (MANIFEST_FILE in present):
        raise bad(f"it must hold {MANIFEST_FILE} and one index file together, or neither")
    for name, entry in listed.items():
        if members[name].size != entry["bytes"]:
            raise bad(f"checksum mismatch: {name} has {members[name].size} bytes, {EXPORT_META} says "
                      f"{entry['bytes']}")


def _verify_staged(staging: Path, meta: dict[str, Any], archive: Path) -> None:
    for name, entry in meta["members"].items():
        path = staging / name
        if path.is_symlink() or not path.is_file():
            raise _unsafe(archive, f"member {name!r} did not extract as a regular file")
        if sha256_file(path) != entry["sha256"]:
            raise BadInput(
                f"{archive} failed verification: checksum mismatch for {name} (the archive was modified or "
                "damaged)",
                "export the tenant again from its source",
            )
    if (staging / MANIFEST_FILE).exists():
        manifest = read_manifest(staging)  # as written: an index of another format is rebuilt on first use
        index_files = [p.name for p in staging.glob(INDEX_GLOB)]
        if manifest is None or [manifest.get("index_file")] != index_files:
            raise BadInput(f"{archive} is not a valid tenantctl export: {MANIFEST_FILE} does not name its index file",
                           _IMPORT_HINT)


def _check_store_format(version: int, archive: Path) -> None:
    try:
        check_format(version, f"{archive}'s {STORE_FILE}")
    except StoreTooNew as exc:
        raise BadInput(exc.message, exc.hint) from None


def _check_store(folder: TenantFolder, archive: Path) -> tuple[int, int]:
    """The staged store opens, passes SQLite's check and is not newer than this tenantctl."""
    try:
        with folder.open_store(readonly=True) as store:
            result = store.conn.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise BadInput(f"{archive}: its {STORE_FILE} is damaged ({result})", "export the tenant again")
            if store.format_version() == 0:
                return 0, 0
            counts = store.counts()
            return counts.documents, counts.chunks
    except StoreTooNew as exc:
        _check_store_format(exc.version, archive)
        raise
    except sqlite3.Error as exc:
        raise BadInput(f"{archive}: its {STORE_FILE} is not a usable SQLite store ({exc})", _IMPORT_HINT) from exc


def _set_tenant_yaml_id(path: Path, tenant_id: str, archive: Path) -> None:
    """Make tenant.yaml's `id:` the imported id, keeping the rest of the file (comments included)."""
    from tenantctl.config import dump_yaml, load_tenant_config
    from tenantctl.errors import ConfigError

    try:
        current = load_tenant_config(path)
    except ConfigError as exc:
        raise BadInput(f"{archive}: its {TENANT_FILE} is invalid ({exc.message})", _IMPORT_HINT) from exc
    if current.id == tenant_id:
        return
    import yaml

    text = path.read_text(encoding="utf-8")
    line = yaml.safe_dump({"id": tenant_id}).strip()  # quoted when YAML would read it as a number
    rewritten, count = re.subn(r"(?m)^id:[^\n]*$", lambda _: line, text)
    if count == 1:
        write_atomic(path, rewritten, durable=False)
        try:
            if load_tenant_config(path).id == tenant_id:
                return
        except ConfigError:
            pass
        path.write_text(text, encoding="utf-8")
    data = yaml.safe_load(text)
    data["id"] = tenant_id
    dump_yaml(data, path)
    if load_tenant_config(path).id != tenant_id:  # pragma: no cover - dump_yaml writes what it is given
        raise BadInput(f"cannot set the id in {TENANT_FILE} of {archive}", _IMPORT_HINT)


def _refuse_existing(tenant_id: str, folder: Path) -> None:
    if registry.get(tenant_id) is not None or folder.exists():
        raise TenantExists(
            f"tenant {tenant_id!r} already exists",
            f"import under another id with --as ID, or delete it first with `tenantctl tenant delete {tenant_id}`",
        )
