"""``progressive migrate deployment NAME``: from a Deployment to a Rollout, without
downtime.

What the seed's migration does, as one command:

1. a Rollout is created with ``spec.workloadRef`` naming the Deployment: it takes its
   pod template from it (and its selector and replicas, copied), so nothing is
   duplicated and ``set image`` goes on changing the Deployment;
2. the Rollout's first revision comes up *beside* the Deployment at full size (a
   Rollout's first revision skips the steps, as Argo's does);
3. then the controller scales the Deployment down as ``--scale-down`` says (the
   Rollout's ``workloadRef.scaleDown``): ``onsuccess`` (the default) once the Rollout
   is Healthy, ``progressively`` as the Rollout's pods become available, ``never``
   (leave it to the user).

Live traffic.  The seed adds a temporary Service and Ingress "because rollouts
introduce a hash label in the selector".  That is only true of the Services a Rollout
*manages* (stable/canary, active/preview): the controller pins their selector to one
``rollouts-pod-template-hash`` at once, on its first reconcile, before the Rollout's
pods are ready -- pointing one at the Service that carries the Deployment's traffic
would cut the Deployment's pods off.  A Service the Rollout does not manage is never
touched, and the Rollout's pods carry the Deployment's pod labels (plus the hash), so
the existing Service selecting the app's labels sends traffic to both stacks during the
whole migration, and to the Rollout's alone once the Deployment is scaled down.  So:

* the default strategy (a basic canary, no managed Service) needs no extra object;
* Services named with ``--stable-service``/``--canary-service`` or
  ``--active-service``/``--preview-service`` must not be ones that select the
  Deployment's pods (that is refused, with the reason); missing ones are created as
  copies of the serving Service's ports, selecting the Deployment's labels.  The
  existing Service and its Ingress keep serving; move them to the Rollout's Services
  after the migration, when you want the strategy to drive that traffic.

``--dry-run`` prints every object it would create (YAML that ``kubectl apply -f``
takes, or JSON), and, as comments, what the controller will change later (the
Deployment's replicas) and why the existing Services need no change.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
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

__all__ = ["DEFAULT_STEPS", "MigrationPlan", "migrate", "parse_steps", "plan_migration"]

DEFAULT_STEPS: Final = "20,pause,50,pause=1m"
SCALE_DOWN: Final = ("onsuccess", "progressively", "never")


@attrs.frozen
class MigrationPlan:
    """What ``migrate`` creates, what the controller changes after, and why."""

    create: tuple[dict[str, Any], ...]
    later: tuple[tuple[str, dict[str, Any]], ...]  # (when and what, patch)
    notes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "create": [copy.deepcopy(o) for o in self.create],
            "later": [{"what": what, "patch": patch} for what, patch in self.later],
            "notes": list(self.notes),
        }


def parse_steps(text: str) -> list[dict[str, Any]]:
    """``"20,pause,50,pause=1m"`` -> canary steps.

    Items: ``N`` or ``N%`` or ``setWeight=N`` (a weight), ``pause`` (until promoted),
    ``pause=DURATION``.

    Raises:
        click.BadParameter: an item is none of those.
    """
    from progressive.core._durations import parse_duration

    steps: list[dict[str, Any]] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        weight = value if key == "setWeight" and sep else (key if not sep else None)
        if weight is not None and weight.rstrip("%").isdigit():
            number = int(weight.rstrip("%"))
            if number > 100:
                raise click.BadParameter(f"weight {number} is over 100", param_hint="--steps")
            steps.append({"setWeight": number})
        elif key == "pause" and not sep:
            steps.append({"pause": {}})
        elif key == "pause":
            try:
                parse_duration(value)
            except ValueError as exc:
                raise click.BadParameter(f"pause={value}: {exc}", param_hint="--steps") from None
            steps.append({"pause": {"duration": value}})
        else:
            raise click.BadParameter(
                f"{item!r} is not a step (N, setWeight=N, pause or pause=DURATION)",
                param_hint="--steps",
            )
    return steps


def _labels_match(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _selector_text(selector: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def plan_migration(
    deployment: Mapping[str, Any],
    services: Sequence[Mapping[str, Any]],
    *,
    name: str,
    api_version: str,
    strategy: str,
    steps: Sequence[Mapping[str, Any]],
    scale_down: str,
    stable_service: str | None = None,
    canary_service: str | None = None,
    active_service: str | None = None,
    preview_service: str | None = None,
) -> MigrationPlan:
    """The objects to create and what happens after.  Pure.

    Raises:
        CliError: a named Service already carries the Deployment's traffic, or the
            Rollout would be invalid.
    """
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    namespace = str(meta.get("namespace") or "default")
    template = spec.get("template") or {}
    pod_labels = (template.get("metadata") or {}).get("labels") or {}
    selector = copy.deepcopy(spec.get("selector") or {"matchLabels": dict(pod_labels)})
    match_labels = dict(selector.get("matchLabels") or pod_labels)
    replicas = spec.get("replicas", 1)
    replicas = replicas if isinstance(replicas, int) else 1
    notes: list[str] = []

    serving = [
        svc
        for svc in services
        if _labels_match((svc.get("spec") or {}).get("selector") or {}, pod_labels)
    ]
    by_name = {str((s.get("metadata") or {}).get("name")): s for s in services}
    for svc in serving:
        svc_name = svc["metadata"]["name"]
        svc_selector = _selector_text(svc["spec"]["selector"])
        notes.append(
            f"Service {svc_name} selects {svc_selector}: the Rollout's pods carry these "
            "labels too, so it sends traffic to both stacks during the migration and to "
            "the Rollout's alone once the Deployment is scaled down; it is left unchanged."
        )
    if not serving:
        notes.append(
            "no Service selects the Deployment's pods: nothing serves traffic that the "
            "migration could interrupt."
        )

    managed = (
        {"stableService": stable_service, "canaryService": canary_service}
        if strategy == "canary"
        else {"activeService": active_service, "previewService": preview_service}
    )
    to_create: list[dict[str, Any]] = []
    for field, svc_name in managed.items():
        if not svc_name:
            continue
        existing = by_name.get(svc_name)
        if existing is not None:
            if any(existing is s for s in serving):
                raise CliError(
                    f"Service {svc_name} selects the Deployment's pods: as the Rollout's "
                    f"{field} the controller would pin it to the Rollout's pods "
                    "(rollouts-pod-template-hash) at once, before they are ready, and cut "
                    "the Deployment's pods off; name a new Service (migrate creates it "
                    f"from {svc_name}'s ports) and move traffic to it after the migration"
                )
            notes.append(f"Service {svc_name} exists: the Rollout manages its selector.")
            continue
        to_create.append(_service(svc_name, namespace, match_labels, serving, template, field))

    if strategy == "canary":
        canary: dict[str, Any] = {"steps": [dict(s) for s in steps]}
        for field in ("stableService", "canaryService"):
            if managed[field]:
                canary[field] = managed[field]
        strategy_spec: dict[str, Any] = {"canary": canary}
    else:
        if not active_service:
            raise CliError("--strategy blue-green needs --active-service")
        blue_green: dict[str, Any] = {"activeService": active_service}
        if preview_service:
            blue_green["previewService"] = preview_service
        strategy_spec = {"blueGreen": blue_green}

    rollout_spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": selector,
        "workloadRef": {
            "apiVersion": str(deployment.get("apiVersion") or "apps/v1"),
            "kind": "Deployment",
            "name": str(meta.get("name")),
            "scaleDown": scale_down,
        },
    }
    for field in ("minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        if isinstance(spec.get(field), int):
            rollout_spec[field] = spec[field]
    rollout_spec["strategy"] = strategy_spec
    rollout_meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if meta.get("labels"):
        rollout_meta["labels"] = dict(meta["labels"])
    rollout = {
        "apiVersion": api_version,
        "kind": "Rollout",
        "metadata": rollout_meta,
        "spec": rollout_spec,
    }
    from progressive.core._rollout import read_rollout

    _, problems = read_rollout(rollout)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise CliError("the Rollout would be invalid: " + "; ".join(str(e) for e in errors))

    later: list[tuple[str, dict[str, Any]]] = []
    deployment_name = f"Deployment {namespace}/{meta.get('name')}"
    if scale_down == "onsuccess":
        later.append(
            (
                f"once Rollout {name} is Healthy, the controller scales {deployment_name} "
                f"from {replicas} to 0 replicas (workloadRef.scaleDown: onsuccess)",
                {"spec": {"replicas": 0}},
            )
        )
    elif scale_down == "progressively":
        later.append(
            (
                f"as the Rollout's pods become available, the controller scales "
                f"{deployment_name} down step by step to 0 replicas "
                "(workloadRef.scaleDown: progressively)",
                {"spec": {"replicas": 0}},
            )
        )
    else:
        notes.append(
            f"{deployment_name} keeps its {replicas} replicas (workloadRef.scaleDown: "
            "never): scale it down yourself once the Rollout is Healthy."
        )
    return MigrationPlan((rollout, *to_create), tuple(later), tuple(notes))


def _service(
    name: str,
    namespace: str,
    selector: Mapping[str, Any],
    serving: Sequence[Mapping[str, Any]],
    template: Mapping[str, Any],
    field: str,
) -> dict[str, Any]:
    """A Service for the Rollout to manage: the ports of the serving Service (or of the
    containers), selecting the Deployment's labels."""
    ports: list[dict[str, Any]] = []
    if serving:
        for port in (serving[0].get("spec") or {}).get("ports") or ():
            kept = {
                k: copy.deepcopy(v)
                for k, v in port.items()
                if k in ("name", "port", "targetPort", "protocol", "appProtocol")
            }
            ports.append(kept)
    else:
        for container in (template.get("spec") or {}).get("containers") or ():
            for port in container.get("ports") or ():
                if isinstance(port.get("containerPort"), int):
                    entry: dict[str, Any] = {
                        "port": port["containerPort"],
                        "targetPort": port["containerPort"],
                        "protocol": port.get("protocol", "TCP"),
                    }
                    if port.get("name"):
                        entry["name"] = port["name"]
                    ports.append(entry)
    if not ports:
        raise CliError(
            f"cannot tell the ports of Service {name} ({field}): no Service selects the "
            "Deployment's pods and its containers declare no ports; create it first"
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": dict(selector), "ports": ports},
    }


