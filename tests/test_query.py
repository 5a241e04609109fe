"""Grounded answers end to end on the real default model (Gemma 3 270M via llama.cpp)."""

import io

import pytest
import yaml

from tenantctl.errors import ExitCode

from .conftest import SAMPLE_IDS, set_tenant_yaml

QUESTIONS = {
    "acme-hr": ("How many days of paid annual leave do employees accrue per year?", "employee_handbook.docx", "23"),
    "nordwerk-maint": ("What does error code E-417 mean?", "error_codes.json", "E-417"),
    "huaxin-bank": ("使用短信验证码时，手机银行单笔转账限额是多少？", "transfer_limits.html", "5 万元"),
}

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("tenant", SAMPLE_IDS)
def test_answer_cites_the_file_holding_the_fact_and_only_its_tenant(cli, samples, tenant):
    question, filename, key = QUESTIONS[tenant]
    result = cli("query", tenant, question, "--json", "--passages")
    assert result.code == 0, result
    data = result.json()
    assert not data["no_answer"] and data["model"] == "default"
    assert key in data["answer"] + data["supporting"]
    assert data["sources"][0]["quote"] == data["supporting"]
    cited = [s["path"] for s in data["sources"]]
    assert any(p.endswith("/" + filename) for p in cited), data
    for path in cited + [p["path"] for p in data["passages"]]:
        assert f"/samples/{tenant}/" in path
    numbers = {s["n"] for s in data["sources"]}
    assert numbers == set(data["citations"]) and numbers <= set(range(1, len(data["passages"]) + 1))
    for n in numbers:
        assert f"[{n}]" in data["answer"]
    for other, (_, _, other_key) in QUESTIONS.items():
        if other != tenant and other_key != key:
            assert other_key not in data["answer"]
    t = data["timings"]
    assert t["prompt_tokens"] > 50 and t["completion_tokens"] >= 1 and t["generation_ms"] > 0


def test_human_output_lists_sources(cli, samples):
    result = cli("query", "nordwerk-maint", "What does error code E-417 mean?")
    assert result.code == 0
    assert "Sources:" in result.out and "error_codes.json" in result.out


def _forbid_model(monkeypatch) -> list:
    """Every attempt to load or call the model, recorded (a load in a thread raises where nobody sees it)."""
    import tenantctl.models.generation as generation

    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("the model must not be loaded or called")

    monkeypatch.setattr(generation, "get_generator", refuse)
    monkeypatch.setattr(generation.LlamaCppGenerator, "generate", refuse)
    return attempts


def test_off_topic_question_does_not_load_or_call_the_model(cli, samples, monkeypatch):
    attempts = _forbid_model(monkeypatch)
    data = cli("query", "acme-hr", "What is the boiling point of liquid nitrogen?", "--json").json()
    assert data["no_answer"] and data["sources"] == [] and data["model"] is None and attempts == []
    assert "do not hold an answer" in data["answer"]


def test_a_question_without_words_is_not_answered_from_whatever_is_nearest(cli, samples, monkeypatch):
    attempts = _forbid_model(monkeypatch)
    for question in ("🙂", "What is it?"):  # no content word to look for
        data = cli("query", "acme-hr", question, "--json").json()
        assert data["no_answer"], data
    assert attempts == []


def test_a_misspelt_question_is_still_answered(cli, samples):
    data = cli("query", "acme-hr", "parental leaev how long", "--json").json()  # was "not in the documents"
    assert not data["no_answer"] and data["supporting"].startswith("Parental leave"), data
    assert data["sources"][0]["path"].endswith("employee_handbook.docx")


