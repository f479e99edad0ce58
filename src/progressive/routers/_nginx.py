"""NGINX Ingress: one ``<rollout>-<stableIngress>-canary`` Ingress per stable Ingress.

The canary Ingress is created and owned by the Rollout (an existing one controlled by
anything else is an error).  It holds the stable Ingress's rules that route to
``stableService``, switched to ``canaryService``, its ``tls``, ``ingressClassName`` and
``kubernetes.io/ingress.class`` annotation, and the annotations (``<p>`` is
``annotationPrefix``, default ``nginx.ingress.kubernetes.io``):

* ``additionalIngressAnnotations``, ``<p>/`` added to keys that lack it;
* ``<p>/canary: "true"``, ``<p>/canary-weight: "<w>"`` and, when ``maxTrafficWeight``
  is set, ``<p>/canary-weight-total``;
* a header route (beyond Argo, whose NGINX router ignores ``setHeaderRoute``):
  ``<p>/canary-by-header`` with ``-value`` (exact) or ``-pattern`` (regex, anchored
  ``^(?:...)$`` because NGINX searches; a prefix becomes ``^<escaped prefix>``), and
  ``<p>/canary-by-cookie`` for a cookie match; its name is kept in
  ``progressive.dev/header-route``;
* ``canaryIngressAnnotations``, verbatim, last (they win).

Annotations we did not write are kept.  NGINX takes one header and one cookie per canary
Ingress, OR'ed: a header route has at most one header match and one cookie match, and
one header route is in force at a time.  A cookie match is the header match that reads
"cookie ``<name>`` is ``always``", in the form Istio's documentation uses::

    {headerName: Cookie, headerValue: {regex: '^(.*?;\\s*)?(<name>=always)(;.*)?$'}}

which NGINX expresses as ``canary-by-cookie: <name>`` (NGINX also honours ``never``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..core._rollout import Rollout
from ..core._router_keys import RouterCapabilities
from ..core._steps import HeaderMatch
from ..core._steps import SetHeaderRoute as HeaderStep
from ..errors import FieldProblem, RouterError
from ._objects import (
    canary_of,
    check_controlled,
    combine,
    config_of,
    experiment_weight_errors,
    indexed_actions,
    int_of,
    max_weight,
    names_of,
    names_problems,
    no_experiment_weights,
    owner_reference,
    patch_to,
    routes_in_force,
    scaled,
)
from ._protocol import Create, HeaderRoute, KubeAccess, ObjectRef, Objects, RouterState, Write

__all__ = ["HEADER_ROUTE_ANNOTATION", "NginxRouter", "cookie_match"]

DEFAULT_PREFIX: Final = "nginx.ingress.kubernetes.io"
HEADER_ROUTE_ANNOTATION: Final = "progressive.dev/header-route"
INGRESS_CLASS_ANNOTATION: Final = "kubernetes.io/ingress.class"
CANARY_SUFFIX: Final = "-canary"
_PATH: Final = "spec.strategy.canary.trafficRouting.nginx"
_STEPS: Final = "spec.strategy.canary.steps"
_HEADER_KEYS: Final = (
    "canary-by-header",
    "canary-by-header-value",
    "canary-by-header-pattern",
    "canary-by-cookie",
)
_COOKIE = re.compile(r"\^\(\.\*\?;\\s\*\)\?\((.+)=always\)\(;\.\*\)\?\$")


def cookie_match(cookie: str) -> HeaderMatch:
    """The header match that NGINX expresses as ``canary-by-cookie: <cookie>``."""
    return HeaderMatch("Cookie", regex=rf"^(.*?;\s*)?({re.escape(cookie)}=always)(;.*)?$")


def _cookie_of(match: HeaderMatch) -> str | None:
    if match.header_name.lower() != "cookie" or match.regex is None:
        return None
    found = _COOKIE.fullmatch(match.regex)
    if found is None:
        return None
    name = re.sub(r"\\(.)", r"\1", found.group(1))
    return name if re.escape(name) == found.group(1) else None


def _pattern_of(match: HeaderMatch) -> str:
    if match.prefix is not None:
        return "^" + re.escape(match.prefix)
    return f"^(?:{match.regex})$"


def _match_of_pattern(header: str, pattern: str) -> HeaderMatch:
    if pattern.startswith("^(?:") and pattern.endswith(")$"):
        return HeaderMatch(header, regex=pattern[4:-2])
    literal = re.sub(r"\\(.)", r"\1", pattern[1:])
    if pattern.startswith("^") and re.escape(literal) == pattern[1:]:
        return HeaderMatch(header, prefix=literal)
    return HeaderMatch(header, regex=pattern)


def _ingress(namespace: str, name: str) -> ObjectRef:
    return ObjectRef("networking.k8s.io", ("v1",), "Ingress", namespace, name)


class NginxRouter:
    """The NGINX Ingress router (``trafficRouting.nginx``)."""

    name: Final = "nginx"
    capabilities: Final = RouterCapabilities(header_routes=True)
    plugin_names: Final = ()
    access: Final = (
        KubeAccess(
            "networking.k8s.io",
            "ingresses",
            ("get", "list", "watch", "create", "patch"),
            "the nginx canary Ingress",
        ),
    )

    # -- configuration --------------------------------------------------------------------
    @staticmethod
    def stable_ingresses(rollout: Rollout) -> list[str]:
        return names_of(config_of(rollout, "nginx"), "stableIngress", "stableIngresses")

    @staticmethod
    def canary_name(rollout: Rollout, stable: str) -> str:
        """``<rollout>-<stable>-canary``, cut to Kubernetes' 253 characters as Argo does."""
        prefix = f"{rollout.name}-{stable}"[: 253 - len(CANARY_SUFFIX)]
        return prefix + CANARY_SUFFIX

    @staticmethod
    def _prefix(rollout: Rollout) -> str:
        prefix = config_of(rollout, "nginx").get("annotationPrefix")
        return prefix if isinstance(prefix, str) and prefix else DEFAULT_PREFIX

    def _static_annotations(self, rollout: Rollout, key: str) -> dict[str, str]:
        value = config_of(rollout, "nginx").get(key)
        if not isinstance(value, Mapping):
            return {}
        prefix = self._prefix(rollout)
        out: dict[str, str] = {}
        for k, v in value.items():
            k = str(k)
            if key == "additionalIngressAnnotations" and not k.startswith(prefix):
                k = f"{prefix}/{k}"
            out[k] = str(v)
        return out

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        config = config_of(rollout, "nginx")
        errors = names_problems(config, "stableIngress", "stableIngresses", _PATH)
        steps = indexed_actions(rollout)
        header_steps = [(i, s) for i, s in steps if isinstance(s, HeaderStep)]
        for index, headers, _ in routes_in_force(rollout):
            if len(headers) > 1 and any(i == index for i, _ in header_steps):
                errors.append(
                    FieldProblem(
                        f"{_STEPS}[{index}].setHeaderRoute",
                        "nginx holds one header route at a time; this step leaves "
                        f"{len(headers)} in force ({', '.join(headers)})",
                    )
                )
        for index, step in header_steps:
            cookies = [m for m in step.match if _cookie_of(m) is not None]
            if len(cookies) > 1 or len(step.match) - len(cookies) > 1:
                errors.append(
                    FieldProblem(
                        f"{_STEPS}[{index}].setHeaderRoute.match",
                        "nginx matches one header and one cookie per route "
                        "(canary-by-header, canary-by-cookie)",
                    )
                )
        prefix = self._prefix(rollout)
        header_keys = {f"{prefix}/{k}" for k in _HEADER_KEYS}
        for key in ("additionalIngressAnnotations", "canaryIngressAnnotations"):
            clash = sorted(set(self._static_annotations(rollout, key)) & header_keys)
            if clash and header_steps:
                errors.append(
                    FieldProblem(
                        f"{_PATH}.{key}",
                        f"{', '.join(clash)} would fight the setHeaderRoute steps",
                    )
                )
        errors += experiment_weight_errors(rollout, "nginx")
        return errors

    # -- objects ------------------------------------------------------------------------
    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        ns = rollout.namespace
        out: list[ObjectRef] = []
        for stable in self.stable_ingresses(rollout):
            out += [_ingress(ns, stable), _ingress(ns, self.canary_name(rollout, stable))]
        return tuple(out)

    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        states: list[RouterState] = []
        for stable in self.stable_ingresses(rollout):
            ref = _ingress(rollout.namespace, self.canary_name(rollout, stable))
            obj = objects.get(ref)
            if obj is None:
                states.append(RouterState())
                continue
            check_controlled(obj, rollout, f"canary {ref}")
            states.append(self._read_one(rollout, obj))
        return combine(states)

    def _read_one(self, rollout: Rollout, obj: Mapping[str, Any]) -> RouterState:
        prefix = self._prefix(rollout)
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        weight = int_of(annotations.get(f"{prefix}/canary-weight")) or 0
        total = int_of(annotations.get(f"{prefix}/canary-weight-total")) or 100
        routes: tuple[HeaderRoute, ...] = ()
        name = annotations.get(HEADER_ROUTE_ANNOTATION)
        if isinstance(name, str) and name:
            matches: list[HeaderMatch] = []
            header = annotations.get(f"{prefix}/canary-by-header")
            if isinstance(header, str) and header:
                value = annotations.get(f"{prefix}/canary-by-header-value")
                pattern = annotations.get(f"{prefix}/canary-by-header-pattern")
                if isinstance(value, str):
                    matches.append(HeaderMatch(header, exact=value))
                elif isinstance(pattern, str):
                    matches.append(_match_of_pattern(header, pattern))
            cookie = annotations.get(f"{prefix}/canary-by-cookie")
            if isinstance(cookie, str) and cookie:
                matches.append(cookie_match(cookie))
            routes = (HeaderRoute(name, tuple(matches)),)
        return RouterState(
            weight=scaled(weight, total - weight, max_weight(rollout)), header_routes=routes
        )

    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        no_experiment_weights(desired, "nginx")
        if desired.mirror_routes:
            raise RouterError("nginx cannot mirror traffic (setMirrorRoute)")
        if len(desired.header_routes) > 1:
            names = ", ".join(r.name for r in desired.header_routes)
            raise RouterError(f"nginx holds one header route at a time, wanted {names}")
        writes: list[Write] = []
        ns = rollout.namespace
        for stable_name in self.stable_ingresses(rollout):
            stable_ref = _ingress(ns, stable_name)
            stable = objects.get(stable_ref)
            if stable is None:
                raise RouterError(f"stable {stable_ref} not found")
            ref = _ingress(ns, self.canary_name(rollout, stable_name))
            current = objects.get(ref)
            if current is None:
                if desired.weight is None and not desired.header_routes:
                    continue
                obj = self._canary_ingress(rollout, stable, ref, desired.weight or 0, desired)
                writes.append(Create(ref, obj))
                continue
            check_controlled(current, rollout, f"canary {ref}")
            weight = desired.weight
            if weight is None:
                weight = self._read_one(rollout, current).weight or 0
            wanted = self._canary_ingress(rollout, stable, ref, weight, desired)
            writes += patch_to(ref, current, self._merged(rollout, current, wanted))
        return writes

    def _canary_ingress(
        self,
        rollout: Rollout,
        stable: Mapping[str, Any],
        ref: ObjectRef,
        weight: int,
        desired: RouterState,
    ) -> dict[str, Any]:
        canary = canary_of(rollout)
        routing = canary.traffic_routing
        assert routing is not None
        prefix = self._prefix(rollout)
        stable_meta = stable.get("metadata") or {}
        stable_spec = stable.get("spec") or {}
        annotations: dict[str, str] = {}
        ingress_class = (stable_meta.get("annotations") or {}).get(INGRESS_CLASS_ANNOTATION)
        if ingress_class is not None:
            annotations[INGRESS_CLASS_ANNOTATION] = str(ingress_class)
        annotations.update(self._static_annotations(rollout, "additionalIngressAnnotations"))
        annotations[f"{prefix}/canary"] = "true"
        annotations[f"{prefix}/canary-weight"] = str(weight)
        if routing.max_traffic_weight_set:
            annotations[f"{prefix}/canary-weight-total"] = str(routing.max_traffic_weight)
        for route in desired.header_routes:
            annotations[HEADER_ROUTE_ANNOTATION] = route.name
            for match in route.match:
                cookie = _cookie_of(match)
                if cookie is not None:
                    annotations[f"{prefix}/canary-by-cookie"] = cookie
                    continue
                annotations[f"{prefix}/canary-by-header"] = match.header_name
                if match.exact is not None:
                    annotations[f"{prefix}/canary-by-header-value"] = match.exact
                else:
                    annotations[f"{prefix}/canary-by-header-pattern"] = _pattern_of(match)
        annotations.update(self._static_annotations(rollout, "canaryIngressAnnotations"))

        rules = []
        for rule in stable_spec.get("rules") or ():
            rule = copy.deepcopy(rule)
            uses_stable = False
            for path in ((rule.get("http") or {}).get("paths")) or ():
                service = (path.get("backend") or {}).get("service") or {}
                if service.get("name") == canary.stable_service:
                    service["name"] = canary.canary_service
                    uses_stable = True
            if uses_stable:
                rules.append(rule)
        if not rules:
            raise RouterError(
                f"Ingress {ref.namespace}/{stable_meta.get('name')} has no rules using "
                f"service {canary.stable_service} backend"
            )
        spec: dict[str, Any] = {"rules": rules}
        if stable_spec.get("ingressClassName") is not None:
            spec["ingressClassName"] = stable_spec["ingressClassName"]
        if stable_spec.get("tls") is not None:
            spec["tls"] = copy.deepcopy(stable_spec["tls"])
        return {
            "apiVersion": str(stable.get("apiVersion") or ref.api_version),
            "kind": "Ingress",
            "metadata": {
                "name": ref.name,
                "namespace": ref.namespace,
                "annotations": annotations,
                "ownerReferences": [owner_reference(rollout)],
            },
            "spec": spec,
        }

    def _merged(
        self, rollout: Rollout, current: Mapping[str, Any], wanted: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``current`` with what we manage replaced by ``wanted``; the rest is kept."""
        prefix = self._prefix(rollout)
        managed = {f"{prefix}/{k}" for k in (*_HEADER_KEYS, "canary-weight-total")}
        managed.add(HEADER_ROUTE_ANNOTATION)
        out = copy.deepcopy(dict(current))
        meta = out.setdefault("metadata", {})
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in managed}
        annotations.update(wanted["metadata"]["annotations"])
        meta["annotations"] = annotations
        spec = out.setdefault("spec", {})
        for key in ("rules", "tls", "ingressClassName"):
            if key in wanted["spec"]:
                spec[key] = copy.deepcopy(wanted["spec"][key])
            else:
                spec.pop(key, None)
        return out

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        canary = canary_of(rollout)
        return [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": name, "namespace": rollout.namespace},
                "spec": {
                    "ingressClassName": "nginx",
                    "rules": [
                        {
                            "host": f"{rollout.name}.local",
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {
                                            "service": {
                                                "name": canary.stable_service,
                                                "port": {"number": 80},
                                            }
                                        },
                                    }
                                ]
                            },
                        }
                    ],
                },
            }
            for name in self.stable_ingresses(rollout)
        ]


#: the router the registry finds here (progressive.routers._registry)
ROUTER: Final = NginxRouter()
