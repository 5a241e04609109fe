"""The LLM loading in a thread beside a fresh process's own work (fast: no model), and the prompt's
fixed opening handed to the generator."""

import threading

import pytest

from tenantctl.config import ModelConfig
from tenantctl.errors import ModelUnavailable
from tenantctl.models import generation


class _Loaded:
    name = "loaded"
    n_ctx = 2048


def test_a_pending_generator_waits_for_its_load_and_passes_everything_through(monkeypatch):
    release = threading.Event()

    def slow_load(name, cfg):
        release.wait(5)
        return _Loaded()

    monkeypatch.setattr(generation, "get_generator", slow_load)
    monkeypatch.setattr(generation, "_LOADED", {})  # an earlier test of the run may have loaded the model
    pending = generation.load_generator("default", ModelConfig())
    assert isinstance(pending, generation.PendingGenerator)
    threading.Timer(0.05, release.set).start()
    assert pending.n_ctx == 2048 and pending.name == "loaded"  # waited for the load
    assert pending.waited_ms >= 30
    assert pending.resolve() is pending.resolve()


def test_a_failed_load_is_raised_where_the_generator_is_used(monkeypatch):
    def broken(name, cfg):
        raise ModelUnavailable("model 'default': cannot load x.gguf", "check the path")

    monkeypatch.setattr(generation, "get_generator", broken)
    monkeypatch.setattr(generation, "_LOADED", {})
    pending = generation.load_generator("default", ModelConfig())
    with pytest.raises(ModelUnavailable, match="cannot load x.gguf"):
        pending.generate(None)


def test_a_loaded_or_remote_model_is_not_loaded_in_a_thread(monkeypatch):
    monkeypatch.setattr(generation, "get_generator", lambda name, cfg: _Loaded())
    monkeypatch.setitem(generation._LOADED, generation._llama_key(ModelConfig()), _Loaded())
    assert isinstance(generation.load_generator("default", ModelConfig()), _Loaded)
    assert isinstance(generation.load_generator("remote", ModelConfig(base_url="http://127.0.0.1:9")), _Loaded)


def test_the_completion_prompt_opens_with_the_prefix_the_generator_is_told():
    from tenantctl.answering.answer import PromptBuilder

    for language in ("en", "zh"):
        builder = PromptBuilder(None, chat=False, language=language)
        prompt, _ = builder.render("Who opened the plant?", ["Marie Duval opened it."], [])
        assert builder.prefix() and prompt.startswith(builder.prefix())
        assert "Marie Duval opened it." not in builder.prefix()
    assert PromptBuilder(None, chat=True).prefix() == ""  # chat messages: nothing cached


def test_an_answer_tells_the_generator_its_prompt_s_fixed_opening():
    from tenantctl.answering.answer import Passage, PromptBuilder
    from tests.test_answer import ask

    passages = [Passage("Employees accrue 23 days of paid annual leave per calendar year.", "handbook.md")]
    _, generator = ask("How many days of annual leave?", passages, "23 days")
    request = generator.requests[0]
    assert request.prefix == PromptBuilder(None, chat=False).prefix() and request.prompt.startswith(request.prefix)
    _, generator = ask("How many days of annual leave?", passages, "23 days", chat=True)
    assert generator.requests[0].prefix == ""



def test_llama_cpp_cannot_point_the_process_s_output_elsewhere(capfd):
    """llama-cpp-python's model load (verbose=False) pointed fds 1 and 2 and sys.stdout/stderr at
    /dev/null; with the load in a thread, a question the gate turned away meanwhile printed nothing."""
    import sys

    import llama_cpp._internals

    generation._silence_llama_logs()
    with llama_cpp._internals.suppress_stdout_stderr(disable=False):
        print("printed while a model loads")
        sys.stderr.write("and its error\n")
    assert capfd.readouterr() == ("printed while a model loads\n", "and its error\n")


@pytest.mark.slow
def test_output_written_while_the_real_model_loads_in_a_thread_is_kept(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, time\n"
        "from tenantctl.config import ModelConfig\n"
        "from tenantctl.models import generation\n"
        "pending = generation.load_generator('default', ModelConfig())\n"
        "n = 0\n"
        "while pending._thread.is_alive():\n"
        "    n += 1; print(f'tick {n}', flush=True); time.sleep(0.005)\n"
        "pending.resolve()\n"
        "print(f'ticks {n}')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    count = int(lines[-1].removeprefix("ticks "))
    assert count > 0 and lines[:-1] == [f"tick {i}" for i in range(1, count + 1)], out[-500:]


def test_a_model_path_naming_a_folder_says_so(tmp_path):
    """It said "GGUF file /srv/models does not exist" of a folder that does."""
    with pytest.raises(ModelUnavailable, match=r"GGUF file .* is a folder") as info:
        generation.LlamaCppGenerator("default", ModelConfig(path=str(tmp_path)))
    assert "models.default.path" in info.value.hint
    with pytest.raises(ModelUnavailable, match=r"GGUF file .*missing.gguf does not exist"):
        generation.LlamaCppGenerator("default", ModelConfig(path=str(tmp_path / "missing.gguf")))
