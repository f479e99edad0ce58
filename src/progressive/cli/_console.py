"""The one way the CLI makes a ``rich`` console.

On a terminal, rich lays output out at the terminal's width.  Piped (a CI log, a file,
``| less``), rich would assume 80 columns: a line longer than that is wrapped in the
middle and a table's columns are cut short with ``…``.  So when the stream is not a
terminal the console is as wide as the output needs and never wraps: what a pipe gets
is whole lines, one per line printed.
"""

from __future__ import annotations

from typing import Final

from rich.console import Console

__all__ = ["PIPED_WIDTH", "make_console"]

#: The width given to a console whose stream is not a terminal: wide enough that no
#: table column is cut, and no line is wrapped, in practice.
PIPED_WIDTH: Final = 100_000


def make_console(*, stderr: bool = False, highlight: bool = False) -> Console:
    """A console on standard output (or error): the terminal's width on a terminal;
    elsewhere no wrapping and tables at their natural width."""
    console = Console(stderr=stderr, highlight=highlight)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, highlight=highlight, width=PIPED_WIDTH, soft_wrap=True)
