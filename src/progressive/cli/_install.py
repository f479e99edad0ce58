"""``progressive install``: the CRDs, RBAC and controller, into the current cluster.

What it installs is what ``deploy/`` holds with the default options, and what the Helm
chart in ``deploy/chart`` renders with its default values (all three come from
:mod:`progressive._deploy`):

1. the progressive.dev CRDs, waiting until the API server serves them (Established);
2. the ``progressive-system`` namespace, the controller's ServiceAccount and its
   least-privilege RBAC: a ClusterRole, or with ``--watch-namespace`` a Role in each
   namespace named; Secrets only with ``--analysis-secrets``, Jobs only with
   ``--job-provider``, pod deletion only with ``--restarts``; the leader-election Role;
3. the controller Deployment (and, with ``--metrics-secure``, its metrics Service).

``--crds-only`` stops after 1; ``--argoproj`` also grants the controller the same rights
on Argo's ``argoproj.io`` objects (for clusters where it, not Argo's controller,
reconciles them); ``--service-monitor`` adds the Prometheus Operator ServiceMonitor.

The routers' rights come from what each router declares (its ``access``):
progressive's own are always granted, and so is what the router, step and metric
provider plugins installed where ``install`` runs declare (``progressive.routers``,
``progressive.steps`` and ``progressive.metrics`` entry points), each rule said on
stderr with its reasons; a router or step plugin that declares nothing is granted
nothing, with a warning naming it (a provider that declares nothing needs nothing).

It connects as every command does (:func:`~progressive.cli._target.connect`:
``--kubeconfig``, ``--context``, ``--request-timeout``, before or after its name).
Objects are applied server side (field manager ``progressive-install``), so running it
again updates what changed and nothing else.  ``--dry-run`` prints the YAML instead;
``progressive install --dry-run | kubectl apply -f -`` does the same as a plain run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import click

from progressive._deploy import manifests

from ._target import CliError, Target, connect, kube_options, run

if TYPE_CHECKING:
    from progressive._shell.kube import KubeCluster

__all__ = ["install", "install_objects", "manifests"]

FIELD_MANAGER = "progressive-install"


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {where}{meta.get('name')}"


async def install_objects(
    cluster: KubeCluster,
    docs: Sequence[dict[str, Any]],
    *,
    established_within: float = 60.0,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Apply ``docs`` with ``cluster``, CRDs first, waiting (at most
    ``established_within`` seconds) until they are Established before the rest."""
    from progressive._clusters import Ref

    say = echo or (lambda _: None)
    timeout = established_within
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    for doc in crds:
        await cluster.apply(doc)
        say(f"{_name(doc)}: applied")
    deadline = time.monotonic() + timeout
    for doc in crds:
        ref = Ref.of(doc)
        while True:
            found = await cluster.get(Ref(ref.api_version, ref.kind, "", ref.name)) or {}
            conditions = (found.get("status") or {}).get("conditions") or ()
            if any(
                c.get("type") == "Established" and c.get("status") == "True" for c in conditions
            ):
                break
            if time.monotonic() > deadline:
                raise click.ClickException(f"{_name(doc)} is not Established after {timeout:g}s")
            await anyio.sleep(0.2)
    if crds:
        cluster.discovery.invalidate()
    for doc in docs:
        if doc["kind"] != "CustomResourceDefinition":
            await cluster.apply(doc)
            say(f"{_name(doc)}: applied")


@click.command()
@click.option("--dry-run", is_flag=True, help="Print the YAML instead of applying it.")
@kube_options
@click.option("--crds-only", is_flag=True, help="Install the CRDs and nothing else.")
@click.option(
    "--watch-namespace",
    "namespaces",
    multiple=True,
    metavar="NS",
    help="Reconcile this namespace only, with a Role in it (repeat for more; default: "
    "every namespace, with a ClusterRole).",
)
@click.option(
    "--analysis-secrets",
    multiple=True,
    metavar="NS",
    help="Let analyses read Secrets in NS ('*': every namespace reconciled; default: none).",
)
@click.option("--job-provider", is_flag=True, help="Let analyses run Jobs (the job provider).")
@click.option("--restarts", is_flag=True, help="Let spec.restartAt delete a Rollout's old pods.")
@click.option(
    "--argoproj", is_flag=True, help="Also let the controller reconcile argoproj.io objects."
)
@click.option(
    "--notifications",
    is_flag=True,
    help="Send the notifications Rollouts subscribe to: read the notification ConfigMap "
    "and Secret, annotate Rollouts.",
)
@click.option(
    "--leader-election/--no-leader-election",
    default=True,
    show_default=True,
    help="Replicas campaign for a Lease; one works.",
)
@click.option("--replicas", type=int, help="Controller replicas [default: 2, 1 without a Lease].")
@click.option(
    "--metrics-secure",
    is_flag=True,
    help="Serve /metrics over HTTPS to authorized bearer tokens (default: Pod loopback only).",
)
@click.option("--service-monitor", is_flag=True, help="Add a Prometheus Operator ServiceMonitor.")
@click.option(
    "--metrics-address",
    default="",
    metavar="HOST:PORT",
    help="Where the controller serves /metrics ('0': nowhere; default: 127.0.0.1:8090, "
    "0.0.0.0:8443 with --metrics-secure).",
)
@click.option("--image", help="The controller image (default: this version's).")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the CRDs.")
def install(
    dry_run: bool,
    crds_only: bool,
    timeout: float,
    **options: Any,
) -> None:
    """Install the progressive.dev CRDs, RBAC and the controller into a cluster."""
    from progressive._deploy import InstallOptions, plugin_rules, render

    if options["replicas"] is None:
        options["replicas"] = 2 if options["leader_election"] else 1
    plugins = plugin_rules()
    try:
        chosen = InstallOptions(**options, extra_rules=plugins.rules)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if not crds_only:
        for rule in plugins.rules:
            on = ", ".join(f"{r}.{rule.group}" if rule.group else r for r in rule.resources)
            click.echo(f"granting {rule.why}: {', '.join(rule.verbs)} on {on}", err=True)
        for plugin in plugins.undeclared:
            click.echo(
                f"warning: {plugin} declares no Kubernetes access (its access): this "
                "install grants it nothing; grant what it reads and writes yourself "
                "(Helm: rbac.extraRules)",
                err=True,
            )
    docs = manifests(chosen, crds_only=crds_only)
    if dry_run:
        click.echo(render(docs), nl=False)
        return

    target = Target.from_context()
    if target.memory:
        raise CliError(
            "install writes to a real cluster, not the in-memory one (--memory, "
            "PROGRESSIVE_MEMORY); --dry-run prints what it would write"
        )

    async def apply() -> None:
        async with connect(target, field_manager=FIELD_MANAGER) as cluster:
            await install_objects(cluster, docs, established_within=timeout, echo=click.echo)

    run(apply)
