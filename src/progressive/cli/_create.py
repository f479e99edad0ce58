"""``create`` (the objects of files, checked as ``lint`` does; ``create analysisrun
--from`` is :mod:`._analysis_runs`') and ``terminate`` (an AnalysisRun or an
Experiment), as Argo's ``kubectl argo rollouts`` has them.

Module-level imports are click, :mod:`._target` and :mod:`._plugin` only: ``progressive
--help`` imports this module to show the commands' short help.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from ..core._names import CRD_KINDS
from ._analysis_runs import create_analysis_run
from ._plugin import AliasGroup, after_write
from ._target import (
    CONTEXT,
    ROLLOUT_GROUPS,
    CliError,
    Target,
    connection_options,
    open_session,
    run,
)

__all__ = ["create", "terminate"]


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
    target = Target.from_context()

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
                if kind in CRD_KINDS and api_version == ROLLOUT_GROUPS[0]:
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
                await after_write(session, name)
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
        target = Target.from_context()

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

create.add_command(create_analysis_run)
