"""`progressive --help` lists every command without importing any of them."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click

from progressive.cli import _COMMANDS


def test_the_static_help_is_each_commands_own() -> None:
    # the static line is the start of the command's own help (click's truncation rules
    # differ between versions, so compare the words, not click's rendering of them)
    for name, (module, attr, short_help) in _COMMANDS.items():
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        if command.short_help:
            assert command.short_help == short_help, name
        else:
            words = " ".join((command.help or "").split())
            assert words.startswith(short_help.removesuffix("...")), name


def test_listing_the_commands_imports_no_heavy_library() -> None:
    code = (
        "import sys; from progressive.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('rich', 'httpx', 'yaml', 'kubernetes_asyncio', 'anyio')"
        " if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert "HEAVY=" in out
