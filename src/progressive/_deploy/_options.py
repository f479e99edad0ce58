"""What an installation is made of: :class:`InstallOptions`, the one description that
``progressive install``, ``deploy/`` and the Helm chart's values all render from."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs

from ._crds import GROUP

if TYPE_CHECKING:
    from ._rbac import Rule

__all__ = [
    "ALL_NAMESPACES",
    "DEFAULT_RESOURCES",
    "HEALTH_PORT",
    "IMAGE_REPOSITORY",
    "LEASE_NAME",
    "METRICS_PORT",
    "NAME",
    "NO_METRICS",
    "NAMESPACE",
    "SECURE_METRICS_PORT",
    "SERVICE_ACCOUNT",
    "InstallOptions",
]

NAMESPACE: Final = "progressive-system"
NAME: Final = "progressive-controller"
SERVICE_ACCOUNT: Final = NAME
LEASE_NAME: Final = NAME
#: plain HTTP /metrics, on the Pod's loopback only (``kubectl port-forward`` reaches it)
METRICS_PORT: Final = 8090
#: HTTPS /metrics for bearer tokens the API server authenticates and authorizes
SECURE_METRICS_PORT: Final = 8443
#: /healthz and /readyz for the kubelet's probes: no data, every interface
HEALTH_PORT: Final = 8081
IMAGE_REPOSITORY: Final = "ghcr.io/progressive-dev/progressive"
#: ``analysis_secrets`` value: every namespace the controller reconciles
ALL_NAMESPACES: Final = "*"
DEFAULT_RESOURCES: Final[Mapping[str, Any]] = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"memory": "512Mi"},
}
_DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
#: ``metrics_address``: HOST:PORT (HOST a name, an IPv4 or a bracketed IPv6 address,
#: or empty: every interface), or "0": no /metrics endpoint; the chart checks the same
_ADDRESS: Final = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):([0-9]{1,5})$")
#: ``metrics_address`` value: no /metrics endpoint at all
NO_METRICS: Final = "0"


def _names(value: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(v) for v in value or ()))


def _rules(value: Iterable[Rule]) -> tuple[Rule, ...]:
    return tuple(value)


def _check_namespaces(field: str, values: tuple[str, ...], *, star: bool = False) -> None:
    for value in values:
        if star and value == ALL_NAMESPACES:
            if len(values) > 1:
                raise ValueError(f"{field}: {ALL_NAMESPACES!r} stands alone, got {list(values)}")
            continue
        if not _DNS_LABEL.match(value):
            raise ValueError(f"{field}: {value!r} is not a namespace name")


@attrs.frozen(kw_only=True)
class InstallOptions:
    """How the controller is installed; the defaults are the least privilege that
    reconciles Rollouts in every namespace.

    Attributes:
        namespaces: reconcile these namespaces only, with a Role in each (empty: every
            namespace, with a ClusterRole).
        analysis_secrets: where analyses may read Secrets (``secretKeyRef``): namespace
            names, or ``("*",)`` for every namespace reconciled; empty: nowhere.
        job_provider: let analyses run Kubernetes Jobs (the ``job`` metric provider):
            grants Job creation where Rollouts are reconciled.
        restarts: let ``spec.restartAt`` (``progressive restart``) delete the Rollout's
            old pods: grants listing and deleting pods where Rollouts are reconciled
            (the only feature that deletes pods).
        argoproj: also reconcile Argo's ``argoproj.io`` objects.
        notifications: send the notifications Rollouts subscribe to: grants ``get`` on
            the notification ConfigMap and Secret (by name) in ``NAMESPACE`` and
            ``patch`` on Rollouts (their notified annotation); without it the controller
            runs with ``--no-notifications``.
        leader_election: two or more replicas, one working (a Lease in ``NAMESPACE``).
        replicas: the Deployment's replicas.
        metrics_secure: serve ``/metrics`` over HTTPS on every interface to bearer
            tokens allowed ``get`` on the ``/metrics`` URL (TokenReview and
            SubjectAccessReview); otherwise plain HTTP on the Pod's loopback only.
        service_monitor: a Prometheus Operator ServiceMonitor (needs ``metrics_secure``).
        metrics_address: where ``/metrics`` listens, ``HOST:PORT``, or ``"0"`` for
            nowhere; empty: ``127.0.0.1:8090``, or ``0.0.0.0:8443`` with
            ``metrics_secure`` (whose Service then targets this port).
        image: the controller image (default: this version's).
        resources: the controller container's resources.
        extra_rules: more rules where Rollouts are reconciled, next to the built-in
            routers' (``progressive install`` puts the installed router plugins' here:
            ``plugin_rules``; Helm: ``rbac.extraRules``); namespaced resource
            rules only, none on the controller's own group.
    """

    namespaces: tuple[str, ...] = attrs.field(default=(), converter=_names)
    analysis_secrets: tuple[str, ...] = attrs.field(default=(), converter=_names)
    job_provider: bool = False
    restarts: bool = False
    argoproj: bool = False
    notifications: bool = False
    leader_election: bool = True
    replicas: int = 2
    metrics_secure: bool = False
    service_monitor: bool = False
    metrics_address: str = ""
    image: str | None = None
    resources: Mapping[str, Any] = attrs.field(factory=lambda: dict(DEFAULT_RESOURCES))
    extra_rules: tuple[Rule, ...] = attrs.field(default=(), converter=_rules)

    def __attrs_post_init__(self) -> None:
        _check_namespaces("namespaces", self.namespaces)
        _check_namespaces("analysis_secrets", self.analysis_secrets, star=True)
        if NAMESPACE in self.namespaces:
            raise ValueError(f"namespaces: not the controller's own namespace {NAMESPACE}")
        if self.namespaces and self.analysis_secrets != (ALL_NAMESPACES,):
            outside = [n for n in self.analysis_secrets if n not in self.namespaces]
            if outside:
                raise ValueError(
                    f"analysis_secrets: {outside} are not among the namespaces reconciled"
                )
        if self.replicas < 1:
            raise ValueError(f"replicas: at least 1, got {self.replicas}")
        if self.replicas > 1 and not self.leader_election:
            raise ValueError("replicas: more than one needs leader_election")
        if self.service_monitor and not self.metrics_secure:
            raise ValueError("service_monitor: needs metrics_secure (nothing else is scrapable)")
        if self.metrics_address not in ("", NO_METRICS):
            found = _ADDRESS.match(self.metrics_address)
            if found is None or not 0 < int(found[2]) < 65536:
                raise ValueError(
                    f'metrics_address: expected HOST:PORT or "0" (none), got '
                    f"{self.metrics_address!r}"
                )
        if any(r.cluster_scoped or r.non_resource_urls for r in self.extra_rules):
            raise ValueError("extra_rules: namespaced resource rules only")
        for rule in self.extra_rules:
            if rule.group == GROUP:
                raise ValueError(
                    f"extra_rules: not on {GROUP}, which the controller's own rules cover "
                    f"({rule.why})"
                )
        if self.metrics_secure and self.metrics_address == NO_METRICS:
            raise ValueError('metrics_secure: needs a metrics address, not "0"')

    @property
    def metrics_listen(self) -> str:
        """The controller's ``--metrics-address``."""
        if self.metrics_address:
            return self.metrics_address
        if self.metrics_secure:
            return f"0.0.0.0:{SECURE_METRICS_PORT}"
        return f"127.0.0.1:{METRICS_PORT}"

    @property
    def metrics_port(self) -> int | None:
        """The port ``/metrics`` listens on (None: it does not)."""
        if self.metrics_listen == NO_METRICS:
            return None
        return int(self.metrics_listen.rpartition(":")[2])

    @property
    def cluster_wide(self) -> bool:
        return not self.namespaces

    def secrets_in(self, namespace: str | None) -> bool:
        """Whether analyses may read Secrets in ``namespace`` (None: cluster-wide)."""
        if self.analysis_secrets == (ALL_NAMESPACES,):
            return True
        return namespace is not None and namespace in self.analysis_secrets
