"""ALB specifics: the action annotation as Argo writes it (and reads what Argo wrote),
stickiness, the bookkeeping annotation shared with other Rollouts, exact header values,
validation, and ping-pong Services (preferred to canaryService and stableService, as
Argo does for ALB), end to end on the in-memory cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from progressive._shell import Ref
from progressive.core import HeaderMatch, Rollout
from progressive.errors import RouterError
from progressive.routers import HeaderRoute, RouterState
from progressive.routers._alb import AlbRouter

from ..shell.helpers import service
from ..shell.test_ping_pong import World
from .cases import CANARY, NS, STABLE, Store, alb_ingress, rollout, rollout_manifest

ROUTER = AlbRouter()
CONFIG = {"ingress": "web-alb", "rootService": "web-root", "servicePort": 80}
ACTION = "alb.ingress.kubernetes.io/actions.web-root"
MANAGED = "rollouts.argoproj.io/managed-alb-annotations"


def annotations(store: Store, name: str = "web-alb") -> dict[str, str]:
    return dict(
        store.objects[("networking.k8s.io", "Ingress", NS, name)]["metadata"]["annotations"]
    )


def groups(store: Store, key: str = ACTION) -> list[tuple[str, str, int]]:
    action = json.loads(annotations(store)[key])
    return [
        (g["ServiceName"], g["ServicePort"], g["Weight"])
        for g in action["ForwardConfig"]["TargetGroups"]
    ]


def test_the_action_is_argos_compact_json_canary_first() -> None:
    store = Store([alb_ingress()])
    ro = rollout({"alb": CONFIG})
    store.move(ROUTER, ro, RouterState(weight=10))
    assert annotations(store)[ACTION] == (
        '{"Type":"forward","ForwardConfig":{"TargetGroups":['
        '{"ServiceName":"web-canary","ServicePort":"80","Weight":10},'
        '{"ServiceName":"web-stable","ServicePort":"80","Weight":90}]}}'
    )
    assert json.loads(annotations(store)[MANAGED]) == {"web": [ACTION]}


def test_an_action_argo_wrote_is_read_and_left_as_it_is() -> None:
    ingress = alb_ingress()
    argo = {  # as Argo's documentation shows it: indented, weights first
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"Weight": 10, "ServiceName": CANARY, "ServicePort": "80"},
                {"Weight": 90, "ServiceName": STABLE, "ServicePort": "80"},
            ]
        },
    }
    ingress["metadata"]["annotations"][ACTION] = json.dumps(argo, indent=2)
    ingress["metadata"]["annotations"][MANAGED] = json.dumps({"web": [ACTION]})
    store = Store([ingress])
    ro = rollout({"alb": CONFIG})
    assert store.read(ROUTER, ro).weight == 10
    assert ROUTER.plan(ro, RouterState(weight=10), store.view(ROUTER, ro)) == []
    store.move(ROUTER, ro, RouterState(weight=30))
    assert groups(store) == [(CANARY, "80", 30), (STABLE, "80", 70)]


def test_stickiness_is_written_in_each_forward_action() -> None:
    sticky = {**CONFIG, "stickinessConfig": {"enabled": True, "durationSeconds": 3600}}
    ro = rollout({"managedRoutes": [{"name": "h"}], "alb": sticky})
    store = Store([alb_ingress()])
    route = HeaderRoute("h", (HeaderMatch("X-Canary", exact="yes"),))
    store.move(ROUTER, ro, RouterState(weight=20, header_routes=(route,)))
    for key in (ACTION, "alb.ingress.kubernetes.io/actions.h"):
        config = json.loads(annotations(store)[key])["ForwardConfig"]
        assert config["TargetGroupStickinessConfig"] == {"Enabled": True, "DurationSeconds": 3600}
    assert groups(store, "alb.ingress.kubernetes.io/actions.h") == [(CANARY, "80", 100)]


def test_other_rollouts_bookkeeping_on_a_shared_ingress_is_kept() -> None:
    ingress = alb_ingress()
    other = "alb.ingress.kubernetes.io/actions.api"
    ingress["metadata"]["annotations"][MANAGED] = json.dumps({"api": [other]})
    store = Store([ingress])
    ro = rollout({"managedRoutes": [{"name": "h"}], "alb": CONFIG})
    route = HeaderRoute("h", (HeaderMatch("X-Canary", exact="yes"),))
    store.move(ROUTER, ro, RouterState(weight=20, header_routes=(route,)))
    assert json.loads(annotations(store)[MANAGED]) == {
        "api": [other],
        "web": [
            ACTION,
            "alb.ingress.kubernetes.io/actions.h",
            "alb.ingress.kubernetes.io/conditions.h",
        ],
    }
    store.move(ROUTER, ro, RouterState(weight=0))
    assert json.loads(annotations(store)[MANAGED]) == {"api": [other], "web": [ACTION]}
    assert "alb.ingress.kubernetes.io/conditions.h" not in annotations(store)
    paths = store.objects[("networking.k8s.io", "Ingress", NS, "web-alb")]["spec"]["rules"]
    assert alb_ingress()["spec"]["rules"] == paths


def test_one_headers_values_are_one_condition_different_headers_are_anded() -> None:
    ro = rollout({"managedRoutes": [{"name": "h"}], "alb": CONFIG})
    store = Store([alb_ingress()])
    matches = (
        HeaderMatch("X-Canary", exact="yes"),
        HeaderMatch("X-Team", exact="qa-*"),
        HeaderMatch("X-Canary", exact="si"),
    )
    store.move(ROUTER, ro, RouterState(header_routes=(HeaderRoute("h", matches),)))
    assert json.loads(annotations(store)["alb.ingress.kubernetes.io/conditions.h"]) == [
        {
            "field": "http-header",
            "httpHeaderConfig": {"httpHeaderName": "X-Canary", "values": ["yes", "si"]},
        },
        {
            "field": "http-header",
            "httpHeaderConfig": {"httpHeaderName": "X-Team", "values": ["qa-*"]},
        },
    ]
    # read back grouped by header, which plans the same annotations
    state = store.read(ROUTER, ro)
    assert state.weight == 0  # the root path got its action first
    assert [m.exact for m in state.header_routes[0].match] == ["yes", "si", "qa-*"]
    assert ROUTER.plan(ro, state, store.view(ROUTER, ro)) == []


def test_a_missing_ingress_or_root_service_rule_is_an_error() -> None:
    ro = rollout({"alb": CONFIG})
    with pytest.raises(RouterError, match="Ingress default/web-alb not found"):
        ROUTER.plan(ro, RouterState(weight=10), Store([]).view(ROUTER, ro))
    other = rollout({"alb": {**CONFIG, "rootService": "elsewhere"}})
    with pytest.raises(RouterError, match="no rule with service 'elsewhere'"):
        Store([alb_ingress()]).move(ROUTER, other, RouterState(weight=10))


@pytest.mark.parametrize(
    ("routing", "steps", "expected"),
    [
        ({"alb": {"ingress": "a"}}, [], ["trafficRouting.alb.servicePort: is required"]),
        (
            {"alb": {"ingress": "a", "ingresses": ["b"], "servicePort": 80}},
            [],
            ["trafficRouting.alb: set ingress or ingresses, not both"],
        ),
        ({"alb": {"servicePort": 80}}, [], ["trafficRouting.alb.ingress: is required"]),
        (
            {"maxTrafficWeight": 1000, "alb": CONFIG},
            [],
            ["trafficRouting.maxTrafficWeight: ALB target group weights go up to 999"],
        ),
        (
            {"alb": {**CONFIG, "stickinessConfig": {"enabled": True, "durationSeconds": 0}}},
            [],
            ["trafficRouting.alb.stickinessConfig.durationSeconds: must be from 1 to 604800"],
        ),
        (
            {"managedRoutes": [{"name": "h"}], "alb": CONFIG},
            [
                {
                    "setHeaderRoute": {
                        "name": "h",
                        "match": [{"headerName": "X", "headerValue": {"prefix": "qa-"}}],
                    }
                }
            ],
            ["steps[0].setHeaderRoute.match[0].headerValue: alb matches header values exactly"],
        ),
    ],
)
def test_validation(routing: dict[str, Any], steps: list[Any], expected: list[str]) -> None:
    errors = [str(e) for e in ROUTER.validate(rollout(routing, steps or None))]
    assert len(errors) == len(expected), errors
    for error, wanted in zip(errors, expected, strict=True):
        assert wanted in error


def test_a_prefix_or_regex_header_route_is_refused_by_plan_too() -> None:
    ro = rollout({"managedRoutes": [{"name": "h"}], "alb": CONFIG})
    route = HeaderRoute("h", (HeaderMatch("X", regex="a|b"),))
    with pytest.raises(RouterError, match="prefix or regex"):
        ROUTER.plan(
            ro, RouterState(header_routes=(route,)), Store([alb_ingress()]).view(ROUTER, ro)
        )


# -- ping-pong -------------------------------------------------------------------------------

INGRESS = Ref("networking.k8s.io/v1", "Ingress", "default", "web-alb")


class AlbWorld(World):
    """The ping-pong world of tests/shell/test_ping_pong.py on ALB, the Rollout naming a
    canaryService and a stableService as well (Argo's albmesh end-to-end manifest)."""

    def __init__(self) -> None:
        super().__init__(canaryService="web-canary", stableService="web-stable")
        canary = self.manifest["spec"]["strategy"]["canary"]
        canary["trafficRouting"] = {"alb": CONFIG}

    async def start(self) -> None:
        for name in ("web-canary", "web-stable"):
            await self.cluster.create(service(name))
        await self.cluster.create(alb_ingress())
        for name in ("ping", "pong"):
            await self.cluster.create(service(name))
        await self.cluster.create(self.manifest)
        await self.settle()

    async def weights(self) -> dict[str, int]:
        ingress = await self.cluster.get(INGRESS)
        assert ingress is not None
        action = (ingress["metadata"].get("annotations") or {}).get(ACTION)
        if action is None:
            return {}
        targets = json.loads(action)["ForwardConfig"]["TargetGroups"]
        return {g["ServiceName"]: g["Weight"] for g in targets}


async def test_ping_pong_on_alb_takes_turns_whatever_canary_and_stable_services_say() -> None:
    world = AlbWorld()
    await world.start()
    assert await world.state() == ("Healthy", "ping", 2)
    assert await world.weights() == {"pong": 0, "ping": 100}
    first = (await world.rollout())["status"]["stableRS"]
    await world.update("example/web:2")
    assert await world.state() == ("Paused", "ping", 1)
    assert await world.weights() == {"pong": 25, "ping": 75}
    second = (await world.rollout())["status"]["currentPodHash"]
    assert await world.selectors() == {"ping": first, "pong": second}
    await world.promote()
    assert await world.state() == ("Healthy", "pong", 2)
    assert await world.weights() == {"ping": 0, "pong": 100}
    assert await world.selectors() == {"ping": first, "pong": second}  # no selector moved
    await world.update("example/web:3")
    assert await world.weights() == {"ping": 25, "pong": 75}


def test_the_alb_router_prefers_the_ping_pong_services() -> None:
    assert ROUTER.services(rollout({"alb": CONFIG})) == (STABLE, CANARY)
    raw = rollout_manifest({"alb": CONFIG})
    raw["spec"]["strategy"]["canary"]["pingPong"] = {"pingService": "ping", "pongService": "pong"}
    raw["status"] = {"canary": {"stablePingPong": "pong"}}
    assert ROUTER.services(Rollout.from_manifest(raw)) == ("pong", "ping")
