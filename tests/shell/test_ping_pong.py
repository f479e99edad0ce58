"""Ping-pong Services (``canary.pingPong``), as Argo's docs and its Istio end-to-end test
(``TestIstioPingPongUpdate``) describe them: the two Services take turns being stable,
the canary's is pointed at the new pods, at promotion all traffic goes to it and it
becomes the stable one; no Service's selector changes at promotion or abort."""

from __future__ import annotations

from typing import Any

import pytest

from progressive._shell import Controller, Ref, VirtualClock
from progressive.core import Rollout, promote
from progressive.core._names import HASH_LABEL
from progressive.core._rollout import traffic_services
from progressive.memory import MemoryCluster

from .helpers import canary_rollout, service, with_image

ROLLOUT = Ref("argoproj.io/v1alpha1", "Rollout", "default", "web")
VS = Ref("networking.istio.io/v1alpha3", "VirtualService", "default", "web")


def virtual_service() -> dict[str, Any]:
    return {
        "apiVersion": VS.api_version,
        "kind": "VirtualService",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "hosts": ["web"],
            "http": [
                {
                    "name": "primary",
                    "route": [
                        {"destination": {"host": "ping"}, "weight": 100},
                        {"destination": {"host": "pong"}, "weight": 0},
                    ],
                }
            ],
        },
    }


class World:
    """A ping-pong Rollout on the in-memory cluster, driven by a controller."""

    def __init__(self, **canary: Any) -> None:
        self.cluster = MemoryCluster(VirtualClock())
        self.controller = Controller(self.cluster, clock=self.cluster.clock)
        self.splits: list[dict[str, int]] = []
        self.manifest = canary_rollout(
            replicas=2,
            pingPong={"pingService": "ping", "pongService": "pong"},
            trafficRouting={"istio": {"virtualService": {"name": "web", "routes": ["primary"]}}},
            steps=[{"setWeight": 25}, {"pause": {}}],
            **canary,
        )

    async def start(self) -> None:
        for name in ("ping", "pong"):
            await self.cluster.create(service(name))
        await self.cluster.create(virtual_service())
        await self.cluster.create(self.manifest)
        await self.settle()

    async def settle(self) -> None:
        clock = self.cluster.clock
        await self.controller.settle(
            wakeup=self.cluster.next_event_at, until=clock.now() + 600, after_pass=self._seen
        )

    async def _seen(self, _: object) -> None:
        """Record every split the VirtualService holds after a pass, once in a row."""
        weights = await self.weights()
        if not self.splits or self.splits[-1] != weights:
            self.splits.append(weights)

    async def rollout(self) -> dict[str, Any]:
        obj = await self.cluster.get(ROLLOUT)
        assert obj is not None
        return obj

    async def update(self, image: str) -> None:
        obj = await self.rollout()
        await self.cluster.patch(ROLLOUT, {"spec": with_image(obj, image)["spec"]})
        await self.settle()

    async def promote(self) -> None:
        spec, status = promote(Rollout.from_manifest(await self.rollout()))
        for patch in (spec, status):
            if patch:
                await self.cluster.patch(ROLLOUT, patch)
        await self.settle()

    async def weights(self) -> dict[str, int]:
        vs = await self.cluster.get(VS)
        assert vs is not None
        route = vs["spec"]["http"][0]["route"]
        return {d["destination"]["host"]: d["weight"] for d in route}

    async def selectors(self) -> dict[str, str | None]:
        out = {}
        for name in ("ping", "pong"):
            svc = await self.cluster.get(Ref("v1", "Service", "default", name))
            assert svc is not None
            out[name] = svc["spec"]["selector"].get(HASH_LABEL)
        return out

    async def state(self) -> tuple[str, str | None, int | None]:
        status = (await self.rollout())["status"]
        return (
            status["phase"],
            status["canary"].get("stablePingPong"),
            status.get("currentStepIndex"),
        )


async def test_the_services_take_turns_as_in_argos_end_to_end_test() -> None:
    world = World()
    await world.start()
    assert await world.state() == ("Healthy", "ping", 2)
    first = (await world.rollout())["status"]["stableRS"]
    assert await world.weights() == {"ping": 100, "pong": 0}
    assert await world.selectors() == {"ping": first, "pong": None}

    # update 1: pong is the canary
    world.splits.clear()
    await world.update("example/web:2")
    assert await world.state() == ("Paused", "ping", 1)
    second = (await world.rollout())["status"]["currentPodHash"]
    assert await world.weights() == {"ping": 75, "pong": 25}
    assert await world.selectors() == {"ping": first, "pong": second}
    await world.promote()
    assert await world.state() == ("Healthy", "pong", 2)
    assert await world.weights() == {"ping": 0, "pong": 100}
    assert await world.selectors() == {"ping": first, "pong": second}  # no selector moved
    # pong takes more as its pods come up (2 replicas: 50 with one), then all of it at
    # promotion, and never goes back to ping meanwhile
    assert world.splits == [
        {"ping": 100, "pong": 0},
        {"ping": 75, "pong": 25},
        {"ping": 50, "pong": 50},
        {"ping": 0, "pong": 100},
    ]

    # update 2: ping is the canary now
    await world.update("example/web:3")
    assert await world.state() == ("Paused", "pong", 1)
    third = (await world.rollout())["status"]["currentPodHash"]
    assert await world.weights() == {"ping": 25, "pong": 75}
    assert await world.selectors() == {"ping": third, "pong": second}
    await world.promote()
    assert await world.state() == ("Healthy", "ping", 2)
    assert await world.weights() == {"ping": 100, "pong": 0}


async def test_an_abort_moves_the_traffic_and_no_selector() -> None:
    world = World()
    await world.start()
    first = (await world.rollout())["status"]["stableRS"]
    await world.update("example/web:2")
    second = (await world.rollout())["status"]["currentPodHash"]
    await world.cluster.patch(ROLLOUT, {"status": {"abort": True}})
    await world.settle()
    phase, side, _ = await world.state()
    assert (phase, side) == ("Degraded", "ping")
    assert await world.weights() == {"ping": 100, "pong": 0}
    assert await world.selectors() == {"ping": first, "pong": second}


@pytest.mark.parametrize(
    ("side", "expected"),
    [(None, ("pong", "ping")), ("pong", ("pong", "ping")), ("ping", ("ping", "pong"))],
)
def test_which_service_is_stable(side: str | None, expected: tuple[str, str]) -> None:
    manifest = canary_rollout(
        pingPong={"pingService": "ping", "pongService": "pong"},
        trafficRouting={"istio": {"virtualService": {"name": "web"}}},
    )
    if side is not None:
        manifest["status"] = {"canary": {"stablePingPong": side}}
    assert traffic_services(Rollout.from_manifest(manifest)) == expected
    # with canaryService and stableService as well, the routers but ALB use those two
    manifest["spec"]["strategy"]["canary"].update(canaryService="c", stableService="s")
    assert traffic_services(Rollout.from_manifest(manifest)) == ("s", "c")
