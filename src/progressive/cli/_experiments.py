"""The kubectl-plugin commands on Experiments: ``get experiment`` and ``list
experiments``, as Argo's ``kubectl argo rollouts`` has them (``terminate experiment`` is
in :mod:`._create`' ``terminate`` group).

``get experiment NAME [-w]`` draws Argo's header (name, namespace, status, message,
images) and the tree of the Experiment: its ReplicaSets with their Pods, its
AnalysisRuns with their Jobs.  ``list experiments [-A] [-w]`` is Argo's table: NAME,
STATUS, DURATION, REMAINING, AGE.  Both take ``-o json|yaml``.

Module-level imports are click, :mod:`._target` and :mod:`._plugin` only: ``progressive
--help`` imports the groups these commands join.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import click

from ..core._names import HASH_LABEL
from ._plugin import list_objects, output_option, show, watch_options
from ._target import CONTEXT, Session, Target, connection_options, open_session, run

if TYPE_CHECKING:
    from rich.text import Text

    from ._info import TreeNode

__all__ = ["experiment_summary", "get_experiment", "list_experiments"]

COMPLETED: Final = frozenset({"Successful", "Failed", "Error", "Inconclusive"})


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def experiment_summary(experiment: Mapping[str, Any], *, now: float) -> dict[str, Any]:
    """An Experiment's row of ``list experiments`` (and the head of ``get``):
    name, namespace, status, message, duration, remaining, age."""
    from progressive.core._durations import parse_duration as seconds_of
    from progressive.core._times import parse_time

    from ._info import human_duration

    meta, spec, status = (_map(experiment.get(k)) for k in ("metadata", "spec", "status"))
    phase = str(status.get("phase") or "Pending")
    duration = remaining = "-"
    try:
        length = seconds_of(str(spec["duration"])) if spec.get("duration") else None
    except ValueError:
        length = None
    if length is not None:
        duration = human_duration(length)
        available = parse_time(status.get("availableAt"))
        if phase not in COMPLETED and available is not None and available + length > now:
            remaining = human_duration(available + length - now)
    created = parse_time(meta.get("creationTimestamp"))
    return {
        "name": str(meta.get("name") or ""),
        "namespace": str(meta.get("namespace") or "default"),
        "status": phase,
        "message": str(status.get("message") or ""),
        "duration": duration,
        "remaining": remaining,
        "age": "" if created is None else human_duration(now - created),
    }


def _images(experiment: Mapping[str, Any], tree: TreeNode, objects: Any) -> list[str]:
    """The images of the experiment's ReplicaSets (of its templates, before they exist)."""
    names = {child.name for child in tree.children if child.kind == "ReplicaSet"}
    templates = [
        _map(rs.get("spec")).get("template")
        for rs in objects.replica_sets
        if _map(rs.get("metadata")).get("name") in names
    ] or [_map(t).get("template") for t in _map(experiment.get("spec")).get("templates") or ()]
    images: list[str] = []
    for template in templates:
        for container in _map(_map(template).get("spec")).get("containers") or ():
            image = _map(container).get("image")
            if isinstance(image, str) and image not in images:
                images.append(image)
    return images


async def _experiment_view(session: Session, name: str) -> tuple[object, Text]:
    from rich.text import Text

    from ._info import STATUS_ICONS, Objects, experiment_tree
    from ._tree import add_field, render_tree, status_text

    experiment = await session.find("Experiment", name)
    namespace = str(_map(experiment.get("metadata")).get("namespace") or session.namespace)
    objects = Objects(
        replica_sets=await list_objects(session, "apps/v1", "ReplicaSet", namespace, HASH_LABEL),
        pods=await list_objects(session, "v1", "Pod", namespace, HASH_LABEL),
        analysis_runs=await session.list_kind("AnalysisRun", namespace),
        jobs=await session.cluster.list("batch/v1", "Job", namespace),
    )
    now = session.now()
    summary = experiment_summary(experiment, now=now)
    tree = experiment_tree(experiment, objects, now=now)
    images = _images(experiment, tree, objects)
    text = Text()
    add_field(text, "Name:", summary["name"])
    add_field(text, "Namespace:", summary["namespace"])
    status = summary["status"]
    add_field(text, "Status:", status_text(STATUS_ICONS.get(status, "?"), status))
    if summary["message"]:
        add_field(text, "Message:", summary["message"])
    for index, image in enumerate(images):
        add_field(text, "Images:" if index == 0 else "", image)
    text.append("\n")
    text.append_text(render_tree(tree))
    data = {**summary, "images": images, "tree": tree.to_json()}
    return data, text


@click.command("experiment", context_settings=CONTEXT)
@click.argument("name")
@watch_options("the Experiment")
@output_option("json", "yaml")
@connection_options
def get_experiment(
    name: str, watch: bool, timeout: float, interval: float, output: str | None
) -> None:
    """Show experiment NAME: its status and a tree of what it runs.

    The header: status, message and images.  The tree: the Experiment, its
    ReplicaSets (one per template) with their Pods, and its AnalysisRuns with their
    Jobs (✔ passed, ✖ failed, ? inconclusive, ⚠ error measurements).

    With -w the view is redrawn live (at most once a second) until Ctrl-C or --timeout.
    """
    target = Target.from_context(click.get_current_context())

    async def main() -> None:
        async with open_session(target) as session:
            await show(
                session,
                lambda: _experiment_view(session, name),
                output=output,
                watch=watch,
                seconds=timeout,
                interval=interval,
            )

    run(main)


@click.command("experiments", context_settings=CONTEXT)
@click.option("-A", "--all-namespaces", is_flag=True, help="List those of every namespace.")
@output_option("json", "yaml")
@watch_options("the list", interval=2.0)
@connection_options
def list_experiments(
    all_namespaces: bool, output: str | None, watch: bool, timeout: float, interval: float
) -> None:
    """List the Experiments of the namespace (or all, -A): status, duration, the time
    left of a running one, and age."""
    target = Target.from_context(click.get_current_context())

    async def main() -> None:
        from rich.text import Text

        from ._info import STATUS_ICONS
        from ._tree import columns, status_text

        async with open_session(target) as session:

            async def draw() -> tuple[object, Text]:
                namespace = None if all_namespaces else session.namespace
                found = await session.list_kind("Experiment", namespace)
                rows = [experiment_summary(e, now=session.now()) for e in found]
                if not rows:
                    where = "any namespace" if all_namespaces else f"namespace {namespace}"
                    return rows, Text(f"No experiments found in {where}.\n")
                header = ["NAME", "STATUS", "DURATION", "REMAINING", "AGE"]
                cells = [
                    [
                        Text(r["name"]),
                        status_text(STATUS_ICONS.get(r["status"], "?"), r["status"]),
                        *(Text(r[k]) for k in ("duration", "remaining", "age")),
                    ]
                    for r in rows
                ]
                if all_namespaces:
                    header.insert(0, "NAMESPACE")
                    for r, row in zip(rows, cells, strict=True):
                        row.insert(0, Text(r["namespace"]))
                return rows, columns(header, cells)

            await show(
                session, draw, output=output, watch=watch, seconds=timeout, interval=interval
            )

    run(main)
