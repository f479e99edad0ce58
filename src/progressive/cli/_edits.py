"""The kubectl-plugin commands that change a Rollout: ``promote``, ``abort``, ``retry``,
``restart``, ``undo``, ``set image``, ``pause`` and ``resume``, as Argo's ``kubectl argo
rollouts`` has them.

The edits are :mod:`progressive.client`'s (one implementation of each command, which the
dashboard calls too); on the in-memory cluster the state is settled after each and
where the Rollout got to is said (:func:`._plugin.after_write`).  A Rollout being
deleted (its ``deletionTimestamp`` set, a finalizer holding it) is refused: the
controller no longer acts on it.

Module-level imports are click, :mod:`._target` and :mod:`._plugin` only: ``progressive
--help`` imports this module to show the commands' short help.
"""

from __future__ import annotations

from typing import Any

import click

from ._plugin import AliasGroup, after_write, parse_duration
from ._target import CONTEXT, Target, complete_rollouts, connection_options, open_session, run

__all__ = ["abort", "pause", "promote", "restart", "resume", "retry", "set_", "undo"]


def _simple(
    name: str,
    summary: str,
    command_name: str,
    done: str,
    doc: str,
) -> click.Command:
    """A command that calls ``progressive.client.<command_name>(cluster, ns, NAME)``."""

    @click.command(name, context_settings=CONTEXT, help=doc, short_help=summary)
    @click.argument("rollout", metavar="NAME", shell_complete=complete_rollouts)
    @connection_options
    def command(rollout: str) -> None:
        target = Target.from_context()

        async def main() -> None:
            from progressive import client

            async with open_session(target) as session:
                await getattr(client, command_name)(session.cluster, session.namespace, rollout)
                click.echo(f"rollout '{rollout}' {done}")
                await after_write(session, rollout)

        run(main)

    return command


abort = _simple(
    "abort",
    "Abort a Rollout's update: back to the stable revision.",
    "abort",
    "aborted",
    """Abort the update of rollout NAME (sets status.abort).

    Traffic and pods go back to the stable revision and the Rollout turns Degraded;
    `retry rollout NAME` starts the update again, `undo` or a new template replaces it.
    """,
)

pause = _simple(
    "pause",
    "Pause a Rollout (spec.paused).",
    "pause",
    "paused",
    """Pause rollout NAME (sets spec.paused): it stays where it is until `resume` or
    `promote`.""",
)

resume = _simple(
    "resume",
    "Resume a Rollout paused with `pause` (clears spec.paused).",
    "resume",
    "resumed",
    """Resume rollout NAME after `pause` (clears spec.paused).

    Only the user's pause ends: a pause step or a blue-green promotion the Rollout
    waits at still holds (`promote` ends those).
    """,
)


@click.group(
    cls=AliasGroup, aliases={"ro": "rollout", "rollouts": "rollout"}, context_settings=CONTEXT
)
@connection_options
def retry() -> None:
    """Retry an aborted Rollout."""


retry.add_command(
    _simple(
        "rollout",
        "Retry an aborted Rollout from its first step.",
        "retry",
        "retried",
        """Retry rollout NAME after an abort (clears status.abort): the update starts
        again from the first step.""",
    )
)


@click.command(context_settings=CONTEXT)
@click.argument("rollout", metavar="NAME", shell_complete=complete_rollouts)
@click.option("--full", is_flag=True, help="Skip every remaining step and analysis.")
@connection_options
def promote(rollout: str, full: bool) -> None:
    """Promote rollout NAME: end the current pause, or skip the current step.

    At a pause (a pause step, a blue-green promotion, an inconclusive analysis) it
    clears spec.paused and status.pauseConditions; otherwise it moves to the next step.
    --full sets status.promoteFull: the new revision becomes stable at once.
    """
    target = Target.from_context()

    async def main() -> None:
        from progressive import client

        async with open_session(target) as session:
            await client.promote(session.cluster, session.namespace, rollout, full=full)
            click.echo(f"rollout '{rollout}' {'fully promoted' if full else 'promoted'}")
            await after_write(session, rollout)

    run(main)


@click.command(context_settings=CONTEXT)
@click.argument("rollout", metavar="NAME", shell_complete=complete_rollouts)
@click.option(
    "--in",
    "in_",
    default="0",
    metavar="DURATION",
    help="Restart this long from now (30s, 5m, 1h).  [default: 0]",
)
@connection_options
def restart(rollout: str, in_: str) -> None:
    """Restart the pods of rollout NAME (sets spec.restartAt).

    Every pod created before that time is replaced, a few at a time (at most
    maxUnavailable), each batch once the previous one is available.
    """
    delay = parse_duration(in_, "--in")
    target = Target.from_context()

    async def main() -> None:
        from progressive import client
        from progressive.core._durations import format_duration

        async with open_session(target) as session:
            at = session.now() + delay
            await client.restart(session.cluster, session.namespace, rollout, at=at)
            when = f" in {format_duration(delay)}" if delay else ""
            click.echo(f"rollout '{rollout}' restarts{when}")
            await after_write(session, rollout)

    run(main)


def _label(change: Any) -> str:
    """How to name what holds the template: ``rollout 'web'``, ``deployment 'web'``."""
    return f"{change.ref.kind.lower()} '{change.ref.name}'"


@click.group("set", context_settings=CONTEXT)
@connection_options
def set_() -> None:
    """Change a Rollout's pod template."""


@set_.command("image", context_settings=CONTEXT)
@click.argument("rollout", metavar="NAME", shell_complete=complete_rollouts)
@click.argument("pairs", nargs=-1, required=True, metavar="CONTAINER=IMAGE...")
@connection_options
def set_image(rollout: str, pairs: tuple[str, ...]) -> None:
    """Set container images in rollout NAME's pod template: a new revision.

    CONTAINER=IMAGE sets that container's image; *=IMAGE sets every container's,
    init and ephemeral containers included.  When the Rollout has a workloadRef, the
    referenced Deployment's template is changed (the Rollout follows it).
    """
    from progressive.core._edits import parse_image_pairs

    from ..errors import EditError

    try:
        wanted = parse_image_pairs(pairs)
    except EditError as exc:
        raise click.BadParameter(str(exc), param_hint="CONTAINER=IMAGE") from None
    target = Target.from_context()

    async def main() -> None:
        from progressive import client

        async with open_session(target) as session:
            change = await client.set_images(session.cluster, session.namespace, rollout, wanted)
            label = _label(change)
            click.echo(f"{label} image updated" if change.changed else f"{label} unchanged")
            await after_write(session, rollout)

    run(main)


@click.command(context_settings=CONTEXT)
@click.argument("rollout", metavar="NAME", shell_complete=complete_rollouts)
@click.option(
    "--to-revision",
    default=0,
    type=click.IntRange(min=0),
    help="The revision to go back to (0: the one before the current).  [default: 0]",
)
@connection_options
def undo(rollout: str, to_revision: int) -> None:
    """Roll rollout NAME back to an earlier revision's pod template.

    The template of that revision's ReplicaSet replaces the Rollout's (or, with a
    workloadRef, the Deployment's); the controller then rolls it out as a new revision.
    """
    target = Target.from_context()

    async def main() -> None:
        from progressive import client

        async with open_session(target) as session:
            change = await client.undo(
                session.cluster, session.namespace, rollout, to_revision=to_revision
            )
            label, revision = _label(change), change.revision
            if change.changed:
                click.echo(f"{label} rolled back to revision {revision}")
            else:
                click.echo(f"{label}: skipped (the template already is revision {revision}'s)")
            await after_write(session, rollout)

    run(main)
