"""``create analysisrun``: start an AnalysisRun from an (Cluster)AnalysisTemplate, as
Argo's ``kubectl argo rollouts create analysisrun`` does (``terminate analysisrun`` is
in :mod:`._create`' ``terminate`` group).

The run is built by the core (:func:`progressive.core._analysis.build_analysis_run`),
as the controller builds a Rollout's: the template's metrics, those of the templates it
composes (read from the cluster), its dry-run and retention rules, and its arguments
with ``-a NAME=VALUE`` overriding their values.  Unlike Argo's command, an argument the
templates do not declare is an error, not silently dropped.

Module-level imports are click, :mod:`._target` and :mod:`._plugin` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from ._target import (
    CONTEXT,
    ROLLOUT_GROUPS,
    CliError,
    Session,
    Target,
    connection_options,
    open_session,
    run,
)

__all__ = ["create_analysis_run", "parse_arguments"]


def parse_arguments(arguments: tuple[str, ...]) -> dict[str, str]:
    """``-a NAME=VALUE`` options, by name (a usage error when one has no ``=``)."""
    out: dict[str, str] = {}
    for argument in arguments:
        name, equals, value = argument.partition("=")
        if not equals or not name:
            raise click.BadParameter(f"{argument!r} is not NAME=VALUE", param_hint="-a")
        out[name] = value
    return out


def _template_from_file(path: str, cluster_scope: bool) -> dict[str, Any]:
    from progressive._loader import load_documents
    from progressive.core._names import template_kind

    documents = load_documents([path], cluster_may_have_more=True)
    if documents.errors:
        raise CliError("; ".join(str(p) for p in documents.errors))
    kind = template_kind(cluster_scope)
    found = [d.raw for d in documents.documents if d.kind == kind]
    if len(found) != 1:
        raise CliError(f"{path}: expected one {kind}, found {len(found)}")
    return dict(found[0])


async def _templates(
    session: Session, root: Mapping[str, Any], cluster_scope: bool
) -> tuple[list[Any], str]:
    """The root template and those it composes, read from the cluster, as the core's
    templates; and the API group the run gets."""
    from progressive._shell.runs import fetch_templates
    from progressive.core._analysis import collect_templates
    from progressive.core._analysis_model import AnalysisTemplate, TemplateRef, template_refs_of

    from ..errors import ManifestError

    composed = await fetch_templates(session.cluster, session.namespace, template_refs_of(root))
    name = str((root.get("metadata") or {}).get("name") or "")
    raw = {TemplateRef(name, cluster_scope): root, **composed}
    try:
        parsed = {ref: AnalysisTemplate.from_manifest(obj) for ref, obj in raw.items()}
        templates = collect_templates([TemplateRef(name, cluster_scope)], parsed.get)
    except ManifestError as exc:
        raise CliError(f"{name}: {exc}") from None
    group = str(root.get("apiVersion") or ROLLOUT_GROUPS[0])
    if group not in ROLLOUT_GROUPS:
        group = ROLLOUT_GROUPS[0]
    if not await session.serves(group, "AnalysisRun"):
        group = next((g for g in ROLLOUT_GROUPS if g != group), group)
    return list(templates), group


@click.command("analysisrun", context_settings=CONTEXT)
@click.option("--from", "from_name", metavar="TEMPLATE", help="A template in the cluster.")
@click.option(
    "--from-file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="A template in a file ('-': standard input).",
)
@click.option(
    "--global",
    "cluster_scope",
    is_flag=True,
    help="A ClusterAnalysisTemplate instead of an AnalysisTemplate.",
)
@click.option(
    "-a",
    "--argument",
    "arguments",
    multiple=True,
    metavar="NAME=VALUE",
    help="A value for one of the template's arguments (repeatable).",
)
@click.option("--name", help="The run's name.")
@click.option("--generate-name", help="The run's generateName.  [default: TEMPLATE-]")
@click.option("--instance-id", help="Label the run for the controller started with this id.")
@connection_options
def create_analysis_run(
    from_name: str | None,
    from_file: str | None,
    cluster_scope: bool,
    arguments: tuple[str, ...],
    name: str | None,
    generate_name: str | None,
    instance_id: str | None,
) -> None:
    """Create an AnalysisRun from an AnalysisTemplate (or, --global, a
    ClusterAnalysisTemplate), in the cluster (--from) or in a file (--from-file).

    The run has the template's metrics and those of the templates it composes, and its
    arguments, -a NAME=VALUE giving or overriding their values; an argument left with
    no value is an error, as is one the templates do not declare.  The controller
    measures it as it would a Rollout's; `terminate analysisrun NAME` stops it.
    """
    if (from_name is None) == (from_file is None):
        raise click.UsageError("give one of --from TEMPLATE or --from-file FILE")
    values = parse_arguments(arguments)
    root = _template_from_file(from_file, cluster_scope) if from_file is not None else None
    target = Target.from_context(click.get_current_context())

    async def main() -> None:
        from progressive._shell.keys import INSTANCE_ID_LABELS
        from progressive.core._analysis import build_analysis_run
        from progressive.core._names import template_kind
        from progressive.core._steps import AnalysisArg

        from ..errors import ManifestError

        async with open_session(target) as session:
            template = root
            if template is None:
                kind = template_kind(cluster_scope)
                template = await _find_template(session, kind, str(from_name), cluster_scope)
            templates, group = await _templates(session, template, cluster_scope)
            declared = {arg.name for t in templates for arg in t.args}
            unknown = sorted(set(values) - declared)
            if unknown:
                has = ", ".join(sorted(declared)) or "none"
                raise CliError(f"the templates have no argument {unknown[0]!r} (they have: {has})")
            template_name = templates[0].name
            try:
                built = build_analysis_run(
                    name or "",
                    session.namespace,
                    templates,
                    [AnalysisArg(k, v) for k, v in values.items()],
                    None,
                    session.now(),
                )
            except ManifestError as exc:
                raise CliError(f"analysisrun from {template_name}: {exc}") from None
            manifest = built.to_manifest()
            manifest.pop("status", None)
            manifest["apiVersion"] = group
            meta = manifest["metadata"]
            if not name:
                meta.pop("name", None)
                meta["generateName"] = generate_name or f"{template_name}-"
            if instance_id:
                label = INSTANCE_ID_LABELS[0 if group == ROLLOUT_GROUPS[1] else 1]
                meta.setdefault("labels", {})[label] = instance_id
            from ..errors import AlreadyExists

            try:
                created = await session.cluster.create(manifest)
            except AlreadyExists:
                raise CliError(f'analysisrun "{name}" already exists') from None
            kind_group = group.rpartition("/")[0]
            click.echo(f"analysisrun.{kind_group}/{created['metadata']['name']} created")

    run(main)


async def _find_template(
    session: Session, kind: str, name: str, cluster_scope: bool
) -> dict[str, Any]:
    from progressive._clusters import Ref

    where = "" if cluster_scope else session.namespace
    for group in ROLLOUT_GROUPS:
        found = await session.cluster.get(Ref(group, kind, where, name))
        if found is not None:
            return found
    place = "" if cluster_scope else f' in namespace "{session.namespace}"'
    raise CliError(f'{kind.lower()} "{name}" not found{place}')
