"""The ``progressive`` command line, also installed as the kubectl plugin
``kubectl-progressive``.  Subcommands live in one module each and are imported only
when run, so ``progressive --help`` stays fast."""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["main"]

# command name -> (module, attribute)
_COMMANDS = {
    "lint": ("progressive.cli._lint", "lint"),
    "simulate": ("progressive.cli._simulate", "simulate"),
    "demo": ("progressive.cli._demo", "demo"),
    "install": ("progressive.cli._install", "install"),
    "cluster": ("progressive.cli._cluster", "cluster"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        command: Any = getattr(importlib.import_module(target[0]), target[1])
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="progressive")
def main() -> None:
    """Progressive delivery for Kubernetes: canary, blue-green, analysis, rollback.

    Runs as `progressive ...` or, installed on the PATH, as `kubectl progressive ...`.
    """
