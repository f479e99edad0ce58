"""The router registry: which names a Rollout may configure, what the routers declare
they can express, and routers installed by other distributions (``progressive.routers``
entry points), read the way ``importlib.metadata`` reads an installed distribution: a
``*.dist-info`` folder with an ``entry_points.txt`` on ``sys.path``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from progressive._access import access_of
from progressive.core import Rollout
from progressive.core._router_keys import ARGO_ROUTER_KEYS
from progressive.errors import RouterError
from progressive.routers import (
    ROUTERS,
    DeclaredRouter,
    KubeAccess,
    RouterCapabilities,
    RouterRegistry,
    default_registry,
    router_config,
)

from ..installed import install as install_distribution
from ..shell.helpers import canary_rollout
from .cases import EXPERIMENT_ROUTERS, HEADER_ROUTERS

ISTIO = {"istio": {"virtualService": {"name": "app"}}}
NGINX = {"nginx": {"stableIngress": "app"}}
GATEWAY = {"httpRoute": "app", "namespace": "default"}
X = {"exact": "1"}
#: what a controller with only the built-in routers says it implements
IMPLEMENTED = ", ".join(ROUTERS)


def rollout(routing: dict[str, Any], steps: Any = (), **fields: Any) -> Rollout:
    return Rollout.from_manifest(
        canary_rollout(
            steps=list(steps),
            canaryService="c",
            stableService="s",
            trafficRouting=routing,
            **fields,
        )
    )


def problems(ro: Rollout, registry: RouterRegistry | None = None) -> list[str]:
    return [str(p) for p in (registry or default_registry()).check(ro)]


# -- names ---------------------------------------------------------------------------------


def test_the_built_in_routers_are_found_in_their_own_modules() -> None:
    # Argo's routers in Argo's order (those implemented), then the others by key
    implemented = [k for k in ARGO_ROUTER_KEYS if k in ROUTERS]
    assert list(ROUTERS)[: len(implemented)] == implemented
    assert {"nginx", "istio", "smi", "gatewayAPI", "alb"} <= set(ROUTERS)
    assert default_registry().keys[: len(ROUTERS)] == tuple(ROUTERS)


def test_a_key_no_router_answers_to_is_refused_naming_those_that_exist() -> None:
    assert problems(rollout({"ngnix": {}})) == [
        "spec.strategy.canary.trafficRouting.ngnix: unknown traffic router 'ngnix' "
        f"(this controller implements {IMPLEMENTED})"
    ]
    # every Argo router is built in: a controller of its own registry may lack one
    fewer = RouterRegistry(r for r in ROUTERS.values() if r.name != "appMesh")
    assert problems(rollout({"appMesh": {"virtualService": {"name": "app"}}}), fewer) == [
        "spec.strategy.canary.trafficRouting.appMesh: the appMesh router is not implemented "
        f"(this controller implements {', '.join(fewer.keys)})"
    ]
    assert problems(rollout({"plugins": {"argoproj-labs/contour": {}}})) == [
        "spec.strategy.canary.trafficRouting.plugins.argoproj-labs/contour: the traffic "
        "router plugin 'argoproj-labs/contour' is not installed (plugins answered: "
        f"argoproj-labs/gatewayAPI; routers: {IMPLEMENTED})"
    ]


def test_an_argo_plugin_name_finds_the_router_that_answers_to_it() -> None:
    ro = rollout({"plugins": {"argoproj-labs/gatewayAPI": GATEWAY}})
    registry = default_registry()
    assert registry.validate(ro) == []
    (router,) = registry.routers_of(ro)
    assert router is ROUTERS["gatewayAPI"]
    assert router_config(ro, router) == GATEWAY
    # written back as it was read
    assert ro.canary is not None and ro.canary.traffic_routing is not None
    assert ro.canary.traffic_routing.to_manifest() == {
        "plugins": {"argoproj-labs/gatewayAPI": GATEWAY}
    }


def test_one_router_under_two_names_is_refused() -> None:
    ro = rollout({"gatewayAPI": GATEWAY, "plugins": {"argoproj-labs/gatewayAPI": GATEWAY}})
    assert problems(ro) == [
        "spec.strategy.canary.trafficRouting.plugins.argoproj-labs/gatewayAPI: configures "
        "the gatewayAPI router again (as 'gatewayAPI')"
    ]


def test_a_plugin_name_is_namespace_slash_name() -> None:
    manifest = canary_rollout(
        canaryService="c", stableService="s", trafficRouting={"plugins": {"contour": {}}}
    )
    with pytest.raises(Exception, match="plugins.contour: a router plugin's name is"):
        Rollout.from_manifest(manifest)


# -- capabilities --------------------------------------------------------------------------

MIRROR = {"name": "mirror", "match": [{"method": {"exact": "GET"}}], "percentage": 10}
PING_PONG = {"pingService": "ping", "pongService": "pong"}


def test_a_step_a_router_cannot_express_is_refused_naming_those_that_can() -> None:
    ro = rollout({**NGINX, "managedRoutes": [{"name": "mirror"}]}, [{"setMirrorRoute": MIRROR}])
    assert problems(ro) == [
        "spec.strategy.canary.steps[0].setMirrorRoute: not supported by the nginx router "
        "(supported by: gatewayAPI, istio)"
    ]


def test_ping_pong_needs_routers_that_take_the_ping_pong_services() -> None:
    ro = rollout({**ISTIO, **NGINX}, pingPong=PING_PONG)
    assert problems(ro) == [
        "spec.strategy.canary.trafficRouting: ping-pong works with the "
        f"{', '.join(sorted(k for k, r in ROUTERS.items() if r.capabilities.ping_pong))} "
        "routers only, not nginx"
    ]
    assert problems(rollout(ISTIO, pingPong=PING_PONG)) == []


def test_weighted_experiment_templates_need_routers_that_weigh_them() -> None:
    step = {
        "experiment": {
            "templates": [{"name": "canary", "specRef": "canary", "weight": 10}],
            "duration": "1m",
        }
    }
    assert problems(rollout(NGINX, [step])) == [
        "spec.strategy.canary.steps[0].experiment: not supported by the nginx router "
        f"(supported by: {', '.join(sorted(EXPERIMENT_ROUTERS))})"
    ]
    unweighted = {"experiment": {"templates": [{"name": "canary", "specRef": "canary"}]}}
    assert problems(rollout(NGINX, [unweighted])) == []


def test_an_embedders_router_declares_what_it_can_express() -> None:
    class Mine(DeclaredRouter):
        pass

    quiet = Mine("mine", capabilities=RouterCapabilities())
    ro = rollout({"mine": {}, "managedRoutes": [{"name": "mirror"}]}, [{"setMirrorRoute": MIRROR}])
    assert problems(ro, default_registry().with_routers(quiet)) == [
        "spec.strategy.canary.steps[0].setMirrorRoute: not supported by the mine router "
        "(supported by: gatewayAPI, istio)"
    ]
    assert problems(ro, default_registry().with_routers(DeclaredRouter("mine"))) == []
    with pytest.raises(RouterError, match="declares the router name 'nginx'"):
        default_registry().with_routers(DeclaredRouter("nginx"))


# -- plugins from other distributions ------------------------------------------------------

PLUGIN_MODULE = """
from progressive.routers import DeclaredRouter, RouterCapabilities

