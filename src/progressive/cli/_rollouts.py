"""The kubectl-plugin commands that show Rollouts: ``get rollout`` and ``list rollouts``
(and, from their own modules, ``get experiment`` and ``list experiments``), as Argo's
``kubectl argo rollouts`` has them.

Each works on a real cluster or, with ``--memory``, on the in-memory one (see
:mod:`._target`).  What ``get`` shows is :mod:`._info`, drawn by :mod:`._tree`; a
Rollout being deleted is shown with a warning.  The commands that change a Rollout are
in :mod:`._edits`, ``status`` in :mod:`._status`, ``create`` and ``terminate`` in
:mod:`._create`.

Module-level imports are click, :mod:`._target` and :mod:`._plugin` only: ``progressive
--help`` imports this module to show the commands' short help.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ..core._names import HASH_LABEL
from ._plugin import (
    AliasGroup,
    change_key,
    collect,
    dump,
    echo_text,
    list_objects,
    output_option,
    redraw,
    show,
    watch_options,
)
from ._target import (
    CONTEXT,
    Session,
    Target,
    complete_rollouts,
    connection_options,
    open_session,
    run,
)

if TYPE_CHECKING:
    from rich.text import Text

from ._experiments import get_experiment, list_experiments

__all__ = ["get", "list_"]


@click.group(
    cls=AliasGroup,
    aliases={
        "ro": "rollout",
        "rollouts": "rollout",
        "exp": "experiment",
        "experiments": "experiment",
    },
    context_settings=CONTEXT,
)
@connection_options
def get() -> None:
    """Show a Rollout or an Experiment: its status and a tree of what it owns."""


@get.command("rollout", context_settings=CONTEXT)
@click.argument("name", shell_complete=complete_rollouts)
@watch_options("the Rollout")
@output_option("json", "yaml")
@connection_options
def get_rollout(
    name: str, watch: bool, timeout: float, interval: float, output: str | None
) -> None:
    """Show rollout NAME: a header and the tree of its revisions.

    The header: status, message, strategy, step i/n, set weight, actual weight, the
    images by role (stable, canary, active, preview) and the replica counts.  The tree:
    the Rollout, its revisions, their ReplicaSets (with their role, or delay:Ns while a
    scale-down is pending), Pods (ready:1/1), AnalysisRuns (✔ passed, ✖ failed,
    ? inconclusive, ⚠ error measurements) and Experiments.

    With -w the view is redrawn live (at most once a second) until Ctrl-C or --timeout.
    """
    target = Target.from_context()

    warned: list[str] = []

    async def main() -> None:
        from ._info import rollout_info
        from ._tree import render_rollout

        async with open_session(target) as session:

            async def draw() -> tuple[object, Text]:
                rollout = await session.find_rollout(name)
                from progressive.client import being_deleted

                if not warned and (why := being_deleted(rollout)) is not None:
                    warned.append(why)  # once, also when watching
                    click.echo(f"warning: rollout '{name}' {why}", err=True)
                info = rollout_info(rollout, await collect(session, rollout), now=session.now())
                return info.to_json(), render_rollout(info)

            await show(
                session, draw, output=output, watch=watch, seconds=timeout, interval=interval
            )

    run(main)


@click.group(
    "list",
    cls=AliasGroup,
    aliases={
        "ro": "rollouts",
        "rollout": "rollouts",
        "exp": "experiments",
        "experiment": "experiments",
    },
    context_settings=CONTEXT,
)
@connection_options
def list_() -> None:
    """List Rollouts or Experiments."""


@list_.command("rollouts", context_settings=CONTEXT)
@click.option("-A", "--all-namespaces", is_flag=True, help="List the Rollouts of every namespace.")
@output_option("wide", "json", "yaml")
@watch_options("the list", interval=2.0)
@connection_options
def list_rollouts(
    all_namespaces: bool, output: str | None, watch: bool, timeout: float, interval: float
) -> None:
    """List the Rollouts of the namespace (or all, -A) with their status, step and
    weights, in the status vocabulary of `get rollout`."""
    target = Target.from_context()

    async def summaries(session: Session) -> list[Any]:
        from ._info import Objects, summarize

        namespace = None if all_namespaces else session.namespace
        found = await session.list_kind("Rollout", namespace)
        if not found:
            return []
        # the ReplicaSets, for the actual weight of basic canaries
        sets = await list_objects(session, "apps/v1", "ReplicaSet", namespace, HASH_LABEL)
        objects = Objects(replica_sets=sets)
        return [summarize(r, objects, now=session.now()) for r in found]

    async def table(session: Session) -> tuple[str, Text]:
        from rich.text import Text

        from ._tree import render_list

        rows = await summaries(session)
        key = change_key([row.to_json() for row in rows])
        if not rows:
            where = "any namespace" if all_namespaces else f"namespace {session.namespace}"
            return key, Text(f"No rollouts found in {where}.\n")
        return key, render_list(rows, all_namespaces=all_namespaces, wide=output == "wide")

    async def main() -> None:
        async with open_session(target) as session:
            if output in ("json", "yaml"):
                dump([s.to_json() for s in await summaries(session)], output)
                return
            if watch and not session.is_memory:
                await redraw(lambda: table(session), timeout, interval)
                return
            echo_text((await table(session))[1])

    run(main)


# the experiment and analysis-run commands live with their concepts
get.add_command(get_experiment)
list_.add_command(list_experiments)
