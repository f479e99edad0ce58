"""Helpers every router shares: configs, ownership, merge patches, string matches.

Routers never import each other (an import-linter ``independence`` contract); what two
of them need lives here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import attrs

from ..core._canary import routes_at
from ..core._rollout import CanaryStrategy, Rollout, traffic_services
from ..core._steps import ExperimentStep, HeaderMatch, Step, actions_of
from ..errors import FieldProblem, RouterError
from ._protocol import ObjectRef, Patch, RouterState, Write

__all__ = [
    "PERCENT",
    "canary_of",
    "check_controlled",
    "combine",
    "config_of",
    "experiment_weight_errors",
    "header_match_of",
    "indexed_actions",
    "int_of",
    "max_weight",
    "merge_diff",
    "names_of",
    "names_problems",
    "no_experiment_weights",
    "owner_reference",
    "patch_to",
    "percent_weight_errors",
    "prefix_of_regex",
    "regex_of_prefix",
    "routes_in_force",
    "scaled",
    "string_match_of",
    "string_match_value",
]


def canary_of(rollout: Rollout) -> CanaryStrategy:
    """The canary strategy as a router sees it: ``stable_service`` and
    ``canary_service`` are the Services it sends traffic to, the ping-pong ones when the
    Rollout has those alone (:func:`~progressive.core._rollout.traffic_services`)."""
    canary = rollout.canary
    if canary is None or canary.traffic_routing is None:
        raise RouterError(f"Rollout {rollout.key} has no canary trafficRouting")
    stable, service = traffic_services(rollout)
    if (stable, service) != (canary.stable_service, canary.canary_service):
        return attrs.evolve(canary, stable_service=stable, canary_service=service)
    return canary


def config_of(rollout: Rollout, *names: str) -> Mapping[str, Any]:
    """The router's configuration, {} when absent: ``trafficRouting.<key>`` or
    ``trafficRouting.plugins.<plugin name>``, under the first of its ``names`` the
    Rollout configures."""
    canary = canary_of(rollout)
    assert canary.traffic_routing is not None
    routers = canary.traffic_routing.routers
    return next((routers[n] for n in names if n in routers), None) or {}


def owner_reference(rollout: Rollout) -> dict[str, Any]:
    return {
        "apiVersion": rollout.api_version,
        "kind": "Rollout",
        "name": rollout.name,
        "uid": rollout.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _controller(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if isinstance(ref, Mapping) and ref.get("controller") is True:
            return ref
    return None


def check_controlled(
    obj: Mapping[str, Any], rollout: Rollout, what: str, *, uncontrolled_ok: bool = False
) -> None:
    """Raise unless ``obj`` is controlled by ``rollout`` (an ownerReference with
    ``controller: true`` naming it, by uid when the Rollout has one), or, with
    ``uncontrolled_ok``, has no controller at all (an object Argo made without one)."""
    ref = _controller(obj)
    if ref is None and uncontrolled_ok:
        return
    if ref is not None and ref.get("kind") == "Rollout":
        if rollout.uid and ref.get("uid") == rollout.uid:
            return
        if not rollout.uid and ref.get("name") == rollout.name:
            return
    owner = f"{ref.get('kind')} {ref.get('name')}" if ref is not None else "no controller"
    raise RouterError(
        f"{what} exists and is not controlled by Rollout {rollout.key} ({owner}); "
        "it is left as it is"
    )


def merge_diff(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The RFC 7386 merge patch that turns ``current`` into ``desired``."""
    out: dict[str, Any] = {key: None for key in current if key not in desired}
    for key, value in desired.items():
        old = current.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            sub = merge_diff(old, value)
            if sub:
                out[key] = sub
        elif key not in current or old != value:
            out[key] = copy.deepcopy(value)
    return out


def patch_to(ref: ObjectRef, current: Mapping[str, Any], desired: Mapping[str, Any]) -> list[Write]:
    """A :class:`Patch` from ``current`` to ``desired`` (none when they are equal), on
    the version ``current`` is stored under and guarded by its resourceVersion."""
    diff = merge_diff(current, desired)
    if not diff:
        return []
    version = str(current.get("apiVersion") or ref.api_version).rsplit("/", 1)[-1]
    resource_version = (current.get("metadata") or {}).get("resourceVersion")
    if resource_version is not None:
        diff.setdefault("metadata", {})["resourceVersion"] = resource_version
    return [Patch(attrs.evolve(ref, versions=(version,)), diff)]


def names_of(config: Mapping[str, Any], one: str, many: str) -> list[str]:
    """The object names a router's configuration gives under ``many`` (a list) or, when
    that is absent, ``one`` (a string): ``stableIngress`` / ``stableIngresses``."""
    several = config.get(many)
    if isinstance(several, list):
        return [str(n) for n in several if isinstance(n, str) and n]
    single = config.get(one)
    return [single] if isinstance(single, str) and single else []


def names_problems(config: Mapping[str, Any], one: str, many: str, path: str) -> list[FieldProblem]:
    """What is wrong with the names :func:`names_of` reads at ``path``: both fields
    set, or no name at all."""
    if one in config and many in config:
        return [FieldProblem(path, f"set {one} or {many}, not both")]
    if not names_of(config, one, many):
        return [FieldProblem(f"{path}.{one}", "is required")]
    return []


def max_weight(rollout: Rollout) -> int:
    routing = canary_of(rollout).traffic_routing
    assert routing is not None
    return routing.max_traffic_weight


