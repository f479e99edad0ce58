"""``progressive version``: the version, as Argo's ``kubectl argo rollouts version``
prints its own (``--short``: the first line only)."""

from __future__ import annotations

import click

from ._target import CONTEXT

__all__ = ["version"]


@click.command(context_settings=CONTEXT)
@click.option("--short", is_flag=True, help="Print just the version number.")
def version(short: bool) -> None:
    """Show the version of progressive and what it runs on.

    The same program is the CLI, the kubectl plugin and the controller, so this is
    also the controller's version when its image was built from the same release.
    """
    import platform
    from importlib.metadata import version as installed

    click.echo(f"progressive: v{installed('progressive')}")
    if not short:
        click.echo(f"  Python: {platform.python_version()}")
        click.echo(f"  Implementation: {platform.python_implementation()}")
        click.echo(f"  Platform: {platform.system().lower()}/{platform.machine()}")
