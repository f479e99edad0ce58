"""``progressive controller``: the controller on a real cluster.

Connects with ``--kubeconfig``/``--context``, ``$KUBECONFIG`` or, in a Pod, its
ServiceAccount, each request bounded by ``--request-timeout``; watches Rollouts (and
what they own) through shared informers and reconciles them with ``--workers``
concurrent workers; AnalysisRuns are measured by ``--analysis-workers`` of their own,
at most ``--analysis-workers-per-namespace`` for one namespace;
``--max-response-bytes``, ``--max-series`` and ``--max-samples`` bound what a
measurement reads.  With ``--leader-elect`` only the replica holding the Lease
``--lease-namespace/--lease-name`` works; losing it stops all work at once and exits
(status 1) so the process campaigns afresh.  SIGTERM or SIGINT stop it gracefully: the
reconciles in flight finish (``--shutdown-grace``), the Lease is released, exit
status 0.

``--metrics-address`` serves ``/metrics`` (and, without ``--health-address``, the
probes ``/healthz`` and ``/readyz``): plain HTTP, meant for loopback; with
``--metrics-secure``, HTTPS (``--metrics-cert-dir`` or a self-signed certificate) to
bearer tokens the API server says may ``get`` the URL (TokenReview and
SubjectAccessReview, :mod:`progressive._shell.metrics_auth`).  ``--health-address``
serves the probes alone, which carry no data, for the kubelet.

``--namespace`` may be repeated: one controller per namespace, in one process, under
one Lease (what a namespaced install, with a Role per namespace, runs).

Notifications (docs/notifications.md) are sent as the ConfigMap
``argo-rollouts-notification-configmap`` (or ``progressive-notification-configmap``) in
``--notifications-namespace`` says, when it exists; ``--no-notifications`` turns them off.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import click

from progressive._shell.controller import (
    ANALYSIS_WORKERS,
    ANALYSIS_WORKERS_PER_NAMESPACE,
    WORKERS,
)
from progressive._shell.ratelimit import DEFAULT_BURST, DEFAULT_QPS
from progressive.metrics import DEFAULT_LIMITS
from progressive.metrics._secrets import ScrubbingFilter

from ._target import RequestTimeout

__all__ = ["controller"]

log = logging.getLogger("progressive.controller")


def _address(value: str) -> tuple[str, int] | None:
    """``host:port`` (``:8090`` is every interface), or None for "" / "0" (off)."""
    if value in ("", "0"):
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}")
    return (host.strip("[]") or "0.0.0.0"), int(port)


def _configure_logging(level: str) -> None:
    """Log to stderr at ``level``; every handler masks the secrets of the measurement
    under way (progressive.metrics._secrets)."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(ScrubbingFilter())


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