def test_an_answer_notes_the_names_its_passages_do_not_mention(cli, samples):
    """The passages hold annual leave but no Singapore office: the answer says so beside it. A name only
    another tenant's documents hold ("Nordwerk") is no more mentioned: its documents are never read."""
    asked = "How many days of paid annual leave do employees of the Singapore office get from Nordwerk?"
    data = cli("query", "acme-hr", asked, "--json").json()
    assert not data["no_answer"] and len(data["notes"]) == 1, data
    assert "'Singapore'" in data["notes"][0] and "'Nordwerk'" in data["notes"][0], data
    human = cli("query", "acme-hr", asked)
    assert "do not mention 'Singapore'" in human.err
    held = cli("query", "acme-hr", "How many days of paid annual leave do employees accrue per year?", "--json")
    assert held.json()["notes"] == []


def test_a_record_answers_with_the_field_asked_for(cli, samples):
    """error_codes.json: each code one record of name: value fields; the severity field, not the code."""
    data = cli("query", "nordwerk-maint", "What is the severity of error code E-417?", "--json").json()
    assert data["short_answer"].startswith("code: E-417; severity: "), data
    assert data["sources"][0]["path"].endswith("error_codes.json")


def test_threshold_from_tenant_yaml_drives_the_no_answer_path(cli, tmp_path, monkeypatch):
    from .conftest import copy_samples

    docs = copy_samples(tmp_path / "samples")
    cli("tenant", "create", "strict")
    assert cli("ingest", "strict", docs / "acme-hr").code == 0
    set_tenant_yaml(tmp_path / "home", "strict", answer={"min_score": 0.99})
    _forbid_model(monkeypatch)
    result = cli("query", "strict", "How many days of paid annual leave do employees accrue?", "--json")
    assert result.code == 0 and result.json()["no_answer"]


def test_pilot_tenant_uses_its_own_model_entry(cli, samples, tmp_path, monkeypatch):
    """Two model entries on the same GGUF with different settings; one tenant is the pilot."""
    import shutil

    home = tmp_path / "pilot-home"
    shutil.copytree(_home_of(samples), home)
    monkeypatch.setenv("TENANTCTL_HOME", str(home))
    (home / "config.yaml").write_text(yaml.safe_dump({
        "models": {"default": {}, "pilot": {"n_ctx": 1024, "max_tokens": 48}},
    }))
    set_tenant_yaml(home, "nordwerk-maint", answer={"model": "pilot"})

    from tenantctl.models import generation

    pilot = cli("query", "nordwerk-maint", "What does error code E-417 mean?", "--json").json()
    other = cli("query", "acme-hr", "How long is the probation period for new hires?", "--json").json()
    assert pilot["model"] == "pilot" and other["model"] == "default"
    contexts = sorted(g.n_ctx for g in generation._LOADED.values())
    assert 1024 in contexts and 2048 in contexts
    assert pilot["timings"]["completion_tokens"] <= 48
    assert cli("tenant", "show", "nordwerk-maint", "--json").json()["model"] == "pilot"


def _home_of(samples):
    import os

    return os.environ["TENANTCTL_HOME"]


def test_unknown_model_name_is_a_clear_error(cli, samples, tmp_path, monkeypatch):
    import shutil

    home = tmp_path / "h"
    shutil.copytree(_home_of(samples), home)
    monkeypatch.setenv("TENANTCTL_HOME", str(home))
    set_tenant_yaml(home, "acme-hr", answer={"model": "gpt-9"})
    result = cli("query", "acme-hr", "How many days of paid annual leave do employees accrue?")
    assert result.code == ExitCode.ERROR and "model 'gpt-9' is not configured" in result.err


