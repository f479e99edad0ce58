"""The kubectl-plugin commands on Rollouts: ``get``, ``list``, ``promote``, ``abort``,
``retry``, ``restart``, ``undo``, ``set image``, ``pause``, ``status``, ``create`` and
``terminate``, as Argo's ``kubectl argo rollouts`` has them, and ``resume``.

Each works on a real cluster or, with ``--memory``, on the in-memory one (see
:mod:`._target`).  The edits are :mod:`progressive.client`'s (one implementation of
each command, which the dashboard calls too); what ``get`` shows is :mod:`._info`,
drawn by :mod:`._tree`.

A Rollout being deleted (its ``deletionTimestamp`` set, a finalizer holding it) is
refused by the commands that change it or wait on it (the controller no longer acts on
it); ``get rollout`` shows it with a warning.

Exit status: 0 done, 1 an error (one ``error: ...`` line on standard error), 2 a usage
error; ``status`` also exits 2 when the Rollout is Degraded, 3 when it is still Paused
and 4 still Progressing when it gives up (``--timeout``, or at once on the settled
in-memory cluster), as ``simulate`` does.

Module-level imports are click, :mod:`._target` and :mod:`._plugin` only: ``progressive
--help`` imports this module to show the commands' short help.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import click

from ..core._names import HASH_LABEL
from ._analysis_runs import create_analysis_run
from ._experiments import get_experiment, list_experiments
from ._plugin import (
    AliasGroup,
    change_key,
    dump,
    echo_text,
    list_objects,
    output_option,
    parse_duration,
    redraw,
    show,
    watch_options,
)
from ._target import (
    CONTEXT,
    ROLLOUT_GROUPS,
    CliError,
    Session,
    Target,
    complete_rollouts,
    connection_options,
    open_session,
    run,
)

if TYPE_CHECKING:
    from rich.text import Text

    from ._info import Objects

__all__ = [
    "abort",
    "create",
    "get",
    "list_",
    "pause",
    "promote",
    "restart",
    "resume",
    "retry",
    "set_",
    "status",
    "terminate",
    "undo",
]

EXIT_DEGRADED: Final = 2
EXIT_PAUSED: Final = 3
EXIT_PROGRESSING: Final = 4


# -- reading -------------------------------------------------------------------------------


async def collect(session: Session, rollout: Mapping[str, Any]) -> Objects:
    """The objects ``get rollout`` draws around ``rollout``."""
    from progressive._clusters import Ref

    from ._info import Objects

    meta = rollout.get("metadata") or {}
    ns = str(meta.get("namespace") or session.namespace)
    workload = None
    ref = (rollout.get("spec") or {}).get("workloadRef")
    if isinstance(ref, Mapping) and ref.get("name"):
        workload = await session.cluster.get(
            Ref(str(ref.get("apiVersion") or "apps/v1"), str(ref.get("kind")), ns, str(ref["name"]))
        )
    return Objects(
        replica_sets=await list_objects(session, "apps/v1", "ReplicaSet", ns, HASH_LABEL),
        pods=await list_objects(session, "v1", "Pod", ns, HASH_LABEL),
        analysis_runs=await session.list_kind("AnalysisRun", ns),
        experiments=await session.list_kind("Experiment", ns),
        jobs=await session.cluster.list("batch/v1", "Job", ns),
        workload=workload,
    )


async def _after_write(session: Session, name: str) -> None:
    """In memory: settle, then say where the Rollout got to, and how much later."""
    if not session.is_memory:
        return
    from ._info import summarize
    from ._tree import render_summary_line

    start = session.now()
    await session.settle()
    from ..errors import ClusterError

    try:
        rollout = await session.find_rollout(name)
    except (CliError, ClusterError):
        return

    objects = await collect(session, rollout)
    text = render_summary_line(summarize(rollout, objects, now=session.now()))
    from progressive.core._durations import format_duration

    later = format_duration(session.now() - start) if session.now() > start else "0s"
    from rich.text import Text

    line = Text(f"[memory +{later}] ")
    line.append_text(text)
    line.append("\n")
    echo_text(line)


def _target() -> Target:
    return Target.from_context(click.get_current_context())


# -- get / list ----------------------------------------------------------------------------


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
    target = _target()

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
    target = _target()

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


# -- the edits -----------------------------------------------------------------------------


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
        target = _target()

        async def main() -> None:
            from progressive import client

            async with open_session(target) as session:
                await getattr(client, command_name)(session.cluster, session.namespace, rollout)
                click.echo(f"rollout '{rollout}' {done}")
                await _after_write(session, rollout)

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
    target = _target()

    async def main() -> None:
        from progressive import client

        async with open_session(target) as session:
            await client.promote(session.cluster, session.namespace, rollout, full=full)
            click.echo(f"rollout '{rollout}' {'fully promoted' if full else 'promoted'}")
            await _after_write(session, rollout)

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
    target = _target()

    async def main() -> None:
        from progressive import client
        from progressive.core._durations import format_duration

        async with open_session(target) as session:
            at = session.now() + delay
            await client.restart(session.cluster, session.namespace, rollout, at=at)
            when = f" in {format_duration(delay)}" if delay else ""
            click.echo(f"rollout '{rollout}' restarts{when}")
            await _after_write(session, rollout)

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
    target = _target()

    async def main() -> None:
        from progressive import client

        async with open_session(target) as session:
            change = await client.set_images(session.cluster, session.namespace, rollout, wanted)
            label = _label(change)
            click.echo(f"{label} image updated" if change.changed else f"{label} unchanged")
            await _after_write(session, rollout)

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
    target = _target()

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
            await _after_write(session, rollout)

    run(main)


# -- status --------------------------------------------------------------------------------


@click.command(context_settings=CONTEXT)
@click.argument("rollout", metavar="NAME", shell_complete=complete_rollouts)
@click.option(
    "-t",
    "--timeout",
    default="0",
    metavar="DURATION",
    help="Give up after this long (0: wait for ever).  [default: 0]",
)
@click.option(
    "-w/-W",
    "--watch/--no-watch",
    default=True,
    help="Wait for Healthy or Degraded (--no-watch: print the status once).",
)
@click.option("--interval", default=1.0, hidden=True, help="Seconds between two reads.")
@click.pass_context
@connection_options
def status(ctx: click.Context, rollout: str, timeout: str, watch: bool, interval: float) -> None:
    """Wait until rollout NAME is Healthy or Degraded, showing its progress.

    \b
    Exit status:
      0  Healthy
      2  Degraded (aborted, failed analysis, progress deadline exceeded...)
      3  still Paused when it gave up (--timeout, --no-watch, or --memory)
      4  still Progressing when it gave up
      1  an error (no such Rollout, cluster unreachable)

    On the in-memory cluster the state is settled after every command, so the status
    is printed once.
    """
    seconds = parse_duration(timeout, "--timeout")
    target = _target()

    async def main() -> int:
        import time

        import anyio

        from ._info import Objects, summarize
        from ._tree import render_summary_line

        async with open_session(target) as session:
            from ._console import make_console

            console = make_console()
            live = console.is_terminal and watch and not session.is_memory
            deadline = time.monotonic() + seconds if seconds > 0 else None
            started = time.monotonic()
            last = ""
            spinner = console.status("") if live else None
            if spinner is not None:
                spinner.start()
            try:
                while True:
                    obj = await session.rollout_to_change(rollout)
                    namespace = obj["metadata"].get("namespace")
                    sets = await list_objects(
                        session, "apps/v1", "ReplicaSet", namespace, HASH_LABEL
                    )
                    summary = summarize(obj, Objects(replica_sets=sets), now=session.now())
                    word = summary.status
                    line = f"{word} - {summary.message}" if summary.message else word
                    if summary.step is not None and word not in ("Healthy", "Degraded"):
                        line += f" (step {summary.step})"
                    if line != last:
                        if spinner is not None:
                            console.print(line, soft_wrap=True)
                        else:
                            click.echo(line)
                        last = line
                    if word == "Healthy":
                        return 0
                    if word == "Degraded":
                        return EXIT_DEGRADED
                    gave_up = (
                        not watch
                        or session.is_memory
                        or (deadline is not None and time.monotonic() >= deadline)
                    )
                    if gave_up:
                        if watch and not session.is_memory:
                            click.echo(f"error: timed out after {timeout}: {line}", err=True)
                        return EXIT_PAUSED if word == "Paused" else EXIT_PROGRESSING
                    if spinner is not None:
                        elapsed = int(time.monotonic() - started)
                        progress = render_summary_line(summary)
                        progress.append(f"  {elapsed}s")
                        spinner.update(progress)
                    await anyio.sleep(max(0.2, interval))
            finally:
                if spinner is not None:
                    spinner.stop()

    ctx.exit(run(main))


# -- create / terminate --------------------------------------------------------------------

_OUR_KINDS: Final = frozenset(
    {"Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun", "Experiment"}
)


def _resource_name(obj: Mapping[str, Any]) -> str:
    """``rollout.argoproj.io/web``, ``service/web`` (kubectl's way of naming)."""
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    kind = str(obj.get("kind") or "").lower()
    name = (obj.get("metadata") or {}).get("name") or (obj.get("metadata") or {}).get(
        "generateName", ""
    )
    return f"{kind}.{group}/{name}" if group else f"{kind}/{name}"


@click.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    metavar="FILE",
    help="A manifest file or folder (repeatable; '-' reads standard input).",
)
@click.pass_context
@connection_options
def create(ctx: click.Context, filenames: tuple[str, ...]) -> None:
    """Create the objects in the files (Rollouts, AnalysisTemplates, Services...).

    The files are checked first, as `lint` does: with an error in them nothing is
    created.  Objects without a namespace go to -n's (or the context's).  On a real
    cluster where only the progressive.dev CRDs are installed, argoproj.io objects are
    created as progressive.dev/v1alpha1 (the controller reads both groups).

    `create analysisrun --from TEMPLATE` starts an AnalysisRun from a template.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not filenames:
        raise click.UsageError("give the files to create with -f FILE (or: create analysisrun)")
    from progressive._loader import load_documents

    documents = load_documents(filenames, cluster_may_have_more=True)
    for problem in documents.warnings:
        click.echo(f"warning: {problem}", err=True)
    if documents.errors:
        for problem in documents.errors:
            click.echo(f"error: {problem}", err=True)
        raise click.exceptions.Exit(1)
    if not documents.documents:
        raise CliError(f"no objects in {', '.join(filenames)}")
    target = _target()

    async def main() -> int:
        import copy

        from ..errors import AlreadyExists, ClusterError

        failures = 0
        rollouts: list[str] = []
        async with open_session(target) as session:
            for document in documents.documents:
                obj = copy.deepcopy(dict(document.raw))
                obj.pop("status", None)
                api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
                if kind in _OUR_KINDS and api_version == ROLLOUT_GROUPS[0]:
                    if not await session.serves(api_version, kind) and await session.serves(
                        ROLLOUT_GROUPS[1], kind
                    ):
                        obj["apiVersion"] = api_version = ROLLOUT_GROUPS[1]
                        click.echo(
                            f"note: {ROLLOUT_GROUPS[0]} is not served here; "
                            f"{_resource_name(obj)} is created as {ROLLOUT_GROUPS[1]}",
                            err=True,
                        )
                meta = obj.setdefault("metadata", {})
                try:
                    namespaced = await session.namespaced(api_version, kind)
                except ClusterError as exc:
                    click.echo(f"error: {_resource_name(obj)}: {exc}", err=True)
                    failures += 1
                    continue
                if namespaced:
                    given = meta.get("namespace")
                    if given and session.explicit_namespace and given != session.namespace:
                        click.echo(
                            f"error: {_resource_name(obj)}: the namespace from the provided "
                            f"object ({given}) does not match the namespace {session.namespace}",
                            err=True,
                        )
                        failures += 1
                        continue
                    meta["namespace"] = given or session.namespace
                else:
                    meta.pop("namespace", None)
                try:
                    created = await session.cluster.create(obj)
                except AlreadyExists:
                    click.echo(f"error: {_resource_name(obj)} already exists", err=True)
                    failures += 1
                    continue
                except ClusterError as exc:
                    click.echo(f"error: {_resource_name(obj)}: {exc}", err=True)
                    failures += 1
                    continue
                click.echo(f"{_resource_name(created)} created")
                if kind == "Rollout":
                    rollouts.append(str(created["metadata"]["name"]))
            for name in rollouts:
                await _after_write(session, name)
        return 1 if failures else 0

    code = run(main)
    if code:
        raise click.exceptions.Exit(code)


@click.group(
    cls=AliasGroup,
    aliases={
        "ar": "analysisrun",
        "analysisruns": "analysisrun",
        "exp": "experiment",
        "experiments": "experiment",
    },
    context_settings=CONTEXT,
)
@connection_options
def terminate() -> None:
    """Stop a running AnalysisRun or Experiment."""


def _terminate(kind: str) -> click.Command:
    word = kind.lower()

    @click.command(
        word,
        context_settings=CONTEXT,
        help=f"Terminate {kind} NAME (sets spec.terminate): it stops measuring and "
        "ends with the results it has.",
        short_help=f"Terminate an {kind}." if kind[0] in "AEIOU" else f"Terminate a {kind}.",
    )
    @click.argument("name")
    @connection_options
    def command(name: str) -> None:
        target = _target()

        async def main() -> None:
            from progressive._clusters import Ref

            async with open_session(target) as session:
                obj = await session.find(kind, name)
                await session.cluster.patch(Ref.of(obj), {"spec": {"terminate": True}})
                click.echo(f"{word} '{name}' terminated")
                if session.is_memory:
                    await session.settle()

        run(main)

    return command


terminate.add_command(_terminate("AnalysisRun"))
terminate.add_command(_terminate("Experiment"))

# the experiment and analysis-run commands live with their concepts
get.add_command(get_experiment)
list_.add_command(list_experiments)
create.add_command(create_analysis_run)
