"""The rollouts the controller benchmarks update: one shape for bench 2 (in memory)
and bench 3 (a real control plane), so that their figures compare.

Each rollout has 2 replicas, a canary and a stable Service and the SMI router, and
runs setWeight 20, a 10 s pause, an analysis (template ``check``), setWeight 60 and a
10 s pause.
"""

from __future__ import annotations

from typing import Any

NAMESPACE = "bench"
PAUSE = 10.0  # seconds
STEPS = 5
GROUP = "progressive.dev"


def documents(i: int, image: str, group: str = GROUP) -> list[dict[str, Any]]:
    """Rollout ``app-<i>`` (of API group ``group``: progressive.dev or Argo's
    argoproj.io) running ``image``, after its two Services."""
    name = f"app-{i}"
    labels = {"app": name}
    rollout = {
        "apiVersion": f"{group}/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "strategy": {
                "canary": {
                    "canaryService": f"{name}-canary",
                    "stableService": f"{name}-stable",
                    "trafficRouting": {"smi": {}},
                    "steps": [
                        {"setWeight": 20},
                        {"pause": {"duration": f"{PAUSE:g}s"}},
                        {"analysis": {"templates": [{"templateName": "check"}]}},
                        {"setWeight": 60},
                        {"pause": {"duration": f"{PAUSE:g}s"}},
                    ],
                }
            },
        },
    }
    services = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{name}-{role}", "namespace": NAMESPACE},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        }
        for role in ("canary", "stable")
    ]
    return [*services, rollout]


def new_template(i: int, image: str) -> dict[str, Any]:
    """The merge patch that moves rollout ``i`` to ``image`` (either API group)."""
    return {"spec": {"template": documents(i, image)[-1]["spec"]["template"]}}


def analysis_template(url: str, group: str = GROUP) -> dict[str, Any]:
    """The AnalysisTemplate ``check``: one ``web`` metric against ``url``, which must
    answer ``{"value": v}`` with v > 0.9."""
    return {
        "apiVersion": f"{group}/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "check", "namespace": NAMESPACE},
        "spec": {
            "metrics": [
                {
                    "name": "check",
                    "successCondition": "result > 0.9",
                    "provider": {"web": {"url": url, "jsonPath": "{$.value}"}},
                }
            ]
        },
    }