def test_chat_keeps_history_resumes_and_refuses_another_tenants_session(cli, samples, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("How long is the probation period for new hires?\n"))
    first = cli("chat", "acme-hr", "--json")
    assert first.code == 0, first
    import json

    turn = json.loads(first.out.strip().splitlines()[-1])
    session = turn["session"]
    assert "90 days" in turn["answer"]

    monkeypatch.setattr("sys.stdin", io.StringIO("How many days of paid annual leave do employees accrue?\n"))
    second = cli("chat", "acme-hr", "--session", session, "--json")
    assert second.code == 0 and "(1 earlier exchange)" in second.err
    listed = cli("chat", "acme-hr", "--list", "--json").json()
    assert any(s["id"] == session and s["messages"] == 2 for s in listed)

    monkeypatch.setattr("sys.stdin", io.StringIO("What does error code E-417 mean?\n"))
    refused = cli("chat", "nordwerk-maint", "--session", session)
    assert refused.code == ExitCode.NOT_FOUND
    assert f"session {session!r} does not belong to tenant 'nordwerk-maint'" in refused.err
    assert all(s["id"] != session for s in cli("chat", "nordwerk-maint", "--list", "--json").json())


def test_loading_the_model_prints_nothing(capfd):
    """llama.cpp logs context notes even when not verbose; a load must not print them."""
    from tenantctl.config import ModelConfig
    from tenantctl.models.generation import LlamaCppGenerator

    LlamaCppGenerator("default", ModelConfig())
    assert capfd.readouterr() == ("", "")


def test_n_threads_sets_the_prompt_and_the_generation_threads():
    """On a busy machine one thread reads a prompt faster than two spinning ones: `n_threads` sets both."""
    from tenantctl.config import ModelConfig
    from tenantctl.models.generation import LlamaCppGenerator

    params = LlamaCppGenerator("default", ModelConfig(n_threads=1)).llm.context_params
    assert (params.n_threads, params.n_threads_batch) == (1, 1)


def test_a_busy_machine_reads_the_prompt_with_one_thread(monkeypatch):
    """With `n_threads` unset the prompt threads follow the load: one while every core is busy."""
    import os

    import llama_cpp

    from tenantctl.config import ModelConfig
    from tenantctl.models.base import Request
    from tenantctl.models.generation import LlamaCppGenerator, prompt_threads

    assert prompt_threads(cores=2, load=2.3, others=0) == 1 and prompt_threads(cores=2, load=1.2, others=0) == 2
    assert prompt_threads(cores=1, load=5.0, others=0) == 1
    # Another process running now (the load average not risen yet): only the free cores.
    assert prompt_threads(cores=2, load=0.2, others=1) == 1 and prompt_threads(cores=4, load=0.2, others=1) == 3
    monkeypatch.setattr("tenantctl.models.generation._others_running", lambda: 0)
    request = Request(prompt="Text: The sky is blue.\nQuestion: What colour is the sky?\nAnswer:", max_tokens=3)
    auto, fixed = LlamaCppGenerator("default", ModelConfig()), LlamaCppGenerator("default", ModelConfig(n_threads=2))
    for load, expected in ((64.0, 1), (0.0, os.cpu_count())):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        for generator in (auto, fixed):
            generator.generate(request)
        assert llama_cpp.llama_n_threads_batch(auto.llm.ctx) == expected
        assert llama_cpp.llama_n_threads_batch(fixed.llm.ctx) == 2  # set in config: kept


def test_a_search_or_question_process_ends_at_once_with_everything_written(samples):
    """`tenantctl search|query` end with os._exit once done (no interpreter teardown): the output, the
    usage record and the log line must all be there."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from .conftest import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["search", "acme-hr", "annual leave", "--json"],
                 ["query", "acme-hr", "How many days of annual leave?", "--json"]):
        done = subprocess.run([sys.executable, "-m", "tenantctl", *args], capture_output=True, text=True, env=env,
                              cwd=ROOT, timeout=300)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)
        log = Path(os.environ["TENANTCTL_HOME"]) / "logs" / "tenantctl.jsonl"
        last = json.loads(log.read_text().splitlines()[-1])
        assert (last["event"], last["command"], last["exit_code"]) == ("command", args[0], 0)
    records = subprocess.run([sys.executable, "-m", "tenantctl", "usage", "--tenant", "acme-hr", "--json"],
                             capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    assert "question" in records.stdout
