"""Gateway API specifics: GRPCRoutes, several routes, header rules, mirrors, errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from progressive.core import HeaderMatch
from progressive.errors import RouterError
from progressive.routers import GatewayApiRouter, HeaderRoute, MirrorRoute, RouterState

from .cases import CANARY, NS, STABLE, Store, http_route, rollout

ROUTER = GatewayApiRouter()
HEADER = HeaderRoute(
    "testers", (HeaderMatch("x-canary", exact="1"), HeaderMatch("x-team", prefix="qa."))
)


def grpc_route() -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GRPCRoute",
        "metadata": {"name": "web-grpc", "namespace": NS},
        "spec": {
            "rules": [
                {
                    "matches": [{"method": {"service": "shop.Catalog"}}],
                    "backendRefs": [
                        {"name": STABLE, "port": 9090},
                        {"name": CANARY, "port": 9090, "weight": 0},
                    ],
                }
            ]
        },
    }


def rules(store: Store, kind: str, name: str) -> list[dict[str, Any]]:
    obj = store.objects[("gateway.networking.k8s.io", kind, NS, name)]
    return list(obj["spec"]["rules"])


def test_http_and_grpc_routes_with_and_without_header_routes() -> None:
    second = http_route()
    second["metadata"]["name"] = "web-internal"
    ro = rollout(
        {
            "managedRoutes": [{"name": "testers"}],
            "gatewayAPI": {
                "httpRoutes": [
                    {"name": "web", "useHeaderRoutes": True},
                    {"name": "web-internal"},
                ],
                "grpcRoute": "web-grpc",
            },
        }
    )
    store = Store([http_route(), second, grpc_route()])
    store.move(ROUTER, ro, RouterState(weight=10, header_routes=(HEADER,)))
    state = store.read(ROUTER, ro)
    assert (state.weight, state.header_routes, state.agreed) == (10, (HEADER,), True)
    assert [r.get("name") for r in rules(store, "HTTPRoute", "web-internal")] == [None, None]
    grpc = rules(store, "GRPCRoute", "web-grpc")
    # an absent weight is 1: the stable ref now gets one explicitly
    assert [b.get("weight") for b in grpc[0]["backendRefs"]] == [90, 10]
    assert grpc[1] == {
        "name": "testers",
        "matches": [
            {
                "method": {"service": "shop.Catalog"},
                "headers": [{"name": "x-canary", "type": "Exact", "value": "1"}],
            },
            {
                "method": {"service": "shop.Catalog"},
                "headers": [{"name": "x-team", "type": "RegularExpression", "value": r"qa\..*"}],
            },
        ],
        "backendRefs": [
            {"group": "", "kind": "Service", "name": CANARY, "port": 9090, "weight": 1}
        ],
    }


def test_a_mirror_rule_mirrors_to_the_canary_and_follows_the_weights() -> None:
    ro = rollout({"managedRoutes": [{"name": "shadow"}], "gatewayAPI": {"httpRoute": "web"}})
    store = Store([http_route()])
    mirror = MirrorRoute(
        "shadow",
        (
            {
                "method": {"exact": "POST"},
                "path": {"regex": "/api/v[0-9]+"},
                "headers": {"x-debug": {"prefix": "on"}},
            },
        ),
        5,
    )
    store.move(ROUTER, ro, RouterState(weight=20, mirror_routes=(mirror,)))
    rule = rules(store, "HTTPRoute", "web")[-1]
    assert rule["matches"] == [
        {
            "method": "POST",
            "path": {"type": "RegularExpression", "value": "/api/v[0-9]+"},
            "headers": [{"name": "x-debug", "type": "RegularExpression", "value": "on.*"}],
        }
    ]
    assert rule["filters"][-1] == {
        "type": "RequestMirror",
        "requestMirror": {
            "backendRef": {"group": "", "kind": "Service", "name": CANARY, "port": 80},
            "percent": 5,
        },
    }
    assert store.read(ROUTER, ro).mirror_routes == (mirror,)
    store.move(ROUTER, ro, RouterState(weight=70, mirror_routes=(mirror,)))
    weights = [b["weight"] for b in rules(store, "HTTPRoute", "web")[-1]["backendRefs"]]
    assert weights == [30, 70]


def test_a_fraction_is_read_as_a_percentage() -> None:
    ro = rollout({"managedRoutes": [{"name": "shadow"}], "gatewayAPI": {"httpRoute": "web"}})
    route = http_route()
    route["spec"]["rules"].append(
        {
            "name": "shadow",
            "filters": [
                {
                    "type": "RequestMirror",
                    "requestMirror": {
                        "backendRef": {"name": CANARY},
                        "fraction": {"numerator": 1, "denominator": 4},
                    },
                }
            ],
            "backendRefs": [{"name": STABLE}],
        }
    )
    assert Store([route]).read(ROUTER, ro).mirror_routes[0].percentage == 25


def test_errors() -> None:
    ro = rollout({"gatewayAPI": {"httpRoute": "web"}})
    lonely = http_route()
    lonely["spec"]["rules"] = [lonely["spec"]["rules"][0]]
    with pytest.raises(RouterError, match="no rule with backendRefs to both"):
        Store([lonely]).move(ROUTER, ro, RouterState(weight=5))
    with pytest.raises(RouterError, match="HTTPRoute default/web not found"):
        Store().move(ROUTER, ro, RouterState(weight=5))
    grpc_only = rollout(
        {"managedRoutes": [{"name": "shadow"}], "gatewayAPI": {"grpcRoute": "web-grpc"}},
        [{"setMirrorRoute": {"name": "shadow", "match": [{"method": {"prefix": "G"}}]}}],
    )
    messages = [str(e) for e in ROUTER.validate(grpc_only)]
    assert any("GRPCRoutes do not mirror" in m for m in messages)
    assert any("matches a method exactly" in m for m in messages)


def test_validation() -> None:
    bad_name = rollout(
        {"managedRoutes": [{"name": "Beta_Testers"}], "gatewayAPI": {"httpRoute": "web"}},
        [{"setHeaderRoute": {"name": "Beta_Testers", "match": []}}],
    )
    assert [e.path for e in ROUTER.validate(bad_name)] == [
        "spec.strategy.canary.trafficRouting.managedRoutes[0].name"
    ]
    no_header_routes = rollout(
        {
            "managedRoutes": [{"name": "t"}],
            "gatewayAPI": {"httpRoutes": [{"name": "web"}]},
        },
        [{"setHeaderRoute": {"name": "t", "match": []}}],
    )
    assert "useHeaderRoutes" in str(ROUTER.validate(no_header_routes))
    unsupported = rollout({"gatewayAPI": {"tcpRoute": "x"}})
    assert [e.path for e in ROUTER.validate(unsupported)] == [
        "spec.strategy.canary.trafficRouting.gatewayAPI.tcpRoute",
        "spec.strategy.canary.trafficRouting.gatewayAPI.httpRoute",
    ]


def defaulted(route: dict[str, Any]) -> dict[str, Any]:
    """What the Gateway API CRDs' defaults make of an HTTPRoute on the API server."""
    route = copy.deepcopy(route)
    for rule in route["spec"]["rules"]:
        rule.setdefault("matches", [{}])
        for match in rule["matches"]:
            match.setdefault("path", {"type": "PathPrefix", "value": "/"})
            for header in match.get("headers") or ():
                header.setdefault("type", "Exact")
        for ref in rule.get("backendRefs") or ():
            ref.setdefault("group", "")
            ref.setdefault("kind", "Service")
            ref.setdefault("weight", 1)
        for f in rule.get("filters") or ():
            if f.get("type") == "RequestMirror":
                f["requestMirror"]["backendRef"].setdefault("group", "")
                f["requestMirror"]["backendRef"].setdefault("kind", "Service")
    return route


def test_what_the_server_defaults_causes_no_further_writes() -> None:
    ro = rollout(
        {
            "managedRoutes": [{"name": "testers"}, {"name": "shadow"}],
            "gatewayAPI": {"httpRoute": "web"},
        }
    )
    bare = http_route()
    del bare["spec"]["rules"][1]["matches"]  # a rule with no matches at all
    store = Store([defaulted(bare)])
    mirror = MirrorRoute("shadow", ({"headers": {"x-debug": {"exact": "1"}}},), 10)
    for state in (
        RouterState(weight=10),
        RouterState(weight=10, header_routes=(HEADER,)),
        RouterState(weight=30, header_routes=(HEADER,), mirror_routes=(mirror,)),
        RouterState(weight=0),
    ):
        store.move(ROUTER, ro, state)
        key = ("gateway.networking.k8s.io", "HTTPRoute", NS, "web")
        store.objects[key] = defaulted(store.objects[key])  # the server's defaulting
        assert list(ROUTER.plan(ro, state, store.view(ROUTER, ro))) == []
        read = store.read(ROUTER, ro)
        assert (read.weight, read.header_routes, read.mirror_routes) == (
            state.weight,
            state.header_routes,
            state.mirror_routes,
        )
