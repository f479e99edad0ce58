"""One Rollout and its starting objects per router, in the pure object store of
``progressive.testing`` (``Store``: create refuses an existing object, a merge patch
checks its resourceVersion), so the routers can be tested without any I/O.
"""

from __future__ import annotations

import copy
from typing import Any

from progressive.core import Rollout
from progressive.routers import ROUTERS, TrafficRouter
from progressive.testing import ObjectStore as Store

NS = "default"
UID = "00000000-0000-4000-8000-000000000001"
CANARY, STABLE = "web-canary", "web-stable"
#: What each router declares it can express (``capabilities``): the conformance suite
#: holds each to it both ways, routes kept where declared and refused where not.
HEADER_ROUTERS = frozenset(k for k, r in ROUTERS.items() if r.capabilities.header_routes)
MIRROR_ROUTERS = frozenset(k for k, r in ROUTERS.items() if r.capabilities.mirror_routes)
#: Routers that send traffic to experiment templates.
EXPERIMENT_ROUTERS = frozenset(k for k, r in ROUTERS.items() if r.capabilities.experiment_weights)


def rollout(
    routing: dict[str, Any], steps: list[dict[str, Any]] | None = None, *, services: bool = True
) -> Rollout:
    return Rollout.from_manifest(rollout_manifest(routing, steps, services=services))


def rollout_manifest(
    routing: dict[str, Any], steps: list[dict[str, Any]] | None = None, *, services: bool = True
) -> dict[str, Any]:
    """The Rollout of the router tests (``web`` in ``default``, uid :data:`UID`);
    without ``services``, it names no canaryService nor stableService (Istio subsets)."""
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": NS, "uid": UID},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "example/web:2"}]},
            },
            "strategy": {
                "canary": {
                    "canaryService": CANARY,
                    "stableService": STABLE,
                    "trafficRouting": routing,
                    "steps": steps or [{"setWeight": 25}],
                }
            },
        },
    }
    if not services:
        canary = manifest["spec"]["strategy"]["canary"]
        del canary["canaryService"], canary["stableService"]
    return manifest


def stable_ingress() -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "web",
            "namespace": NS,
            "annotations": {"kubernetes.io/ingress.class": "nginx", "team": "shop"},
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["web.example"], "secretName": "web-tls"}],
            "rules": [
                {
                    "host": "web.example",
                    "http": {
                        "paths": [
                            _path("/", STABLE),
                            _path("/static", "static-files"),
                        ]
                    },
                },
                {"host": "admin.example", "http": {"paths": [_path("/", "admin")]}},
            ],
        },
    }


def _path(path: str, service: str) -> dict[str, Any]:
    return {
        "path": path,
        "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"name": "http"}}},
    }


def virtual_service() -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": NS, "annotations": {"team": "shop"}},
        "spec": {
            "hosts": ["web"],
            "gateways": ["mesh"],
            "http": [
                {
                    "name": "legacy",
                    "match": [{"uri": {"prefix": "/v0"}}],
                    "route": [{"destination": {"host": "web-legacy"}}],
                },
                {
                    "name": "primary",
                    "retries": {"attempts": 3},
                    "route": [
                        {"destination": {"host": STABLE, "port": {"number": 80}}, "weight": 100},
                        {"destination": {"host": CANARY, "port": {"number": 80}}, "weight": 0},
                    ],
                },
            ],
        },
    }


def http_route() -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": NS, "labels": {"team": "shop"}},
        "spec": {
            "parentRefs": [{"name": "public"}],
            "hostnames": ["web.example"],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                    "backendRefs": [{"name": "admin", "port": 80}],
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "filters": [
                        {
                            "type": "RequestHeaderModifier",
                            "requestHeaderModifier": {"add": [{"name": "x-via", "value": "gw"}]},
                        }
                    ],
                    "backendRefs": [
                        {"name": STABLE, "port": 80, "weight": 100},
                        {"name": CANARY, "port": 80, "weight": 0},
                    ],
                },
            ],
        },
    }