@click.command()
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    help="Default: $KUBECONFIG, ~/.kube/config, or the Pod's ServiceAccount in a cluster.",
)
@click.option("--context", help="The kubeconfig context (default: its current one).")
@click.option(
    "--request-timeout",
    type=RequestTimeout(),
    default="30s",
    show_default=True,
    help="How long to wait for each answer of the API server (watches excepted).",
)
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    help="Reconcile the Rollouts of this namespace only (repeat for several).",
)
@click.option(
    "--instance-id",
    default="",
    help="Reconcile only the Rollouts labelled progressive.dev/controller-instance-id (or "
    "argo-rollouts.argoproj.io/controller-instance-id) with this value; without it, only "
    "those carrying neither label.",
)
@click.option(
    "--api-groups",
    default="",
    help="Comma-separated: argoproj.io, progressive.dev [default: whichever the server "
    "serves and this controller may list].",
)
@click.option("--workers", default=WORKERS, show_default=True, help="Rollouts reconciled at once.")
@click.option(
    "--analysis-workers",
    default=ANALYSIS_WORKERS,
    show_default=True,
    type=click.IntRange(min=1),
    help="AnalysisRuns measured at once (off the --workers: a slow metric delays no step).",
)
@click.option(
    "--analysis-workers-per-namespace",
    default=ANALYSIS_WORKERS_PER_NAMESPACE,
    show_default=True,
    type=click.IntRange(min=1),
    help="AnalysisRuns of one namespace measured at once; namespaces take turns.",
)
@click.option(
    "--max-response-bytes",
    default=DEFAULT_LIMITS.max_body_bytes,
    show_default=True,
    type=click.IntRange(min=1),
    help="The most a metric provider reads of one HTTP answer (after gzip); more is an Error.",
)
@click.option(
    "--max-series",
    default=DEFAULT_LIMITS.max_series,
    show_default=True,
    type=click.IntRange(min=1),
    help="The most series a Prometheus metric may return; more is an Error.",
)
@click.option(
    "--max-samples",
    default=DEFAULT_LIMITS.max_samples,
    show_default=True,
    type=click.IntRange(min=1),
    help="The most samples (all series, all points) a Prometheus metric may return.",
)
@click.option(
    "--qps",
    default=DEFAULT_QPS,
    show_default=True,
    help="API requests per second, per API group (Kubernetes' own groups share one "
    "budget), as client-go has it per clientset.",
)
@click.option(
    "--burst",
    default=DEFAULT_BURST,
    show_default=True,
    help="API requests in a burst, per API group.",
)
@click.option(
    "--total-qps",
    default=0.0,
    show_default=True,
    help="A ceiling on API requests per second over all API groups together (0: none).",
)
@click.option("--leader-elect", is_flag=True, help="Work only while holding the Lease.")
@click.option(
    "--lease-namespace",
    default=lambda: os.environ.get("POD_NAMESPACE") or "progressive-system",
    show_default="$POD_NAMESPACE or progressive-system",
)
@click.option("--lease-name", default="progressive-controller", show_default=True)
@click.option(
    "--identity",
    default="",
    help="This replica's name in the Lease [default: hostname and a random suffix].",
)
@click.option("--lease-duration", default=15.0, show_default=True, help="Seconds.")
@click.option("--renew-deadline", default=10.0, show_default=True, help="Seconds.")
@click.option("--retry-period", default=2.0, show_default=True, help="Seconds.")
@click.option(
    "--metrics-address",
    default="127.0.0.1:8090",
    show_default=True,
    help="HOST:PORT for /metrics (and the probes, without --health-address; '0': none).",
)
@click.option(
    "--metrics-secure",
    is_flag=True,
    help="Serve /metrics over HTTPS, only to bearer tokens allowed to get it "
    "(TokenReview, SubjectAccessReview).",
)
@click.option(
    "--metrics-cert-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="tls.crt and tls.key for --metrics-secure [default: a self-signed certificate].",
)
@click.option(
    "--health-address",
    default="",
    help="HOST:PORT for /healthz and /readyz alone [default: on --metrics-address].",
)
@click.option(
    "--notifications/--no-notifications",
    default=True,
    show_default=True,
    help="Send the notifications Rollouts subscribe to (when the ConfigMap exists).",
)
@click.option(
    "--notifications-namespace",
    default=lambda: os.environ.get("POD_NAMESPACE") or "progressive-system",
    show_default="$POD_NAMESPACE or progressive-system",
    help="Where the notification ConfigMap and Secret are.",
)
@click.option("--resync", default=300.0, show_default=True, help="Seconds between resyncs.")
@click.option(
    "--shutdown-grace",
    default=30.0,
    show_default=True,
    help="Seconds the reconciles in flight get to finish on SIGTERM.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def controller(**options: Any) -> None:
    """Run the controller: reconcile Rollouts on a Kubernetes cluster."""
    _configure_logging(options["log_level"])
    if options["leader_elect"] and not (
        options["lease_duration"] > options["renew_deadline"] > 1.2 * options["retry_period"]
    ):
        raise click.BadParameter("needs --lease-duration > --renew-deadline > 1.2 * --retry-period")
    address = _address(options["metrics_address"])
    health = _address(options["health_address"])
    if options["metrics_secure"] and address is None:
        raise click.BadParameter("--metrics-secure needs a --metrics-address")
    from progressive._shell.kube._session import limit_tls_read_buffer

    limit_tls_read_buffer()  # this process is ours: 32 KiB, not 256, per TLS connection
    try:
        code = anyio.run(_main, options, address, health)
    except (click.ClickException, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # an error inside the task groups: report it plainly
        leaves = _leaves(exc)
        for leaf in leaves:
            if isinstance(leaf, click.ClickException):
                raise leaf from None
        for leaf in leaves:
            log.error("%s: %s", type(leaf).__name__, leaf)
        sys.exit(1)
    if code:
        sys.exit(code)


async def _main(
    options: dict[str, Any], address: tuple[str, int] | None, health: tuple[str, int] | None
) -> int:
    from progressive._shell.clocks import WallClock
    from progressive._shell.controller import Controller
    from progressive._shell.kube import KubeCluster
    from progressive._shell.leader import LeaderElector
    from progressive._shell.metrics import ENDPOINTS, ControllerMetrics, serve_metrics
    from progressive._shell.metrics_auth import TokenAuthorizer, serving_context
    from progressive._shell.notifier import Notifier
    from progressive._shell.supervisor import supervise
    from progressive.metrics import ResponseLimits, default_registry

    from ..errors import LeadershipLost

    metrics = ControllerMetrics()
    groups = [g for g in options["api_groups"].split(",") if g.strip()] or None
    try:
        cluster = await KubeCluster.connect(
            options["kubeconfig"],
            options["context"],
            qps=options["qps"],
            burst=options["burst"],
            total_qps=options["total_qps"],
            on_request=metrics.record_request,
            request_timeout=options["request_timeout"],
            on_wait=metrics.record_client_wait,
        )
    except Exception as exc:  # a missing or unreadable kubeconfig
        raise click.ClickException(f"cannot connect: {exc}") from None
    async with cluster:
        try:
            limits = ResponseLimits(
                max_body_bytes=options["max_response_bytes"],
                max_series=options["max_series"],
                max_samples=options["max_samples"],
            )
            provider = default_registry(cluster, limits=limits)
            clock = WallClock()
            ctls = [
                Controller(
                    cluster,
                    clock=clock,
                    provider=provider,
                    namespace=namespace,
                    instance_id=options["instance_id"] or None,
                    api_groups=groups,
                    metrics=metrics,
                    notifier=Notifier(
                        cluster,
                        namespace=options["notifications_namespace"],
                        clock=clock,
                        metrics=metrics,
                    )
                    if options["notifications"]
                    else None,
                )
                for namespace in options["namespaces"] or (None,)
            ]
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--api-groups") from None
        elector = None
        if options["leader_elect"]:
            elector = LeaderElector(
                cluster,
                namespace=options["lease_namespace"],
                name=options["lease_name"],
                identity=options["identity"] or None,
                lease_duration=options["lease_duration"],
                renew_deadline=options["renew_deadline"],
                retry_period=options["retry_period"],
            )
            log.info("campaigning for Lease %s as %s", elector.ref, elector.identity)
        shutdown = anyio.Event()

        def ready() -> bool:
            return all(c.running for c in ctls) or (elector is not None and not elector.leading)

        async with anyio.create_task_group() as tg:

            async def signals() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
                    async for signum in received:
                        if shutdown.is_set():
                            log.warning("second %s: stopping now", signal.Signals(signum).name)
                            tg.cancel_scope.cancel()
                            return
                        log.info("%s received", signal.Signals(signum).name)
                        shutdown.set()

            tg.start_soon(signals)

            async def serve(
                where: tuple[str, int], endpoints: tuple[str, ...], secure: bool = False
            ) -> int:
                port: int = await tg.start(
                    lambda task_status: serve_metrics(
                        metrics,
                        host=where[0],
                        port=where[1],
                        ready=ready,
                        endpoints=endpoints,
                        tls=serving_context(options["metrics_cert_dir"]) if secure else None,
                        authorize=TokenAuthorizer(cluster) if secure else None,
                        task_status=task_status,
                    )
                )
                log.info(
                    "%s on %s://%s:%s",
                    ", ".join(endpoints),
                    "https" if secure else "http",
                    where[0],
                    port,
                )
                return port

            if address is not None:
                only = ENDPOINTS if health is None else ("/metrics",)
                await serve(address, only, secure=options["metrics_secure"])
            if health is not None:
                await serve(health, ("/healthz", "/readyz"))
            code = 0
            try:
                await supervise(
                    ctls,
                    workers=options["workers"],
                    analysis_workers=options["analysis_workers"],
                    analysis_workers_per_namespace=options["analysis_workers_per_namespace"],
                    resync=options["resync"] or None,
                    elector=elector,
                    metrics=metrics,
                    shutdown=shutdown,
                    grace=options["shutdown_grace"],
                )
            except LeadershipLost:
                code = 1
            tg.cancel_scope.cancel()
        log.info("stopped")
        return code
