"""The controller's namespace, Deployment, metrics Service and ServiceMonitor.

The Deployment runs ``progressive controller`` as a non-root user on a read-only root
file system (``/tmp`` is an in-memory ``emptyDir``, for the secure endpoint's
certificate), probes on :data:`HEALTH_PORT` (``/healthz``, ``/readyz``: no data), and
``/metrics`` either on the Pod's loopback only (plain HTTP, the default) or, with
``metrics_secure``, over HTTPS on every interface behind TokenReview and
SubjectAccessReview, with a Service in front of it.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from ._objects import LABELS, SELECTOR, meta
from ._options import (
    HEALTH_PORT,
    IMAGE_REPOSITORY,
    LEASE_NAME,
    NAME,
    NAMESPACE,
    SECURE_METRICS_PORT,
    SERVICE_ACCOUNT,
    InstallOptions,
)

__all__ = ["controller", "controller_args", "image", "namespace", "service_monitor"]

_SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def image() -> str:
    """The controller image of this version (what ``scripts/build-image`` builds)."""
    return f"{IMAGE_REPOSITORY}:{metadata.version('progressive')}"


def namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(NAMESPACE)}


def controller_args(options: InstallOptions) -> list[str]:
    """``progressive controller``'s arguments in the Deployment."""
    args = ["controller", *(f"--namespace={n}" for n in options.namespaces)]
    if options.leader_election:
        args += [
            "--leader-elect",
            "--lease-namespace=$(POD_NAMESPACE)",
            f"--lease-name={LEASE_NAME}",
            "--identity=$(POD_NAME)",
        ]
    args += [f"--metrics-address={options.metrics_listen}"]
    if options.metrics_secure:
        args += ["--metrics-secure"]
    if not options.notifications:
        args += ["--no-notifications"]
    args += [f"--health-address=0.0.0.0:{HEALTH_PORT}"]
    return args


def _deployment(options: InstallOptions) -> dict[str, Any]:
    field_env = [
        {"name": env, "valueFrom": {"fieldRef": {"fieldPath": path}}}
        for env, path in (("POD_NAMESPACE", "metadata.namespace"), ("POD_NAME", "metadata.name"))
    ]
    probe = {"httpGet": {"path": "/healthz", "port": "health"}, "periodSeconds": 10}
    ports = [{"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"}]
    if options.metrics_secure:
        ports.append({"name": "https", "containerPort": options.metrics_port, "protocol": "TCP"})
    container = {
        "name": "controller",
        "image": options.image or image(),
        "args": controller_args(options),
        "env": field_env,
        "ports": ports,
        "livenessProbe": probe,
        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "health"}},
        "resources": options.resources,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(NAME, NAMESPACE),
        "spec": {
            "replicas": options.replicas,
            "selector": {"matchLabels": dict(SELECTOR)},
            "template": {
                "metadata": {"labels": dict(LABELS)},
                "spec": {
                    "serviceAccountName": SERVICE_ACCOUNT,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory"}}],
                },
            },
        },
    }


def controller(options: InstallOptions | None = None) -> list[dict[str, Any]]:
    """The controller Deployment and, with ``metrics_secure``, the metrics Service."""
    options = options or InstallOptions()
    docs = [_deployment(options)]
    if options.metrics_secure:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta(f"{NAME}-metrics", NAMESPACE),
                "spec": {
                    "selector": dict(SELECTOR),
                    "ports": [
                        {
                            "name": "https",
                            "port": SECURE_METRICS_PORT,
                            "targetPort": "https",
                            "protocol": "TCP",
                        }
                    ],
                },
            }
        )
    return docs


def service_monitor() -> dict[str, Any]:
    """A Prometheus Operator ServiceMonitor for the secure endpoint: Prometheus sends
    its ServiceAccount token (bind it to the ``progressive-metrics-reader``
    ClusterRole); the certificate is the controller's own, self-signed."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta(NAME, NAMESPACE),
        "spec": {
            "selector": {"matchLabels": dict(LABELS)},
            "namespaceSelector": {"matchNames": [NAMESPACE]},
            "endpoints": [
                {
                    "port": "https",
                    "scheme": "https",
                    "path": "/metrics",
                    "interval": "30s",
                    "bearerTokenFile": _SERVICE_ACCOUNT_TOKEN,
                    "tlsConfig": {"insecureSkipVerify": True},
                }
            ],
        },
    }
