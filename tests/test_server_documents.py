"""GET /v1/documents and DELETE /v1/documents/{path}: an integrator lists and removes its tenant's
uploads over the API, and never sees or touches another tenant's."""

import contextlib

import pytest

from .conftest import fast_home


@contextlib.contextmanager
def _two_tenants(cli, home, store="local"):
    """An in-process server over a new home with tenants acme and globex (hashing embedder), each with
    one uploaded document: the client and the two keys. With `store: postgres`, the `postgres` fixture
    must have written config.yaml."""
    from fastapi.testclient import TestClient

    from tenantctl.config import load_config
    from tenantctl.serving.app import create_app

    fast_home(cli, home, extra=(home / "config.yaml").read_text() if store != "local" else "")
    keys = {}
    for tenant in ("acme", "globex"):
        assert cli("tenant", "create", tenant, "--store", store).code == 0
        keys[tenant] = cli("key", "create", tenant, "--json").json()["key"]
    with TestClient(create_app(load_config())) as client:
        for tenant, text in (("acme", b"# Leave\n\nAcme staff get 28 days of leave."),
                             ("globex", b"# Launch\n\nThe launch code is ZEBRA-7731.")):
            sent = client.post("/v1/documents", headers=_auth(keys[tenant]), files=[("files", ("notes.md", text))])
            assert sent.status_code == 200, sent.text
        yield client, keys


def _auth(key):
    return {"Authorization": f"Bearer {key}"}


def test_documents_are_listed_and_an_upload_is_removed_from_file_store_and_index(cli, home):
    with _two_tenants(cli, home) as (client, keys):
        sent = client.post("/v1/documents", headers=_auth(keys["acme"]),
                           files=[("files", ("prices.csv", b"product,price\nFL-9,450\n"))])
        assert sent.status_code == 200, sent.text
        listed = client.get("/v1/documents", headers=_auth(keys["acme"])).json()
        assert listed["tenant"] == "acme"
        assert [d["path"] for d in listed["documents"]] == ["uploads/notes.md", "uploads/prices.csv"]
        first = listed["documents"][0]
        assert first["uploaded"] and first["chunks"] >= 1 and first["bytes"] > 0 and first["format"] == "md"
        assert first["ingested_at"].endswith("Z")

        gone = client.delete("/v1/documents/uploads/notes.md", headers=_auth(keys["acme"]))
        assert gone.status_code == 200, gone.text
        assert gone.json() == {"tenant": "acme", "removed": "uploads/notes.md"}
        assert not (home / "tenants" / "acme" / "uploads" / "notes.md").exists()
        assert [p.name for p in (home / "tenants" / "acme" / "uploads").iterdir()] == ["prices.csv"]
        left = client.get("/v1/documents", headers=_auth(keys["acme"])).json()["documents"]
        assert [d["path"] for d in left] == ["uploads/prices.csv"]
        hits = client.post("/v1/search", headers=_auth(keys["acme"]), json={"query": "days of leave", "k": 10})
        assert all(h["path"] != "uploads/notes.md" for h in hits.json()["hits"])
        assert cli("verify", "acme").code == 0  # the index on disk follows the store
        logged = (home / "logs" / "tenantctl.jsonl").read_text()
        assert '"event": "upload-remove"' in logged and "notes.md" not in logged  # counted, never named

        # The name the upload returned works as well; a second removal is not found.
        assert client.delete("/v1/documents/prices.csv", headers=_auth(keys["acme"])).status_code == 200
        again = client.delete("/v1/documents/prices.csv", headers=_auth(keys["acme"]))
        assert again.status_code == 404
        assert "no uploaded document 'prices.csv'" in again.json()["error"]
        assert "GET /v1/documents" in again.json()["hint"]


