"""Settings: the global config.yaml and each tenant's tenant.yaml, validated with pydantic.

Every setting has a default, so an empty or missing config.yaml is valid. Unknown keys are refused:
a typo should fail loudly rather than be silently ignored.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from tenantctl import paths
from tenantctl.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbedderConfig(_Strict):
    name: str = "all-MiniLM-L6-v2"
    # A folder sentence-transformers can load; None means the packaged all-MiniLM-L6-v2.
    path: str | None = None
    batch_size: int = Field(64, ge=1)
    # onnx: exported once to ONNX (cached per user: `tenantctl paths`), run by ONNX Runtime;
    # torch: sentence-transformers.
    runtime: Literal["onnx", "torch"] = "onnx"
    # int8: dynamically quantised ONNX weights (onnx runtime only); its vectors differ slightly from fp32.
    # None (the default): a new or empty index gets int8 (fp32 on the torch runtime), an index that
    # holds vectors keeps the precision it records. Set, it applies to every index: one built with the
    # other precision is refused until `repair --reembed`.
    precision: Literal["fp32", "int8"] | None = None

    @property
    def quantisable(self) -> bool:
        """Whether precision means anything for this model (ONNX runtime, not the model-free hashing one)."""
        return self.runtime == "onnx" and not HASHING_EMBEDDER.fullmatch(self.name)

    def for_index(self, recorded: str | None) -> EmbedderConfig:
        """The one rule for which embedder reads and writes an index: these settings with a definite
        precision for an index that records embedder `recorded` (None: a new or empty index)."""
        if self.precision is not None:
            return self
        if not self.quantisable or recorded == self.name:  # fp32: also every index built before int8
            return self.model_copy(update={"precision": "fp32"})
        return self.model_copy(update={"precision": "int8"})

    @property
    def identity(self) -> str:
        """The name recorded in every index built with this embedder (for a new index when precision is
        unset): the runtime does not change the vectors (fp32 ONNX matches sentence-transformers to
        cosine 0.9999), the precision does."""
        precision = self.precision or self.for_index(None).precision
        return self.name if precision == "fp32" or not self.quantisable else f"{self.name}-{precision}"


HASHING_EMBEDDER = re.compile(r"hashing-(\d+)")  # the model-free test embedder's names


class ChunkingConfig(_Strict):
    # Sizes are in approximate tokens: ~4 characters of Latin text, or one CJK character.
    max_tokens: int = Field(200, ge=16, le=4096)
    overlap_tokens: int = Field(30, ge=0)

    def signature(self) -> str:
        return f"v1:max={self.max_tokens}:overlap={self.overlap_tokens}"


SearchMode = Literal["hybrid", "dense", "bm25"]  # the one list of search modes
SEARCH_MODES: tuple[str, ...] = get_args(SearchMode)


class SearchConfig(_Strict):
    k: int = Field(5, ge=1)
    candidates: int = Field(50, ge=1)  # hits taken from each retriever before fusion
    # convex: each retriever's scores scaled to 0..1 over its candidates, then averaged (weighted);
    # rrf: reciprocal rank fusion, sum of weight / (rrf_k + rank).
    fusion: Literal["convex", "rrf"] = "convex"
    rrf_k: int = Field(60, ge=1)
    mode: SearchMode = "hybrid"
    # Weight of dense hits in the fusion for queries written mostly in Chinese, Japanese or Korean.
    # all-MiniLM-L6-v2 is an English model; with a multilingual embedder, set it to 1.0.
    cjk_dense_weight: float = Field(0.25, ge=0.0, le=1.0)
    # Pseudo-relevance feedback (hybrid mode): the vectors of the `feedback` best chunks of a first fusion
    # are added to the query vector (`feedback_weight` times their mean), and the dense search runs again
    # with it before the final fusion (not for a CJK query while `cjk_dense_weight` is below 1). 0: off.
    feedback: int = Field(5, ge=0, le=50)
    feedback_weight: float = Field(0.5, ge=0.0, le=4.0)
    # Longest search query or question accepted, in characters (CLI and server alike).
    max_query_chars: int = Field(2000, ge=16, le=100_000)


class ModelConfig(_Strict):
    # A GGUF file; None means the packaged Gemma 3 270M (Q4_K_M).
    path: str | None = None
    n_ctx: int = Field(2048, ge=256)
    n_threads: int | None = Field(None, ge=1)  # prompt and generation threads; None: llama.cpp's defaults
    n_batch: int = Field(512, ge=8)
    max_tokens: int = Field(160, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    repeat_penalty: float = Field(1.1, ge=0.0)
    seed: int = 0
    # "auto": use the GGUF's chat template when it has one, else a completion-style prompt.
    prompt_style: Literal["auto", "completion", "chat"] = "auto"
    stop: list[str] = Field(default_factory=list)
    # Instead of a local GGUF: an OpenAI-compatible server (e.g. `python -m llama_cpp.server`).
    base_url: str | None = None
    api_model: str | None = None


class AnswerConfig(_Strict):
    passages: int = Field(3, ge=1, le=20)
    # The best-ranked sentences of those passages that the model reads.
    sentences: int = Field(4, ge=1, le=20)
    # The documents "do not hold the answer" of a question not written in CJK when the best passage's
    # cosine similarity is below min_score, or that similarity plus the best share of the question's
    # content words one passage holds is below min_relevance; of a CJK question (the default embedder
    # is English) when no passage holds min_cjk_coverage of its character bigrams.
    min_score: float = Field(0.2, ge=-1.0, le=1.0)
    min_relevance: float = Field(0.74, ge=0.0, le=2.0)
    min_cjk_coverage: float = Field(0.2, ge=0.0, le=1.0)
    # The model's own short answer is shown only when the model was this sure of it (the mean
    # log-probability of its tokens; 0 is certain, -0.7 about a 50% chance per token); a less sure one
    # gives way to the best sentence's words, which hold the answer more often. A remote model that
    # does not tell is taken at its word. Lower it to trust the model more.
    min_span_confidence: float = Field(-0.7, le=0.0)
    prompt_template: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0)
    model: str | None = None

    @field_validator("prompt_template")
    @classmethod
    def _template_fields(cls, template: str | None) -> str | None:
        if template is not None:
            check_template(template)
        return template


def check_template(template: str) -> None:
    """A prompt template names {passages} and {question}, and nothing else; literal braces are doubled."""
    import string

    try:
        parsed = string.Formatter().parse(template)
        fields = [(name, spec, conv) for _, name, spec, conv in parsed if name is not None]
    except ValueError as exc:
        raise ValueError(f"prompt_template is not a valid template ({exc}); write literal braces as "
                         "{{ }}") from None
    if any(spec or conv for _, spec, conv in fields):
        raise ValueError("prompt_template: write {passages} and {question} without conversions or format specs")
    unknown = sorted({name for name, _, _ in fields if name not in ("passages", "question")})
    if unknown:
        raise ValueError(f"prompt_template names unknown field(s) {', '.join(repr(n) for n in unknown)}: use "
                         "{passages} and {question}, and write literal braces as {{ }}")
    missing = [name for name in ("passages", "question") if name not in {n for n, _, _ in fields}]
    if missing:  # it was accepted: the model then read no passages (or no question) and answered from nothing
        raise ValueError(f"prompt_template lacks {' and '.join('{' + n + '}' for n in missing)}: the model reads "
                         "the passages and the question only where the template names {passages} and {question}")
    try:
        template.format(passages="", question="")
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"prompt_template cannot be filled ({exc}); use {{passages}} and {{question}}") from None


class IngestConfig(_Strict):
    # Folders a tenant's `sources` may lie under (`source add`, `reindex`). Empty: anywhere outside the
    # tenantctl home. Never another tenant's folder or the home itself, whatever this says.
    source_roots: list[str] = Field(default_factory=list)
    # Follow symbolic links that lead out of a source folder (links into the home are never followed).
    follow_links: bool = False


class JwtConfig(_Strict):
    """Bearer JWTs from an API gateway or identity provider, accepted besides API keys."""

    issuer: str
    audience: str
    # The signing keys: a JWKS file, or a JWKS URL the operator allows (fetched from here only, never
    # from a token's own `jku`/`x5u` header; https, or http on localhost).
    jwks_file: str | None = None
    jwks_url: str | None = None
    # The claim holding the tenant id, e.g. "tenant" or "https://example.com/tenant".
    tenant_claim: str = "tenant"
    algorithms: list[Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                             "EdDSA"]] = Field(default_factory=lambda: ["RS256", "ES256"], min_length=1)
    leeway_seconds: int = Field(30, ge=0, le=600)

    @model_validator(mode="after")
    def _one_key_source(self) -> JwtConfig:
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError("set exactly one of jwks_file and jwks_url")
        if self.jwks_url is not None:
            parts = urlsplit(self.jwks_url)
            local = parts.hostname in ("localhost", "127.0.0.1", "::1")
            if parts.scheme != "https" and not (parts.scheme == "http" and local):
                raise ValueError(f"jwks_url {self.jwks_url!r} must be https (http only on localhost)")
        return self


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    # Loaded tenants are evicted least-recently-used to keep their indexes within this budget.
    memory_budget_mb: float = Field(1024, gt=0)
    # Questions waiting for the shared model, across all tenants, before new ones get 503.
    max_queue: int = Field(256, ge=1)
    # Questions one tenant may have waiting; another tenant's first question is always admitted.
    max_queue_per_tenant: int = Field(8, ge=1)
    # Request bodies: JSON at most max_json_kb, uploads at most max_upload_mb in all, each file at most
    # max_file_mb. Larger requests get 413.
    max_json_kb: int = Field(256, ge=1)
    max_upload_mb: float = Field(64, gt=0)
    max_file_mb: float = Field(32, gt=0)
    # Accept bearer JWTs besides API keys (the tenant comes from a verified claim). None = keys only.
    jwt: JwtConfig | None = None


class ClientConfig(_Strict):
    # `tenantctl search|query` send their work here when set (or with --server).
    server: str | None = None


class ToolsConfig(_Strict):
    # host:port pairs an `http` tool may call (redirects included); nothing else is reachable.
    allowed_hosts: list[str] = Field(default_factory=list)
    # host:port pairs only the named tenant's http tools may call ({acme: ["crm.internal:8080"]}): a
    # service that trusts its callers by where they connect from is reached by no other tenant's tool.
    tenant_hosts: dict[str, list[str]] = Field(default_factory=dict)
    # Bytes a tool may return (an http body, a CSV file); larger results are refused.
    max_response_bytes: int = Field(1_000_000, ge=1024)
    # ${VAR} in a tool's settings is read from <secrets_dir>/<tenant>/VAR, else from the environment
    # when this lists VAR for the tenant ({acme: [ACME_CRM_TOKEN]}): a tenant.yaml, which whoever manages
    # the tenant may edit, never reaches another variable of tenantctl's environment (another tenant's).
    env_secrets: dict[str, list[str]] = Field(default_factory=dict)
    secrets_dir: str | None = None

    @field_validator("allowed_hosts")
    @classmethod
    def _host_port(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not re.fullmatch(r"[A-Za-z0-9.\-]+:\d{1,5}|\[[0-9A-Fa-f:.]+\]:\d{1,5}", host):
                raise ValueError(f"{host!r} is not host:port (e.g. crm.internal:8080)")
        return [h.lower() for h in hosts]

    @field_validator("tenant_hosts")
    @classmethod
    def _tenant_host_ports(cls, hosts: dict[str, list[str]]) -> dict[str, list[str]]:
        return {tenant: cls._host_port(listed) for tenant, listed in hosts.items()}

    def hosts_for(self, tenant_id: str) -> list[str]:
        """The hosts `tenant_id`'s http tools may call: every tenant's, and its own."""
        return [*self.allowed_hosts, *self.tenant_hosts.get(tenant_id, [])]


class PostgresConfig(_Strict):
    # The application's connection: a role that owns nothing, so row-level security binds it.
    dsn: str
    # The schema owner's connection, used only by `tenantctl init` to create or migrate the schema.
    admin_dsn: str | None = None
    # A pooled tenant with fewer chunks is searched exactly; a larger one through the HNSW index.
    exact_below: int = Field(20000, ge=0)
    # HNSW candidate list (pgvector hnsw.ef_search); iterative scans widen it until k rows pass the filter.
    ef_search: int = Field(100, ge=1, le=1000)


class Config(_Strict):
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    models: dict[str, ModelConfig] = Field(default_factory=lambda: {"default": ModelConfig()})
    default_model: str = "default"
    answer: AnswerConfig = Field(default_factory=AnswerConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    client: ClientConfig = Field(default_factory=ClientConfig)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    # Cluster mode: tenants' data in PostgreSQL + pgvector (see README, "Scaling out"). None = local only.
    postgres: PostgresConfig | None = None

    @field_validator("default_model")
    @classmethod
    def _a_configured_model(cls, name: str, info: ValidationInfo) -> str:
        """A misspelt default_model (`pilott`) is refused where it is written; it loaded, and every
        question of every tenant without its own `answer.model` failed (503 from a server that started)."""
        import difflib

        models = info.data.get("models")
        if models is not None and name not in models:
            close = difflib.get_close_matches(name, list(models), n=1)
            mean = f"did you mean `{close[0]}`? " if close else ""
            raise ValueError(f"{name!r} is not under `models:` ({mean}configured: {', '.join(models) or 'none'})")
        return name

    def model(self, name: str | None) -> tuple[str, ModelConfig]:
        name = name or self.default_model
        if name not in self.models:
            raise ConfigError(
                f"model {name!r} is not configured",
                f"add it under `models:` in {paths.config_file()} (configured: {', '.join(self.models)}); a running "
                "server reads config.yaml when it starts: restart it after adding one",
            )
        return name, self.models[name]


class SourceConfig(_Strict):
    path: str
    include: list[str] = Field(default_factory=lambda: ["**/*"])
    exclude: list[str] = Field(default_factory=list)


class QuotaConfig(_Strict):
    documents: int | None = Field(None, ge=0)
    bytes: int | None = Field(None, ge=0)
    questions_per_day: int | None = Field(None, ge=0)
    tokens_per_day: int | None = Field(None, ge=0)


class RateLimitConfig(_Strict):
    # Requests per minute through `tenantctl serve`; None = unlimited.
    requests_per_minute: float | None = Field(None, gt=0)
    questions_per_minute: float | None = Field(None, gt=0)


TOOL_NAME, TOOL_KIND = r"^[a-z][a-z0-9_-]{0,39}$", r"^[a-z][a-z0-9_.-]{0,39}$"
# What a pattern asks for, in words: pydantic's "String should match pattern '^[a-z]…'" was the message.
_PATTERN_WORDS = {
    TOOL_NAME: "should be 1-40 lowercase letters, digits, '-' and '_', starting with a letter",
    TOOL_KIND: "should be 1-40 lowercase letters, digits, '-', '_' and '.', starting with a letter",
}


class ToolConfig(_Strict):
    """One tool of one tenant (tenant.yaml `tools:`). Built-in kinds: `http`, `sql`; others come from
    installed plugins (entry-point group `tenantctl.tools`)."""

    name: str = Field(pattern=TOOL_NAME)
    kind: str = Field(pattern=TOOL_KIND)
    # A regular expression: a question it matches calls the tool; its named groups fill the call.
    when: str
    description: str = ""
    timeout_s: float = Field(5.0, gt=0, le=60)
    # http: GET this URL ({group} placeholders, ${VAR} secrets) with these headers.
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    # sql: a read-only query (:group parameters) over a SQLite database or CSV file in the tenant's folder.
    file: str | None = None
    query: str | None = None
    max_rows: int = Field(20, ge=1, le=1000)
    # Settings of a third-party kind, passed to its plugin (${VAR} secrets resolved).
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("when")
    @classmethod
    def _regex(cls, when: str) -> str:
        import regex  # what runs the patterns: `re`'s syntax, with a time limit

        try:
            regex.compile(when)
        except regex.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return when

    @model_validator(mode="after")
    def _kind_settings(self) -> ToolConfig:
        if self.kind == "http" and not self.url:
            raise ValueError(f"tool {self.name!r}: kind http needs `url`")
        if self.kind == "http" and not re.match(r"(?i)https?://", self.url or ""):
            raise ValueError(f"tool {self.name!r}: url must start with http:// or https://")
        if self.kind == "sql" and not (self.file and self.query):
            raise ValueError(f"tool {self.name!r}: kind sql needs `file` and `query`")
        return self


StoreKind = Literal["local", "postgres", "postgres-dedicated"]
STORE_KINDS: tuple[str, ...] = get_args(StoreKind)


class TenantConfig(_Strict):
    id: str
    display_name: str | None = None
    created_at: str | None = None
    # Where the tenant's documents, chunks and vectors live: its folder, the PostgreSQL pool, or its own
    # schema in PostgreSQL.
    store: StoreKind = "local"
    chunking: ChunkingConfig | None = None
    answer: AnswerConfig = Field(default_factory=AnswerConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    quotas: QuotaConfig = Field(default_factory=QuotaConfig)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    tools: list[ToolConfig] = Field(default_factory=list)

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, tools: list[ToolConfig]) -> list[ToolConfig]:
        names = [t.name for t in tools]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"tool name {name!r} is used twice")
        return tools


def _describe(exc: ValidationError, model: type[BaseModel]) -> str:
    """The first error, an unknown setting before all others: a misspelt key (`pth:` for `path:`) also
    leaves its setting missing, and "path: Field required" would not say which line is wrong."""
    errors = exc.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if first["type"] == "extra_forbidden":  # pydantic says "Extra inputs are not permitted"
        return f"{where}: unknown setting{_did_you_mean(model, first['loc'])}{more}"
    pattern = (first.get("ctx") or {}).get("pattern", "") if first["type"] == "string_pattern_mismatch" else ""
    words = _PATTERN_WORDS.get(pattern)
    if words:
        return f"{where}: {words}, not {first.get('input')!r}{more}"
    section = _section(model, first["loc"]) if first["type"] == "model_type" else None
    if section is not None:  # it said "Input should be a valid dictionary or instance of RateLimitConfig"
        given = repr(first.get("input"))
        given = given if len(given) <= 40 else given[:37] + "..."
        names = ", ".join(section.model_fields)
        return f"{where}: should be a mapping of its settings ({names}), not {given}{more}"
    msg = first["msg"].removeprefix("Value error, ")  # pydantic's words for a validator's own message
    return f"{where}: {msg}{more}"


def _did_you_mean(model: type[BaseModel] | None, loc: tuple) -> str:
    """" (did you mean `search`?)" for a misspelt key at `loc`: the settings its section has."""
    import difflib

    key_next = False  # the part after a mapping's field is its own key (a model entry's name)
    for part in loc[:-1]:
        if model is None or key_next or isinstance(part, int):  # a list's item: the model is the item's
            key_next = False
            continue
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
        key_next = field is not None and getattr(field.annotation, "__origin__", None) is dict
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields) if model else [], n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _section(model: type[BaseModel] | None, loc: tuple) -> type[BaseModel] | None:
    """The settings model of the section at `loc` (`rate_limit`, `sources.0`, `models.default`), if any."""
    key_next = False  # the part after a mapping's field is its own key (a model entry's name)
    for part in loc:
        if model is None:
            return None
        if key_next or isinstance(part, int):  # a list's item or a mapping's entry: the model is the item's
            key_next = False
            continue
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
        key_next = field is not None and getattr(field.annotation, "__origin__", None) is dict
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The settings model inside an annotation (`X`, `X | None`, `list[X]`, `dict[str, X]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when present: fast
    """A safe loader that refuses a key given twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # rejected by validation later
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else None
    except OSError as exc:  # a folder named config.yaml, no permission, ...
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", f"make {path} a readable YAML file") from None
    except UnicodeDecodeError as exc:  # saved as Latin-1, UTF-16, binary ...
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start})", f"save {path} as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader) if text is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        what = f" ({problem})" if problem and "duplicate key" in problem else ""
        raise ConfigError(f"{path} is not valid YAML{at}{what}", f"fix the syntax in {path}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings", f"fix {path}")
    return data


