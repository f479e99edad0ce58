"""APISIX specifics: backends without a weight, several weighted rules, header rule
expressions (prefixes escaped, read back), refusals."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from progressive.core import HeaderMatch
from progressive.errors import RouterError
from progressive.routers import HeaderRoute, RouterState
from progressive.routers._apisix import ApisixRouter

from .cases import CANARY, NS, STABLE, Store, apisix_route, rollout

ROUTER = ApisixRouter()
ROUTING = {
    "managedRoutes": [{"name": "h"}],
    "apisix": {"route": {"name": "web-route", "rules": ["web"]}},
}


def rules(store: Store) -> dict[str, Any]:
    route = store.objects[("apisix.apache.org", "ApisixRoute", NS, "web-route")]
    return {r["name"]: r for r in route["spec"]["http"]}


def test_backends_without_a_weight_split_evenly_until_the_first_write() -> None:
    route = apisix_route()
    for backend in route["spec"]["http"][1]["backends"]:
        del backend["weight"]  # as Argo's example deploys it: APISIX gives each 100
    store = Store([route])
    ro = rollout(ROUTING)
    assert store.read(ROUTER, ro).weight == 50
    store.move(ROUTER, ro, RouterState(weight=0))
    assert [(b["serviceName"], b["weight"]) for b in rules(store)["web"]["backends"]] == [
        (STABLE, 100),
        (CANARY, 0),
    ]


@pytest.mark.parametrize(
    ("match", "expr"),
    [
        (HeaderMatch("X", exact="a.b"), {"op": "Equal", "value": "a.b"}),
        (HeaderMatch("X", regex="a|b"), {"op": "RegexMatch", "value": "a|b"}),
        (HeaderMatch("X", prefix="v1.2-rc"), {"op": "RegexMatch", "value": r"^v1\.2-rc.*"}),
    ],
)
def test_header_matches_become_expressions_and_read_back(
    match: HeaderMatch, expr: dict[str, str]
) -> None:
    store = Store([apisix_route()])
    ro = rollout(ROUTING)
    route = HeaderRoute("h", (match,))
    store.move(ROUTER, ro, RouterState(weight=10, header_routes=(route,)))
    rule = rules(store)["h"]
    assert rule["match"]["exprs"] == [{"subject": {"scope": "Header", "name": "X"}, **expr}]
    assert (rule["priority"], rule["backends"]) == (
        3,
        [{"serviceName": CANARY, "servicePort": 80, "weight": 100}],
    )
    assert store.read(ROUTER, ro).header_routes == (route,)


def test_several_weighted_rules_get_a_header_rule_each() -> None:
    route = apisix_route()
    second = copy.deepcopy(route["spec"]["http"][1])
    second["name"] = "web-v2"
    del second["priority"]
    route["spec"]["http"].append(second)
    store = Store([route])
    ro = rollout(
        {**ROUTING, "apisix": {"route": {"name": "web-route", "rules": ["web", "web-v2"]}}}
    )
    header = HeaderRoute("h", (HeaderMatch("X", exact="1"),))
    store.move(ROUTER, ro, RouterState(weight=30, header_routes=(header,)))
    held = rules(store)
    assert [n for n in held] == ["admin", "web", "web-v2", "h-web", "h-web-v2"]
    assert (held["h-web"]["priority"], held["h-web-v2"]["priority"]) == (3, 1)
    assert [b["weight"] for b in held["web-v2"]["backends"]] == [70, 30]
    assert store.read(ROUTER, ro) == RouterState(weight=30, header_routes=(header,))
    store.move(ROUTER, ro, RouterState(weight=0))
    assert list(rules(store)) == ["admin", "web", "web-v2"]


def test_a_missing_rule_or_backend_is_an_error() -> None:
    ro = rollout({"apisix": {"route": {"name": "web-route", "rules": ["nope"]}}})
    with pytest.raises(RouterError, match="has no http rule 'nope'"):
        Store([apisix_route()]).move(ROUTER, ro, RouterState(weight=10))
    route = apisix_route()
    route["spec"]["http"][1]["backends"].pop()
    with pytest.raises(RouterError, match="has no backend 'web-canary'"):
        Store([route]).move(ROUTER, rollout(ROUTING), RouterState(weight=10))
    with pytest.raises(RouterError, match="ApisixRoute default/web-route not found"):
        Store([]).move(ROUTER, rollout(ROUTING), RouterState(weight=10))


def test_the_route_name_is_required() -> None:
    errors = ROUTER.validate(rollout({"apisix": {"route": {}}}))
    assert [str(e) for e in errors] == [
        "spec.strategy.canary.trafficRouting.apisix.route.name: is required"
    ]
