"""Istio: weights in VirtualServices, pod-template hashes in a DestinationRule.

For each VirtualService (``virtualService`` or ``virtualServices``; a name may be
``name.namespace``) the router patches:

* the weighted routes: the ``http`` routes named in ``routes`` (when ``routes`` is empty:
  the one http route that is not a managed route), the ``tls`` routes matching
  ``tlsRoutes`` by port and SNI hosts and the ``tcp`` routes matching ``tcpRoutes`` by
  port (when those are not configured: the only tls/tcp route, if there is one).  In
  each, a destination whose host (up to the first ``.``) is ``canaryService`` or whose
  subset is the canary subset gets the weight; the stable one gets ``maxTrafficWeight``
  minus the weight minus the weights of ``additionalSubsetNames`` destinations (which
  keep theirs) minus the experiment weights; during an experiment step, each weighted
  experiment template's Service gets a destination ``{host: <service>}`` with its
  weight, after the others (with a ``destinationRule`` too: the template's pods are
  reached through their own Service, as in Argo, which also adds a subset named after
  that Service to the DestinationRule that no route refers to, and which progressive
  leaves out); any other destination is removed, as Argo does;
* the managed routes: a header route ``{name, match: [{headers: {h: {exact|regex|prefix:
  v}}}...], route: [{destination: {host, subset?, port?}, weight: 100}]}`` and a mirror
  route ``{name, match: [{method, uri, headers}], route: <the weighted destinations>,
  mirror: {host, subset?, port?}, mirrorPercentage: {value}}`` (host: the
  DestinationRule's host, or ``canaryService``; port: the weighted route's first
  destination's).  Routes named in ``managedRoutes`` go first, in that order; the other
  routes keep theirs.  A managed route that is not wanted is removed.

The DestinationRule (``destinationRule``) gets ``rollouts-pod-template-hash`` on its
canary and stable subsets.  Unlike Argo's code, which rewrites the subset list with
only those two, every other subset is kept as it is.  With a DestinationRule,
``canaryService`` and ``stableService`` are optional (subset-level routing): the
subsets select the pods, and the header and mirror routes go to the DestinationRule's
host and canary subset.

Weights are written in units of ``maxTrafficWeight`` (canary + stable = it), so with
the default 100 they are percentages.  Both objects are patched, never created.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from ..core._names import HASH_LABEL, MANAGED_BY_ANNOTATION
from ..core._rollout import Rollout
from ..core._router_keys import RouterCapabilities
from ..core._steps import HeaderMatch
from ..errors import FieldProblem, RouterError
from ._objects import (
    canary_of,
    combine,
    config_of,
    header_match_of,
    int_of,
    max_weight,
    patch_to,
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

__all__ = ["IstioRouter"]

GROUP: Final = "networking.istio.io"
VERSIONS: Final = ("v1", "v1beta1", "v1alpha3")
_PATH: Final = "spec.strategy.canary.trafficRouting.istio"


@attrs.frozen
class _VirtualService:
    name: str
    namespace: str
    routes: tuple[str, ...]
    tls_routes: tuple[Mapping[str, Any], ...]
    tcp_routes: tuple[Mapping[str, Any], ...]

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(GROUP, VERSIONS, "VirtualService", self.namespace, self.name)


@attrs.frozen
class _DestinationRule:
    name: str
    namespace: str
    canary_subset: str
    stable_subset: str
    additional: tuple[str, ...]

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(GROUP, VERSIONS, "DestinationRule", self.namespace, self.name)


def _virtual_services(rollout: Rollout) -> list[_VirtualService]:
    config = config_of(rollout, "istio")
    items = config.get("virtualServices")
    if not isinstance(items, list):
        one = config.get("virtualService")
        items = [one] if isinstance(one, Mapping) else []
    out = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            continue
        name, _, namespace = str(item["name"]).partition(".")
        out.append(
            _VirtualService(
                name,
                namespace.split(".")[0] or rollout.namespace,
                tuple(str(r) for r in item.get("routes") or () if isinstance(r, str)),
                tuple(r for r in item.get("tlsRoutes") or () if isinstance(r, Mapping)),
                tuple(r for r in item.get("tcpRoutes") or () if isinstance(r, Mapping)),
            )
        )
    return out


def _destination_rule(rollout: Rollout) -> _DestinationRule | None:
    config = config_of(rollout, "istio").get("destinationRule")
    if not isinstance(config, Mapping):
        return None
    return _DestinationRule(
        str(config.get("name") or ""),
        rollout.namespace,
        str(config.get("canarySubsetName") or ""),
        str(config.get("stableSubsetName") or ""),
        tuple(str(n) for n in config.get("additionalSubsetNames") or ()),
    )


def _host(destination: Mapping[str, Any]) -> str:
    host = str((destination.get("destination") or {}).get("host") or "")
    return host.split(".", 1)[0]


def _subset(destination: Mapping[str, Any]) -> str:
    return str((destination.get("destination") or {}).get("subset") or "")


class IstioRouter:
    """The Istio router (``trafficRouting.istio``)."""

    name: Final = "istio"
    capabilities: Final = RouterCapabilities(
        header_routes=True, mirror_routes=True, experiment_weights=True, ping_pong=True
    )
    plugin_names: Final = ()
    access: Final = (
        KubeAccess(
            GROUP,
            ("virtualservices", "destinationrules"),
            ("get", "list", "watch", "patch"),
            "Istio weights, header and mirror routes, subsets",
        ),
    )

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        config = config_of(rollout, "istio")
        errors = []
        has_one, has_many = "virtualService" in config, "virtualServices" in config
        if has_one and has_many:
            errors.append(FieldProblem(_PATH, "set virtualService or virtualServices, not both"))
        elif not _virtual_services(rollout):
            errors.append(FieldProblem(f"{_PATH}.virtualService.name", "is required"))
        rule = _destination_rule(rollout)
        if rule is not None:
            for key, value in (
                ("name", rule.name),
                ("canarySubsetName", rule.canary_subset),
                ("stableSubsetName", rule.stable_subset),
            ):
                if not value:
                    errors.append(FieldProblem(f"{_PATH}.destinationRule.{key}", "is required"))
        return errors

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        refs = [vs.ref for vs in _virtual_services(rollout)]
        rule = _destination_rule(rollout)
        if rule is not None:
            refs.append(rule.ref)
        return tuple(refs)

    # -- reading ------------------------------------------------------------------------
    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        rule = _destination_rule(rollout)
        canary_hash = stable_hash = None
        if rule is not None and (dr := objects.get(rule.ref)) is not None:
            for subset in (dr.get("spec") or {}).get("subsets") or ():
                label = (subset.get("labels") or {}).get(HASH_LABEL)
                if subset.get("name") == rule.canary_subset:
                    canary_hash = label
                elif subset.get("name") == rule.stable_subset:
                    stable_hash = label
        states = []
        for vs in _virtual_services(rollout):
            obj = objects.get(vs.ref)
            states.append(RouterState() if obj is None else self._read_one(rollout, vs, obj))
        return attrs.evolve(combine(states), canary_hash=canary_hash, stable_hash=stable_hash)

    def _read_one(
        self, rollout: Rollout, vs: _VirtualService, obj: Mapping[str, Any]
    ) -> RouterState:
        spec = obj.get("spec") or {}
        managed = _managed(rollout)
        weights = []
        experiments: set[tuple[tuple[str, int], ...]] = set()
        for kind, index in self._weighted(rollout, vs, spec, strict=False):
            route = spec[kind][index]
            for destination in route.get("route") or ():
                if self._is_canary(rollout, destination):
                    weights.append(int_of(destination.get("weight")) or 0)
                    break
            else:
                weights.append(0)
            experiments.add(
                tuple(
                    (_host(d), int_of(d.get("weight")) or 0)
                    for d in route.get("route") or ()
                    if isinstance(d, Mapping) and self._is_experiment(rollout, d)
                )
            )
        headers: list[HeaderRoute] = []
        mirrors: list[MirrorRoute] = []
        for route in spec.get("http") or ():
            name = route.get("name")
            if name not in managed:
                continue
            if "mirror" in route:
                percentage = int_of((route.get("mirrorPercentage") or {}).get("value"))
                mirrors.append(
                    MirrorRoute(
                        name,
                        tuple(_argo_match(m) for m in route.get("match") or ()),
                        100 if percentage is None else percentage,
                    )
                )
            else:
                headers.append(HeaderRoute(name, tuple(_header_matches(route.get("match") or ()))))
        return RouterState(
            weight=min(weights) if weights else None,
            header_routes=tuple(headers),
            mirror_routes=tuple(mirrors),
            experiment_weights=next(iter(experiments)) if len(experiments) == 1 else (),
            agreed=len(set(weights)) <= 1 and len(experiments) <= 1,
        )

    def _is_experiment(self, rollout: Rollout, destination: Mapping[str, Any]) -> bool:
        """A destination of a weighted route that is an experiment template's Service:
        a host without a subset, neither canary nor stable."""
        return (
            bool(_host(destination))
            and not _subset(destination)
            and not self._is_canary(rollout, destination)
            and not self._is_stable(rollout, destination)
        )

    def _is_canary(self, rollout: Rollout, destination: Mapping[str, Any]) -> bool:
        rule = _destination_rule(rollout)
        subset = _subset(destination)
        if _host(destination) == canary_of(rollout).canary_service:
            return True
        return rule is not None and bool(subset) and subset == rule.canary_subset

    def _is_stable(self, rollout: Rollout, destination: Mapping[str, Any]) -> bool:
        rule = _destination_rule(rollout)
        subset = _subset(destination)
        if _host(destination) == canary_of(rollout).stable_service:
            return True
        return rule is not None and bool(subset) and subset == rule.stable_subset

    def _weighted(
        self, rollout: Rollout, vs: _VirtualService, spec: Mapping[str, Any], *, strict: bool
    ) -> list[tuple[str, int]]:
        """The (kind, index) of every weighted route of a VirtualService.

        ``strict``: raise when a configured route is missing, instead of skipping it.
        """
        out: list[tuple[str, int]] = []
        managed = _managed(rollout)

        def fail(message: str) -> None:
            if strict:
                raise RouterError(f"VirtualService {vs.namespace}/{vs.name}: {message}")

        http = [r if isinstance(r, Mapping) else {} for r in spec.get("http") or ()]
        if spec.get("http") is None:
            pass  # no http section: the named http routes are not looked for (as in Argo)
        elif vs.routes:
            for name in vs.routes:
                index = next((i for i, r in enumerate(http) if r.get("name") == name), None)
                if index is None:
                    fail(f"HTTP route {name!r} not found")
                else:
                    out.append(("http", index))
        elif http:
            plain = [i for i, r in enumerate(http) if r.get("name") not in managed]
            if len(plain) == 1:
                out.append(("http", plain[0]))
            else:
                fail(
                    "spec.http must hold exactly one route (besides managed routes) "
                    "when virtualService.routes is empty"
                )
        for kind, wanted in (("tls", vs.tls_routes), ("tcp", vs.tcp_routes)):
            routes = [r if isinstance(r, Mapping) else {} for r in spec.get(kind) or ()]
            if not wanted:
                if len(routes) == 1:
                    out.append((kind, 0))
                elif routes:
                    fail(f"spec.{kind} must hold exactly one route when {kind}Routes is empty")
                continue
            for match in wanted:
                hits = [i for i, r in enumerate(routes) if _matches_port(kind, r, match)]
                if not hits:
                    fail(f"no {kind} route matches {dict(match)}")
                out.extend((kind, i) for i in hits)
        return out

    # -- planning -----------------------------------------------------------------------
    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        writes: list[Write] = []
        rule = _destination_rule(rollout)
        rule_host = None
        if rule is not None:
            dr = objects.get(rule.ref)
            if dr is None:
                raise RouterError(f"DestinationRule {rule.namespace}/{rule.name} not found")
            rule_host = str((dr.get("spec") or {}).get("host") or "") or None
            writes += patch_to(rule.ref, dr, self._destination_rule(rollout, rule, dr, desired))
        for vs in _virtual_services(rollout):
            obj = objects.get(vs.ref)
            if obj is None:
                raise RouterError(f"VirtualService {vs.namespace}/{vs.name} not found")
            wanted = self._virtual_service(rollout, vs, obj, desired, rule_host)
            writes += patch_to(vs.ref, obj, wanted)
        return writes

    @staticmethod
    def _destination_rule(
        rollout: Rollout, rule: _DestinationRule, dr: Mapping[str, Any], desired: RouterState
    ) -> dict[str, Any]:
        out = copy.deepcopy(dict(dr))
        meta = out.setdefault("metadata", {})
        meta["annotations"] = {
            **(meta.get("annotations") or {}),
            MANAGED_BY_ANNOTATION: rollout.name,
        }
        subsets = (out.setdefault("spec", {})).get("subsets") or []
        names = {s.get("name") for s in subsets if isinstance(s, Mapping)}
        for wanted in (rule.canary_subset, rule.stable_subset):
            if wanted not in names:
                raise RouterError(
                    f"DestinationRule {rule.namespace}/{rule.name} has no subset {wanted!r}"
                )
        for subset in subsets:
            pod_hash = None
            if subset.get("name") == rule.canary_subset:
                pod_hash = desired.canary_hash
            elif subset.get("name") == rule.stable_subset:
                pod_hash = desired.stable_hash
            if pod_hash is not None:
                subset["labels"] = {**(subset.get("labels") or {}), HASH_LABEL: pod_hash}
        return out

    def _virtual_service(
        self,
        rollout: Rollout,
        vs: _VirtualService,
        obj: Mapping[str, Any],
        desired: RouterState,
        rule_host: str | None,
    ) -> dict[str, Any]:
        canary = canary_of(rollout)
        rule = _destination_rule(rollout)
        managed = _managed(rollout)
        out = copy.deepcopy(dict(obj))
        spec = out.setdefault("spec", {})
        weighted = self._weighted(rollout, vs, spec, strict=True)
        if not weighted:
            raise RouterError(f"VirtualService {vs.namespace}/{vs.name} has no route to weigh")
        for kind, index in weighted:
            route = spec[kind][index]
            self._check_destinations(rollout, vs, kind, route)
            if desired.weight is not None:
                route["route"] = self._weigh(
                    rollout, route.get("route") or [], desired.weight, desired.experiment_weights
                )
        first_http = next((spec["http"][i] for k, i in weighted if k == "http"), None)
        base = list((first_http or {}).get("route") or [])
        port = (base[0].get("destination") or {}).get("port") if base else None
        target: dict[str, Any] = {"host": rule_host or canary.canary_service}
        if isinstance(port, Mapping) and port.get("number") is not None:
            target["port"] = {"number": port["number"]}
        if rule is not None:
            target["subset"] = rule.canary_subset
        built: dict[str, dict[str, Any]] = {}
        for header in desired.header_routes:
            built[header.name] = {
                "name": header.name,
                "match": [_istio_header_match(m) for m in header.match],
                "route": [{"destination": copy.deepcopy(dict(target)), "weight": 100}],
            }
        for mirror in desired.mirror_routes:
            if first_http is None:
                raise RouterError(
                    f"VirtualService {vs.namespace}/{vs.name} has no weighted http route "
                    f"to copy into mirror route {mirror.name!r}"
                )
            built[mirror.name] = {
                "name": mirror.name,
                "match": [_istio_mirror_match(m) for m in mirror.match],
                "route": copy.deepcopy(base),
                "mirror": copy.deepcopy(dict(target)),
                "mirrorPercentage": {"value": mirror.percentage},
            }
        if built or any(
            isinstance(r, Mapping) and r.get("name") in managed for r in spec.get("http") or ()
        ):
            if "http" not in spec:
                raise RouterError(f"VirtualService {vs.namespace}/{vs.name} has no spec.http")
            others = [
                r for r in spec["http"] if not (isinstance(r, Mapping) and r.get("name") in managed)
            ]
            spec["http"] = [built[n] for n in managed if n in built] + others
        return out

    def _check_destinations(
        self, rollout: Rollout, vs: _VirtualService, kind: str, route: Mapping[str, Any]
    ) -> None:
        destinations = [d for d in route.get("route") or () if isinstance(d, Mapping)]
        canary = canary_of(rollout)
        rule = _destination_rule(rollout)
        where = f"VirtualService {vs.namespace}/{vs.name} {kind} route {route.get('name') or ''}"
        if rule is not None:
            subsets = {_subset(d) for d in destinations}
            for subset in (rule.canary_subset, rule.stable_subset):
                if subset not in subsets:
                    raise RouterError(f"{where}: DestinationRule subset {subset!r} not found")
        else:
            hosts = {_host(d) for d in destinations}
            for service in (canary.canary_service, canary.stable_service):
                if service not in hosts:
                    raise RouterError(f"{where}: Service {service!r} not found")

    def _weigh(
        self,
        rollout: Rollout,
        destinations: list[Any],
        weight: int,
        experiments: tuple[tuple[str, int], ...] = (),
    ) -> list[dict[str, Any]]:
        rule = _destination_rule(rollout)
        additional = set(rule.additional) if rule is not None else set()
        stable_weight = max_weight(rollout) - weight - sum(w for _, w in experiments)
        for d in destinations:
            if _subset(d) and _subset(d) in additional:
                stable_weight -= int_of(d.get("weight")) or 0
        stable_weight = max(stable_weight, 0)
        out = []
        for d in destinations:
            d = dict(d)
            if not _host(d):
                out.append(d)
            elif self._is_canary(rollout, d):
                out.append({**d, "weight": weight})
            elif self._is_stable(rollout, d):
                out.append({**d, "weight": stable_weight})
            elif _subset(d) and _subset(d) in additional:
                out.append(d)
            # any other destination is dropped (Argo does the same); the experiment
            # templates' Services come last, in the experiment's order
        out += [{"destination": {"host": service}, "weight": w} for service, w in experiments]
        return out

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        canary = canary_of(rollout)
        rule = _destination_rule(rollout)
        out: list[dict[str, Any]] = []
        if rule is not None:
            out.append(
                {
                    "apiVersion": f"{GROUP}/v1",
                    "kind": "DestinationRule",
                    "metadata": {"name": rule.name, "namespace": rule.namespace},
                    "spec": {
                        "host": rollout.name,
                        "subsets": [
                            {"name": rule.canary_subset, "labels": {}},
                            {"name": rule.stable_subset, "labels": {}},
                        ],
                    },
                }
            )

        def destinations() -> list[dict[str, Any]]:
            if rule is not None:
                return [
                    {
                        "destination": {"host": rollout.name, "subset": rule.stable_subset},
                        "weight": 100,
                    },
                    {
                        "destination": {"host": rollout.name, "subset": rule.canary_subset},
                        "weight": 0,
                    },
                ]
            return [
                {"destination": {"host": canary.stable_service}, "weight": 100},
                {"destination": {"host": canary.canary_service}, "weight": 0},
            ]

        for vs in _virtual_services(rollout):
            spec: dict[str, Any] = {"hosts": [rollout.name]}
            names = vs.routes or (None,)
            if vs.routes or not (vs.tls_routes or vs.tcp_routes):
                spec["http"] = [
                    {**({"name": n} if n else {}), "route": destinations()} for n in names
                ]
            if vs.tls_routes:
                spec["tls"] = [
                    {
                        "match": [
                            {"port": t.get("port"), "sniHosts": list(t.get("sniHosts") or [])}
                        ],
                        "route": destinations(),
                    }
                    for t in vs.tls_routes
                ]
            if vs.tcp_routes:
                spec["tcp"] = [
                    {"match": [{"port": t.get("port")}], "route": destinations()}
                    for t in vs.tcp_routes
                ]
            out.append(
                {
                    "apiVersion": f"{GROUP}/v1",
                    "kind": "VirtualService",
                    "metadata": {"name": vs.name, "namespace": vs.namespace},
                    "spec": spec,
                }
            )
        return out


def _managed(rollout: Rollout) -> tuple[str, ...]:
    routing = canary_of(rollout).traffic_routing
    assert routing is not None
    return routing.managed_routes


def _matches_port(kind: str, route: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    ports: set[Any] = set()
    hosts: set[str] = set()
    for match in route.get("match") or ():
        if isinstance(match, Mapping):
            ports.add(match.get("port"))
            hosts.update(str(h) for h in match.get("sniHosts") or ())
    if len(ports) > 1:
        return False
    port = next(iter(ports), None) or 0
    if port != (wanted.get("port") or 0):
        return False
    return kind == "tcp" or hosts == {str(h) for h in wanted.get("sniHosts") or ()}


def _istio_header_match(match: HeaderMatch) -> dict[str, Any]:
    kind, value = string_match_value(match)
    return {"headers": {match.header_name: {kind: value}}}


def _header_matches(matches: Sequence[Any]) -> list[HeaderMatch]:
    out = []
    for match in matches:
        for name, value in ((match or {}).get("headers") or {}).items():
            parsed = string_match_of(value)
            if parsed is not None:
                out.append(header_match_of(str(name), *parsed))
    return out


def _istio_mirror_match(match: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if match.get("method"):
        out["method"] = copy.deepcopy(match["method"])
    if match.get("path"):
        out["uri"] = copy.deepcopy(match["path"])
    if match.get("headers"):
        out["headers"] = copy.deepcopy(match["headers"])
    return out


def _argo_match(match: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if match.get("method"):
        out["method"] = copy.deepcopy(match["method"])
    if match.get("uri"):
        out["path"] = copy.deepcopy(match["uri"])
    if match.get("headers"):
        out["headers"] = copy.deepcopy(match["headers"])
    return out


#: the router the registry finds here (progressive.routers._registry)
ROUTER: Final = IstioRouter()
