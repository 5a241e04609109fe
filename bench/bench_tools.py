"""Tool-call overhead: what tenantctl adds around a tenant's tool, against the bare call, on localhost.

    .venv/bin/python bench/bench_tools.py [--repeat 200]

In a temporary home, one tenant gets a `sql` tool over a CSV file, one over a SQLite database and an
`http` tool on a local HTTP service (the standard library's, in a thread). For each, the median time of
`tool_passages` (choose by `when`, resolve secrets, run, check limits, render, meter in the tenant's
store, log) is set against the bare call (sqlite3 on the same file / the same query over the same CSV
loaded in memory / httpx GET of the same URL), plus the cost of a question that matches no tool.
Writes bench/results/tools.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from _results import write_results


class Orders(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps({"order": self.path.rsplit("/", 1)[1], "status": "shipped", "eta": "2026-12-03"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def median_ms(fn, repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def setup(home: Path, port: int) -> None:
    from tenantctl.storage.tenants import create_tenant

    os.environ["TENANTCTL_HOME"] = str(home)
    home.mkdir(parents=True)
    (home / "config.yaml").write_text(yaml.safe_dump({"tools": {"allowed_hosts": [f"127.0.0.1:{port}"]}}))
    tenant = create_tenant("bench")
    rows = "\n".join(f"E-{1000 + i},Person {i},{i % 30}" for i in range(1000))
    (tenant.dir / "leave.csv").write_text("employee,name,days_left\n" + rows + "\n")
    db = sqlite3.connect(tenant.dir / "leave.db")
    db.execute("CREATE TABLE leave (employee TEXT PRIMARY KEY, name TEXT, days_left INTEGER)")
    db.executemany("INSERT INTO leave VALUES (?, ?, ?)",
                   [(f"E-{1000 + i}", f"Person {i}", i % 30) for i in range(1000)])
    db.commit()
    db.close()
    settings = yaml.safe_load((tenant.dir / "tenant.yaml").read_text())
    settings["tools"] = [
        {"name": "csv", "kind": "sql", "when": r"csv (?P<employee>E-\d+)", "file": "leave.csv",
         "query": "SELECT name, days_left FROM data WHERE employee = :employee"},
        {"name": "db", "kind": "sql", "when": r"db (?P<employee>E-\d+)", "file": "leave.db",
         "query": "SELECT name, days_left FROM leave WHERE employee = :employee"},
        {"name": "crm", "kind": "http", "when": r"order (?P<order>[A-Z]-\d+)",
         "url": f"http://127.0.0.1:{port}/orders/{{order}}"},
    ]
    (tenant.dir / "tenant.yaml").write_text(yaml.safe_dump(settings))


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Orders)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    with tempfile.TemporaryDirectory() as tmp:
        setup(Path(tmp) / "home", port)
        from tenantctl.config import load_config
        from tenantctl.storage.tenants import open_tenant
        from tenantctl.tools.run import tool_passages

        tenant, cfg = open_tenant("bench"), load_config()
        store = tenant.open_store()

        def tools(question: str):
            return lambda: tool_passages(tenant, question, cfg, store)

        def bare_csv():
            from tenantctl.tools import sql

            conn = sql._load_csv(tenant.config.tools[0], tenant.dir / "leave.csv")
            conn.execute("SELECT name, days_left FROM data WHERE employee = ?", ("E-1500",)).fetchall()
            conn.close()

        def bare_db():
            conn = sqlite3.connect(f"{(tenant.dir / 'leave.db').as_uri()}?mode=ro", uri=True)
            conn.execute("SELECT name, days_left FROM leave WHERE employee = ?", ("E-1500",)).fetchall()
            conn.close()

        def bare_http():
            with httpx.Client(trust_env=False) as client:
                client.get(f"http://127.0.0.1:{port}/orders/A-1234").json()

        results: dict = {"repeat": args.repeat, "no_match_ms": median_ms(tools("how many days?"), args.repeat)}
        for name, question, bare in (("sql_csv", "csv E-1500", bare_csv), ("sql_sqlite", "db E-1500", bare_db),
                                     ("http", "order A-1234", bare_http)):
            assert all(r.ok for r in tool_passages(tenant, question, cfg, store))
            ours, baseline = median_ms(tools(question), args.repeat), median_ms(bare, args.repeat)
            results[name] = {"tenantctl_ms": ours, "bare_ms": baseline, "overhead_ms": round(ours - baseline, 3),
                             "ratio": round(ours / baseline, 2)}
        store.close()
    server.shutdown()
    write_results("tools", results)


if __name__ == "__main__":
    main()