def render_plan(plan: MigrationPlan, output: str) -> str:
    """The dry run: YAML documents (comments say the rest), or JSON."""
    import json

    import yaml

    if output == "json":
        return json.dumps(plan.to_json(), indent=2) + "\n"
    lines = ["# progressive migrate --dry-run: nothing was written."]
    lines += [f"# note: {note}" for note in plan.notes]
    for what, patch in plan.later:
        lines.append(f"# later: {what}:")
        for row in yaml.safe_dump(patch, sort_keys=False).splitlines():
            lines.append(f"#   {row}")
    text = "\n".join(lines) + "\n"
    for obj in plan.create:
        meta = obj["metadata"]
        text += f"---\n# create {obj['kind']} {meta['namespace']}/{meta['name']}\n"
        text += yaml.safe_dump(obj, sort_keys=False)
    return text


@click.group(context_settings=CONTEXT)
@connection_options
def migrate() -> None:
    """Move a workload under a Rollout, without downtime."""


@migrate.command("deployment", context_settings=CONTEXT)
@click.argument("name")
@click.option("--rollout-name", metavar="NAME", help="The Rollout's name (default: NAME).")
@click.option(
    "--strategy",
    type=click.Choice(["canary", "blue-green"]),
    default="canary",
    show_default=True,
    help="The Rollout's strategy for the updates after the migration.",
)
@click.option(
    "--steps",
    default=DEFAULT_STEPS,
    show_default=True,
    metavar="STEPS",
    help="Canary steps, comma-separated: N (setWeight), pause, pause=DURATION.",
)
@click.option("--stable-service", metavar="SVC", help="Canary: the stable Service to manage.")
@click.option("--canary-service", metavar="SVC", help="Canary: the canary Service to manage.")
@click.option("--active-service", metavar="SVC", help="Blue-green: the active Service (required).")
@click.option("--preview-service", metavar="SVC", help="Blue-green: the preview Service.")
@click.option(
    "--scale-down",
    type=click.Choice(SCALE_DOWN),
    default="onsuccess",
    show_default=True,
    help="When the controller scales the Deployment down (workloadRef.scaleDown).",
)
@click.option(
    "--api-version",
    type=click.Choice(ROLLOUT_GROUPS),
    help="The Rollout's API group (default: progressive.dev if served, else argoproj.io).",
)
@click.option("--dry-run", is_flag=True, help="Print what would be created; write nothing.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="The --dry-run format.",
)
@connection_options
def migrate_deployment(
    name: str,
    rollout_name: str | None,
    strategy: str,
    steps: str,
    stable_service: str | None,
    canary_service: str | None,
    active_service: str | None,
    preview_service: str | None,
    scale_down: str,
    api_version: str | None,
    dry_run: bool,
    output: str,
) -> None:
    """Migrate Deployment NAME to a Rollout that references it (workloadRef).

    The Rollout takes the Deployment's pod template, selector and replicas; its first
    revision comes up beside the Deployment's pods, then the controller scales the
    Deployment down (--scale-down: onsuccess once the Rollout is Healthy,
    progressively as its pods become available, or never).  Later updates (set image
    on the Rollout changes the Deployment's template) follow the strategy.

    A Service that already selects the Deployment's pods keeps serving both stacks
    (the Rollout's pods carry the same labels), so it is left alone; Services the
    Rollout manages (--stable/--canary/--active/--preview-service) must be other ones,
    and are created when missing.  See docs/cli.md.
    """
    if strategy == "blue-green" and not active_service:
        raise click.UsageError("--strategy blue-green needs --active-service")
    if strategy == "canary" and (active_service or preview_service):
        raise click.UsageError("--active-service/--preview-service are for --strategy blue-green")
    if strategy == "blue-green" and (stable_service or canary_service):
        raise click.UsageError("--stable-service/--canary-service are for --strategy canary")
    step_list = parse_steps(steps) if strategy == "canary" else []
    target = Target.from_context(click.get_current_context())

    async def main() -> None:
        from progressive._clusters import Ref

        from ..errors import AlreadyExists

        async with open_session(target) as session:
            ns = session.namespace
            deployment = await session.cluster.get(Ref("apps/v1", "Deployment", ns, name))
            if deployment is None:
                raise CliError(f'deployment "{name}" not found in namespace "{ns}"')
            wanted = rollout_name or name
            for group in ROLLOUT_GROUPS:
                if await session.cluster.get(Ref(group, "Rollout", ns, wanted)) is not None:
                    raise CliError(f'rollout "{wanted}" already exists in namespace "{ns}"')
            group = api_version or await _rollout_group(session)
            plan = plan_migration(
                deployment,
                await session.cluster.list("v1", "Service", ns),
                name=wanted,
                api_version=group,
                strategy=strategy,
                steps=step_list,
                scale_down=scale_down,
                stable_service=stable_service,
                canary_service=canary_service,
                active_service=active_service,
                preview_service=preview_service,
            )
            if dry_run:
                click.echo(render_plan(plan, output), nl=False)
                return
            for obj in plan.create[1:]:  # the Services first: the Rollout pins them
                try:
                    await session.cluster.create(obj)
                except AlreadyExists:
                    raise CliError(
                        f"service/{obj['metadata']['name']} was created meanwhile"
                    ) from None
                click.echo(f"service/{obj['metadata']['name']} created")
            created = await session.cluster.create(plan.create[0])
            group_name = group.partition("/")[0]
            click.echo(f"rollout.{group_name}/{created['metadata']['name']} created")
            for note in plan.notes:
                click.echo(f"note: {note}", err=True)
            for what, _ in plan.later:
                click.echo(f"next: {what}", err=True)
            if session.is_memory:
                await _report_memory(session, wanted, name)
            else:
                click.echo(
                    f"watch it: progressive status {wanted} -n {ns}  "
                    f"(or get rollout {wanted} -n {ns} -w)",
                    err=True,
                )

    run(main)


async def _rollout_group(session: Session) -> str:
    """progressive.dev when served, else argoproj.io; an error when neither is."""
    for group in (ROLLOUT_GROUPS[1], ROLLOUT_GROUPS[0]):
        if await session.serves(group, "Rollout"):
            return group
    raise CliError(
        "the server serves no Rollout (argoproj.io or progressive.dev): install the CRDs "
        "first (progressive install --crds-only)"
    )


async def _report_memory(session: Session, rollout: str, deployment: str) -> None:
    from progressive._clusters import Ref

    from ._plugin import after_write

    await after_write(session, rollout)
    found = await session.cluster.get(Ref("apps/v1", "Deployment", session.namespace, deployment))
    if found is not None:
        spec_replicas = (found.get("spec") or {}).get("replicas", 1)
        ready = (found.get("status") or {}).get("readyReplicas", 0)
        click.echo(f"deployment '{deployment}': {spec_replicas} replicas, {ready} ready")
