"""Gateway API: HTTPRoutes and GRPCRoutes, patched in place, never regenerated.

Configured as Argo's plugin is (``plugins: {argoproj-labs/gatewayAPI: {...}}``) or under
our own ``gatewayAPI:`` key: ``httpRoute``, ``httpRoutes: [{name, useHeaderRoutes}]``,
``grpcRoute``, ``grpcRoutes: [{name, useHeaderRoutes}]`` and ``namespace`` (default:
the Rollout's).  A single ``httpRoute``/``grpcRoute`` takes header routes.

* Weights: in every rule that is not a managed route, the backendRefs named
  ``canaryService`` get the weight and those named ``stableService`` get
  ``maxTrafficWeight`` minus it.  At least one rule must refer to both.
* Header routes (routes with ``useHeaderRoutes``): a rule named after the route, with
  the first weighted rule's filters, one match per (match of that rule, header match)
  -- header matches are OR'ed, as on Istio -- and one backendRef, the canary Service on
  the canary backendRef's port.  A prefix match becomes a ``RegularExpression``
  (``<escaped prefix>.*``).
* Mirror routes (HTTPRoutes with ``useHeaderRoutes``): a rule named after the route,
  with the mirror step's matches, the weighted rule's backendRefs (whose weights follow
  setWeight) and filters, and a ``RequestMirror`` filter to the canary Service with
  ``percent``.

Managed rules go after the others, in ``managedRoutes`` order; one that is not wanted
is removed.  Rule names (GEP-995, standard since Gateway API v1.4) identify them, so
managed route names must be valid rule names (lowercase RFC 1123 labels).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from ..core._rollout import Rollout
from ..core._router_keys import RouterCapabilities
from ..core._steps import HeaderMatch
from ..core._steps import SetHeaderRoute as HeaderStep
from ..core._steps import SetMirrorRoute as MirrorStep
from ..errors import FieldProblem, RouterError
from ._objects import (
    canary_of,
    config_of,
    experiment_weight_errors,
    header_match_of,
    indexed_actions,
    int_of,
    max_weight,
    no_experiment_weights,
    patch_to,
    prefix_of_regex,
    regex_of_prefix,
    scaled,
    string_match_of,
    string_match_value,
)
from ._protocol import (
    HeaderRoute,
    KubeAccess,
    MirrorRoute,
    ObjectRef,
    Objects,
    RouterState,
    Write,
)

__all__ = ["GatewayApiRouter"]

GROUP: Final = "gateway.networking.k8s.io"
VERSIONS: Final = {"HTTPRoute": ("v1", "v1beta1"), "GRPCRoute": ("v1", "v1alpha2")}
_PATH: Final = "spec.strategy.canary.trafficRouting.gatewayAPI"
_RULE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_UNSUPPORTED: Final = (
    "tcpRoute",
    "tcpRoutes",
    "tlsRoute",
    "tlsRoutes",
    "httpRouteSelector",
    "grpcRouteSelector",
    "tcpRouteSelector",
    "tlsRouteSelector",
)
_PATH_TYPES: Final = {"exact": "Exact", "prefix": "PathPrefix", "regex": "RegularExpression"}
# What the API server fills in (the CRDs' defaults): the rules we write carry them
# already, so that what is stored is what we wrote and planning again writes nothing.
DEFAULT_PATH: Final = {"type": "PathPrefix", "value": "/"}


@attrs.frozen
class _Route:
    kind: str  # HTTPRoute | GRPCRoute
    namespace: str
    name: str
    use_header_routes: bool

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(GROUP, VERSIONS[self.kind], self.kind, self.namespace, self.name)

    @property
    def mirrors(self) -> bool:
        return self.use_header_routes and self.kind == "HTTPRoute"


def _routes(rollout: Rollout) -> list[_Route]:
    config = config_of(rollout, "gatewayAPI", *GatewayApiRouter.plugin_names)
    namespace = str(config.get("namespace") or rollout.namespace)
    out: list[_Route] = []
    for kind, one, many in (
        ("HTTPRoute", "httpRoute", "httpRoutes"),
        ("GRPCRoute", "grpcRoute", "grpcRoutes"),
    ):
        if isinstance(config.get(one), str) and config[one]:
            out.append(_Route(kind, namespace, config[one], True))
        for item in config.get(many) or ():
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                use = item.get("useHeaderRoutes") is True
                out.append(_Route(kind, namespace, item["name"], use))
    return out


def _backend(ref: Mapping[str, Any], name: str | None) -> bool:
    """Is ``ref`` a backendRef to the Service ``name``?"""
    if not isinstance(ref, Mapping) or name is None or ref.get("name") != name:
        return False
    return ref.get("kind", "Service") == "Service" and ref.get("group", "") in ("", "core")


class GatewayApiRouter:
    """The Gateway API router (``trafficRouting.gatewayAPI`` or the
    ``argoproj-labs/gatewayAPI`` plugin's configuration)."""

    name: Final = "gatewayAPI"
    capabilities: Final = RouterCapabilities(header_routes=True, mirror_routes=True)
    plugin_names: Final = ("argoproj-labs/gatewayAPI",)
    access: Final = (
        KubeAccess(
            GROUP,
            ("httproutes", "grpcroutes"),
            ("get", "list", "watch", "patch"),
            "Gateway API weights and header routes",
        ),
    )

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        config = config_of(rollout, "gatewayAPI", *GatewayApiRouter.plugin_names)
        errors = [
            FieldProblem(f"{_PATH}.{key}", "is not supported (HTTPRoute and GRPCRoute are)")
            for key in _UNSUPPORTED
            if key in config
        ]
        routes = _routes(rollout)
        if not routes:
            errors.append(FieldProblem(f"{_PATH}.httpRoute", "is required (or grpcRoute)"))
        steps = indexed_actions(rollout)
        routing = canary_of(rollout).traffic_routing
        assert routing is not None
        used = {s.name for _, s in steps if isinstance(s, HeaderStep | MirrorStep)}
        for index, name in enumerate(routing.managed_routes):
            if name in used and (len(name) > 253 or not _RULE_NAME.fullmatch(name)):
                errors.append(
                    FieldProblem(
                        f"spec.strategy.canary.trafficRouting.managedRoutes[{index}].name",
                        "names a Gateway API rule: lowercase letters, digits and '-', "
                        f"starting and ending with a letter or digit, got {name!r}",
                    )
                )
        if any(isinstance(s, HeaderStep) for _, s in steps) and not any(
            r.use_header_routes for r in routes
        ):
            errors.append(
                FieldProblem(_PATH, "setHeaderRoute steps need a route with useHeaderRoutes: true")
            )
        for index, step in steps:
            if not isinstance(step, MirrorStep):
                continue
            if not any(r.mirrors for r in routes):
                errors.append(
                    FieldProblem(
                        f"spec.strategy.canary.steps[{index}].setMirrorRoute",
                        "needs an httpRoute with useHeaderRoutes: true (GRPCRoutes do not mirror)",
                    )
                )
            for m, match in enumerate(step.match):
                method = string_match_of(match.get("method"))
                if method is not None and method[0] != "exact":
                    errors.append(
                        FieldProblem(
                            f"spec.strategy.canary.steps[{index}].setMirrorRoute.match[{m}].method",
                            "Gateway API matches a method exactly",
                        )
                    )
        errors += experiment_weight_errors(rollout, "gatewayAPI")
        return errors

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        return tuple(r.ref for r in _routes(rollout))

    # -- reading ------------------------------------------------------------------------
    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        weights: list[int | None] = []
        header_sets: list[dict[str, HeaderRoute]] = []
        mirror_sets: list[dict[str, MirrorRoute]] = []
        agreed = True
        for route in _routes(rollout):
            obj = objects.get(route.ref)
            if obj is None:
                weights.append(None)
                if route.use_header_routes:
                    header_sets.append({})
                if route.mirrors:
                    mirror_sets.append({})
                continue
            weight, one_agreed, headers, mirrors = self._read_one(rollout, route, obj)
            weights.append(weight)
            agreed = agreed and one_agreed
            if route.use_header_routes:
                header_sets.append({h.name: h for h in headers})
            if route.mirrors:
                mirror_sets.append({m.name: m for m in mirrors})
        held = [w for w in weights if w is not None]
        header_names = _common(header_sets)
        mirror_names = _common(mirror_sets)
        agreed = (
            agreed
            and len({w or 0 for w in weights}) <= 1
            and all(set(s) == header_names for s in header_sets)
            and all(set(s) == mirror_names for s in mirror_sets)
        )
        return RouterState(
            weight=min(w or 0 for w in weights) if held else None,
            header_routes=tuple(
                h for n, h in (header_sets or [{}])[0].items() if n in header_names
            ),
            mirror_routes=tuple(
                m for n, m in (mirror_sets or [{}])[0].items() if n in mirror_names
            ),
            agreed=agreed,
        )

    def _read_one(
        self, rollout: Rollout, route: _Route, obj: Mapping[str, Any]
    ) -> tuple[int | None, bool, list[HeaderRoute], list[MirrorRoute]]:
        canary = canary_of(rollout)
        managed = _managed(rollout)
        weights = []
        headers: list[HeaderRoute] = []
        mirrors: list[MirrorRoute] = []
        for rule in (obj.get("spec") or {}).get("rules") or ():
            if not isinstance(rule, Mapping):
                continue
            refs = rule.get("backendRefs") or ()
            if rule.get("name") in managed:
                name = str(rule["name"])
                mirror = _mirror_filter(rule)
                if mirror is not None:
                    mirrors.append(MirrorRoute(name, _argo_matches(rule), _percent(mirror)))
                else:
                    headers.append(HeaderRoute(name, tuple(_header_matches(rule))))
                continue
            c = [r for r in refs if _backend(r, canary.canary_service)]
            s = [r for r in refs if _backend(r, canary.stable_service)]
            if c and s:
                cw = int_of(c[0].get("weight", 1)) or 0
                sw = int_of(s[0].get("weight", 1)) or 0
                weights.append(scaled(cw, sw, max_weight(rollout)))
        weight = min(weights) if weights else None
        return weight, len(set(weights)) <= 1, headers, mirrors

    # -- planning -----------------------------------------------------------------------
    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        no_experiment_weights(desired, "gatewayAPI")
        writes: list[Write] = []
        for route in _routes(rollout):
            obj = objects.get(route.ref)
            if obj is None:
                raise RouterError(f"{route.ref} not found")
            writes += patch_to(route.ref, obj, self._route(rollout, route, obj, desired))
        return writes

    def _route(
        self, rollout: Rollout, route: _Route, obj: Mapping[str, Any], desired: RouterState
    ) -> dict[str, Any]:
        canary = canary_of(rollout)
        managed = _managed(rollout)
        out = copy.deepcopy(dict(obj))
        spec = out.setdefault("spec", {})
        rules = [r for r in spec.get("rules") or () if isinstance(r, dict)]
        others = [r for r in rules if r.get("name") not in managed]
        base = None
        for rule in others:
            refs = rule.get("backendRefs") or []
            if desired.weight is not None:
                for ref in refs:
                    if _backend(ref, canary.canary_service):
                        ref["weight"] = desired.weight
                    elif _backend(ref, canary.stable_service):
                        ref["weight"] = max_weight(rollout) - desired.weight
            has_canary = any(_backend(r, canary.canary_service) for r in refs)
            if (
                base is None
                and has_canary
                and any(_backend(r, canary.stable_service) for r in refs)
            ):
                base = rule
        if base is None:
            raise RouterError(
                f"{route.ref} has no rule with backendRefs to both {canary.canary_service} "
                f"and {canary.stable_service}"
            )
        canary_ref = next(r for r in base["backendRefs"] if _backend(r, canary.canary_service))
        target: dict[str, Any] = {"group": "", "kind": "Service", "name": canary.canary_service}
        if canary_ref.get("port") is not None:
            target["port"] = canary_ref["port"]
        built: dict[str, dict[str, Any]] = {}
        if route.use_header_routes:
            for header in desired.header_routes:
                built[header.name] = _header_rule(route, base, header, target)
        if route.mirrors:
            for mirror in desired.mirror_routes:
                built[mirror.name] = _mirror_rule(base, mirror, target)
        elif desired.mirror_routes and route.use_header_routes:
            raise RouterError(f"{route.ref}: GRPCRoutes cannot mirror traffic")
        if built or len(others) != len(rules):
            spec["rules"] = others + [built[n] for n in managed if n in built]
        return out

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        canary = canary_of(rollout)
        return [
            {
                "apiVersion": f"{GROUP}/v1",
                "kind": route.kind,
                "metadata": {"name": route.name, "namespace": route.namespace},
                "spec": {
                    "parentRefs": [{"name": "gateway"}],
                    "rules": [
                        {
                            "backendRefs": [
                                {"name": canary.stable_service, "port": 80, "weight": 100},
                                {"name": canary.canary_service, "port": 80, "weight": 0},
                            ]
                        }
                    ],
                },
            }
            for route in _routes(rollout)
        ]


def _managed(rollout: Rollout) -> tuple[str, ...]:
    routing = canary_of(rollout).traffic_routing
    assert routing is not None
    return routing.managed_routes


def _common(sets: list[dict[str, Any]]) -> set[str]:
    return set.intersection(*(set(s) for s in sets)) if sets else set()


def _gateway_header(match: HeaderMatch) -> dict[str, Any]:
    kind, value = string_match_value(match)
    if kind == "exact":
        return {"name": match.header_name, "type": "Exact", "value": value}
    if kind == "prefix":
        value = regex_of_prefix(value)
    return {"name": match.header_name, "type": "RegularExpression", "value": value}


def _header_of(header: Mapping[str, Any]) -> HeaderMatch:
    name = str(header.get("name", ""))
    value = str(header.get("value", ""))
    if header.get("type", "Exact") == "Exact":
        return HeaderMatch(name, exact=value)
    prefix = prefix_of_regex(value)
    return (
        HeaderMatch(name, prefix=prefix) if prefix is not None else HeaderMatch(name, regex=value)
    )


def _header_rule(
    route: _Route, base: Mapping[str, Any], header: HeaderRoute, target: Mapping[str, Any]
) -> dict[str, Any]:
    http = route.kind == "HTTPRoute"
    keep = ("path", "queryParams", "method") if http else ("method",)
    matches = []
    for match in base.get("matches") or [{}]:
        for h in header.match:
            item = {k: copy.deepcopy(match[k]) for k in keep if k in match}
            if http and "path" not in item:
                item["path"] = dict(DEFAULT_PATH)
            item["headers"] = [_gateway_header(h)]
            matches.append(item)
    rule: dict[str, Any] = {"name": header.name, "matches": matches}
    if base.get("filters"):
        rule["filters"] = copy.deepcopy(base["filters"])
    rule["backendRefs"] = [{**copy.deepcopy(dict(target)), "weight": 1}]
    return rule


def _header_matches(rule: Mapping[str, Any]) -> list[HeaderMatch]:
    out: list[HeaderMatch] = []
    for match in rule.get("matches") or ():
        for header in match.get("headers") or ():
            parsed = _header_of(header)
            if parsed not in out:
                out.append(parsed)
    return out


def _mirror_rule(
    base: Mapping[str, Any], mirror: MirrorRoute, target: Mapping[str, Any]
) -> dict[str, Any]:
    matches = []
    for m in mirror.match:
        item: dict[str, Any] = {}
        method = string_match_of(m.get("method"))
        if method is not None:
            if method[0] != "exact":
                raise RouterError(
                    f"mirror route {mirror.name}: Gateway API matches methods exactly"
                )
            item["method"] = method[1]
        path = string_match_of(m.get("path"))
        if path is not None:
            item["path"] = {"type": _PATH_TYPES[path[0]], "value": path[1]}
        else:
            item["path"] = dict(DEFAULT_PATH)
        headers = m.get("headers") or {}
        if headers:
            item["headers"] = [
                _gateway_header(header_match_of(str(n), *parsed))
                for n, v in headers.items()
                if (parsed := string_match_of(v)) is not None
            ]
        matches.append(item)
    filters = copy.deepcopy(list(base.get("filters") or []))
    filters.append(
        {
            "type": "RequestMirror",
            "requestMirror": {
                "backendRef": copy.deepcopy(dict(target)),
                "percent": mirror.percentage,
            },
        }
    )
    return {
        "name": mirror.name,
        "matches": matches,
        "filters": filters,
        "backendRefs": copy.deepcopy(base.get("backendRefs") or []),
    }


def _mirror_filter(rule: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for f in rule.get("filters") or ():
        if isinstance(f, Mapping) and f.get("type") == "RequestMirror":
            return f.get("requestMirror") or {}
    return None


def _percent(mirror: Mapping[str, Any]) -> int:
    percent = int_of(mirror.get("percent"))
    if percent is not None:
        return percent
    fraction = mirror.get("fraction")
    if isinstance(fraction, Mapping):
        numerator = int_of(fraction.get("numerator")) or 0
        denominator = int_of(fraction.get("denominator")) or 100
        return round(numerator * 100 / denominator)
    return 100


def _argo_matches(rule: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    kinds = {v: k for k, v in _PATH_TYPES.items()}
    out = []
    for match in rule.get("matches") or ():
        item: dict[str, Any] = {}
        if match.get("method"):
            item["method"] = {"exact": match["method"]}
        path = match.get("path")
        if isinstance(path, Mapping) and dict(path) != DEFAULT_PATH and path.get("type") in kinds:
            item["path"] = {kinds[path["type"]]: path.get("value")}
        headers = {}
        for header in match.get("headers") or ():
            parsed = _header_of(header)
            kind, value = string_match_value(parsed)
            headers[parsed.header_name] = {kind: value}
        if headers:
            item["headers"] = headers
        out.append(item)
    return tuple(out)


#: the router the registry finds here (progressive.routers._registry)
ROUTER: Final = GatewayApiRouter()
