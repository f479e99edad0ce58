"""AWS Load Balancer Controller (ALB): the ``actions`` annotations of the Rollout's
Ingresses, as Argo writes them.

``trafficRouting.alb``: ``ingress`` or ``ingresses`` (patched, never created),
``servicePort`` (required), ``rootService`` (default ``stableService``; required with
``pingPong``), ``annotationPrefix`` (default ``alb.ingress.kubernetes.io``) and
``stickinessConfig`` (``{enabled, durationSeconds}``).  On each Ingress, which must
have a rule whose backend is the root Service, the router writes (``<p>`` the prefix):

* ``<p>/actions.<rootService>``: the weighted forward action, compact JSON in Argo's
  field order, canary first, then each experiment template's Service, then stable::

    {"Type":"forward","ForwardConfig":{"TargetGroups":[
      {"ServiceName":"<canary>","ServicePort":"<port>","Weight":<w>},
      {"ServiceName":"<stable>","ServicePort":"<port>","Weight":<maxTrafficWeight - w - x>}],
      "TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":<s>}}}

  (the stickiness only when enabled).  ALB weights are relative, 0 to 999, so
  ``maxTrafficWeight`` may not exceed 999 (Argo writes stable as ``100 - w`` whatever it is);
* a header route ``<name>``: ``<p>/actions.<name>`` forwarding everything to the
  canary (weight 100), ``<p>/conditions.<name>`` with one ``http-header`` condition per
  header name (``[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":h,
  "values":[v...]}}]``: the values of one header are OR'ed, different headers AND'ed, as
  the AWS Load Balancer Controller reads them), and a path ``{path: /*, pathType:
  ImplementationSpecific, backend: {service: {name: <name>, port: {name:
  use-annotation}}}}`` first in every rule, the managed routes' paths in
  ``managedRoutes`` order.  ALB matches header values exactly, with ``*`` and ``?``
  wildcards, case-insensitively: an ``exact`` value is written as it is (as Argo does, so
  ``exact: Mozilla*`` is a wildcard match); ``prefix`` and ``regex`` are refused;
* ``rollouts.argoproj.io/managed-alb-annotations``: ``{"<rollout>": [keys]}``, the
  annotations the Rollout manages, as Argo's bookkeeping has them.

The canary and stable Services are the ping-pong ones whenever ``pingPong`` is set,
even beside a ``canaryService`` and ``stableService`` (Argo prefers them for ALB alone:
``GetStableAndCanaryServices(rollout, true)``), chosen by ``status.canary.stablePingPong``.

Argo also checks, through the AWS API, that the target groups hold the weights written
(``--aws-verify-target-group``) and records the load balancer in ``status.alb``;
progressive does not call AWS (docs/migration.md).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..core._rollout import Rollout, ping_pong_services
from ..core._router_keys import RouterCapabilities
from ..core._steps import HeaderMatch
from ..core._steps import SetHeaderRoute as HeaderStep
from ..errors import FieldProblem, RouterError
from ._objects import (
    canary_of,
    combine,
    config_of,
    indexed_actions,
    int_of,
    max_weight,
    names_of,
    names_problems,
    patch_to,
    scaled,
)
from ._protocol import HeaderRoute, KubeAccess, ObjectRef, Objects, RouterState, Write

__all__ = ["AlbRouter"]

DEFAULT_PREFIX: Final = "alb.ingress.kubernetes.io"
MANAGED_ANNOTATION: Final = "rollouts.argoproj.io/managed-alb-annotations"
USE_ANNOTATION: Final = "use-annotation"
#: ALB target group weights range from 0 to 999
MAX_ALB_WEIGHT: Final = 999
MAX_STICKINESS_SECONDS: Final = 604800
_PATH: Final = "spec.strategy.canary.trafficRouting.alb"
_STEPS: Final = "spec.strategy.canary.steps"


def _ingress(namespace: str, name: str) -> ObjectRef:
    return ObjectRef("networking.k8s.io", ("v1",), "Ingress", namespace, name)


def _compact(value: Any) -> str:
    """JSON as Go's ``json.Marshal`` writes it (no spaces)."""
    return json.dumps(value, separators=(",", ":"))


def _parsed(value: object) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


