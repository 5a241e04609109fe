"""`tenantctl usage` and `tenantctl logs`."""

from __future__ import annotations

import csv
import sys
from typing import Annotated

import typer

from tenantctl.cli._common import JsonOption, err, out, print_json
from tenantctl.textproc import plural


def register(app: typer.Typer) -> None:
    app.command("usage")(usage)
    app.command("logs")(logs_cmd)


def usage(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="DATE", help="From this UTC date.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Group by day or month.")] = None,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print CSV on stdout.")] = False,
    json_out: JsonOption = False,
) -> None:
    """Usage per tenant for billing (ingests, searches, questions, chunks, tokens) and quota status.

    Each operation's events are ok, refused (quota, suspension) or errors (failed or interrupted).
    """
    from tenantctl.errors import BadInput
    from tenantctl.storage.metering import parse_since, report
    from tenantctl.storage.tenants import open_tenant, usable_tenants

    if by not in (None, "day", "month"):
        raise BadInput(f"invalid --by {by!r}", "use --by day or --by month")
    if csv_out and json_out:  # CSV came out, the --json unsaid
        raise BadInput("--csv or --json, not both", "pick the format to print")
    # `--tenant ""` (a script's unset variable) is an invalid id, not every tenant's usage on one bill.
    tenants, broken = ([open_tenant(tenant)], []) if tenant is not None else usable_tenants()
    rows, quotas = report(tenants, since=parse_since(since), by=by, quotas=tenant is not None or json_out,
                          broken=broken if tenant is None else None)
    if csv_out:
        fields = ["tenant", "period", "operation", "events", "ok", "refused", "errors", "chunks_embedded",
                  "prompt_tokens", "completion_tokens", "ms"]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return _name_broken(broken)
    if json_out:  # a tenant it could not read is named in the JSON too: a billing script saw only the others
        skipped = [{"tenant": t.id, "error": t.error.message, "hint": t.error.hint} for t in broken]
        print_json({"usage": rows, "quotas": quotas, "skipped": skipped})
        return _name_broken(broken)
    if not rows:
        err.print(f"No usage recorded since {since}." if since else "No usage recorded yet.")
    for r in rows:
        out.print(
            f"{r['tenant']:<24} {r['period']:<10} {r['operation']:<9} {r['events']:>6} "
            f"{'event' if r['events'] == 1 else 'events':<6} "
            f"({r['refused']} refused, {plural(r['errors'], 'error')})  {r['chunks_embedded']:>7} chunks  "
            f"{r['prompt_tokens']:>8} prompt tok  {r['completion_tokens']:>7} completion tok  {r['ms']:>10} ms"
        )
    for tid, status in quotas.items():
        parts = [f"{name} {q['used']}/{q['limit'] if q['limit'] is not None else '∞'}" for name, q in status.items()]
        out.print(f"{tid} quotas: " + ", ".join(parts))
    _name_broken(broken)


def _name_broken(broken: list) -> None:
    """The report covers every other tenant; each one it could not read is named, and the exit code is 4."""
    from tenantctl.errors import ExitCode

    for tenant in broken:
        err.print(f"{tenant.id}: skipped: {tenant.error.message}", markup=False, soft_wrap=True)
    if broken:
        raise typer.Exit(int(ExitCode.PARTIAL))


def logs_cmd(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's lines.")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="DATE", help="From this UTC date.")] = None,
    limit: Annotated[int | None, typer.Option("-n", "--lines", min=1, help="Only the last N lines.")] = None,
    json_out: JsonOption = False,
) -> None:
    """Read the structured log (JSON lines in <home>/logs/tenantctl.jsonl)."""
    import json

    from tenantctl import logs
    from tenantctl.paths import validate_tenant_id

    if tenant is not None:
        validate_tenant_id(tenant)
    if since is not None:  # compared with each line's ISO timestamp, as text
        from datetime import UTC, datetime

        from tenantctl.storage.metering import parse_since

        since = datetime.fromtimestamp(parse_since(since), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    rows = list(logs.read(tenant=tenant, since=since, limit=limit))
    if json_out:
        print_json(rows)
        return
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    if not rows:  # a deleted tenant's lines stay, so an unknown id is no error; but say why nothing came
        from tenantctl.storage import registry

        which = (f" of tenant {tenant}" if tenant else "") + (f" since {since[:10]}" if since else "")
        unknown = tenant is not None and registry.get(tenant) is None
        why = f": no tenant {tenant!r} exists (`tenantctl tenant list`)." if unknown else "."
        err.print(f"No log lines{which}{why}")