def test_another_tenant_s_documents_are_neither_listed_nor_removed(cli, home):
    with _two_tenants(cli, home) as (client, keys):
        listed = client.get("/v1/documents", headers=_auth(keys["acme"])).json()
        assert [d["path"] for d in listed["documents"]] == ["uploads/notes.md"]
        assert "ZEBRA" not in str(listed)
        globex_file = home / "tenants" / "globex" / "uploads" / "notes.md"
        for path in ("../../globex/uploads/notes.md", "..%2F..%2Fglobex%2Fuploads%2Fnotes.md",
                     "uploads/../../globex/uploads/notes.md", "globex/uploads/notes.md", ".notes.md",
                     "uploads/nothere.md"):
            refused = client.delete(f"/v1/documents/{path}", headers=_auth(keys["acme"]))
            assert refused.status_code in (404, 405), (path, refused.text)  # 405: a path the router cut to /v1
        assert globex_file.exists()
        # Globex's own document of the same name is untouched when acme removes its own.
        assert client.delete("/v1/documents/uploads/notes.md", headers=_auth(keys["acme"])).status_code == 200
        assert globex_file.exists()
        hits = client.post("/v1/search", headers=_auth(keys["globex"]), json={"query": "launch code"}).json()["hits"]
        assert hits and "ZEBRA-7731" in hits[0]["text"]
        assert client.get("/v1/documents", headers=_auth(keys["globex"])).json()["documents"][0]["path"] == \
            "uploads/notes.md"


def test_a_source_document_is_not_removed_over_the_api_and_a_suspended_tenant_refuses(cli, home, tmp_path):
    source = tmp_path / "handbook"
    source.mkdir()
    (source / "leave.md").write_text("# Leave\n\nTwenty-eight days.\n")
    with _two_tenants(cli, home) as (client, keys):
        assert cli("source", "add", "acme", str(source)).code == 0
        assert cli("reindex", "acme").code == 0
        paths = [d["path"] for d in client.get("/v1/documents", headers=_auth(keys["acme"])).json()["documents"]]
        assert paths == ["handbook/leave.md", "uploads/notes.md"]
        refused = client.delete("/v1/documents/handbook/leave.md", headers=_auth(keys["acme"]))
        assert refused.status_code == 409 and "source" in refused.json()["error"]
        assert (source / "leave.md").exists()

        assert cli("tenant", "suspend", "acme").code == 0
        suspended = client.delete("/v1/documents/uploads/notes.md", headers=_auth(keys["acme"]))
        assert suspended.status_code == 403 and "suspended" in suspended.json()["error"]
        assert (home / "tenants" / "acme" / "uploads" / "notes.md").exists()
        assert client.get("/v1/documents", headers=_auth(keys["acme"])).status_code == 200


def test_a_document_the_operator_ingested_is_409_and_an_upload_of_only_a_bad_file_stays_422(cli, home, tmp_path):
    """DELETE of a document `tenantctl ingest` read from a folder ("sla.txt", listed so) was 404 "no uploaded
    document", its hint the listing that names it. And an upload of the same bytes again replaced the file,
    whose new time then made every later upload re-read it as one a killed server left: an upload of only an
    empty file came back 200 "partial" (that file "skipped" beside it), not 422."""
    folder = tmp_path / "operator"
    folder.mkdir()
    (folder / "sla.txt").write_text("SLA\n\nUptime is 99.9 percent a month.\n")
    with _two_tenants(cli, home) as (client, keys):
        assert cli("ingest", "acme", str(folder)).code == 0
        listed = [d["path"] for d in client.get("/v1/documents", headers=_auth(keys["acme"])).json()["documents"]]
        assert "sla.txt" in listed
        refused = client.delete("/v1/documents/sla.txt", headers=_auth(keys["acme"]))
        assert refused.status_code == 409 and "not an upload" in refused.json()["error"], refused.text
        assert "operator" in refused.json()["hint"] and (folder / "sla.txt").exists()
        assert client.delete("/v1/documents/sla.txt", headers=_auth(keys["globex"])).status_code == 404

        again = client.post("/v1/documents", headers=_auth(keys["acme"]),
                            files=[("files", ("notes.md", b"# Leave\n\nAcme staff get 28 days of leave."))])
        assert again.status_code == 200 and again.json()["skipped"] == 1
        empty = client.post("/v1/documents", headers=_auth(keys["acme"]), files=[("files", ("empty.md", b""))])
        assert empty.status_code == 422, empty.text
        assert [f["path"] for f in empty.json()["files"]] == ["empty.md"]


