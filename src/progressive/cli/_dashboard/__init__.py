"""``progressive dashboard``: a local web page of the Rollouts, live, with their buttons,
as ``kubectl argo rollouts dashboard`` has it.

The list of Rollouts (status, step, set and actual weight, pause) and a page per Rollout
(its steps, revisions and ReplicaSets, analysis runs with their measurements plotted,
Events; promote, promote --full, abort, retry, pause, resume, restart and undo), kept
up to date by the cluster's watches.  On a real cluster (kubeconfig) or on ``--memory``.
The server is :mod:`._app` (Starlette, served by uvicorn), the data :mod:`._views`,
where it comes from :mod:`._sources`.

Module-level imports are click and the CLI's option helpers only: ``progressive
--help`` imports this module.
"""

from __future__ import annotations

import click

from .._target import CONTEXT, Target, connection_options, run

__all__ = ["dashboard"]

DEFAULT_PORT = 3100  # Argo's dashboard's
_LOCAL = ("127.0.0.1", "localhost", "::1")


@click.command(context_settings=CONTEXT)
@click.option(
    "--address",
    default="127.0.0.1",
    show_default=True,
    help="The address to listen on (0.0.0.0: every interface, which anyone who can reach "
    "this machine may then use).",
)
@click.option(
    "-p",
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The port (0: a free one).",
)
@click.option("-A", "--all-namespaces", is_flag=True, help="Show the Rollouts of every namespace.")
@connection_options
def dashboard(address: str, port: int, all_namespaces: bool) -> None:
    """Serve a web page of the Rollouts, live: status, steps, weights, analyses, Events.

    The list of Rollouts of the namespace (-A: of every namespace) links to a page per
    Rollout with its steps, revisions and ReplicaSets, analysis runs with their
    measurements plotted over time, and its Events, and the buttons promote, promote
    --full, abort, retry, pause, resume, restart and undo.  Pages update as the
    cluster's watches report changes.  With --memory it shows the in-memory state, and
    its buttons change it as the commands do.  Ctrl-C stops it.
    """
    target = Target.from_context(click.get_current_context())

    async def main() -> None:
        import socket

        import anyio
        import uvicorn

        from .._target import open_session
        from ._app import create_app
        from ._sources import KubeSource, MemorySource, Source

        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
            sock.listen(128)  # from now on connections wait for the server, not refused
        except OSError as exc:
            sock.close()
            raise click.ClickException(
                f"cannot listen on {address}:{port}: {exc.strerror}"
            ) from None
        bound = sock.getsockname()[1]
        local = address in _LOCAL
        hosts = ["127.0.0.1", "localhost", "::1"] if local else ["*"]
        if not local and address not in ("0.0.0.0", "::"):
            hosts = [address, "127.0.0.1", "localhost"]

        async def serve(source: Source) -> None:
            config = uvicorn.Config(
                create_app(source, allowed_hosts=hosts),
                log_level="warning",
                timeout_graceful_shutdown=1,
                lifespan="off",
            )
            server = uvicorn.Server(config)
            async with anyio.create_task_group() as tg:
                await tg.start(lambda task_status: source.run(task_status=task_status))
                shown = f"[{address}]" if family == socket.AF_INET6 else address
                click.echo(f"progressive dashboard: http://{shown}:{bound}/ (Ctrl-C stops)")
                if not local:
                    click.echo(
                        f"warning: listening on {address}: whoever reaches it can press "
                        "the buttons, with your credentials",
                        err=True,
                    )
                await server.serve(sockets=[sock])
                tg.cancel_scope.cancel()

        with sock:
            if target.memory:
                await serve(MemorySource(target, all_namespaces=all_namespaces))
                return
            async with open_session(target) as session:
                await serve(KubeSource(session, all_namespaces=all_namespaces))

    run(main)
