"""The controller's installation: least-privilege RBAC, the Deployment and its metrics
Service, and a ServiceMonitor example; rendered into ``deploy/`` by
``python -m progressive._crds --write deploy/``.

:data:`CONTROLLER_RULES` lists exactly the verbs on the resources the controller
touches, and why; nothing else is granted.  In particular it never deletes Services,
Rollouts or templates, never writes Secrets (it only reads the ones analysis arguments
name), and writes Rollouts only through ``/status``.  ``/finalizers`` ``update`` is what
the ``OwnerReferencesPermissionEnforcement`` admission plugin asks of a controller that
sets ``blockOwnerDeletion`` on the objects it owns.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Final

import attrs

from ._crds import GROUP

__all__ = [
    "CONTROLLER_RULES",
    "LEADER_ELECTION_RULES",
    "NAMESPACE",
    "SERVICE_ACCOUNT",
    "Rule",
    "controller",
    "image",
    "rbac",
    "rbac_argoproj",
    "service_monitor",
]

NAMESPACE: Final = "progressive-system"
NAME: Final = "progressive-controller"
SERVICE_ACCOUNT: Final = NAME
METRICS_PORT: Final = 8090
LEASE_NAME: Final = NAME
IMAGE_REPOSITORY: Final = "ghcr.io/progressive-dev/progressive"
ARGO_GROUP: Final = "argoproj.io"
_LABELS: Final = {
    "app.kubernetes.io/name": NAME,
    "app.kubernetes.io/part-of": "progressive",
}
_SELECTOR: Final = {"app.kubernetes.io/name": NAME}


@attrs.frozen
class Rule:
    """Verbs on resources of one API group, and the reason the controller needs them."""

    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str

    def manifest(self, group: str | None = None) -> dict[str, Any]:
        return {
            "apiGroups": [self.group if group is None else group],
            "resources": list(self.resources),
            "verbs": list(self.verbs),
        }


_WATCH: Final = ("get", "list", "watch")

#: The controller's rules on its own group (the same rules, on argoproj.io, are in
#: rbac-argoproj.yaml for clusters where it drives Argo's objects).
CRD_RULES: Final = (
    Rule(GROUP, ("rollouts",), _WATCH, "reconciled; written only through /status"),
    Rule(GROUP, ("rollouts/status",), ("update", "patch"), "the controller's status"),
    Rule(GROUP, ("rollouts/finalizers",), ("update",), "owning ReplicaSets, runs, experiments"),
    Rule(
        GROUP, ("analysisruns", "experiments"), (*_WATCH, "create", "patch"), "started, terminated"
    ),
    Rule(GROUP, ("analysisruns/status", "experiments/status"), ("update", "patch"), "results"),
    Rule(
        GROUP,
        ("analysisruns/finalizers", "experiments/finalizers"),
        ("update",),
        "owning Jobs, ReplicaSets",
    ),
    Rule(GROUP, ("analysistemplates", "clusteranalysistemplates"), _WATCH, "read into runs"),
)

CONTROLLER_RULES: Final = (
    *CRD_RULES,
    Rule("apps", ("replicasets",), (*_WATCH, "create", "patch", "delete"), "one per revision"),
    Rule("apps", ("deployments",), (*_WATCH, "patch"), "workloadRef: read, scaled down"),
    Rule("", ("pods",), ("list", "watch", "delete"), "restarts evict old pods"),
    Rule("", ("services",), (*_WATCH, "patch"), "selectors pointed at a revision"),
    Rule("", ("secrets",), ("get",), "analysis arguments from secretKeyRef"),
    Rule("", ("events",), ("get", "create", "patch"), "Events, counted (get: after a restart)"),
    Rule("networking.k8s.io", ("ingresses",), (*_WATCH, "create", "patch"), "nginx canary Ingress"),
    Rule(
        "networking.istio.io",
        ("virtualservices", "destinationrules"),
        (*_WATCH, "patch"),
        "Istio weights, header and mirror routes, subsets",
    ),
    Rule("split.smi-spec.io", ("trafficsplits",), (*_WATCH, "create", "patch"), "SMI weights"),
    Rule(
        "gateway.networking.k8s.io",
        ("httproutes", "grpcroutes"),
        (*_WATCH, "patch"),
        "Gateway API weights and header routes",
    ),
    Rule("batch", ("jobs",), (*_WATCH, "create"), "the job metric provider"),
)

#: In the controller's own namespace only.
LEADER_ELECTION_RULES: Final = (
    Rule("coordination.k8s.io", ("leases",), ("get", "create", "patch"), "leader election"),
)


def image() -> str:
    return f"{IMAGE_REPOSITORY}:{metadata.version('progressive')}"


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if namespace is not None:
        out["namespace"] = namespace
    out["labels"] = dict(_LABELS)
    out.update(extra)
    return out


def _subject() -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}


def _cluster_role(name: str, rules: tuple[Rule, ...], group: str | None = None) -> list[Any]:
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(name),
            "rules": [r.manifest(group) for r in rules],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(name),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [_subject()],
        },
    ]


def rbac() -> list[dict[str, Any]]:
    """The ServiceAccount, its ClusterRole (and binding) and its leader-election Role."""
    role = f"{NAME}-leader-election"
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(SERVICE_ACCOUNT, NAMESPACE),
        },
        *_cluster_role(NAME, CONTROLLER_RULES),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(role, NAMESPACE),
            "rules": [r.manifest() for r in LEADER_ELECTION_RULES],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(role, NAMESPACE),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
            "subjects": [_subject()],
        },
    ]


def rbac_argoproj() -> list[dict[str, Any]]:
    """Optional: the same rights on argoproj.io objects, for a cluster where this
    controller (not Argo's) reconciles Argo Rollouts."""
    return _cluster_role(f"{NAME}-argoproj", CRD_RULES, ARGO_GROUP)


def controller() -> list[dict[str, Any]]:
    """The namespace, the controller Deployment (two replicas, one leading) and the
    Service in front of its metrics."""
    field_env = [
        {"name": env, "valueFrom": {"fieldRef": {"fieldPath": path}}}
        for env, path in (("POD_NAMESPACE", "metadata.namespace"), ("POD_NAME", "metadata.name"))
    ]
    probe = {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 10}
    container = {
        "name": "controller",
        "image": image(),
        "args": [
            "controller",
            "--leader-elect",
            "--lease-namespace=$(POD_NAMESPACE)",
            f"--lease-name={LEASE_NAME}",
            "--identity=$(POD_NAME)",
            f"--metrics-address=0.0.0.0:{METRICS_PORT}",
        ],
        "env": field_env,
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "livenessProbe": probe,
        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "metrics"}},
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(NAMESPACE)},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(NAME, NAMESPACE),
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": dict(_SELECTOR)},
                "template": {
                    "metadata": {"labels": dict(_LABELS)},
                    "spec": {
                        "serviceAccountName": SERVICE_ACCOUNT,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(f"{NAME}-metrics", NAMESPACE),
            "spec": {
                "selector": dict(_SELECTOR),
                "ports": [
                    {
                        "name": "metrics",
                        "port": METRICS_PORT,
                        "targetPort": "metrics",
                        "protocol": "TCP",
                    }
                ],
            },
        },
    ]


def service_monitor() -> list[dict[str, Any]]:
    """An example ServiceMonitor for the Prometheus Operator."""
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": _meta(NAME, NAMESPACE),
            "spec": {
                "selector": {"matchLabels": dict(_LABELS)},
                "namespaceSelector": {"matchNames": [NAMESPACE]},
                "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
            },
        }
    ]