def test_scrub_cuts_server_paths_and_keeps_the_api_s_own_endpoints():
    from tenantctl.serving.errors import scrub

    text = "GET /v1/documents lists them; /srv/home/tenants/acme/uploads/x.md failed; see /v1/../etc/passwd"
    assert scrub(text) == "GET /v1/documents lists them; x.md failed; see passwd"
    assert scrub("POST /v1/chat/sessions/{id}/messages") == "POST /v1/chat/sessions/{id}/messages"


def test_the_openapi_document_gives_the_error_shapes_and_streams_the_endpoints_send(cli, home):
    """/openapi.json (what /docs shows and client generators read) declared FastAPI's `{detail}` for 422
    and no other error; every endpoint answers `{error, hint}` (OpenAI's shape on its endpoints)."""
    from tenantctl.serving.schemas import ApiError, OpenAIError

    with _two_tenants(cli, home) as (client, keys):
        spec = client.get("/openapi.json").json()
        assert "HTTPValidationError" not in str(spec)
        schemas = spec["components"]["schemas"]
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                errors = operation["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"]
                shape = "OpenAIError" if path in ("/v1/chat/completions", "/v1/models", "/v1/models/{model_id}") \
                    else "ApiError"
                assert errors.endswith("/" + shape), (method, path, errors)
                assert "5XX" in operation["responses"]
        assert set(schemas["ApiError"]["required"]) == {"error"}
        for path in ("/v1/query", "/v1/chat/sessions/{session_id}/messages", "/v1/chat/completions"):
            assert "text/event-stream" in spec["paths"][path]["post"]["responses"]["200"]["content"], path

        # The errors really sent have those shapes.
        invalid = client.post("/v1/search", headers=_auth(keys["acme"]), json={"query": "x", "k": 0})
        missing = client.delete("/v1/documents/nothere.md", headers=_auth(keys["acme"]))
        unauthorised = client.post("/v1/query", json={"question": "x"})
        for response in (invalid, missing, unauthorised):
            assert ApiError.model_validate(response.json()).hint, response.text
        openai = client.post("/v1/chat/completions", headers=_auth(keys["acme"]), json={"messages": []})
        assert openai.status_code == 400 and OpenAIError.model_validate(openai.json()).error.code == 400


class _FailsAfterOneToken:
    """A generator that streams one token, then fails as a damaged model file or a full disk would."""

    name, n_ctx, load_ms, has_chat_template, confidence = "broken", 2048, 0.0, False, None

    def __init__(self, error):
        self.error = error

    def count_tokens(self, text):
        return len(text) // 4

    def generate(self, request, on_token=None):
        if on_token:
            on_token(" 28")
        raise self.error


def test_an_openai_stream_that_fails_after_its_first_token_ends_with_an_error_event(cli, home, monkeypatch):
    """An error after the 200 was `{"error": {"message"}}` with the server's paths in it, and an OSError
    broke the stream off without any event; now OpenAI's error shape, scrubbed, then `[DONE]`."""
    import json

    from tenantctl.errors import ModelUnavailable
    from tenantctl.models import generation

    from .conftest import open_gate

    failures = [ModelUnavailable("cannot read /srv/secret/models/gemma.gguf", "ask the operator to check the model"),
                OSError(28, "No space left on device", "/srv/secret/tenants/acme/store.db")]
    with _two_tenants(cli, home) as (client, keys):
        open_gate(home, "acme")
        for failure in failures:
            monkeypatch.setattr(generation, "load_generator", lambda name, cfg, f=failure: _FailsAfterOneToken(f))
            body = {"stream": True, "messages": [{"role": "user", "content": "How many days of leave do staff get?"}]}
            with client.stream("POST", "/v1/chat/completions", json=body, headers=_auth(keys["acme"])) as streamed:
                assert streamed.status_code == 200
                lines = [line for line in streamed.iter_lines() if line.startswith("data: ")]
            assert lines[-1] == "data: [DONE]", lines
            error = json.loads(lines[-2].removeprefix("data: "))["error"]
            assert set(error) == {"message", "type", "code", "hint"} and error["type"] == "server_error", error
            assert "/srv/secret" not in json.dumps(error), error


