"""Apache APISIX: the backends' weights in an ApisixRoute's http rules, and header
routes as rules of their own.

``trafficRouting.apisix.route``: ``name`` (the ApisixRoute, ``apisix.apache.org/v2``,
patched, never created) and ``rules`` (the names of its http rules that carry the
weight; default: the rule named like the route, as in Argo).  In each of those rules
the backend whose ``serviceName`` is ``canaryService`` gets the weight and the
``stableService`` one ``maxTrafficWeight`` minus it (Argo writes ``100 -`` it); other
backends keep theirs.  APISIX gives a backend without a ``weight`` 100, so a route
deployed without weights splits evenly until the first write, and is read so.

A header route ``<name>`` is, for each weighted rule, a rule of the same ApisixRoute
made from it: named ``<name>`` (``<name>-<rule>`` when several rules carry the weight),
``priority`` one above the rule's, the stable backend removed and the canary's weight
100, and ``match.exprs`` one ``Header`` expression per header match (all must hold, as
in Argo): ``Equal`` for ``exact``, ``RegexMatch`` for ``regex`` and, for ``prefix``,
``RegexMatch`` ``^<prefix>.*`` with the prefix's regex characters escaped (Argo leaves
them as they are).  Managed rules go after the others, in ``managedRoutes`` order; one
that is not wanted is removed.

Argo makes a header route a separate ApisixRoute named after it (a copy of the whole
route, owned by the Rollout) and deletes it when the route goes; here it is a rule of
the Rollout's ApisixRoute, so nothing is created or deleted (the controller only
patches ApisixRoutes), and the route's other rules are not duplicated.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..core._rollout import Rollout
from ..core._router_keys import RouterCapabilities
from ..core._steps import HeaderMatch
from ..errors import FieldProblem, RouterError
from ._objects import (
    canary_of,
    config_of,
    experiment_weight_errors,
    int_of,
    max_weight,
    no_experiment_weights,
    patch_to,
    scaled,
)
from ._protocol import HeaderRoute, KubeAccess, ObjectRef, Objects, RouterState, Write

__all__ = ["ApisixRouter"]

GROUP: Final = "apisix.apache.org"
#: the weight APISIX gives a backend that has none
DEFAULT_WEIGHT: Final = 100
_PATH: Final = "spec.strategy.canary.trafficRouting.apisix.route"
#: what a prefix's regular expression escapes (PCRE metacharacters)
_SPECIAL: Final = re.compile(r"([\\.^$|?*+()\[\]{}])")


def _route_name(rollout: Rollout) -> str:
    route = config_of(rollout, "apisix").get("route")
    name = route.get("name") if isinstance(route, Mapping) else None
    return name if isinstance(name, str) else ""


def _rules(rollout: Rollout) -> list[str]:
    route = config_of(rollout, "apisix").get("route")
    rules = route.get("rules") if isinstance(route, Mapping) else None
    if isinstance(rules, list) and rules:
        return [str(r) for r in rules]
    return [_route_name(rollout)]


def _ref(rollout: Rollout) -> ObjectRef:
    return ObjectRef(GROUP, ("v2",), "ApisixRoute", rollout.namespace, _route_name(rollout))


def _managed(rollout: Rollout) -> tuple[str, ...]:
    routing = canary_of(rollout).traffic_routing
    assert routing is not None
    return routing.managed_routes


def _header_rule_name(rollout: Rollout, route: str, rule: str) -> str:
    return route if len(_rules(rollout)) == 1 else f"{route}-{rule}"


def _prefix_regex(prefix: str) -> str:
    return "^" + _SPECIAL.sub(r"\\\1", prefix) + ".*"


def _prefix_of(regex: str) -> str | None:
    if not (regex.startswith("^") and regex.endswith(".*")):
        return None
    literal = re.sub(r"\\(.)", r"\1", regex[1:-2])
    return literal if _prefix_regex(literal) == regex else None


def _exprs(matches: Sequence[HeaderMatch]) -> list[dict[str, Any]]:
    out = []
    for match in matches:
        if match.exact is not None:
            op, value = "Equal", match.exact
        elif match.prefix is not None:
            op, value = "RegexMatch", _prefix_regex(match.prefix)
        else:
            op, value = "RegexMatch", match.regex or ""
        out.append(
            {"subject": {"scope": "Header", "name": match.header_name}, "op": op, "value": value}
        )
    return out


def _matches(exprs: object) -> tuple[HeaderMatch, ...]:
    out = []
    for expr in exprs if isinstance(exprs, list) else ():
        if not isinstance(expr, Mapping):
            continue
        subject = expr.get("subject") or {}
        value = expr.get("value")
        if subject.get("scope") != "Header" or not isinstance(value, str):
            continue
        name = str(subject.get("name") or "")
        if expr.get("op") == "Equal":
            out.append(HeaderMatch(name, exact=value))
        elif expr.get("op") == "RegexMatch":
            prefix = _prefix_of(value)
            out.append(
                HeaderMatch(name, prefix=prefix)
                if prefix is not None
                else HeaderMatch(name, regex=value)
            )
    return tuple(out)


def _backend_weight(backend: Mapping[str, Any]) -> int:
    weight = int_of(backend.get("weight"))
    return DEFAULT_WEIGHT if weight is None else weight


class ApisixRouter:
    """The Apache APISIX router (``trafficRouting.apisix``)."""

    name: Final = "apisix"
    capabilities: Final = RouterCapabilities(header_routes=True)
    plugin_names: Final = ()
    access: Final = (
        KubeAccess(
            GROUP,
            "apisixroutes",
            ("get", "list", "watch", "patch"),
            "APISIX weights and header rules",
        ),
    )

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        errors = []
        if not _route_name(rollout):
            errors.append(FieldProblem(f"{_PATH}.name", "is required"))
        errors += experiment_weight_errors(rollout, "apisix")
        return errors

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        return (_ref(rollout),)

    # -- reading ------------------------------------------------------------------------
    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        obj = objects.get(_ref(rollout))
        if obj is None:
            return RouterState()
        canary = canary_of(rollout)
        http = [r for r in (obj.get("spec") or {}).get("http") or () if isinstance(r, Mapping)]
        by_name = {str(r.get("name")): r for r in http}
        weights = []
        for name in _rules(rollout):
            rule = by_name.get(name)
            if rule is None:
                continue
            backends = {
                str(b.get("serviceName")): _backend_weight(b)
                for b in rule.get("backends") or ()
                if isinstance(b, Mapping)
            }
            weights.append(
                scaled(
                    backends.get(str(canary.canary_service), 0),
                    backends.get(str(canary.stable_service), 0),
                    max_weight(rollout),
                )
            )
        routes = []
        for route in _managed(rollout):
            rules = [by_name.get(_header_rule_name(rollout, route, r)) for r in _rules(rollout)]
            if rules and all(r is not None for r in rules):
                first = rules[0] or {}
                routes.append(HeaderRoute(route, _matches((first.get("match") or {}).get("exprs"))))
        return RouterState(
            weight=min(weights) if weights else None,
            header_routes=tuple(routes),
            agreed=len(set(weights)) <= 1,
        )

    # -- planning -----------------------------------------------------------------------
    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        no_experiment_weights(desired, "apisix")
        if desired.mirror_routes:
            raise RouterError("apisix cannot mirror traffic (setMirrorRoute)")
        ref = _ref(rollout)
        current = objects.get(ref)
        if current is None:
            raise RouterError(f"{ref} not found")
        wanted = {r.name: r for r in desired.header_routes}
        unknown = sorted(set(wanted) - set(_managed(rollout)))
        if unknown:
            raise RouterError(f"apisix: header route {unknown[0]!r} is not in managedRoutes")
        canary = canary_of(rollout)
        out = copy.deepcopy(dict(current))
        spec = out.setdefault("spec", {})
        http = spec.get("http")
        if not isinstance(http, list):
            raise RouterError(f"{ref} has no spec.http")
        managed = {
            _header_rule_name(rollout, route, rule): route
            for route in _managed(rollout)
            for rule in _rules(rollout)
        }
        others = [r for r in http if not (isinstance(r, Mapping) and r.get("name") in managed)]
        by_name = {str(r.get("name")): r for r in others if isinstance(r, Mapping)}
        built: list[dict[str, Any]] = []
        for name in _rules(rollout):
            rule = by_name.get(name)
            if rule is None:
                raise RouterError(f"{ref} has no http rule {name!r}")
            backends = [b for b in rule.get("backends") or () if isinstance(b, dict)]
            names = {b.get("serviceName") for b in backends}
            for service in (canary.canary_service, canary.stable_service):
                if service not in names:
                    raise RouterError(f"{ref} rule {name!r} has no backend {service!r}")
            if desired.weight is not None:
                for backend in backends:
                    if backend.get("serviceName") == canary.canary_service:
                        backend["weight"] = desired.weight
                    elif backend.get("serviceName") == canary.stable_service:
                        backend["weight"] = max(0, max_weight(rollout) - desired.weight)
            for route in _managed(rollout):
                if route in wanted:
                    built.append(self._header_rule(rollout, route, rule, wanted[route]))
        spec["http"] = others + built
        return patch_to(ref, current, out)

    def _header_rule(
        self, rollout: Rollout, route: str, rule: Mapping[str, Any], header: HeaderRoute
    ) -> dict[str, Any]:
        canary = canary_of(rollout)
        out = copy.deepcopy(dict(rule))
        out["name"] = _header_rule_name(rollout, route, str(rule.get("name")))
        out["priority"] = (int_of(rule.get("priority")) or 0) + 1
        backends = []
        for backend in out.get("backends") or ():
            if backend.get("serviceName") == canary.stable_service:
                continue
            if backend.get("serviceName") == canary.canary_service:
                backend = {**backend, "weight": 100}
            backends.append(backend)
        out["backends"] = backends
        out["match"] = {**(out.get("match") or {}), "exprs": _exprs(header.match)}
        return out

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        canary = canary_of(rollout)
        return [
            {
                "apiVersion": f"{GROUP}/v2",
                "kind": "ApisixRoute",
                "metadata": {"name": _route_name(rollout), "namespace": rollout.namespace},
                "spec": {
                    "http": [
                        {
                            "name": name,
                            "match": {"paths": ["/*"]},
                            "backends": [
                                {
                                    "serviceName": canary.stable_service,
                                    "servicePort": 80,
                                    "weight": DEFAULT_WEIGHT,
                                },
                                {
                                    "serviceName": canary.canary_service,
                                    "servicePort": 80,
                                    "weight": 0,
                                },
                            ],
                        }
                        for name in _rules(rollout)
                    ]
                },
            }
        ]


#: the router the registry finds here (progressive.routers._registry)
ROUTER: Final = ApisixRouter()