class Contour(DeclaredRouter):
    def __init__(self):
        super().__init__("contour", ("argoproj-labs/contour",), RouterCapabilities())

class Other(DeclaredRouter):
    def __init__(self):
        super().__init__("other", ("argoproj-labs/contour",))

class Nginx(DeclaredRouter):
    def __init__(self):
        super().__init__("nginx")

class Misnamed(DeclaredRouter):
    def __init__(self):
        super().__init__("kong")

class Bare:
    # a router written before routers declared their access: no access
    name = "bare"
    plugin_names = ()
    capabilities = RouterCapabilities()
    def validate(self, rollout): return []
    def refs(self, rollout): return ()
    def read(self, rollout, objects): return None
    def plan(self, rollout, desired, objects): return []
    def stand_ins(self, rollout): return []

class WrongAccess(DeclaredRouter):
    def __init__(self):
        super().__init__("wrong", access="projectcontour.io httpproxies")
"""


@pytest.fixture
def plugins(site: Path) -> Path:
    (site / "routers_for_tests.py").write_text(PLUGIN_MODULE)
    return site


def install(site: Path, dist: str, entry_points: dict[str, str]) -> None:
    install_distribution(site, dist, "progressive.routers", entry_points)


def test_an_installed_plugin_answers_to_its_key_and_its_plugin_names(plugins: Path) -> None:
    install(plugins, "contour-router", {"contour": "routers_for_tests:Contour"})
    registry = default_registry()
    assert registry.origin("contour") == "contour-router 1.0"
    for routing in ({"contour": {}}, {"plugins": {"argoproj-labs/contour": {}}}):
        ro = rollout(routing)
        assert registry.validate(ro) == []
        assert [r.name for r in registry.routers_of(ro)] == ["contour"]
    # it declared no header routes
    ro = rollout(
        {"contour": {}, "managedRoutes": [{"name": "h"}]},
        [{"setHeaderRoute": {"name": "h", "match": [{"headerName": "x", "headerValue": X}]}}],
    )
    assert problems(ro, registry) == [
        "spec.strategy.canary.steps[0].setHeaderRoute: not supported by the contour router "
        f"(supported by: {', '.join(sorted(HEADER_ROUTERS))})"
    ]


def test_a_plugin_that_fails_to_load_refuses_only_the_rollouts_that_name_it(plugins: Path) -> None:
    install(plugins, "broken-router", {"contour": "routers_for_tests:NoSuchThing"})
    registry = default_registry()
    assert problems(rollout({"contour": {}}), registry) == [
        "spec.strategy.canary.trafficRouting.contour: the router plugin 'contour' of "
        "broken-router 1.0 cannot be used: failed to load: AttributeError: module "
        "'routers_for_tests' has no attribute 'NoSuchThing'"
    ]
    assert registry.validate(rollout(ISTIO)) == []
    with pytest.raises(RouterError, match="broken-router 1.0 cannot be used"):
        registry.routers_of(rollout({"contour": {}}))


def test_two_plugins_declaring_one_name_are_both_refused_for_it(plugins: Path) -> None:
    install(plugins, "contour-router", {"contour": "routers_for_tests:Contour"})
    install(plugins, "other-router", {"other": "routers_for_tests:Other"})
    registry = default_registry()
    (message,) = problems(rollout({"plugins": {"argoproj-labs/contour": {}}}), registry)
    assert "cannot be used: declares the router name 'argoproj-labs/contour', which" in message
    assert problems(rollout({"contour": {}}), registry)  # its key is refused too
    assert registry.validate(rollout(ISTIO)) == []


def test_a_plugin_cannot_take_a_built_in_name_or_another_key(plugins: Path) -> None:
    bad = {"nginx": "routers_for_tests:Nginx", "k": "routers_for_tests:Misnamed"}
    install(plugins, "bad-routers", bad)
    registry = default_registry()
    assert registry.get("nginx") is ROUTERS["nginx"]
    assert registry.validate(rollout(NGINX)) == []
    failures = sorted(str(f) for f in registry.failures)
    assert failures == [
        "k (from bad-routers 1.0): the entry point is named 'k' but the router's key is "
        "'kong' (they must be the same)",
        "nginx (from bad-routers 1.0): bad-routers 1.0 declares the router name 'nginx', "
        "which progressive declares already",
    ]


def test_a_plugin_without_access_still_loads_and_one_with_bad_access_is_refused(
    plugins: Path,
) -> None:
    install(plugins, "bare-router", {"bare": "routers_for_tests:Bare"})
    install(plugins, "wrong-router", {"wrong": "routers_for_tests:WrongAccess"})
    registry = default_registry()
    bare = registry.get("bare")
    assert bare is not None and access_of(bare) is None
    assert registry.validate(rollout({"bare": {}})) == []
    (failure,) = registry.failures
    assert str(failure) == (
        "wrong (from wrong-router 1.0): WrongAccess.access must be a sequence of "
        "KubeAccess, got 'projectcontour.io httpproxies'"
    )
    assert problems(rollout({"wrong": {}}), registry)
    # the built-ins all declare theirs
    assert all(access_of(r) for r in ROUTERS.values())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"group": "*"}, "KubeAccess.group: an API group name, got '*'"),
        ({"resources": ()}, "KubeAccess.resources: one or more resource names"),
        ({"resources": ("*",)}, r"resource names \(no '\*'\), got \['\*'\]"),
        ({"verbs": ("get", "escalate")}, "KubeAccess.verbs: one or more of get, list"),
        ({"verbs": "*"}, r"got \['\*'\]"),
        ({"why": " "}, "KubeAccess.why: say why"),
    ],
)
def test_a_router_access_is_checked(fields: dict[str, Any], message: str) -> None:
    good = {"group": "projectcontour.io", "resources": "httpproxies", "verbs": "get", "why": "w"}
    assert KubeAccess(**good).resources == ("httpproxies",)
    with pytest.raises(ValueError, match=message):
        KubeAccess(**{**good, **fields})
