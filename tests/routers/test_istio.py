"""Istio specifics: tls/tcp routes, several VirtualServices, subsets, route order."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from progressive.core import HeaderMatch
from progressive.errors import RouterError
from progressive.routers import HeaderRoute, IstioRouter, MirrorRoute, RouterState

from .cases import CANARY, NS, STABLE, Store, rollout, virtual_service

ROUTER = IstioRouter()


def dest(host: str, weight: int, port: int | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"host": host}
    if port:
        d["port"] = {"number": port}
    return {"destination": d, "weight": weight}


def vs(name: str, namespace: str = NS, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1alpha3",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def stored_vs(store: Store, name: str = "web", namespace: str = NS) -> dict[str, Any]:
    return store.objects[("networking.istio.io", "VirtualService", namespace, name)]


def test_tls_and_tcp_routes_by_port_and_sni() -> None:
    both = [dest(f"{STABLE}.default.svc.cluster.local", 100), dest(CANARY, 0)]
    other = [dest("elsewhere", 100)]
    obj = vs(
        "web",
        tls=[
            {"match": [{"port": 443, "sniHosts": ["a.example"]}], "route": copy.deepcopy(both)},
            {"match": [{"port": 443, "sniHosts": ["b.example"]}], "route": other},
        ],
        tcp=[
            {"match": [{"port": 5432}], "route": copy.deepcopy(both)},
            {"match": [{"port": 6379}], "route": other},
        ],
    )
    ro = rollout(
        {
            "istio": {
                "virtualService": {
                    "name": "web",
                    "tlsRoutes": [{"port": 443, "sniHosts": ["a.example"]}],
                    "tcpRoutes": [{"port": 5432}],
                }
            }
        }
    )
    store = Store([obj])
    store.move(ROUTER, ro, RouterState(weight=30))
    spec = stored_vs(store)["spec"]
    assert [d["weight"] for d in spec["tls"][0]["route"]] == [70, 30]
    assert [d["weight"] for d in spec["tcp"][0]["route"]] == [70, 30]
    assert spec["tls"][1]["route"] == other and spec["tcp"][1]["route"] == other
    assert store.read(ROUTER, ro).weight == 30


def test_named_http_routes_are_not_looked_for_in_a_virtual_service_without_http() -> None:
    """Argo's ``istio-host-only-tls-split``: the Rollout names an http route, the
    VirtualService has tls routes only, and Argo weighs those (an empty http list,
    though, has no route of that name: an error)."""
    obj = vs(
        "web", tls=[{"match": [{"port": 3000}], "route": [dest(STABLE, 100), dest(CANARY, 0)]}]
    )
    ro = rollout(
        {
            "istio": {
                "virtualService": {
                    "name": "web",
                    "routes": ["primary"],
                    "tlsRoutes": [{"port": 3000}],
                }
            }
        }
    )
    store = Store([obj])
    store.move(ROUTER, ro, RouterState(weight=10))
    assert [d["weight"] for d in stored_vs(store)["spec"]["tls"][0]["route"]] == [90, 10]
    assert store.read(ROUTER, ro).weight == 10
    with pytest.raises(RouterError, match="'primary' not found"):
        Store([{**obj, "spec": {**obj["spec"], "http": []}}]).move(
            ROUTER, ro, RouterState(weight=10)
        )


def test_several_virtual_services_in_other_namespaces() -> None:
    ro = rollout(
        {
            "istio": {
                "virtualServices": [
                    {"name": "web", "routes": ["primary"]},
                    {"name": "edge.gateways"},
                ]
            }
        }
    )
    edge = vs("edge", "gateways", http=[{"route": [dest(STABLE, 100), dest(CANARY, 0)]}])
    store = Store([virtual_service(), edge])
    store.move(ROUTER, ro, RouterState(weight=40))
    assert store.read(ROUTER, ro) == RouterState(weight=40)
    # one of them lags behind (a crash between the two writes): the least, not agreed
    stored_vs(store, "edge", "gateways")["spec"]["http"][0]["route"][1]["weight"] = 10
    state = store.read(ROUTER, ro)
    assert (state.weight, state.agreed) == (10, False)


def test_managed_routes_go_first_in_managed_routes_order() -> None:
    ro = rollout(
        {
            "managedRoutes": [{"name": "m1"}, {"name": "h1"}, {"name": "h2"}],
            "istio": {"virtualService": {"name": "web", "routes": ["primary"]}},
        }
    )
    store = Store([virtual_service()])
    h1 = HeaderRoute("h1", (HeaderMatch("a", exact="1"),))
    h2 = HeaderRoute("h2", (HeaderMatch("b", regex="x.*"),))
    m1 = MirrorRoute("m1", ({"headers": {"x-shadow": {"exact": "1"}}},), 100)
    store.move(ROUTER, ro, RouterState(weight=10, header_routes=(h2, h1), mirror_routes=(m1,)))
    names = [r.get("name") for r in stored_vs(store)["spec"]["http"]]
    assert names == ["m1", "h1", "h2", "legacy", "primary"]
    mirror = stored_vs(store)["spec"]["http"][0]
    assert mirror["mirror"] == {"host": CANARY, "port": {"number": 80}}
    assert mirror["match"] == [{"headers": {"x-shadow": {"exact": "1"}}}]
    store.move(ROUTER, ro, RouterState(weight=10, header_routes=(h1,)))
    names = [r.get("name") for r in stored_vs(store)["spec"]["http"]]
    assert names == ["h1", "legacy", "primary"]


def test_a_single_unnamed_route_needs_no_route_names() -> None:
    ro = rollout({"managedRoutes": [{"name": "h"}], "istio": {"virtualService": {"name": "web"}}})
    store = Store([vs("web", http=[{"route": [dest(STABLE, 100), dest(CANARY, 0)]}])])
    route = HeaderRoute("h", (HeaderMatch("x", exact="1"),))
    # the header route is a managed route: the weighted one is still the only other
    store.move(ROUTER, ro, RouterState(weight=5, header_routes=(route,)))
    store.move(ROUTER, ro, RouterState(weight=15, header_routes=(route,)))
    assert store.read(ROUTER, ro).weight == 15


def test_other_destinations_are_dropped_as_argo_does() -> None:
    obj = vs("web", http=[{"route": [dest(STABLE, 80), dest(CANARY, 0), dest("old-exp", 20)]}])
    ro = rollout({"istio": {"virtualService": {"name": "web"}}})
    store = Store([obj])
    store.move(ROUTER, ro, RouterState(weight=10))
    route = stored_vs(store)["spec"]["http"][0]["route"]
    assert [(d["destination"]["host"], d["weight"]) for d in route] == [
        (STABLE, 90),
        (CANARY, 10),
    ]


@pytest.mark.parametrize(
    ("http", "error"),
    [
        ([{"name": "other", "route": [dest(STABLE, 100), dest(CANARY, 0)]}], "'primary' not found"),
        ([{"name": "primary", "route": [dest(STABLE, 100)]}], "Service 'web-canary' not found"),
    ],
)
def test_missing_routes_and_destinations_are_errors(http: list[Any], error: str) -> None:
    ro = rollout({"istio": {"virtualService": {"name": "web", "routes": ["primary"]}}})
    with pytest.raises(RouterError, match=error):
        Store([vs("web", http=http)]).move(ROUTER, ro, RouterState(weight=10))
    with pytest.raises(RouterError, match="VirtualService default/web not found"):
        Store().move(ROUTER, ro, RouterState(weight=10))


def test_destination_rule_subsets_are_pinned_and_others_kept() -> None:
    ro = rollout(
        {
            "managedRoutes": [{"name": "h"}],
            "istio": {
                "virtualService": {"name": "web"},
                "destinationRule": {
                    "name": "web-dr",
                    "canarySubsetName": "canary",
                    "stableSubsetName": "stable",
                },
            },
        }
    )
    rule = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "web-dr", "namespace": NS},
        "spec": {
            "host": "web.default.svc.cluster.local",
            "subsets": [
                {"name": "canary", "labels": {"app": "web"}},
                {"name": "stable"},
                {"name": "debug", "labels": {"debug": "true"}},
            ],
        },
    }
    subsets = [
        {"destination": {"host": "web", "subset": "stable"}, "weight": 100},
        {"destination": {"host": "web", "subset": "canary"}, "weight": 0},
    ]
    store = Store([vs("web", http=[{"route": subsets}]), rule])
    header = HeaderRoute("h", (HeaderMatch("x", exact="1"),))
    store.move(ROUTER, ro, RouterState(weight=20, canary_hash="new", stable_hash="old"))
    dr = store.objects[("networking.istio.io", "DestinationRule", NS, "web-dr")]
    assert dr["spec"]["subsets"] == [
        {"name": "canary", "labels": {"app": "web", "rollouts-pod-template-hash": "new"}},
        {"name": "stable", "labels": {"rollouts-pod-template-hash": "old"}},
        {"name": "debug", "labels": {"debug": "true"}},
    ]
    state = store.read(ROUTER, ro)
    assert (state.weight, state.canary_hash, state.stable_hash) == (20, "new", "old")
    store.move(ROUTER, ro, RouterState(header_routes=(header,)))
    route = stored_vs(store)["spec"]["http"][0]
    assert route["route"] == [
        {
            "destination": {"host": "web.default.svc.cluster.local", "subset": "canary"},
            "weight": 100,
        }
    ]
    del dr["spec"]["subsets"][1]
    with pytest.raises(RouterError, match="no subset 'stable'"):
        store.move(ROUTER, ro, RouterState(weight=30, canary_hash="new"))


def test_validation() -> None:
    assert ROUTER.validate(rollout({"istio": {}}))[0].path.endswith("virtualService.name")
    both = rollout({"istio": {"virtualService": {"name": "a"}, "virtualServices": []}})
    assert "not both" in str(ROUTER.validate(both))
    no_subsets = rollout({"istio": {"virtualService": {"name": "a"}, "destinationRule": {}}})
    assert len(ROUTER.validate(no_subsets)) == 3