class AlbRouter:
    """The AWS Load Balancer Controller router (``trafficRouting.alb``)."""

    name: Final = "alb"
    capabilities: Final = RouterCapabilities(
        header_routes=True, experiment_weights=True, ping_pong=True
    )
    plugin_names: Final = ()
    access: Final = (
        KubeAccess(
            "networking.k8s.io",
            "ingresses",
            ("get", "list", "watch", "patch"),
            "ALB actions and conditions in the Ingress annotations",
        ),
    )

    # -- configuration --------------------------------------------------------------------
    @staticmethod
    def ingresses(rollout: Rollout) -> list[str]:
        return names_of(config_of(rollout, "alb"), "ingress", "ingresses")

    @staticmethod
    def services(rollout: Rollout) -> tuple[str, str]:
        """``(stable, canary)``: the ping-pong Services when ``pingPong`` is set."""
        found = ping_pong_services(rollout)
        if found is not None:
            return found
        canary = canary_of(rollout)
        return str(canary.stable_service or ""), str(canary.canary_service or "")

    @staticmethod
    def root_service(rollout: Rollout) -> str:
        root = config_of(rollout, "alb").get("rootService")
        if isinstance(root, str) and root:
            return root
        return str(canary_of(rollout).stable_service or "")

    @staticmethod
    def _prefix(rollout: Rollout) -> str:
        prefix = config_of(rollout, "alb").get("annotationPrefix")
        return prefix if isinstance(prefix, str) and prefix else DEFAULT_PREFIX

    def _action_key(self, rollout: Rollout, name: str) -> str:
        return f"{self._prefix(rollout)}/actions.{name}"

    def _condition_key(self, rollout: Rollout, name: str) -> str:
        return f"{self._prefix(rollout)}/conditions.{name}"

    @staticmethod
    def _port(rollout: Rollout) -> str:
        return str(int_of(config_of(rollout, "alb").get("servicePort")) or "")

    @staticmethod
    def _stickiness(rollout: Rollout) -> dict[str, Any] | None:
        config = config_of(rollout, "alb").get("stickinessConfig")
        if not isinstance(config, Mapping) or config.get("enabled") is not True:
            return None
        return {"Enabled": True, "DurationSeconds": int_of(config.get("durationSeconds")) or 0}

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        config = config_of(rollout, "alb")
        errors = names_problems(config, "ingress", "ingresses", _PATH)
        port = int_of(config.get("servicePort"))
        if port is None or not 0 < port < 65536:
            errors.append(FieldProblem(f"{_PATH}.servicePort", "is required: a port number"))
        if not self.root_service(rollout):
            errors.append(FieldProblem(f"{_PATH}.rootService", "is required without stableService"))
        sticky = self._stickiness(rollout)
        if sticky is not None and not 1 <= sticky["DurationSeconds"] <= MAX_STICKINESS_SECONDS:
            errors.append(
                FieldProblem(
                    f"{_PATH}.stickinessConfig.durationSeconds",
                    f"must be from 1 to {MAX_STICKINESS_SECONDS} (7 days)",
                )
            )
        if max_weight(rollout) > MAX_ALB_WEIGHT:
            errors.append(
                FieldProblem(
                    "spec.strategy.canary.trafficRouting.maxTrafficWeight",
                    f"ALB target group weights go up to {MAX_ALB_WEIGHT}",
                )
            )
        for index, step in indexed_actions(rollout):
            if not isinstance(step, HeaderStep):
                continue
            for position, match in enumerate(step.match):
                if match.exact is None:
                    errors.append(
                        FieldProblem(
                            f"{_STEPS}[{index}].setHeaderRoute.match[{position}].headerValue",
                            "alb matches header values exactly (with * and ? wildcards): "
                            "use exact, e.g. exact: 'qa-*' for a prefix",
                        )
                    )
        return errors

    # -- objects --------------------------------------------------------------------------
    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        return tuple(_ingress(rollout.namespace, name) for name in self.ingresses(rollout))

    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        states = []
        for ref in self.refs(rollout):
            obj = objects.get(ref)
            states.append(RouterState() if obj is None else self._read_one(rollout, obj))
        return combine(states)

    def _read_one(self, rollout: Rollout, obj: Mapping[str, Any]) -> RouterState:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        stable, canary = self.services(rollout)
        action = _parsed(annotations.get(self._action_key(rollout, self.root_service(rollout))))
        weight: int | None = None
        experiments: tuple[tuple[str, int], ...] = ()
        if isinstance(action, Mapping):
            groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or ()
            weights = {
                str(g.get("ServiceName")): int_of(g.get("Weight")) or 0
                for g in groups
                if isinstance(g, Mapping)
            }
            canary_weight = weights.pop(canary, 0)
            stable_weight = weights.pop(stable, 0)
            if weights:
                weight, experiments = canary_weight, tuple(weights.items())
            else:
                weight = scaled(canary_weight, stable_weight, max_weight(rollout))
        missing = weight is None and _has_backend(obj, self.root_service(rollout))
        routes = []
        for name in _managed(rollout):
            conditions = _parsed(annotations.get(self._condition_key(rollout, name)))
            if self._action_key(rollout, name) not in annotations or not isinstance(
                conditions, list
            ):
                continue
            matches = [
                HeaderMatch(str(config.get("httpHeaderName")), exact=str(value))
                for condition in conditions
                if isinstance(condition, Mapping) and condition.get("field") == "http-header"
                for config in (condition.get("httpHeaderConfig") or {},)
                for value in config.get("values") or ()
            ]
            routes.append(HeaderRoute(name, tuple(matches)))
        if missing:
            # the root path forwards to an action the Ingress lacks: no traffic at all
            # until it is written; read as 0 and not agreed, so that ``align`` writes it
            # (Argo writes the weight on every reconcile)
            return RouterState(weight=0, header_routes=tuple(routes), agreed=False)
        return RouterState(
            weight=weight, header_routes=tuple(routes), experiment_weights=experiments
        )

    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        if desired.mirror_routes:
            raise RouterError("alb cannot mirror traffic (setMirrorRoute)")
        for route in desired.header_routes:
            if any(m.exact is None for m in route.match):
                raise RouterError(
                    f"alb matches header values exactly: header route {route.name!r} "
                    "has a prefix or regex match"
                )
        writes: list[Write] = []
        for ref in self.refs(rollout):
            current = objects.get(ref)
            if current is None:
                raise RouterError(f"{ref} not found")
            wanted = self._wanted(rollout, ref, current, desired)
            writes += patch_to(ref, current, wanted)
        return writes

    def _wanted(
        self, rollout: Rollout, ref: ObjectRef, current: Mapping[str, Any], desired: RouterState
    ) -> dict[str, Any]:
        out = copy.deepcopy(dict(current))
        meta = out.setdefault("metadata", {})
        annotations: dict[str, str] = dict(meta.get("annotations") or {})
        managed = _managed_keys(annotations.get(MANAGED_ANNOTATION), rollout.name)
        root = self.root_service(rollout)
        if not _has_backend(current, root):
            raise RouterError(f"{ref} has no rule with service {root!r} as its backend")
        key = self._action_key(rollout, root)
        weight = desired.weight
        if weight is None and desired.header_routes and key not in annotations:
            weight = 0  # the root path needs its action before a header route is added
        if weight is not None:
            action = self._forward(rollout, weight, desired.experiment_weights)
            if _parsed(annotations.get(key)) != action:
                annotations[key] = _compact(action)
            if key not in managed:
                managed.append(key)
        wanted = {r.name: r for r in desired.header_routes}
        unknown = sorted(set(wanted) - set(_managed(rollout)))
        if unknown:
            raise RouterError(f"alb: header route {unknown[0]!r} is not in managedRoutes")
        rules = (out.setdefault("spec", {})).get("rules") or []
        for name in _managed(rollout):
            keys = (self._action_key(rollout, name), self._condition_key(rollout, name))
            route = wanted.get(name)
            if route is None:
                for key in keys:
                    annotations.pop(key, None)
                managed = [k for k in managed if k not in keys]
                _remove_path(rules, name)
                continue
            action = self._forward_to_canary(rollout)
            conditions = _conditions(route.match)
            for key, value in zip(keys, (action, conditions), strict=True):
                if _parsed(annotations.get(key)) != value:
                    annotations[key] = _compact(value)
                if key not in managed:
                    managed.append(key)
            _add_path(rules, name)
        _sort_paths(rules, _managed(rollout))
        if managed or MANAGED_ANNOTATION in annotations:
            annotations[MANAGED_ANNOTATION] = _managed_annotation(
                annotations.get(MANAGED_ANNOTATION), rollout.name, managed
            )
        meta["annotations"] = annotations
        return out

    def _forward(
        self, rollout: Rollout, weight: int, experiments: tuple[tuple[str, int], ...]
    ) -> dict[str, Any]:
        stable, canary = self.services(rollout)
        port = self._port(rollout)
        rest = max(0, max_weight(rollout) - weight - sum(w for _, w in experiments))
        groups = [
            {"ServiceName": canary, "ServicePort": port, "Weight": weight},
            *({"ServiceName": s, "ServicePort": port, "Weight": w} for s, w in experiments),
            {"ServiceName": stable, "ServicePort": port, "Weight": rest},
        ]
        return self._action(rollout, groups)

    def _forward_to_canary(self, rollout: Rollout) -> dict[str, Any]:
        _, canary = self.services(rollout)
        group = {"ServiceName": canary, "ServicePort": self._port(rollout), "Weight": 100}
        return self._action(rollout, [group])

    def _action(self, rollout: Rollout, groups: list[dict[str, Any]]) -> dict[str, Any]:
        config: dict[str, Any] = {"TargetGroups": groups}
        sticky = self._stickiness(rollout)
        if sticky is not None:
            config["TargetGroupStickinessConfig"] = sticky
        return {"Type": "forward", "ForwardConfig": config}

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        path = {
            "path": "/*",
            "pathType": "ImplementationSpecific",
            "backend": {
                "service": {"name": self.root_service(rollout), "port": {"name": USE_ANNOTATION}}
            },
        }
        return [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": name,
                    "namespace": rollout.namespace,
                    "annotations": {"kubernetes.io/ingress.class": "alb"},
                },
                "spec": {"rules": [{"http": {"paths": [copy.deepcopy(path)]}}]},
            }
            for name in self.ingresses(rollout)
        ]


