import subprocess
import sys

import typer

HEAVY = ("torch", "sentence_transformers", "faiss", "llama_cpp", "transformers", "numpy")


def _imported_after(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from tenantctl.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    line = out.strip().splitlines()[-1]
    assert line.startswith("HEAVY:"), out
    return {m for m in line.removeprefix("HEAVY:").split(",") if m}


def test_help_and_tenant_list_import_no_heavy_module(home):
    assert _imported_after(["--help"]) == set()
    assert _imported_after(["tenant", "list"]) == set()
    assert _imported_after(["tenant", "show", "nope"]) == set()


def test_every_command_has_help_text():
    from tenantctl.cli import app

    def walk(group: typer.Typer, prefix: str):
        for info in group.registered_commands:
            yield prefix + (info.name or info.callback.__name__), info.callback
        for sub in group.registered_groups:
            yield from walk(sub.typer_instance, prefix + sub.name + " ")

    commands = list(walk(app, ""))
    assert len(commands) >= 8
    for name, callback in commands:
        assert callback.__doc__ and callback.__doc__.strip(), f"`tenantctl {name}` has no help text"


HOT_ARGS = [["search", "--help"], ["query", "--help"], ["search"], ["query", "acme-hr", "q", "--bogus"],
            ["search", "acme-hr", "x", "-k", "0"], ["search", "-h"], ["query", "acme-hr", "q", "--mode", "x"]]


def test_search_and_query_run_in_a_lighter_app_with_the_same_help_and_errors(capsys):
    """A fresh `search` or `query` builds only its own module's commands; nothing a user sees differs."""
    import pytest

    from tenantctl.cli import _app_for, app

    for args in HOT_ARGS:
        assert _app_for(args) is not app and _app_for(args) is _app_for(args)
        seen = []
        for runner in (app, _app_for(args)):
            with pytest.raises(SystemExit) as done:
                runner(args=list(args), prog_name="tenantctl")
            seen.append((done.value.code, capsys.readouterr()))
        assert seen[0] == seen[1], args
        assert seen[0][1].out or seen[0][1].err
    assert _app_for(["tenant", "list"]) is app and _app_for(["chat", "--help"]) is app and _app_for([]) is app


def test_the_cli_does_not_scan_installed_packages_for_pydantic_plugins(home):
    # Discovering entry points reads every installed package's metadata: ~40 ms of each process.
    code = (
        "import importlib.metadata as m, os\n"
        "os.environ.pop('PYDANTIC_DISABLE_PLUGINS', None)\n"
        "calls = []\n"
        "real = m.entry_points\n"
        "m.entry_points = lambda *a, **k: calls.append(k) or real(*a, **k)\n"
        "from tenantctl.cli import main\n"
        "try:\n"
        "    main(['tenant', 'list'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('CALLS:', calls)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "CALLS: []", out


def test_no_help_text_loses_brackets_to_rich_markup():
    """Typer renders help through rich markup, which eats "[default: 5]" as a tag: escape it as "\\[".
    ("Number of hits [default: 5]." showed as "Number of hits ."; a metavar "[TENANT]" as "[[TENANT]]".)"""
    import typer.main
    from rich.text import Text

    from tenantctl.cli import app

    def texts(command, name):
        yield name, command.help or ""
        for param in command.params:
            yield f"{name} {param.name}", getattr(param, "help", None) or ""
            assert not (param.metavar or "").startswith("["), f"{name} {param.name}: click adds the brackets"
        for sub_name, sub in getattr(command, "commands", {}).items():
            yield from texts(sub, f"{name} {sub_name}")

    for where, text in texts(typer.main.get_command(app), "tenantctl"):
        assert Text.from_markup(text).plain.count("[") == text.count("["), f"{where}: {text!r}"


def test_usage_errors_are_an_error_line_and_a_hint(cli, home):
    """A bad option, a missing argument or an unknown command printed typer's five-line box."""
    too_few = "Invalid value for '-k' / '--top': Input should be greater than or equal to 1"
    cases = {("search", "acme", "x", "-k", "0"): (too_few, "tenantctl search --help"),
             ("query", "acme", "q", "--bogus"): ("No such option: --bogus", "tenantctl query --help"),
             ("search", "acme"): ("Missing argument 'TEXT'.", "tenantctl search --help"),
             ("search", "-k"): ("Option '-k' requires an argument.", "tenantctl search --help"),
             ("nosuch",): ("No such command 'nosuch'.", "tenantctl --help")}
    for args, (message, help_command) in cases.items():
        result = cli(*args)
        assert result.code == 2 and result.out == "", (args, result)
        assert result.err.splitlines() == [f"Error: {message}", f"Hint: see `{help_command}`"], (args, result)
    assert cli("tenant", "list").code == 0 and cli("--help").code == 0
    assert cli("tool", "test", "nope", "--question", "x").code == 3  # typer.Exit and typed errors as before


def test_version(cli, home):
    """`tenantctl --version` was "No such option"."""
    from tenantctl import __version__

    result = cli("--version")
    assert (result.code, result.out) == (0, f"tenantctl {__version__}\n"), result
    assert not (home / "logs" / "tenantctl.jsonl").exists()  # not a command to log


def test_help_keeps_no_line_break_of_a_docstring_inside_a_sentence(cli, monkeypatch):
    """typer's rich help kept each hard-wrapped docstring line of the paragraphs after the first, so
    `eval --help` read "…first citation," and "abstention (--answers)…" on two lines at any width."""
    monkeypatch.setenv("COLUMNS", "200")
    result = cli("eval", "--help")
    assert result.code == 0 and "Answers: correct, F1, first citation, abstention (--answers)" in result.out, result.out
    result = cli("query", "--help")  # a command run from an app of its own (the fast path) too
    assert result.code == 0 and "Answer a question" in result.out
    result = cli("tenant", "export", "--help")
    assert "all.  A tenant" not in result.out and "at all. A tenant in PostgreSQL" in result.out, result.out