def alb_ingress() -> dict[str, Any]:
    """An Ingress of the AWS Load Balancer Controller, its root Service's path using the
    ``actions`` annotation."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "web-alb",
            "namespace": NS,
            "annotations": {"kubernetes.io/ingress.class": "alb", "team": "shop"},
        },
        "spec": {
            "rules": [
                {
                    "host": "web.example",
                    "http": {
                        "paths": [
                            _path("/static", "static-files"),
                            {
                                "path": "/*",
                                "pathType": "ImplementationSpecific",
                                "backend": {
                                    "service": {
                                        "name": "web-root",
                                        "port": {"name": "use-annotation"},
                                    }
                                },
                            },
                        ]
                    },
                },
                {"host": "admin.example", "http": {"paths": [_path("/", "admin")]}},
            ]
        },
    }


def apisix_route() -> dict[str, Any]:
    """An ApisixRoute whose ``web`` rule splits between the stable and canary Services."""
    return {
        "apiVersion": "apisix.apache.org/v2",
        "kind": "ApisixRoute",
        "metadata": {"name": "web-route", "namespace": NS, "labels": {"team": "shop"}},
        "spec": {
            "http": [
                {
                    "name": "admin",
                    "match": {"paths": ["/admin/*"], "hosts": ["web.example"]},
                    "backends": [{"serviceName": "admin", "servicePort": 80}],
                },
                {
                    "name": "web",
                    "priority": 2,
                    "match": {
                        "paths": ["/*"],
                        "hosts": ["web.example"],
                        "methods": ["GET", "POST"],
                    },
                    "plugins": [{"name": "cors", "enable": True}],
                    "backends": [
                        {"serviceName": STABLE, "servicePort": 80, "weight": 100},
                        {"serviceName": CANARY, "servicePort": 80, "weight": 0},
                    ],
                },
            ]
        },
    }


def ambassador_mapping() -> dict[str, Any]:
    """Emissary's Mapping of the stable Service, as Argo's example writes it."""
    return {
        "apiVersion": "getambassador.io/v2",
        "kind": "Mapping",
        "metadata": {"name": "web", "namespace": NS, "labels": {"team": "shop"}},
        "spec": {
            "prefix": "/web/",
            "rewrite": "/",
            "resolver": "endpoint",
            "service": f"{STABLE}.{NS}:80",
            "timeout_ms": 3000,
        },
    }


def traefik_service(api_version: str = "traefik.containo.us/v1alpha1") -> dict[str, Any]:
    """A TraefikService splitting between the stable and canary Services (and a third
    one the Rollout does not manage)."""
    return {
        "apiVersion": api_version,
        "kind": "TraefikService",
        "metadata": {"name": "web-wrr", "namespace": NS, "labels": {"team": "shop"}},
        "spec": {
            "weighted": {
                "services": [
                    {"name": STABLE, "port": 80, "weight": 100},
                    {"name": CANARY, "port": 80, "weight": 0},
                    {"name": "web-mirror", "port": 80, "weight": 0},
                ],
                "sticky": {"cookie": {"name": "lvl1"}},
            }
        },
    }


def appmesh_objects() -> list[dict[str, Any]]:
    """App Mesh's VirtualService, the VirtualRouter behind it (a route Argo weighs, a
    gRPC one named in no ``routes``) and the two VirtualNodes, as Argo's e2e test has
    them."""
    api = "appmesh.k8s.aws/v1beta2"

    def node(name: str, placeholder: str) -> dict[str, Any]:
        return {
            "apiVersion": api,
            "kind": "VirtualNode",
            "metadata": {"name": name, "namespace": NS, "labels": {"team": "shop"}},
            "spec": {
                "podSelector": {
                    "matchLabels": {"app": "web", "rollouts-pod-template-hash": placeholder}
                },
                "listeners": [{"portMapping": {"port": 80, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": f"{name}.{NS}.svc.cluster.local"}},
            },
        }

    def targets(canary: int, stable: int) -> dict[str, Any]:
        return {
            "weightedTargets": [
                {"virtualNodeRef": {"name": "web-vn-canary"}, "weight": canary},
                {"virtualNodeRef": {"name": "web-vn-stable", "namespace": NS}, "weight": stable},
            ]
        }

    return [
        {
            "apiVersion": api,
            "kind": "VirtualService",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"provider": {"virtualRouter": {"virtualRouterRef": {"name": "web-router"}}}},
        },
        {
            "apiVersion": api,
            "kind": "VirtualRouter",
            "metadata": {"name": "web-router", "namespace": NS},
            "spec": {
                "listeners": [{"portMapping": {"port": 80, "protocol": "http"}}],
                "routes": [
                    {
                        "name": "primary",
                        "httpRoute": {
                            "match": {"prefix": "/"},
                            "action": targets(0, 100),
                            "retryPolicy": {
                                "maxRetries": 2,
                                "perRetryTimeout": {"unit": "s", "value": 1},
                                "httpRetryEvents": ["server-error"],
                            },
                        },
                    },
                    {
                        "name": "rpc",
                        "grpcRoute": {
                            "match": {"serviceName": "web.Api"},
                            "action": targets(10, 90),
                        },
                    },
                ],
            },
        },
        node("web-vn-canary", "canary-tbd"),
        node("web-vn-stable", "stable-tbd"),
    ]


MANAGED = [{"name": "testers"}, {"name": "shadow"}]

CASES: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "nginx": (
        {
            "managedRoutes": MANAGED,
            "nginx": {
                "stableIngress": "web",
                "additionalIngressAnnotations": {"proxy-body-size": "8m"},
            },
        },
        [stable_ingress()],
    ),
    "istio": (
        {
            "managedRoutes": MANAGED,
            "istio": {"virtualService": {"name": "web", "routes": ["primary"]}},
        },
        [virtual_service()],
    ),
    "smi": ({"smi": {}}, []),
    "gatewayAPI": (
        {
            "managedRoutes": MANAGED,
            "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web", "namespace": NS}},
        },
        [http_route()],
    ),
    "alb": (
        {
            "managedRoutes": MANAGED,
            "alb": {"ingress": "web-alb", "rootService": "web-root", "servicePort": 80},
        },
        [alb_ingress()],
    ),
    "apisix": (
        {"managedRoutes": MANAGED, "apisix": {"route": {"name": "web-route", "rules": ["web"]}}},
        [apisix_route()],
    ),
    "ambassador": ({"ambassador": {"mappings": ["web"]}}, [ambassador_mapping()]),
    "traefik": ({"traefik": {"weightedTraefikServiceName": "web-wrr"}}, [traefik_service()]),
    "appMesh": (
        {
            "appMesh": {
                "virtualService": {"name": "web", "routes": ["primary"]},
                "virtualNodeGroup": {
                    "canaryVirtualNodeRef": {"name": "web-vn-canary"},
                    "stableVirtualNodeRef": {"name": "web-vn-stable"},
                },
            }
        },
        appmesh_objects(),
    ),
}
assert set(CASES) == set(ROUTERS)


def case(name: str) -> tuple[TrafficRouter, Rollout, Store]:
    routing, objects = CASES[name]
    return ROUTERS[name], rollout(copy.deepcopy(routing)), Store(objects)
