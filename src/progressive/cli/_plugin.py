"""What the kubectl-plugin commands share: command groups with aliases, the help
options, ``--timeout``-style durations, printing (coloured on a terminal, plain and
whole-lined elsewhere), ``-o json|yaml``, listing objects, and ``--watch``.

Module-level imports are click and :mod:`._target` only: ``progressive --help`` imports
the command modules that import this one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..core._names import HASH_LABEL
from ._target import CliError, Session

if TYPE_CHECKING:
    from rich.text import Text

    from ._info import Objects

__all__ = [
    "AliasGroup",
    "after_write",
    "change_key",
    "collect",
    "dump",
    "echo_text",
    "list_objects",
    "output_option",
    "parse_duration",
    "redraw",
    "show",
    "watch_options",
]

F = TypeVar("F", bound=Callable[..., Any])


class AliasGroup(click.Group):
    """A group whose commands also answer to aliases (``get ro``, ``list rollout``)."""

    def __init__(self, *args: Any, aliases: Mapping[str, str] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.aliases = dict(aliases or {})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        return (command.name if command is not None else name), command, rest


def parse_duration(text: str, what: str) -> float:
    """A duration option's value in seconds (``30s``, ``5m``, ``1h``), or a usage error."""
    from progressive.core import _durations

    try:
        return _durations.parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=what) from None


def watch_options(what: str, *, interval: float = 1.0) -> Callable[[F], F]:
    """``-w/--watch``, ``--timeout`` and the hidden ``--interval`` of a command that
    draws ``what``; the command gets ``watch``, ``timeout`` (seconds) and ``interval``."""

    def seconds(ctx: click.Context, param: click.Parameter, value: str) -> float:
        return parse_duration(value, "--timeout")

    def decorate(f: F) -> F:
        f = click.option(
            "--interval", default=interval, hidden=True, help="Seconds between two reads (-w)."
        )(f)
        f = click.option(
            "--timeout",
            default="0",
            metavar="DURATION",
            callback=seconds,
            help="With --watch: stop after this long (0: never).  [default: 0]",
        )(f)
        return click.option(
            "-w", "--watch", is_flag=True, help=f"Redraw as {what} changes (Ctrl-C stops)."
        )(f)

    return decorate


def output_option(*choices: str) -> Callable[[F], F]:
    """``-o/--output``: ``json``/``yaml`` print the same data as the text."""
    extra = [c for c in choices if c not in ("json", "yaml")]
    help_text = "json/yaml: the same data as the text." + (
        f" {', '.join(extra)}: more columns (the actual weight, age and message)." if extra else ""
    )
    return click.option("-o", "--output", type=click.Choice(list(choices)), help=help_text)


def echo_text(text: Text) -> None:
    """Coloured on a terminal, plain (no wrapping, no escapes) elsewhere."""
    from ._console import make_console

    console = make_console()
    if console.is_terminal:
        console.print(text, soft_wrap=True, end="")
    else:
        click.echo(text.plain, nl=False)


def dump(data: object, output: str) -> None:
    """``-o json`` or ``-o yaml``."""
    import json

    if output == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        import yaml

        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)


async def list_objects(
    session: Session,
    api_version: str,
    kind: str,
    namespace: str | None,
    selector: str | None = None,
) -> list[dict[str, Any]]:
    """Objects of a kind; on a real cluster filtered server-side by ``selector``."""
    if selector is not None and not session.is_memory:
        from progressive._shell.kube import KubeCluster

        from ..errors import UnknownKind

        cluster = session.cluster
        assert isinstance(cluster, KubeCluster)
        try:
            result = await cluster.list_with_version(
                api_version, kind, namespace, label_selector=selector
            )
        except UnknownKind:
            return []
        return result.items
    return await session.cluster.list(api_version, kind, namespace)


def change_key(data: object) -> str:
    """What a non-terminal watch compares: the data without the ages and times left
    (which always change), so that it prints again only when something else did."""
    import json

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("age", "remaining")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(data), sort_keys=True)


async def redraw(
    render: Callable[[], Awaitable[tuple[str, Text]]], seconds: float, interval: float
) -> None:
    """Redraw ``render()`` every ``interval`` seconds (at least 0.2) for ``seconds``
    (0: forever): in place on a terminal; elsewhere again (after a blank line) only
    when its change key differs."""
    import time

    import anyio
    from rich.live import Live

    from ._console import make_console

    interval = max(0.2, interval)
    deadline = time.monotonic() + seconds if seconds > 0 else None
    console = make_console()

    def done() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    if console.is_terminal:
        with Live(console=console, auto_refresh=False, redirect_stdout=False) as live:
            while True:
                _, text = await render()
                live.update(text, refresh=True)
                if done():
                    return
                await anyio.sleep(interval)
    last = None
    while True:
        key, text = await render()
        if key != last:
            if last is not None:
                click.echo()
            click.echo(text.plain, nl=False)
            last = key
        if done():
            return
        await anyio.sleep(interval)


async def show(
    session: Session,
    draw: Callable[[], Awaitable[tuple[object, Text]]],
    *,
    output: str | None,
    watch: bool,
    seconds: float,
    interval: float,
) -> None:
    """What ``get``/``list`` commands print: ``draw()``'s data as JSON/YAML
    (``output``), its text once, or (``watch``, on a real cluster) redrawn as it
    changes; the in-memory cluster, which changes only when a command runs, is drawn
    once with a note."""
    if output is not None:
        data, _ = await draw()
        dump(data, output)
        return
    if not watch or session.is_memory:
        if watch:
            click.echo(
                "note: the in-memory cluster changes only when a command runs; showing it once",
                err=True,
            )
        echo_text((await draw())[1])
        return

    async def render() -> tuple[str, Text]:
        data, text = await draw()
        return change_key(data), text

    await redraw(render, seconds, interval)


# -- what a command on a Rollout reads, and says after a write ------------------------


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


async def after_write(session: Session, name: str) -> None:
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
