"""``--help`` of every command of both CLIs is readable at 80 columns (nothing cut, no
placeholders), and README.md and docs/deployment.md name every command ``--help`` lists.

The commands are found by reading ``--help`` of the real console scripts, group by group;
the options each command has come from the click command typer builds, so an option the
help leaves out or cuts is caught."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import click
import pytest

from fleetpulse.contract.commands import AGENT_COMMANDS, COLLECTOR_COMMANDS, add_commands
from tests.procs import cli

with warnings.catch_warnings():
    # typer imports names click deprecates; the real scripts run without -W error
    warnings.simplefilter("ignore", DeprecationWarning)
    import typer.main

    from fleetpulse.agent.cli import app as agent_app
    from fleetpulse.collector.cli import app as collector_app

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 80


def _help(prog: str, *words: str) -> str:
    done = cli(prog, *words, "--help", env={"COLUMNS": str(WIDTH), "TERM": "dumb"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def _subcommands(text: str) -> list[str]:
    """Names in the ``Commands:`` section of a plain click help."""
    _, sep, rest = text.partition("\nCommands:\n")
    if not sep:
        return []
    return [m.group(1) for m in re.finditer(r"^  (\S+)", rest, re.MULTILINE)]


def _commands(prog: str) -> list[tuple[str, ...]]:
    """Every command path (groups and leaves) of ``prog``, e.g. ("token", "create")."""
    found: list[tuple[str, ...]] = []
    todo: list[tuple[str, ...]] = [()]
    while todo:
        path = todo.pop(0)
        found.append(path)
        todo.extend((*path, name) for name in _subcommands(_help(prog, *path)))
    return found


AGENT = _commands("fleetpulse-agent")
COLLECTOR = _commands("fleetpulse-collector")


def _click(prog: str) -> click.Command:
    app, group = (
        (agent_app, AGENT_COMMANDS)
        if prog == "fleetpulse-agent"
        else (collector_app, COLLECTOR_COMMANDS)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        add_commands(app, group, [])  # the commands fleetpulse.sim adds, as --help adds them
        return typer.main.get_command(app)


def _options(prog: str, path: tuple[str, ...]) -> list[str]:
    command = _click(prog)
    for word in path:
        assert isinstance(command, click.Group)
        command = command.commands[word]
    return [o for p in command.params if isinstance(p, click.Option) for o in p.opts]


CASES = [("fleetpulse-agent", p) for p in AGENT] + [("fleetpulse-collector", p) for p in COLLECTOR]


@pytest.mark.parametrize(("prog", "path"), CASES, ids=[" ".join((c[0], *c[1])) for c in CASES])
def test_help_is_readable_at_80_columns(prog: str, path: tuple[str, ...]) -> None:
    text = _help(prog, *path)
    for line in text.splitlines():
        assert len(line) <= WIDTH, line
    assert "…" not in text  # a cut word
    assert not re.search(r"<[a-z_]+>|\{[a-z_]+\}", text), "a placeholder instead of words"
    assert "--no-" not in text or "--no-start" in text  # no --X/--no-X pairs
    for option in _options(prog, path):
        assert re.search(rf"(^|[\s,]){re.escape(option)}([\s,=]|$)", text, re.MULTILINE), option


def test_the_collector_commands_are_all_found() -> None:
    names = {" ".join(p) for p in COLLECTOR}
    assert {"token create", "inventory import", "inventory remove", "settings set"} <= names
    assert {"devices revoke", "serve", "report"} <= names


DOCS = {"README.md": ROOT / "README.md", "docs/deployment.md": ROOT / "docs" / "deployment.md"}


#: Between the words of a command: nothing but space, or other commands of the same group
#: listed with it (``token create|list|revoke``, ``token create`` / ``list``).
_ALTERNATIVES = r"\s+(?:[\w-]+`?\s*(?:\||/)\s*`?\s*)*"


def mentions(text: str, prog: str, path: tuple[str, ...]) -> bool:
    """Does ``text`` name the command ``prog *path``? A top-level command must follow the
    program's name; a subcommand its group's name."""
    before = prog if len(path) == 1 else path[-2]
    pattern = rf"\b{re.escape(before)}{_ALTERNATIVES}{re.escape(path[-1])}\b"
    return re.search(pattern, text) is not None


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_the_docs_name_every_command(doc: str) -> None:
    text = DOCS[doc].read_text(encoding="utf-8")
    missing = [
        f"{prog} {' '.join(path)}"
        for prog, paths in (("fleetpulse-agent", AGENT), ("fleetpulse-collector", COLLECTOR))
        for path in paths
        if path and not mentions(text, prog, path)
    ]
    assert missing == [], f"{doc} does not mention: {missing}"


def test_mentions() -> None:
    text = "fleetpulse-collector token create|list and `fleetpulse-agent install` / `uninstall`"
    assert mentions(text, "fleetpulse-collector", ("token", "list"))
    assert mentions(text, "fleetpulse-agent", ("uninstall",))
    assert not mentions(text, "fleetpulse-collector", ("token", "revoke"))
    assert not mentions("run the agent", "fleetpulse-agent", ("run",))


def test_the_docs_name_devices_coverage_and_the_settings_command() -> None:
    for path in DOCS.values():
        text = path.read_text(encoding="utf-8")
        assert "devices --coverage" in text and "settings set" in text, path
        assert "../shared/" not in text, path  # everything a user needs is in the repository
