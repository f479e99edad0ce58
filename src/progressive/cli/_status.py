"""``status``: wait until a Rollout is Healthy or Degraded, showing its progress.

Exit status: 0 Healthy, 1 an error (one ``error: ...`` line on standard error), 2 a
usage error or Degraded, 3 still Paused and 4 still Progressing when it gives up
(``--timeout``, or at once on the settled in-memory cluster), as ``simulate`` does.

Module-level imports are click, :mod:`._target` and :mod:`._plugin` only: ``progressive
--help`` imports this module to show the commands' short help.
"""

from __future__ import annotations

from typing import Final

import click

from ..core._names import HASH_LABEL
from ._plugin import list_objects, parse_duration
from ._target import CONTEXT, Target, complete_rollouts, connection_options, open_session, run

__all__ = ["EXIT_DEGRADED", "EXIT_PAUSED", "EXIT_PROGRESSING", "status"]


EXIT_DEGRADED: Final = 2
EXIT_PAUSED: Final = 3
EXIT_PROGRESSING: Final = 4


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
    target = Target.from_context()

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
