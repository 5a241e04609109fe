"""Two `tenantctl serve` nodes — two real uvicorn processes on localhost, each with a home of its own
(the same config.yaml, nothing else shared) — over one real PostgreSQL: what one node writes the other
serves at once, a key made on either works on both, killing one node under load loses nothing the
other received, and no response of either holds another tenant's passage."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .conftest import copy_samples

pytestmark = pytest.mark.slow  # two servers, the real embedding model, a real PostgreSQL

TENANTS = ("acme-hr", "huaxin-bank")
PROBES = ("How many days of paid annual leave per year?", "手机银行单笔转账限额是多少", "hotel limit per night",
          "zebra protocol code")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, home: Path, log: Path) -> None:
        self.home, self.port = home, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "TENANTCTL_HOME": str(home)}
        self.log = log.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "tenantctl", "serve", "--port", str(self.port)],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"node on {self.port} exited"
            try:
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"node on {self.port} did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


@pytest.fixture
def cluster(cli, postgres, home, tmp_path, monkeypatch):
    """Two tenants in the pool, ingested from the samples through node 1's home; two serve nodes."""
    second = tmp_path / "node2-home"
    second.mkdir()
    (second / "config.yaml").write_text((home / "config.yaml").read_text())
    docs = copy_samples(tmp_path / "samples")
    nodes = [Node(home, tmp_path / "node1.log"), Node(second, tmp_path / "node2.log")]
    try:
        for tenant in TENANTS:  # the nodes start before any tenant exists: nothing is read at start
            assert cli("create", tenant, "--store", "postgres").code == 0
            assert cli("ingest", tenant, docs / tenant).code == 0
        for node in nodes:
            node.wait_ready()
        yield nodes, docs, second
    finally:
        for node in nodes:
            node.stop()


def _own_names(docs: Path) -> dict[str, set[str]]:
    own = {t: {p.name for p in (docs / t).iterdir()} for t in TENANTS}
    own["acme-hr"] |= {"uploads/zebra.md", "zebra.md"}  # as named by the node that received it, and the other
    return own


def test_two_nodes_share_documents_and_keys_and_survive_losing_one(cli, cluster, monkeypatch):
    import httpx

    (node1, node2), docs, second_home = cluster
    key = {"acme-hr": cli("key", "create", "acme-hr", "--json").json()["key"]}  # made on node 1's home
    monkeypatch.setenv("TENANTCTL_HOME", str(second_home))
    key["huaxin-bank"] = cli("key", "create", "huaxin-bank", "--json").json()["key"]  # ... and on node 2's
    auth = {t: {"Authorization": f"Bearer {k}"} for t, k in key.items()}

    uploaded = httpx.post(node1.url + "/v1/documents", headers=auth["acme-hr"], timeout=120, files={
        "files": ("zebra.md", b"# Security\n\nThe zebra protocol code for the server room is ZX-4411.\n",
                  "text/markdown")})
    assert uploaded.status_code == 200, uploaded.text
    found = httpx.post(node2.url + "/v1/search", headers=auth["acme-hr"], timeout=60,
                       json={"query": "zebra protocol code", "k": 3})
    assert found.status_code == 200 and "ZX-4411" in found.json()["hits"][0]["text"]  # at once, on node 2
    for tenant in TENANTS:  # each key works on both nodes, for its own tenant only
        for node in (node1, node2):
            answer = httpx.post(node.url + "/v1/search", headers=auth[tenant], json={"query": "leave"}, timeout=60)
            assert answer.status_code == 200 and answer.json()["tenant"] == tenant

    results = _load_and_kill(node1, node2, auth)
    own = _own_names(docs)
    at_node2 = [r for r in results if r[0] == "node2"]
    assert len(at_node2) >= 40 and all(status == 200 for _, _, status, _ in at_node2), \
        [r for r in at_node2 if r[2] != 200][:3]
    assert any(r[0] == "node1" and r[2] == 200 for r in results)  # node 1 served until it was killed
    for _, tenant, status, body in results:
        if status == 200:
            assert body["tenant"] == tenant
            assert {h["path"] for h in body["hits"]} <= own[tenant], (tenant, body["hits"])
    after = httpx.post(node2.url + "/v1/search", headers=auth["huaxin-bank"], json={"query": "转账限额"}, timeout=60)
    assert after.status_code == 200 and after.json()["hits"]

    monkeypatch.setenv("TENANTCTL_HOME", str(node1.home))  # the operator works on node 1's home
    assert cli("tenant", "suspend", "huaxin-bank").code == 0
    refused = httpx.post(node2.url + "/v1/query", headers=auth["huaxin-bank"], json={"question": "转账限额"},
                         timeout=60)
    assert refused.status_code == 403  # node 2 sees the suspension at its next request
    key_id = cli("key", "list", "acme-hr", "--json").json()[0]["id"]
    assert cli("key", "revoke", key_id).code == 0
    revoked = httpx.post(node2.url + "/v1/search", headers=auth["acme-hr"], json={"query": "leave"}, timeout=60)
    assert revoked.status_code == 401


def _load_and_kill(node1: Node, node2: Node, auth: dict[str, dict[str, str]]) -> list[tuple]:
    """Four clients search both nodes for both tenants; node 1 is killed (SIGKILL) while they run. Returns
    (node, tenant, status or 0 for a failed connection, body) for every request."""
    import httpx

    results: list[tuple] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(timeout=60) as http:
            i = 0
            while not stop.is_set():
                name, node = ("node1", node1) if (i + n) % 2 == 0 else ("node2", node2)
                tenant = TENANTS[(i // 2 + n) % 2]
                try:
                    response = http.post(node.url + "/v1/search", headers=auth[tenant],
                                         json={"query": PROBES[i % len(PROBES)], "k": 5})
                    entry = (name, tenant, response.status_code, response.json())
                except httpx.HTTPError:
                    entry = (name, tenant, 0, None)
                with lock:
                    results.append(entry)
                i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(r[0] == "node1" for r in results) < 20:
        time.sleep(0.1)
    node1.proc.kill()  # under load
    killed_at = len(results)
    while time.monotonic() < deadline and len(results) < killed_at + 40:
        time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join()
    assert node1.proc.wait() != 0
    return results