def test_a_session_s_messages_are_read_back_by_its_own_tenant_alone(cli, home, monkeypatch):
    from tenantctl.models import generation

    from .conftest import open_gate
    from .test_answer import FakeGenerator

    monkeypatch.setattr(generation, "load_generator", lambda name, cfg: FakeGenerator(" 28 days"))
    with _two_tenants(cli, home) as (client, keys):
        open_gate(home, "acme")
        session = client.post("/v1/chat/sessions", headers=_auth(keys["acme"])).json()["id"]
        asked = client.post(f"/v1/chat/sessions/{session}/messages", headers=_auth(keys["acme"]),
                            json={"question": "How many days of leave do Acme staff get?"})
        assert asked.status_code == 200, asked.text
        read = client.get(f"/v1/chat/sessions/{session}/messages", headers=_auth(keys["acme"]))
        assert read.status_code == 200, read.text
        assert read.json() == {"session": session, "messages": [
            {"question": "How many days of leave do Acme staff get?", "answer": asked.json()["answer"]}]}
        empty = client.post("/v1/chat/sessions", headers=_auth(keys["acme"])).json()["id"]
        assert client.get(f"/v1/chat/sessions/{empty}/messages", headers=_auth(keys["acme"])).json()["messages"] == []

        for other in (session, "000000000000"):  # acme's session with globex's key, and none
            refused = client.get(f"/v1/chat/sessions/{other}/messages", headers=_auth(keys["globex"]))
            assert refused.status_code == 404, (other, refused.text)
            assert "days" not in refused.text and "GET /v1/chat/sessions" in refused.json()["hint"]
        for other in ("..", "%2e%2e", f"..%2f{session}"):
            assert client.get(f"/v1/chat/sessions/{other}/messages", headers=_auth(keys["globex"])).status_code == 404


@pytest.mark.slow
def test_pooled_tenants_list_and_remove_their_own_uploads_in_postgres(cli, home, postgres):
    with _two_tenants(cli, home, store="postgres") as (client, keys):
        listed = client.get("/v1/documents", headers=_auth(keys["acme"])).json()["documents"]
        assert [(d["path"], d["uploaded"]) for d in listed] == [("uploads/notes.md", True)]
        assert client.delete("/v1/documents/uploads/notes.md", headers=_auth(keys["globex"])).status_code == 200
        assert client.get("/v1/documents", headers=_auth(keys["globex"])).json()["documents"] == []
        searched = client.post("/v1/search", headers=_auth(keys["globex"]), json={"query": "launch code"})
        assert searched.json()["hits"] == []
        hits = client.post("/v1/search", headers=_auth(keys["acme"]), json={"query": "days of leave"}).json()["hits"]
        assert hits and hits[0]["path"] == "uploads/notes.md"  # acme's document of the same name stays
        assert client.delete("/v1/documents/uploads/notes.md", headers=_auth(keys["globex"])).status_code == 404