#: the weight of a router whose weights are percentages (Emissary's, App Mesh's)
PERCENT: Final = 100


def percent_weight_errors(rollout: Rollout, why: str) -> list[FieldProblem]:
    """An error unless ``maxTrafficWeight`` is :data:`PERCENT`, for a router whose weights
    are percentages (``why`` says so)."""
    if max_weight(rollout) == PERCENT:
        return []
    return [
        FieldProblem(
            "spec.strategy.canary.trafficRouting.maxTrafficWeight", f"{why}: leave it at 100"
        )
    ]


def combine(states: Sequence[RouterState]) -> RouterState:
    """One state for the several objects of one router (two VirtualServices, three
    stable Ingresses...): the least weight (an object holding none counts as 0, and
    None when none holds any) and the routes every object holds."""
    if not states:
        return RouterState()
    held = [s.weight for s in states if s.weight is not None]
    weight = min(s.weight or 0 for s in states) if held else None
    names = [set(s.route_names) for s in states]
    common = set.intersection(*names)
    first = states[0]
    same_experiments = all(s.experiment_weights == first.experiment_weights for s in states)
    agreed = (
        len({s.weight or 0 for s in states}) == 1
        and all(n == common for n in names)
        and all(s.agreed for s in states)
        and same_experiments
    )
    return RouterState(
        weight=weight,
        canary_hash=first.canary_hash,
        stable_hash=first.stable_hash,
        header_routes=tuple(r for r in first.header_routes if r.name in common),
        mirror_routes=tuple(r for r in first.mirror_routes if r.name in common),
        experiment_weights=first.experiment_weights if same_experiments else (),
        agreed=agreed,
    )


def indexed_actions(rollout: Rollout) -> list[tuple[int, Step]]:
    """Every action of the canary's steps with the index of its step (a step may set
    several: :func:`~progressive.core._steps.actions_of`)."""
    canary = rollout.canary
    steps = canary.steps if canary is not None else ()
    return [(index, action) for index, step in enumerate(steps) for action in actions_of(step)]


def experiment_weight_errors(rollout: Rollout, router: str, why: str = "") -> list[FieldProblem]:
    """An error for each weighted experiment template, for a router that cannot send
    traffic to experiment templates (``why``: the reason, if not the router itself)."""
    canary = rollout.canary
    if canary is None:
        return []
    errors = []
    for index, step in indexed_actions(rollout):
        if not isinstance(step, ExperimentStep):
            continue
        for position, template in enumerate(step.templates):
            if template.get("weight") is not None:
                errors.append(
                    FieldProblem(
                        f"spec.strategy.canary.steps[{index}].experiment.templates"
                        f"[{position}].weight",
                        why
                        or f"the {router} router cannot send traffic to experiment templates "
                        "(smi and istio can); remove the weight",
                    )
                )
    return errors


def no_experiment_weights(desired: RouterState, router: str) -> None:
    """Raise when ``desired`` wants experiment destinations the router cannot express."""
    if desired.experiment_weights:
        names = ", ".join(service for service, _ in desired.experiment_weights)
        raise RouterError(f"{router} cannot send traffic to experiment templates (wanted: {names})")


def int_of(value: object) -> int | None:
    """An int, from an int or a plain decimal string (a Quantity such as ``"25"``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        return int(value)
    return None


def scaled(canary: int, stable: int, max_weight: int) -> int:
    """The canary's weight in units of ``max_weight``, from two relative weights."""
    total = canary + stable
    if total == max_weight or total <= 0:
        return canary
    return round(canary * max_weight / total)


# -- string matches -----------------------------------------------------------------------


def regex_of_prefix(prefix: str) -> str:
    """A regular expression matching the values that start with ``prefix``."""
    return re.escape(prefix) + ".*"


def prefix_of_regex(regex: str) -> str | None:
    """The prefix :func:`regex_of_prefix` was made from, or None."""
    if not regex.endswith(".*"):
        return None
    escaped = regex[:-2]
    literal = re.sub(r"\\(.)", r"\1", escaped)
    return literal if re.escape(literal) == escaped else None


def header_match_of(name: str, kind: str, value: str) -> HeaderMatch:
    """A :class:`HeaderMatch` from a match kind (exact, regex or prefix)."""
    if kind == "exact":
        return HeaderMatch(name, exact=value)
    if kind == "prefix":
        return HeaderMatch(name, prefix=value)
    return HeaderMatch(name, regex=value)


def string_match_value(match: HeaderMatch) -> tuple[str, str]:
    """``(kind, value)`` of a header match: kind is exact, regex or prefix."""
    if match.exact is not None:
        return "exact", match.exact
    if match.prefix is not None:
        return "prefix", match.prefix
    return "regex", match.regex or ""


def string_match_of(value: object) -> tuple[str, str] | None:
    """``(kind, value)`` of an Argo/Istio string match ``{exact|prefix|regex: v}``."""
    if not isinstance(value, Mapping):
        return None
    for kind in ("exact", "prefix", "regex"):
        if isinstance(value.get(kind), str):
            return kind, str(value[kind])
    return None


def routes_in_force(rollout: Rollout) -> Iterator[tuple[int, tuple[str, ...], tuple[str, ...]]]:
    """For each step index: the header and the mirror routes in force there."""
    canary = rollout.canary
    if canary is None:
        return
    for index in range(len(canary.steps)):
        headers, mirrors = routes_at(canary.steps, index)
        yield index, tuple(headers), tuple(mirrors)
