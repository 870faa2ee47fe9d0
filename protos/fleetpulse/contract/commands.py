"""Commands one package adds to another's command line, found through entry points.

The agent and the collector never import the package that needs both of them
(``fleetpulse.sim``: ``demo``, ``simulate``). It registers its commands under the groups
below (pyproject.toml, ``[project.entry-points]``; importlib.metadata documents the
mechanism), and each CLI adds them at start, only when the command line asks for one it
does not have or for the list of commands: a plain ``fleetpulse-agent run`` never scans the
installed distributions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

AGENT_COMMANDS = "fleetpulse.agent.commands"
COLLECTOR_COMMANDS = "fleetpulse.collector.commands"


def command_names(app: typer.Typer) -> set[str]:
    """The commands and command groups ``app`` has (typer names an unnamed command after
    its function, ``_`` written as ``-``)."""
    commands = {
        c.name or (c.callback.__name__.replace("_", "-") if c.callback else "")
        for c in app.registered_commands
    }
    return commands | {g.name or "" for g in app.registered_groups}


def add_commands(app: typer.Typer, group: str, argv: Sequence[str]) -> None:
    """Adds to ``app`` the commands registered under ``group`` that ``argv`` may need: none
    when its first word is a command ``app`` has, else the one it names, or all of them
    when it names none (``--help``, no arguments)."""
    wanted = next((a for a in argv if not a.startswith("-")), None)
    if wanted in command_names(app):
        return
    from importlib.metadata import entry_points

    for ep in entry_points(group=group):
        if wanted is None or ep.name == wanted:
            command: Callable[..., Any] = ep.load()
            app.command(ep.name)(command)
