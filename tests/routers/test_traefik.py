"""Traefik specifics: the API group (Argo's default and Traefik 3's), services without a
weight, entries the Rollout does not manage, refusals."""

from __future__ import annotations

import pytest

from progressive.errors import RouterError
from progressive.routers import RouterState
from progressive.routers._traefik import TraefikRouter

from .cases import CANARY, NS, STABLE, Store, rollout, traefik_service

ROUTER = TraefikRouter()
ROUTING = {"traefik": {"weightedTraefikServiceName": "web-wrr"}}


def weights(store: Store, group: str = "traefik.containo.us") -> list[tuple[str, int]]:
    obj = store.objects[(group, "TraefikService", NS, "web-wrr")]
    return [(s["name"], s.get("weight")) for s in obj["spec"]["weighted"]["services"]]


def test_argos_group_by_default_traefik_3s_when_asked() -> None:
    assert ROUTER.refs(rollout(ROUTING))[0].api_version == "traefik.containo.us/v1alpha1"
    modern = rollout({"traefik": {**ROUTING["traefik"], "apiVersion": "traefik.io/v1alpha1"}})
    assert ROUTER.refs(modern)[0].api_version == "traefik.io/v1alpha1"
    store = Store([traefik_service("traefik.io/v1alpha1")])
    store.move(ROUTER, modern, RouterState(weight=40))
    assert weights(store, "traefik.io") == [(STABLE, 60), (CANARY, 40), ("web-mirror", 0)]


def test_services_without_a_weight_split_evenly_until_the_first_write() -> None:
    service = traefik_service()
    for entry in service["spec"]["weighted"]["services"]:
        del entry["weight"]  # as Argo's documentation deploys it: Traefik gives each 1
    store = Store([service])
    ro = rollout(ROUTING)
    assert store.read(ROUTER, ro).weight == 50
    store.move(ROUTER, ro, RouterState(weight=0))
    assert weights(store) == [(STABLE, 100), (CANARY, 0), ("web-mirror", None)]


def test_a_missing_service_entry_or_object_is_an_error() -> None:
    service = traefik_service()
    service["spec"]["weighted"]["services"].pop(1)
    with pytest.raises(RouterError, match="has no weighted service 'web-canary'"):
        Store([service]).move(ROUTER, rollout(ROUTING), RouterState(weight=10))
    with pytest.raises(RouterError, match="TraefikService default/web-wrr not found"):
        Store([]).move(ROUTER, rollout(ROUTING), RouterState(weight=10))
    assert Store([]).move(ROUTER, rollout(ROUTING), RouterState()) == []


def test_validation() -> None:
    errors = ROUTER.validate(rollout({"traefik": {"apiVersion": "traefik.io/v2"}}))
    assert [str(e) for e in errors] == [
        "spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName: is required",
        "spec.strategy.canary.trafficRouting.traefik.apiVersion: must be one of "
        "traefik.containo.us/v1alpha1, traefik.io/v1alpha1, got 'traefik.io/v2'",
    ]
