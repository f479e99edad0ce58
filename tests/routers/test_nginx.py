"""NGINX specifics: names, annotations, cookies and patterns, ownership, validation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from progressive.core import HeaderMatch
from progressive.errors import RouterError
from progressive.routers import HeaderRoute, NginxRouter, RouterState, cookie_match

from .cases import NS, Store, rollout, stable_ingress

ROUTER = NginxRouter()
P = "nginx.ingress.kubernetes.io"


def annotations(store: Store, name: str = "web-web-canary") -> dict[str, str]:
    return dict(
        store.objects[("networking.k8s.io", "Ingress", NS, name)]["metadata"]["annotations"]
    )


def test_canary_name_is_cut_like_argos() -> None:
    ro = rollout({"nginx": {"stableIngress": "x" * 300}})
    name = ROUTER.canary_name(ro, "x" * 300)
    assert len(name) == 253 and name.endswith("-canary") and name.startswith("web-xxx")


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (HeaderMatch("X-Canary", exact="yes"), {"canary-by-header-value": "yes"}),
        (HeaderMatch("X-Canary", regex="a|b"), {"canary-by-header-pattern": "^(?:a|b)$"}),
        (HeaderMatch("X-Canary", prefix="v1.2"), {"canary-by-header-pattern": r"^v1\.2"}),
    ],
)
def test_header_matches_become_annotations_and_read_back(
    match: HeaderMatch, expected: dict[str, str]
) -> None:
    ro = rollout({"managedRoutes": [{"name": "h"}], "nginx": {"stableIngress": "web"}})
    store = Store([stable_ingress()])
    route = HeaderRoute("h", (match,))
    store.move(ROUTER, ro, RouterState(header_routes=(route,)))
    got = annotations(store)
    assert got[f"{P}/canary-by-header"] == "X-Canary"
    for key, value in expected.items():
        assert got[f"{P}/{key}"] == value
    assert got[f"{P}/canary-weight"] == "0"
    assert got["progressive.dev/header-route"] == "h"
    assert store.read(ROUTER, ro).header_routes == (route,)


def test_a_cookie_match_is_canary_by_cookie() -> None:
    ro = rollout({"managedRoutes": [{"name": "h"}], "nginx": {"stableIngress": "web"}})
    store = Store([stable_ingress()])
    cookie = cookie_match("beta.user")
    # the same match means the same thing on Istio and the Gateway API
    assert re.fullmatch(cookie.regex or "", "a=1; beta.user=always; b=2")
    assert not re.fullmatch(cookie.regex or "", "beta.user=never")
    route = HeaderRoute("h", (HeaderMatch("X-Beta", exact="1"), cookie))
    store.move(ROUTER, ro, RouterState(weight=5, header_routes=(route,)))
    got = annotations(store)
    assert got[f"{P}/canary-by-cookie"] == "beta.user"
    assert got[f"{P}/canary-by-header-value"] == "1"
    assert store.read(ROUTER, ro).header_routes == (route,)


def test_existing_annotations_are_kept_and_canary_annotations_win() -> None:
    ro = rollout(
        {
            "nginx": {
                "stableIngress": "web",
                "additionalIngressAnnotations": {f"{P}/x": "1", "y": "2"},
                "canaryIngressAnnotations": {f"{P}/y": "3", "plain": "verbatim"},
            }
        }
    )
    store = Store([stable_ingress()])
    store.move(ROUTER, ro, RouterState(weight=10))
    key = ("networking.k8s.io", "Ingress", NS, "web-web-canary")
    store.objects[key]["metadata"]["annotations"]["someone/else"] = "keep"
    store.move(ROUTER, ro, RouterState(weight=20))
    got = annotations(store)
    assert got[f"{P}/x"] == "1"
    assert got[f"{P}/y"] == "3"  # canaryIngressAnnotations win
    assert got["plain"] == "verbatim"
    assert got["someone/else"] == "keep"
    assert f"{P}/canary-weight-total" not in got


def test_a_canary_ingress_someone_else_controls_is_an_error() -> None:
    ro = rollout({"nginx": {"stableIngress": "web"}})
    foreign: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web-web-canary", "namespace": NS},
        "spec": {},
    }
    store = Store([stable_ingress(), foreign])
    with pytest.raises(RouterError, match="not controlled by Rollout default/web"):
        store.move(ROUTER, ro, RouterState(weight=10))
    with pytest.raises(RouterError, match="no controller"):
        store.read(ROUTER, ro)


def test_a_stable_ingress_without_the_stable_service_is_an_error() -> None:
    ro = rollout({"nginx": {"stableIngress": "web"}})
    other = stable_ingress()
    other["spec"]["rules"] = [other["spec"]["rules"][1]]
    with pytest.raises(RouterError, match="has no rules using service web-stable"):
        Store([other]).move(ROUTER, ro, RouterState(weight=10))
    with pytest.raises(RouterError, match="stable Ingress default/web not found"):
        Store().move(ROUTER, ro, RouterState(weight=10))


def header_step(name: str, *matches: dict[str, Any]) -> dict[str, Any]:
    return {"setHeaderRoute": {"name": name, "match": list(matches)}}


def test_validation() -> None:
    exact = {"headerName": "X-A", "headerValue": {"exact": "1"}}
    two = rollout(
        {"managedRoutes": [{"name": "a"}, {"name": "b"}], "nginx": {"stableIngress": "web"}},
        [header_step("a", exact), header_step("b", exact), {"setWeight": 10}],
    )
    assert [e.path for e in ROUTER.validate(two)] == [
        "spec.strategy.canary.steps[1].setHeaderRoute"
    ]
    many = rollout(
        {"managedRoutes": [{"name": "a"}], "nginx": {"stableIngress": "web"}},
        [header_step("a", exact, {"headerName": "X-B", "headerValue": {"exact": "2"}})],
    )
    assert [e.path for e in ROUTER.validate(many)] == [
        "spec.strategy.canary.steps[0].setHeaderRoute.match"
    ]
    clash = rollout(
        {
            "managedRoutes": [{"name": "a"}],
            "nginx": {
                "stableIngress": "web",
                "additionalIngressAnnotations": {"canary-by-header": "X-Old"},
            },
        },
        [header_step("a", exact)],
    )
    assert "would fight" in str(ROUTER.validate(clash))
    missing = rollout({"nginx": {}})
    assert [str(e) for e in ROUTER.validate(missing)] == [
        "spec.strategy.canary.trafficRouting.nginx.stableIngress: is required"
    ]
    both = rollout({"nginx": {"stableIngress": "a", "stableIngresses": ["b"]}})
    assert "not both" in str(ROUTER.validate(both))
