"""What a server does on every request, made cheap without changing what it sees: registry lookups on
kept connections, tenant.yaml parsed once while it is unchanged, the home resolved once, one query
searched on its own thread."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time

import pytest

from tenantctl import paths
from tenantctl.config import TenantConfig, load_tenant_config, save_tenant_config
from tenantctl.storage import keys, registry
from tenantctl.storage.tenants import create_tenant, open_tenant


def _in_thread(fn):
    out = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


def test_kept_connections_see_revocations_and_a_replaced_home_at_once(home):
    create_tenant("a")
    key, secret = keys.create("a")
    with registry.kept_connections():
        assert keys.resolve(secret).tenant == "a"
        assert len(registry._kept) == 1
        keys.revoke(key.id)  # by another connection, as `tenantctl key revoke` in another process
        assert keys.resolve(secret) is None
        registry.set_status("a", "suspended")
        assert registry.get("a").status == "suspended"

        shutil.rmtree(home)  # the home replaced under the server: the same paths, other files
        create_tenant("a")
        _, fresh = keys.create("a")
        assert keys.resolve(fresh).tenant == "a"
        assert registry.get("a").status == "active"
        assert keys.resolve(secret) is None
        assert len(registry._kept) == 1  # the old file's connection was closed, not kept


def test_kept_connections_are_per_thread_and_all_closed_at_the_end(home):
    create_tenant("a")
    _, secret = keys.create("a")
    with registry.kept_connections():
        assert _in_thread(lambda: keys.resolve(secret).tenant) == "a"
        assert _in_thread(lambda: registry.get("a").id) == "a"
        kept = list(registry._kept)
        assert len(kept) == 2
    assert registry._kept == []
    for conn in kept:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    assert keys.resolve(secret).tenant == "a"  # and lookups go on, each on a connection of its own


def test_without_a_server_no_connection_stays_open(home):
    create_tenant("a")
    _, secret = keys.create("a")
    assert keys.resolve(secret).tenant == "a" and registry.get("a").id == "a"
    assert registry._kept == []
    held = getattr(registry._local, "held", None)  # left by a server that ran before: closed
    if held is not None:
        with pytest.raises(sqlite3.ProgrammingError):
            held[1].execute("SELECT 1")


def _write(path, display_name, age_s):
    save_tenant_config(TenantConfig(id="a", display_name=display_name), path)
    old = time.time() - age_s
    os.utime(path, (old, old))


def test_settings_parsed_once_while_the_file_is_unchanged(tmp_path):
    path = tmp_path / "tenant.yaml"
    _write(path, "one", age_s=60)
    first = load_tenant_config(path)
    assert load_tenant_config(path) is first  # served from the cache

    # Rewritten in place, same size, its mtime put back: the change time still moves.
    stamp = os.stat(path)
    time.sleep(0.01)
    path.write_text(path.read_text().replace("one", "two"))
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert os.stat(path).st_size == stamp.st_size
    assert load_tenant_config(path).display_name == "two"


def test_settings_written_just_now_are_read_again(tmp_path):
    path = tmp_path / "tenant.yaml"
    _write(path, "one", age_s=0)
    first = load_tenant_config(path)
    assert load_tenant_config(path) is not first  # too fresh to trust its stamps: parsed again
    save_tenant_config(TenantConfig(id="a", display_name="two"), path)
    assert load_tenant_config(path).display_name == "two"


def test_two_tenants_never_share_settings(home):
    for tenant_id, name in (("a", "Alpha"), ("b", "Beta")):
        create_tenant(tenant_id, name)
        config = paths.tenant_dir(tenant_id) / "tenant.yaml"
        old = time.time() - 60
        os.utime(config, (old, old))
    for _ in range(2):  # parsed, then cached
        assert open_tenant("a").config.display_name == "Alpha"
        assert open_tenant("b").config.display_name == "Beta"
        assert open_tenant("a").config.id == "a" and open_tenant("b").config.id == "b"


def test_a_relative_home_follows_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("TENANTCTL_HOME", "rel-home")
    for where in ("x", "y"):
        (tmp_path / where).mkdir()
        monkeypatch.chdir(tmp_path / where)
        assert paths.home() == (tmp_path / where / "rel-home").resolve()


def test_one_query_is_searched_on_the_calling_thread():
    import faiss
    import numpy as np

    from tenantctl.storage.index import VectorIndex

    vectors = np.eye(4, 8, dtype=np.float32)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(8))
    index.add_with_ids(vectors, np.arange(10, 14, dtype=np.int64))
    searched = VectorIndex(index, 0)

    def search():
        hits = searched.search(vectors[2], 2)
        return hits, faiss.omp_get_max_threads()

    hits, threads = _in_thread(search)
    assert hits[0] == (12, pytest.approx(1.0)) and len(hits) == 2
    assert threads == 1


def test_a_server_keeps_its_lookups_connections_while_it_runs_and_closes_them(home):
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    for tenant_id in ("a", "b"):
        create_tenant(tenant_id)
    secrets = {t: keys.create(t)[1] for t in ("a", "b")}
    with TestClient(create_app(load_config())) as client:
        for _ in range(2):
            for tenant_id, secret in secrets.items():
                got = client.get("/v1/usage", headers={"Authorization": f"Bearer {secret}"})
                assert got.status_code == 200 and got.json()["tenant"] == tenant_id
        assert registry._kept  # the lookups ran on kept connections
        kept = list(registry._kept)
        key_id = keys.listing("a")[0].id
        keys.revoke(key_id)
        assert client.get("/v1/usage", headers={"Authorization": f"Bearer {secrets['a']}"}).status_code == 401
        assert client.get("/v1/usage", headers={"Authorization": f"Bearer {secrets['b']}"}).json()["tenant"] == "b"
    assert registry._kept == []
    for conn in kept:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
