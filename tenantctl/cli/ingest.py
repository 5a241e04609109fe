"""`tenantctl ingest TENANT PATH...`."""

from __future__ import annotations

from typing import Annotated

import typer

from tenantctl.cli._common import (
    JsonOption,
    TenantArg,
    WaitOption,
    err,
    load_cfg,
    out,
    print_json,
    show_progress,
    typed_paths,
)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    tenant_id: TenantArg,
    paths: Annotated[list[str], typer.Argument(
        metavar="PATH", help="Files and folders (folders are read recursively).", show_default=False)],
    prune: Annotated[bool, typer.Option("--prune", help="Remove documents whose files are gone.")] = False,
    wait: WaitOption = 0,
    json_out: JsonOption = False,
) -> None:
    """Add and update a tenant's documents; unchanged files are skipped by content hash.

    Formats: .txt .md .html .pdf .docx .csv .json .jsonl. Exit code 4 when some files failed.
    Paths inside the tenantctl home (or outside `ingest.source_roots`) are refused; symbolic links
    that leave a folder are skipped and named (`ingest.follow_links` in config.yaml).
    """
    from rich.markup import escape

    from tenantctl.cli._common import plain
    from tenantctl.ingestion.extract import SUPPORTED
    from tenantctl.ingestion.ingest import ingest as run_ingest
    from tenantctl.ingestion.policy import check_source
    from tenantctl.storage.tenants import open_tenant
    from tenantctl.textproc import plural

    sources = typed_paths(paths)
    tenant = open_tenant(tenant_id)
    cfg = load_cfg()
    for source in sources:  # never another tenant's folder, the home, or outside `ingest.source_roots`
        check_source(source, tenant.dir, cfg)
    progress_cb, stop = _progress(not json_out)
    try:
        summary = run_ingest(tenant, sources, cfg, prune=prune, wait=wait, progress=progress_cb)
    finally:
        stop()
    for f in summary.files:
        if f.status == "failed":
            err.print(f"[red]failed[/]: {escape(plain(f.path))}: {escape(plain(f.reason or ''))}", markup=True,
                      soft_wrap=True)
        elif f.reason:  # a symbolic link not followed
            err.print(f"skipped: {plain(f.path)}: {plain(f.reason)}", markup=False, soft_wrap=True)
    if summary.unsupported:
        kinds = ", ".join(f"{suffix} ×{n}" if n > 1 else suffix for suffix, n in sorted(summary.unsupported.items()))
        err.print(f"not read: {plural(sum(summary.unsupported.values()), 'file')} of types tenantctl does not read "
                  f"({plain(kinds)}); it reads {', '.join(SUPPORTED)}", markup=False, soft_wrap=True)
    if json_out:
        print_json(summary.to_dict())
    else:
        out.print(
            f"{tenant.id}: {summary.added} added, {summary.updated} updated, {summary.skipped} skipped, "
            f"{summary.removed} removed, {summary.failed} failed; {plural(summary.chunks, 'chunk')} embedded "
            f"in {summary.seconds:.1f}s" + (f", after waiting {summary.waited:.1f}s for another writer"
                                              if summary.waited >= 0.1 else "")
        )
    if summary.exit_code:
        raise typer.Exit(int(summary.exit_code))


def _progress(enabled: bool):
    if not (enabled and show_progress()):
        return None, lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True,
    )
    task = bar.add_task("ingest", total=None)
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar.stop
