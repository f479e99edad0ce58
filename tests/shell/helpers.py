from __future__ import annotations

import copy
from typing import Any

import anyio

IMAGE = "example/web:1.0"


def canary_rollout(
    name: str = "web",
    *,
    replicas: int = 4,
    steps: list[dict[str, Any]] | None = None,
    image: str = IMAGE,
    **canary: Any,
) -> dict[str, Any]:
    strategy: dict[str, Any] = {"canary": dict(canary)}
    if steps is not None:
        strategy["canary"]["steps"] = steps
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "strategy": strategy,
        },
    }


def with_image(manifest: dict[str, Any], image: str) -> dict[str, Any]:
    out = copy.deepcopy(manifest)
    out["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return out


def service(name: str, app: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"app": app}},
    }


def ingress(name: str, service: str) -> dict[str, Any]:
    """A stable Ingress routing everything to ``service`` (for the nginx router)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service, "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ],
        },
    }


def stored(cluster: Any) -> Any:
    """A synchronous ``get(ref)`` over a MemoryCluster's objects (no simulation step)."""

    def get(ref: Any) -> dict[str, Any] | None:
        for obj in cluster.objects(ref.api_version, ref.kind):
            meta = obj["metadata"]
            if meta["name"] == ref.name and meta.get("namespace", "") == ref.namespace:
                return dict(obj)
        return None

    return get


async def until(what: str, check: Any, seconds: float = 5.0) -> None:
    """Await ``check()`` (a bool, or an awaitable of one) every 10 ms until it is true,
    for at most ``seconds``."""
    for _ in range(int(seconds / 0.01)):
        found = check()
        if await found if hasattr(found, "__await__") else found:
            return
        await anyio.sleep(0.01)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")