def load_config(path: Path | None = None) -> Config:
    path = path or paths.config_file()
    try:
        return Config.model_validate(_beside(_read_yaml(path), path.parent))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc, Config)}", f"fix the setting in {path}") from exc


def _beside(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A relative path in config.yaml — a model file (`models.NAME.path`), `tools.secrets_dir`,
    `ingest.source_roots` — is relative to its folder, as a tenant.yaml's sources are to the tenant's: it
    was taken relative to the working directory, so a pilot model found from the home was missing for cron
    or a service started elsewhere."""
    def fix(value: Any) -> Any:
        relative = isinstance(value, str) and value and not value.startswith("~") and not Path(value).is_absolute()
        return str(folder / value) if relative else value

    models = data.get("models")
    for entry in models.values() if isinstance(models, dict) else []:
        if isinstance(entry, dict) and "path" in entry:
            entry["path"] = fix(entry["path"])
    tools, ingest = data.get("tools"), data.get("ingest")
    if isinstance(tools, dict) and "secrets_dir" in tools:
        tools["secrets_dir"] = fix(tools["secrets_dir"])
    if isinstance(ingest, dict) and isinstance(ingest.get("source_roots"), list):
        ingest["source_roots"] = [fix(root) for root in ingest["source_roots"]]
    return data


# Parsed tenant.yaml files by path, with the file's identity when parsed (see `load_tenant_config`).
_TENANT_SETTINGS: dict[str, tuple[tuple[int, int, int, int], TenantConfig]] = {}
_SETTLED_S = 2.0  # a file this long unchanged when parsed is cached: an edit after it moves its mtime


def load_tenant_config(path: Path) -> TenantConfig:
    """A tenant.yaml, validated. The result is shared between callers: treat it as read-only.

    The server reads a tenant's settings on every request, so a parsed file is kept and reused while
    its inode, size, mtime and ctime stay the same. Only a file whose mtime was `_SETTLED_S` old when it
    was parsed is kept (as git treats "racily clean" files): a rewrite within the same timestamp tick
    as the parse could otherwise leave every stamp as it was."""
    key = str(path)
    try:
        st = os.stat(path)
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    except OSError:
        stamp = None
    cached = _TENANT_SETTINGS.get(key)
    if cached is not None and stamp is not None and cached[0] == stamp:
        return cached[1]
    try:
        settings = TenantConfig.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc, TenantConfig)}", f"fix the setting in {path}") from exc
    if stamp is not None and time.time_ns() - stamp[2] > _SETTLED_S * 1e9:
        if len(_TENANT_SETTINGS) >= 10_000:
            _TENANT_SETTINGS.clear()
        _TENANT_SETTINGS[key] = (stamp, settings)
    return settings


def dump_yaml(data: dict[str, Any], path: Path) -> None:
    """Write YAML to a temporary file beside `path` and rename it into place."""
    from tenantctl.fileio import write_atomic

    write_atomic(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True), durable=False)


def save_tenant_config(cfg: TenantConfig, path: Path) -> None:
    dump_yaml(cfg.model_dump(exclude_none=True, exclude_defaults=False), path)
