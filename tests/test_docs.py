"""The documentation matches the CLI (in the spirit of sqlite-utils' tests/test_docs.py): every command
and every option shows in `--help`, and README's command table names exactly the commands there are."""

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tenantctl.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands(group: typer.Typer = app, prefix: tuple[str, ...] = ()):
    """(words, callback) of every command, e.g. (("tenant", "create"), create)."""
    for info in group.registered_commands:
        yield (*prefix, info.name or info.callback.__name__), info.callback
    for sub in group.registered_groups:
        yield from _commands(sub.typer_instance, (*prefix, sub.name))


def _groups() -> set[str]:
    return {sub.name for sub in app.registered_groups}


def _cli_commands() -> set[str]:
    return {" ".join(words) for words, _ in _commands()}


def _readme_commands() -> set[str]:
    """Commands named in the first column of README's command table (`tenant create\\|list`, `init`, ...)."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| command | what it does |"):]
    table = table[:table.index("\n\n")]
    named: set[str] = set()
    for row in table.splitlines()[2:]:
        first = row.split(" | ")[0].lstrip("| ")
        for span in re.findall(r"`([^`]+)`", first):
            words = span.split()
            if words[0] in _groups():
                named.update(f"{words[0]} {sub}" for sub in words[1].split("\\|"))
            else:
                named.add(words[0])
    return named


def test_readme_command_table_matches_the_cli():
    readme, cli = _readme_commands(), _cli_commands()
    assert readme - cli == set(), "README names commands that do not exist"
    assert cli - readme == set(), "commands missing from README's command table"


def test_readme_tour_starts_with_create_ingest_query():
    text = README.read_text(encoding="utf-8")
    tour = text[text.index("## A tour"):]
    steps = [line.split()[1] for line in tour.splitlines() if line.startswith("tenantctl ")]
    assert steps[:4] == ["init", "create", "ingest", "query"]


def test_help_starts_with_create_ingest_query():
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    listed = re.findall(r"^│ (\w+) ", result.output, flags=re.M)
    assert listed[:3] == ["create", "ingest", "query"], result.output


@pytest.mark.parametrize("words", sorted(_cli_commands()))
def test_every_command_and_option_shows_in_help(words):
    import click

    command = typer.main.get_command(app)
    ctx = click.Context(command)
    for word in words.split():
        command = command.get_command(ctx, word)
    assert command.help and command.help.strip(), f"`tenantctl {words}` has no help text"
    result = CliRunner().invoke(app, [*words.split(), "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"`tenantctl {words}` option {param.opts[0]} has no help text"
            assert any(opt in result.output for opt in param.opts), f"{param.opts} missing from help of {words}"


@pytest.mark.parametrize("words", sorted(_cli_commands()))
def test_every_command_has_examples_that_parse(words):
    """No `--help` had an example: a newcomer had to find the README's. Each command's help ends with its
    examples, and each one parses as that command's arguments (an option it lacks, a missing argument or
    a bad value fails), within 78 columns so it never wraps on an 80-column terminal."""
    import shlex

    import click

    from tenantctl.cli.examples import EXAMPLES

    assert EXAMPLES.get(words), f"`tenantctl {words} --help` has no examples"
    command = typer.main.get_command(app)
    ctx = click.Context(command)
    for word in words.split():
        command = command.get_command(ctx, word)
    for what, typed in EXAMPLES[words]:
        assert len(typed) <= 78 and len(what) + 2 <= 78, typed
        tokens = shlex.split(typed.split("|")[-1].split(">")[0])
        tokens = tokens[next(i for i, t in enumerate(tokens) if t == "tenantctl"):]
        assert tokens[1:1 + len(words.split())] == words.split(), typed
        # raises on a usage error; the app's help options, or the command keeps a help option without `-h`
        command.make_context(f"tenantctl {words}", tokens[1 + len(words.split()):], help_option_names=["-h", "--help"])
    result = CliRunner().invoke(app, [*words.split(), "--help"], terminal_width=80)
    assert "Examples:" in result.output and EXAMPLES[words][-1][1] in result.output, result.output


def test_search_mode_help_names_its_default_in_config_yaml():
    """`--mode` said "hybrid (default)", but a `search.mode` in config.yaml is the default (`-k` said so of
    `search.k`): with `search.mode: bm25`, `search --help` described another search than the one run."""
    for words in (["search"], ["eval"]):
        result = CliRunner().invoke(app, [*words, "--help"], terminal_width=200)
        assert "hybrid (default)" not in result.output and "search.mode in config.yaml" in result.output, result.output


def test_each_groups_help_names_its_commands():
    """`tenantctl --help` said tenant "Create, list, inspect, suspend, move and delete tenants": no export, import
    or resume, which a newcomer reading it for a backup looked for elsewhere."""
    import click

    command = typer.main.get_command(app)
    ctx = click.Context(command)
    group = command.get_command(ctx, "tenant")
    for name in group.list_commands(ctx):
        assert name in group.help.lower(), f"`tenant --help` does not name {name}"
