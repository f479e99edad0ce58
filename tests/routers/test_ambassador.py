"""Ambassador specifics: the canary Mapping's Service, Argo's canary Mappings taken
over, foreign ones refused, weight 0 kept, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from progressive.errors import RouterError
from progressive.routers import RouterState
from progressive.routers._ambassador import AmbassadorRouter, canary_name

from .cases import NS, UID, Store, ambassador_mapping, rollout

ROUTER = AmbassadorRouter()
ROUTING = {"ambassador": {"mappings": ["web"]}}
CANARY_KEY = ("getambassador.io", "Mapping", NS, "web-canary")


def with_service(service: str) -> dict[str, Any]:
    mapping = ambassador_mapping()
    mapping["spec"]["service"] = service
    return mapping


@pytest.mark.parametrize(
    ("stable", "canary"),
    [
        ("web-stable", "web-canary"),
        ("web-stable:8080", "web-canary:8080"),
        ("https://web-stable.default.svc:443", "https://web-canary.default.svc:443"),
    ],
)
def test_the_canary_mapping_points_the_base_ones_service_at_the_canary(
    stable: str, canary: str
) -> None:
    store = Store([with_service(stable)])
    store.move(ROUTER, rollout(ROUTING), RouterState(weight=30))
    spec = store.objects[CANARY_KEY]["spec"]
    assert (spec["service"], spec["weight"], spec["prefix"]) == (canary, 30, "/web/")


def test_a_base_mapping_that_is_not_the_stable_services_is_refused() -> None:
    # Argo's string replace would point the canary Mapping at web-stable-v2's twin
    store = Store([with_service("web-stable-v2:80")])
    with pytest.raises(RouterError, match="not to the stable Service 'web-stable'"):
        store.move(ROUTER, rollout(ROUTING), RouterState(weight=30))


def test_a_base_mapping_with_a_weight_is_refused_as_in_argo() -> None:
    mapping = ambassador_mapping()
    mapping["spec"]["weight"] = 100
    with pytest.raises(RouterError, match="can not define weight"):
        Store([mapping]).move(ROUTER, rollout(ROUTING), RouterState(weight=30))


def test_weight_zero_keeps_the_canary_mapping_at_zero() -> None:
    store = Store([ambassador_mapping()])
    ro = rollout(ROUTING)
    assert store.read(ROUTER, ro).weight == 0  # no canary Mapping: nothing to the canary
    assert ROUTER.plan(ro, RouterState(weight=0), store.view(ROUTER, ro)) == []
    store.move(ROUTER, ro, RouterState(weight=40))
    store.move(ROUTER, ro, RouterState(weight=0))
    assert store.objects[CANARY_KEY]["spec"]["weight"] == 0
    assert store.read(ROUTER, ro).weight == 0


def argo_canary(owner: dict[str, Any] | None) -> dict[str, Any]:
    mapping = with_service("web-canary.default:80")
    mapping["metadata"] = {"name": "web-canary", "namespace": NS}
    if owner is not None:
        mapping["metadata"]["ownerReferences"] = [owner]
    mapping["spec"]["weight"] = 20
    return mapping


def test_argos_canary_mapping_without_an_owner_is_taken_over() -> None:
    store = Store([ambassador_mapping(), argo_canary(None)])
    ro = rollout(ROUTING)
    assert store.read(ROUTER, ro).weight == 20
    store.move(ROUTER, ro, RouterState(weight=60))
    assert store.objects[CANARY_KEY]["spec"]["weight"] == 60


def test_a_canary_mapping_controlled_by_another_is_refused() -> None:
    owner = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "x",
        "uid": "u",
        "controller": True,
    }
    store = Store([ambassador_mapping(), argo_canary(owner)])
    ro = rollout(ROUTING)
    with pytest.raises(RouterError, match="not controlled by Rollout default/web"):
        store.move(ROUTER, ro, RouterState(weight=60))
    mine = {
        **owner,
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "web",
        "uid": UID,
    }
    assert Store([ambassador_mapping(), argo_canary(mine)]).read(ROUTER, ro).weight == 20


def test_the_canary_name_is_cut_like_argos() -> None:
    assert canary_name("m" * 300) == "m" * 246 + "-canary"


@pytest.mark.parametrize(
    ("routing", "expected"),
    [
        ({"ambassador": {}}, "trafficRouting.ambassador.mappings: is required"),
        (
            {"maxTrafficWeight": 1000, **ROUTING},
            "trafficRouting.maxTrafficWeight: Emissary's Mapping weights are percentages",
        ),
    ],
)
def test_validation(routing: dict[str, Any], expected: str) -> None:
    (error,) = ROUTER.validate(rollout(routing))
    assert expected in str(error)