def _managed(rollout: Rollout) -> tuple[str, ...]:
    routing = canary_of(rollout).traffic_routing
    assert routing is not None
    return routing.managed_routes


def _conditions(matches: Sequence[HeaderMatch]) -> list[dict[str, Any]]:
    """One ``http-header`` condition per header name, its values in order (Argo's
    ``upsertCondition``)."""
    out: list[dict[str, Any]] = []
    for match in matches:
        for condition in out:
            if condition["httpHeaderConfig"]["httpHeaderName"] == match.header_name:
                condition["httpHeaderConfig"]["values"].append(match.exact)
                break
        else:
            out.append(
                {
                    "field": "http-header",
                    "httpHeaderConfig": {
                        "httpHeaderName": match.header_name,
                        "values": [match.exact],
                    },
                }
            )
    return out


def _managed_keys(annotation: object, rollout: str) -> list[str]:
    parsed = _parsed(annotation)
    keys = parsed.get(rollout) if isinstance(parsed, Mapping) else None
    return [str(k) for k in keys] if isinstance(keys, list) else []


def _managed_annotation(annotation: object, rollout: str, keys: list[str]) -> str:
    """The bookkeeping annotation with ``rollout``'s keys; the other Rollouts' kept."""
    parsed = _parsed(annotation)
    out = dict(parsed) if isinstance(parsed, Mapping) else {}
    out[rollout] = keys
    if _parsed(annotation) == out:
        return str(annotation)
    return json.dumps(out, separators=(",", ":"), sort_keys=True)


