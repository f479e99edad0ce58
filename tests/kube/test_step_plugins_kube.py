"""The flagd feature-flag step (examples/plugins/progressive-flagd-step, installed as a
distribution) on the local control plane: progressive's controller, unchanged, turns
the flag on for the canary in a real ConfigMap at the step, and an abort puts it back
as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from progressive import client
from progressive._shell.kube import KubeCluster
from progressive.clusters import Ref

from ._e2e import controller, create_all, rollout, running, services, until

pytestmark = pytest.mark.kube

IMAGE_2 = "example.invalid/web:2"
FLAG = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"}
STEP = {"plugin": {"name": "openfeature/flagd", "config": {"configMap": "flags", "flag": "beta"}}}


def config_map(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "flags", "namespace": namespace},
        "data": {"flags.flagd.json": json.dumps({"flags": {"beta": FLAG}})},
    }


async def test_the_flag_follows_the_canary_on_a_real_server(
    kube: KubeCluster, namespace: str, flagd: Path
) -> None:
    ref = Ref("v1", "ConfigMap", namespace, "flags")

    async def flag() -> dict[str, Any]:
        stored = await kube.get(ref)
        assert stored is not None
        return dict(json.loads(stored["data"]["flags.flagd.json"])["flags"]["beta"])

    steps = [{"setWeight": 50}, STEP, {"pause": {}}]
    await create_all(
        kube,
        config_map(namespace),
        *services(namespace),
        rollout(namespace, steps=steps, router=None, replicas=2),
    )
    async with running(controller(kube, namespace)):
        await client.wait_for(kube, namespace, "web", phase="Healthy", timeout=30)
        await client.set_image(kube, namespace, "web", "app", IMAGE_2)
        paused = await client.wait_for(kube, namespace, "web", phase="Paused", timeout=30)
        assert paused.step == 2
        rule = (await flag())["targeting"]["if"]
        assert rule[0] == {"==": [{"var": "rollouts-pod-template-hash"}, paused.current]}
        assert rule[1:] == ["on", None]

        await client.abort(kube, namespace, "web")

        async def restored() -> bool | None:
            return (await flag()) == FLAG or None

        await until("the flag as it was", restored, seconds=30)
        stored = await kube.get(ref)
        assert stored is not None and not (stored["metadata"].get("annotations") or {})
