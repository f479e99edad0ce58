"""SMI specifics: API versions, names, root Service, ownership."""

from __future__ import annotations

import pytest

from progressive.errors import RouterError
from progressive.routers import RouterState, SmiRouter

from .cases import NS, Store, rollout

ROUTER = SmiRouter()


@pytest.mark.parametrize(
    ("version", "weights"),
    [
        ("v1alpha1", ["25", "75"]),
        ("v1alpha2", [25, 75]),
        ("v1alpha3", [25, 75]),
        ("v1alpha4", [25, 75]),
    ],
)
def test_every_api_version(version: str, weights: list[object]) -> None:
    ro = rollout(
        {"smi": {"apiVersion": version, "trafficSplitName": "split", "rootService": "web"}}
    )
    assert ROUTER.validate(ro) == []
    store = Store()
    store.move(ROUTER, ro, RouterState(weight=25))
    split = store.objects[("split.smi-spec.io", "TrafficSplit", NS, "split")]
    assert split["apiVersion"] == f"split.smi-spec.io/{version}"
    assert split["spec"] == {
        "service": "web",
        "backends": [
            {"service": "web-canary", "weight": weights[0]},
            {"service": "web-stable", "weight": weights[1]},
        ],
    }
    assert split["metadata"]["ownerReferences"][0]["controller"] is True
    assert store.read(ROUTER, ro).weight == 25


def test_max_traffic_weight_units() -> None:
    ro = rollout({"maxTrafficWeight": 1000, "smi": {}})
    store = Store()
    store.move(ROUTER, ro, RouterState(weight=333))
    split = store.objects[("split.smi-spec.io", "TrafficSplit", NS, "web")]
    assert [b["weight"] for b in split["spec"]["backends"]] == ["333", "667"]
    assert store.read(ROUTER, ro).weight == 333


def test_a_split_owned_by_someone_else_is_an_error_not_an_overwrite() -> None:
    ro = rollout({"smi": {}})
    foreign = {
        "apiVersion": "split.smi-spec.io/v1alpha1",
        "kind": "TrafficSplit",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"service": "x", "backends": []},
    }
    store = Store([foreign])
    with pytest.raises(RouterError, match="not controlled by Rollout default/web"):
        store.move(ROUTER, ro, RouterState(weight=5))
    assert store.writes == []


def test_an_unknown_api_version_is_a_spec_error() -> None:
    errors = ROUTER.validate(rollout({"smi": {"apiVersion": "v2"}}))
    assert [e.path for e in errors] == ["spec.strategy.canary.trafficRouting.smi.apiVersion"]
