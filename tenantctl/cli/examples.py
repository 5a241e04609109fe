"""Examples at the foot of each command's `--help`: a newcomer reads how a command is called beside its options.

Each example is (what it does, the command as typed); tests/test_docs.py parses every command with the command
it belongs to, so an example never names an option the command lacks, and keeps each line within 78 columns.
"""

from __future__ import annotations

EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "create": (
        ("", 'tenantctl create acme --name "Acme Robotics"'),
        ("in the PostgreSQL pool (`postgres:` in config.yaml)", "tenantctl create acme --store postgres"),
    ),
    "ingest": (
        ("new and changed files; unchanged ones are skipped", "tenantctl ingest acme ~/docs/acme"),
        ("also drop the documents whose files are gone", "tenantctl ingest acme ~/docs/acme --prune"),
        ("from a script", "tenantctl ingest acme handbook.pdf faq.md --wait 60 --json"),
    ),
    "query": (
        ("", 'tenantctl query acme "How many days of annual leave do I get?"'),
        ("with the passages it read", 'tenantctl query acme "Who approves travel?" --json --passages'),
        ("through a running `tenantctl serve`",
         'tenantctl query acme "Who approves travel?" --server http://127.0.0.1:8765'),
    ),
    "chat": (
        ("a new conversation; an empty line ends it", "tenantctl chat acme"),
        ("its sessions, then resume one", "tenantctl chat acme --list"),
        ("", "tenantctl chat acme --session 52cd7ac586dc"),
        ("from a script: one JSON line an answer", "printf 'Who approves travel?\\n' | tenantctl chat acme --json"),
    ),
    "search": (
        ("", 'tenantctl search acme "paid annual leave" -k 3'),
        ("keywords only", 'tenantctl search acme "NW-SP-4472" --mode bm25 --json'),
        ("through a running `tenantctl serve` ($TENANTCTL_API_KEY)",
         'tenantctl search acme "annual leave" --server http://127.0.0.1:8765'),
    ),
    "eval": (
        ("retrieval: nDCG@10, recall@k, MRR", "tenantctl eval acme --queries queries.jsonl --qrels test.tsv"),
        ("answers: correct, F1, citations", "tenantctl eval acme --answers labelled.jsonl --per-question"),
        ("a pilot model beside the tenant's", "tenantctl eval acme --answers labelled.jsonl --model pilot"),
    ),
    "init": (
        ("the home, its config.yaml and registry", "TENANTCTL_HOME=/srv/tenantctl tenantctl init"),
    ),
    "paths": (
        ("", "tenantctl paths"),
        ("", "tenantctl paths --json"),
    ),
    "reindex": (
        ("from the sources in its tenant.yaml", "tenantctl reindex acme"),
        ("every tenant, from cron (exit 4: some failed)", "tenantctl reindex --all --json"),
    ),
    "verify": (
        ("", "tenantctl verify acme"),
        ("every tenant (exit 4: some have problems)", "tenantctl verify --all --json"),
    ),
    "repair": (
        ("rebuild the index from the store", "tenantctl repair acme"),
        ("after changing the embedder or its precision", "tenantctl repair acme --reembed --wait 600"),
    ),
    "usage": (
        ("its totals and quota status", "tenantctl usage --tenant acme"),
        ("a month's bill", "tenantctl usage --since 2026-11-01 --by day --csv > november.csv"),
        ("", "tenantctl usage --by month --json"),
    ),
    "logs": (
        ("", "tenantctl logs --tenant acme -n 20"),
        ("", "tenantctl logs --since 2026-11-01 --json"),
    ),
    "serve": (
        ("http://127.0.0.1:8765, or `server:` in config.yaml", "tenantctl serve"),
        ("behind a gateway", "tenantctl serve --host 0.0.0.0 --port 9000"),
    ),
    "doctor": (
        ("", "tenantctl doctor"),
        ("", "tenantctl doctor --json"),
    ),
    "tenant create": (
        ("", 'tenantctl tenant create acme --name "Acme Robotics"'),
        ("a PostgreSQL schema of its own", "tenantctl tenant create acme --store postgres-dedicated"),
    ),
    "tenant list": (
        ("", "tenantctl tenant list"),
        ("", "tenantctl tenant list --json"),
    ),
    "tenant show": (
        ("", "tenantctl tenant show acme"),
        ("", "tenantctl tenant show acme --json"),
    ),
    "tenant delete": (
        ("asks first on a terminal", "tenantctl tenant delete acme"),
        ("from a script", "tenantctl tenant delete acme --yes --wait 60"),
    ),
    "tenant suspend": (
        ("its questions and ingests are refused (exit 5, HTTP 403)", "tenantctl tenant suspend acme"),
    ),
    "tenant resume": (
        ("", "tenantctl tenant resume acme"),
    ),
    "tenant export": (
        ("", "tenantctl tenant export acme /backup/acme.tar.gz"),
        ("from a script", "tenantctl tenant export acme acme.tar.gz --wait 60 --json"),
    ),
    "tenant move": (
        ("into the pool, its vectors copied and checked", "tenantctl tenant move acme --to postgres"),
        ("", "tenantctl tenant move acme --to local"),
    ),
    "tenant import": (
        ("", "tenantctl tenant import acme.tar.gz"),
        ("a new tenant: its usage history starts empty", "tenantctl tenant import acme.tar.gz --as acme-copy"),
    ),
    "source add": (
        ("", "tenantctl source add acme /srv/acme --include '*.md' --exclude 'drafts/*'"),
    ),
    "source list": (
        ("", "tenantctl source list acme"),
        ("", "tenantctl source list acme --json"),
    ),
    "source remove": (
        ("its documents go too", "tenantctl source remove acme /srv/acme"),
    ),
    "key create": (
        ("prints the key once", 'tenantctl key create acme --name "web backend"'),
        ("for /metrics and /v1/admin/*", "tenantctl key create --admin"),
    ),
    "key list": (
        ("", "tenantctl key list"),
        ("", "tenantctl key list acme --json"),
    ),
    "key revoke": (
        ("the id `key list` shows", "tenantctl key revoke 7d287f6d"),
    ),
    "tool list": (
        ("its tools and whether each can run", "tenantctl tool list acme"),
    ),
    "tool test": (
        ("the tool the question matches", 'tenantctl tool test acme -q "Leave of employee E-1042?"'),
        ("one tool by name", 'tenantctl tool test acme crm -q "Status of order A-1234?" --json'),
    ),
    "tool kinds": (
        ("", "tenantctl tool kinds"),
    ),
}


def epilog(command: str) -> str | None:
    """A command's (`tenant create`) examples, to close its help: each command on a line of its own, under
    what it does."""
    examples = EXAMPLES.get(command)
    if not examples:
        return None
    return "Examples:\n\n" + "\n\n".join(f"# {what}\n{typed}" if what else typed for what, typed in examples)
