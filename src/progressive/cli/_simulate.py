"""``progressive simulate``: play an update of a Rollout in virtual time."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click
import yaml

from .._loader import load_documents
from .._simulation import AUTO_PROMOTED, SimulationResult, TimelineRecord
from .._simulation import (
    simulate as run,
)
from ..errors import SimulationError
from ..metrics import ScriptedProvider

__all__ = ["simulate"]

EXIT_INVALID = 1


@click.command("simulate")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option(
    "--metrics",
    "metrics_file",
    type=click.Path(dir_okay=False),
    help="YAML mapping an analysis metric name to the values it measures, in order "
    "(the last repeats): numbers, lists of numbers, null, 'NaN' or 'error'.",
)
@click.option("--auto-promote", is_flag=True, help="Promote indefinite pauses instead of stopping.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.option(
    "--show-objects",
    is_flag=True,
    help="Add the router objects and Services changed at each moment, as stored.",
)
@click.pass_context
def simulate(
    ctx: click.Context,
    files: tuple[str, ...],
    metrics_file: str | None,
    auto_promote: bool,
    as_json: bool,
    show_objects: bool,
) -> None:
    """Simulate updating the Rollout in FILE... in virtual time.

    The files hold one Rollout and what it refers to (AnalysisTemplates, Services...).
    The Rollout starts Healthy at a previous revision (every image tag marked
    "previous"), then its template is applied as a new revision, and the controller
    runs on an in-memory cluster until nothing more is scheduled.

    With --json, one line is printed whenever the phase, step, weight or a replica count
    changes, one line per event (events of the same moment give several lines), and one
    at the end: {"t", "phase", "step", "weight", "setWeight", "weightNote", "oldReplicas",
    "newReplicas", "event"}.  Each event line shows the state as of that event.
    "weight" is the percent of traffic reaching the new revision, "setWeight" what the
    current step sets, "weightNote" why they differ (the canary's pods cannot carry
    the step's weight yet; no router: pods round the split).  With --show-objects,
    each line also carries "objects": the router objects (canary Ingresses,
    VirtualServices, TrafficSplits, HTTPRoutes...) and Services changed at that moment,
    as the API server would store them (a table gets an objects column and their YAML
    after it).

    Exit status: 0 Healthy, 2 Degraded, 3 Paused, 4 still Progressing when the 7-day
    bound was reached, 1 invalid files.
    """
    documents = load_documents(files, cluster_may_have_more=False)
    for problem in documents.warnings:
        click.echo(str(problem), err=True)
    if documents.errors:
        for problem in documents.errors:
            click.echo(str(problem))
        ctx.exit(EXIT_INVALID)
    rollouts = documents.of_kind("Rollout")
    if len(rollouts) != 1:
        where = ", ".join(files)
        click.echo(f"{where}: expected exactly one Rollout, found {len(rollouts)}")
        ctx.exit(EXIT_INVALID)
    metrics = _read_metrics(metrics_file) if metrics_file else {}
    if metrics is None:
        ctx.exit(EXIT_INVALID)

    def show(record: TimelineRecord) -> None:
        if as_json:
            click.echo(json.dumps(record.to_json()))

    try:
        result = run(
            [d.raw for d in documents.documents],
            metrics,
            auto_promote,
            on_record=show,
            show_objects=show_objects,
        )
    except SimulationError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(EXIT_INVALID)
    if not as_json:
        _print_table(result, show_objects)
    ctx.exit(result.exit_code)


def _read_metrics(path: str) -> dict[str, Sequence[object]] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        click.echo(f"{path}: cannot read: {exc.strerror or exc}")
        return None
    except yaml.YAMLError as exc:
        click.echo(f"{path}: {exc}".replace("\n", " "))
        return None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        click.echo(f"{path}: must map metric names to values, got {type(data).__name__}")
        return None
    metrics: dict[str, Sequence[object]] = {
        str(k): v if isinstance(v, list) else [v] for k, v in data.items()
    }
    try:
        ScriptedProvider(metrics)
    except ValueError as exc:
        click.echo(f"{path}: {exc}")
        return None
    return metrics


def _clock(t: float) -> str:
    minutes, seconds = divmod(int(t), 60)
    return f"{minutes:02d}:{seconds:02d}"


def _object_name(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def _print_table(result: SimulationResult, show_objects: bool = False) -> None:
    from rich.table import Table

    from ._console import make_console

    table = Table(title=f"simulate {result.rollout}: {result.old_hash} -> {result.new_hash}")
    canary = any(record.set_weight is not None for record in result.timeline)
    notes = any(record.weight_note for record in result.timeline)
    for column, justify, shown in (
        ("t", "right", True),
        ("phase", "left", True),
        ("step", "right", True),
        ("weight", "right", True),
        ("set", "right", canary),
        ("old", "right", True),
        ("new", "right", True),
        ("event", "left", True),
        ("why the weight is not the set one", "left", notes),
    ):
        if shown:
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
    if show_objects:
        table.add_column("objects", justify="left")
    for record in result.timeline:
        step = "-" if record.step is None or not record.steps else f"{record.step}/{record.steps}"
        cells = [_clock(record.t), _styled_phase(record.phase), step, f"{record.weight}%"]
        if canary:
            cells.append("-" if record.set_weight is None else f"{record.set_weight}%")
        cells += [str(record.old_replicas), str(record.new_replicas), _event(record)]
        if notes:
            cells.append(record.weight_note)
        if show_objects:
            cells.append("\n".join(_object_name(o) for o in record.objects or ()))
        table.add_row(*cells)
    console = make_console()
    console.print(table)
    if show_objects:
        for record in result.timeline:
            for obj in record.objects or ():
                console.print(f"--- {_clock(record.t)} {record.event or ''} {_object_name(obj)}")
                console.print(yaml.safe_dump(obj, sort_keys=False), markup=False, end="")
    end = "" if result.finished else " (stopped: time or pass bound reached)"
    detail = f": {result.message}" if result.message else ""
    console.print(f"final phase: {_styled_phase(result.phase)}{detail}{end}")


def _event(record: TimelineRecord) -> str:
    if record.event is None:
        return ""
    if record.event == AUTO_PROMOTED:
        return "[bold]AutoPromoted[/bold]"
    return record.event


def _styled_phase(phase: str) -> str:
    colour: dict[str, Any] = {
        "Healthy": "green",
        "Progressing": "blue",
        "Paused": "yellow",
        "Degraded": "red",
    }
    style = colour.get(phase)
    return f"[{style}]{phase}[/{style}]" if style else phase