def test_parallel_uploads_and_removals_of_one_tenant_wait_for_each_other(cli, home):
    """A client uploading files in parallel got 409 "busy" for all but one of them."""
    from concurrent.futures import ThreadPoolExecutor

    with _two_tenants(cli, home) as (client, keys):
        def upload(i):
            files = [("files", (f"part{i}.md", f"# Part {i}\n\nGizmo {i} weighs {i} kg.".encode()))]
            return client.post("/v1/documents", headers=_auth(keys["acme"]), files=files).status_code

        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(upload, range(6))) == [200] * 6
        listed = client.get("/v1/documents", headers=_auth(keys["acme"])).json()["documents"]
        assert sorted(d["path"] for d in listed) == ["uploads/notes.md"] + [f"uploads/part{i}.md" for i in range(6)]
        remove = lambda i: client.delete(f"/v1/documents/uploads/part{i}.md", headers=_auth(keys["acme"])).status_code  # noqa: E731
        with ThreadPoolExecutor(6) as pool:
            assert list(pool.map(remove, range(6))) == [200] * 6
        assert [d["path"] for d in client.get("/v1/documents", headers=_auth(keys["acme"])).json()["documents"]] == \
            ["uploads/notes.md"]
        assert cli("verify", "acme").code == 0


def test_real_responses_have_the_shapes_the_openapi_document_declares(cli, home, monkeypatch):
    """Each 200 body checked against its declared model, unknown fields refused: the document cannot
    drift from what the endpoints send."""
    import json

    from tenantctl.models import generation
    from tenantctl.serving import schemas

    from .conftest import open_gate
    from .test_answer import FakeGenerator

    monkeypatch.setattr(generation, "load_generator", lambda name, cfg: FakeGenerator(" 28 days"))
    with _two_tenants(cli, home) as (client, keys):
        open_gate(home, "acme")
        auth = _auth(keys["acme"])
        spec = client.get("/openapi.json").json()["paths"]
        declared = lambda path, method: spec[path][method]["responses"]["200"]["content"]["application/json"]  # noqa: E731
        question = {"question": "How many days of leave do Acme staff get?"}
        sent = client.post("/v1/documents", headers=auth, files=[("files", ("more.md", b"# More\n\nMore text."))])
        session = client.post("/v1/chat/sessions", headers=auth).json()
        checks = [
            ("/v1/documents", "post", schemas.UploadResult, sent),
            ("/v1/documents", "get", schemas.DocumentList, client.get("/v1/documents", headers=auth)),
            ("/v1/search", "post", schemas.SearchResult,
             client.post("/v1/search", headers=auth, json={"query": "leave"})),
            ("/v1/query", "post", schemas.AnswerResult, client.post("/v1/query", headers=auth, json=question)),
            ("/v1/query", "post", schemas.AnswerResult,
             client.post("/v1/query", headers=auth, json={**question, "passages": True})),
            ("/v1/chat/sessions", "post", schemas.NewSession, client.post("/v1/chat/sessions", headers=auth)),
            ("/v1/chat/sessions/{session_id}/messages", "post", schemas.ChatTurn,
             client.post(f"/v1/chat/sessions/{session['id']}/messages", headers=auth, json=question)),
            ("/v1/chat/sessions/{session_id}/messages", "get", schemas.SessionMessages,
             client.get(f"/v1/chat/sessions/{session['id']}/messages", headers=auth)),
            ("/v1/usage", "get", schemas.UsageReport, client.get("/v1/usage?by=day", headers=auth)),
            ("/v1/documents/{path}", "delete", schemas.DocumentRemoved,
             client.delete("/v1/documents/uploads/more.md", headers=auth)),
        ]
        for path, method, model, response in checks:
            assert response.status_code == 200, (path, response.text)
            assert declared(path, method)["schema"]["$ref"].endswith("/" + model.__name__), path
            model.model_validate(response.json())
        assert client.post("/v1/query", headers=auth, json=question).json()["no_answer"] is False  # an answer checked
        for row in client.get("/v1/chat/sessions", headers=auth).json():
            schemas.SessionInfo.model_validate(row)
        with client.stream("POST", "/v1/query", headers=auth, json={**question, "stream": True}) as streamed:
            events = [line for line in streamed.iter_lines() if line.startswith("data: ")]
        schemas.AnswerResult.model_validate(json.loads(events[-1].removeprefix("data: ")))
        assert "text/event-stream" in spec["/v1/query"]["post"]["responses"]["200"]["content"]
