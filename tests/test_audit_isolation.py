"""Isolation audit (audit9): what one tenant's request could learn of another's through what the shared
components keep between requests."""

import pytest

from tenantctl.models.base import Request


class _PrefixReusingLlama:
    """Keeps the last prompt's tokens as llama.cpp does, and reuses as much of them as the next prompt
    starts with; notes how many each completion reused."""

    def __init__(self) -> None:
        self.input_ids: list[int] = []
        self.n_tokens = 0
        self.reused: list[int] = []

    def tokenize(self, data: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return list(data)

    def reset(self) -> None:
        self.n_tokens = 0

    def _complete(self, tokens: list[int]) -> list[dict]:
        same = 0
        for old, new in zip(self.input_ids[: self.n_tokens], tokens[:-1], strict=False):
            if old != new:
                break
            same += 1
        self.reused.append(same)
        self.input_ids, self.n_tokens = list(tokens), len(tokens)
        return [{"choices": [{"text": "x", "finish_reason": "stop"}]}]

    def create_completion(self, prompt: str, **params) -> list[dict]:
        return self._complete(self.tokenize(prompt.encode()))

    def create_chat_completion(self, messages: list[dict], **params) -> list[dict]:
        chunks = self._complete(self.tokenize("".join(m["content"] for m in messages).encode()))
        return [{"choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}]} for _ in chunks]


def _generator():
    import threading

    from tenantctl.models.generation import LlamaCppGenerator

    generator = LlamaCppGenerator.__new__(LlamaCppGenerator)
    generator.llm, generator.name, generator.n_ctx = _PrefixReusingLlama(), "fake.gguf", 2048
    generator._lock, generator._prefixes, generator._prompt_threads = threading.Lock(), {}, None
    return generator


SECRET = "Passages: The acme launch code is ZEBRA-4411, the vault is on floor 7. Question: code?"


@pytest.mark.parametrize("kind", ["prompt", "messages", "prefix not opening it"])
def test_a_prompt_reuses_nothing_of_the_last_one_another_tenants(kind):
    """llama.cpp reuses the longest common start of the last prompt's evaluated tokens: tenant B's prompt
    beginning as tenant A's last one did read faster (time to first token told how much of a guessed
    passage or question matched) and was split elsewhere (another answer). Only the fixed opening the
    answer's prefix names may be kept."""
    generator = _generator()

    def ask(text: str) -> None:
        if kind == "messages":
            generator.generate(Request(messages=[{"role": "user", "content": text}], max_tokens=4))
        else:
            generator.generate(Request(prompt=text, max_tokens=4, prefix="Instr" if kind != "prompt" else ""))

    ask(SECRET)  # tenant A
    ask(SECRET[:40] + " guess")  # tenant B, guessing A's passage
    assert generator.llm.reused == [0, 0]


def _doctor(cli) -> dict:
    import json

    return {c["name"]: c for c in json.loads(cli("doctor", "--json").out)["checks"]}


def test_doctor_warns_about_a_config_or_tool_secrets_other_users_can_read(cli, home, tmp_path):
    """config.yaml may hold the PostgreSQL password (its DSN), `tools.secrets_dir` every tenant's
    credentials: `doctor` checked neither for other users' read access."""
    from .conftest import fast_home

    secrets = tmp_path / "secrets"
    (secrets / "acme").mkdir(parents=True, mode=0o700)
    secrets.chmod(0o700)
    token = secrets / "acme" / "ACME_CRM_TOKEN"
    token.write_text("s3cret-token")
    token.chmod(0o600)
    fast_home(cli, home, extra=f"tools:\n  secrets_dir: {secrets}\n")
    checks = _doctor(cli)
    assert "privacy" not in checks and checks["secrets"]["status"] == "ok", checks
    (home / "config.yaml").chmod(0o644)
    token.chmod(0o644)
    checks = _doctor(cli)
    assert checks["privacy"]["status"] == "warn" and "config.yaml" in checks["privacy"]["detail"]
    assert checks["secrets"]["status"] == "warn" and str(token) in checks["secrets"]["detail"]
    assert "s3cret" not in str(checks)


def _raw(folder) -> bytes:
    """Every byte of a store as it lies on disk, its write-ahead log included."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("store.db*")))


def test_a_removed_documents_words_leave_the_store_and_its_export(cli, home, tmp_path):
    """FTS5 keeps a deleted row's words in the index segments written before the delete until they
    merge: a pruned document's words ("quokkacorp") stayed in store.db, and in `tenant export`'s archive."""
    import tarfile

    from .conftest import fast_home

    fast_home(cli, home, embedder="hashing-256")
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"f{i}.md").write_text(f"Ordinary paragraph {i} about the weekly office routine.\n")
    (docs / "merger.md").write_text("Confidential: the merger target is Quokkacorp at 41 dollars a share.\n")
    assert cli("tenant", "create", "acme").code == 0
    assert cli("ingest", "acme", docs).code == 0
    folder = home / "tenants" / "acme"
    assert b"quokkacorp" in _raw(folder)
    (docs / "merger.md").unlink()
    assert cli("ingest", "acme", docs, "--prune").code == 0
    assert b"quokkacorp" not in _raw(folder).lower()
    assert cli("search", "acme", "weekly office routine", "--json").json()  # the others are still found

    (docs / "merger.md").write_text("Confidential: the merger target is Wombatcorp.\n")
    assert cli("ingest", "acme", docs).code == 0
    (docs / "merger.md").write_text("Nothing to see here.\n")  # changed: the old words stay in the live file
    assert cli("ingest", "acme", docs).code == 0
    archive = tmp_path / "acme.tar.gz"
    assert cli("tenant", "export", "acme", archive).code == 0
    with tarfile.open(archive) as tar:
        store = tar.extractfile("store.db").read()
    assert b"wombatcorp" not in store.lower() and b"weekly" in store
    assert cli("tenant", "import", archive, "--as", "copy").code == 0
    assert cli("search", "copy", "weekly office routine", "--json").json()


def test_a_hard_link_to_another_tenants_file_is_not_ingested(cli, home, tmp_path):
    """A symbolic link into the home was refused, a hard link to the same file read: beta's source held
    a second name of acme's upload, and beta's search found acme's text."""
    import os

    from .conftest import fast_home

    fast_home(cli, home, embedder="hashing-256")
    for tenant in ("acme", "beta"):
        assert cli("tenant", "create", tenant).code == 0
    upload = home / "tenants" / "acme" / "uploads" / "merger.md"
    upload.parent.mkdir(mode=0o700)
    upload.write_text("The merger target is Quokkacorp.\n")
    share = tmp_path / "share"
    share.mkdir()
    (share / "notes.md").write_text("Beta's own weekly notes.\n")
    os.link(share / "notes.md", share / "notes-copy.md")  # a hard link of its own: read
    os.link(upload, share / "merger.md")
    result = cli("ingest", "beta", share, "--json")
    assert result.code == 0, result
    skipped = {f["path"]: f["reason"] for f in result.json()["files"] if f["status"] == "skipped"}
    assert skipped == {str(share / "merger.md"): "hard link to a file in the tenantctl home (another "
                                                 "tenant's folder or tenantctl's own files)"}
    assert result.json()["added"] == 2
    assert not any("Quokkacorp" in h["text"] for h in cli("search", "beta", "merger Quokkacorp", "--json").json())
    assert cli("ingest", "beta", share / "merger.md").code == 0
    assert cli("tenant", "show", "beta", "--json").json()["documents"] == 2