def _backend_name(path: Any) -> object:
    if not isinstance(path, Mapping):
        return None
    return ((path.get("backend") or {}).get("service") or {}).get("name")


def _paths(rule: Any) -> list[Any] | None:
    if not isinstance(rule, dict) or not isinstance(rule.get("http"), dict):
        return None
    paths = rule["http"].get("paths")
    return paths if isinstance(paths, list) else None


def _has_backend(ingress: Mapping[str, Any], service: str) -> bool:
    rules = (ingress.get("spec") or {}).get("rules") or ()
    return any(_backend_name(p) == service for r in rules for p in _paths(r) or ())


def _add_path(rules: list[Any], name: str) -> None:
    """The header route's path first in every rule, unless a rule has it already (as
    Argo's ``CreateAnnotationBasedPath``)."""
    if any(_backend_name(p) == name for r in rules for p in _paths(r) or ()):
        return
    for rule in rules:
        paths = _paths(rule)
        if paths is None:
            continue
        paths.insert(
            0,
            {
                "path": "/*",
                "pathType": "ImplementationSpecific",
                "backend": {"service": {"name": name, "port": {"name": USE_ANNOTATION}}},
            },
        )


def _remove_path(rules: list[Any], name: str) -> None:
    for rule in rules:
        paths = _paths(rule)
        if paths is not None:
            paths[:] = [p for p in paths if _backend_name(p) != name]


def _sort_paths(rules: list[Any], managed: tuple[str, ...]) -> None:
    """The managed routes' paths first, in ``managedRoutes`` order; the others keep
    theirs (a stable sort, as Argo's ``SortHttpPaths``)."""
    order = {name: index for index, name in enumerate(managed)}
    for rule in rules:
        paths = _paths(rule)
        if paths is not None:
            paths.sort(key=lambda p: order.get(str(_backend_name(p)), len(order)))


#: the router the registry finds here (progressive.routers._registry)
ROUTER: Final = AlbRouter()
