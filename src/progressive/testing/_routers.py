"""The router conformance checks, and the pure object store they run on.

:func:`check_router` holds a :class:`~progressive.routers.TrafficRouter` to the promises
every router makes (docs/routers.md): weights are written and read back; header and
mirror routes, and an experiment's destinations, are added and removed and leave the
weight alone, or are refused with a RouterError that names them; an abort sends
everything back to stable; read and plan are inverses, so planning a state on the
objects it produced writes nothing; and what the router does not manage survives.  It
takes a router object, however it was found, and knows no router by name.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from .._clusters import merge_patch
from ..core._rollout import Rollout
from ..core._steps import HeaderMatch
from ..errors import RouterError
from ..routers import (
    Create,
    HeaderRoute,
    MirrorRoute,
    ObjectRef,
    Patch,
    RouterState,
    TrafficRouter,
    Write,
    read_objects,
)

__all__ = ["ObjectStore", "check_router"]

_Key = tuple[str, str, str, str]
# What someone else writes on every router object: it must survive the router's writes.
_NOTE: Final = ("example.com/note", "keep me")
_LABEL: Final = ("owner-team", "shop")
_EXTRA: Final = ("x-extra", {"kept": True})


class ObjectStore:
    """Objects as an API server keeps them, in memory and without I/O: keyed by (group,
    kind, namespace, name); :meth:`apply` creates (refusing an object that exists) and
    merge-patches (refusing a patch whose ``resourceVersion`` is not the stored one),
    as a router's writes expect."""

    def __init__(self, objects: Iterable[Mapping[str, Any]] = ()) -> None:
        self.objects: dict[_Key, dict[str, Any]] = {}
        self.version = 0
        self.writes: list[Write] = []
        for obj in objects:
            self.put(copy.deepcopy(dict(obj)))

    @staticmethod
    def key(obj: Mapping[str, Any]) -> _Key:
        group = str(obj["apiVersion"]).rpartition("/")[0]
        meta = obj["metadata"]
        return (group, str(obj["kind"]), str(meta.get("namespace", "default")), str(meta["name"]))

    def put(self, obj: dict[str, Any]) -> None:
        """Store ``obj`` (as is) with the next ``resourceVersion``."""
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.objects[self.key(obj)] = obj

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        """A copy of the object ``ref`` names, or None."""
        obj = self.objects.get((ref.group, ref.kind, ref.namespace, ref.name))
        return copy.deepcopy(obj) if obj is not None else None

    def view(self, router: TrafficRouter, rollout: Rollout) -> dict[ObjectRef, Any]:
        """The objects ``router`` reads for ``rollout``, as the shell gives them to it."""
        return read_objects(router, rollout, self.get)

    def apply(self, writes: Iterable[Write]) -> None:
        """Carry out a router's writes.

        Raises:
            AssertionError: a create of an object that exists, a patch of one that does
                not, or a patch with a stale ``resourceVersion``.
        """
        for write in writes:
            self.writes.append(write)
            match write:
                case Create(_, obj):
                    assert self.key(obj) not in self.objects, f"{self.key(obj)} exists"
                    self.put(copy.deepcopy(dict(obj)))
                case Patch(ref, patch):
                    current = self.get(ref)
                    assert current is not None, f"patch of {ref}, which does not exist"
                    wanted = (patch.get("metadata") or {}).get("resourceVersion")
                    found = current["metadata"]["resourceVersion"]
                    assert wanted == found, f"stale patch of {ref}: {wanted} for {found}"
                    self.put(merge_patch(current, patch))

    def move(self, router: TrafficRouter, rollout: Rollout, state: RouterState) -> list[Write]:
        """Plan ``state`` on the stored objects and apply it; returns the writes."""
        writes = list(router.plan(rollout, state, self.view(router, rollout)))
        self.apply(writes)
        return writes

    def read(self, router: TrafficRouter, rollout: Rollout) -> RouterState:
        """The state the stored objects hold, as ``router`` reads it."""
        return router.read(rollout, self.view(router, rollout))


@attrs.frozen
class _Case:
    router: TrafficRouter
    rollout: Rollout
    objects: tuple[Mapping[str, Any], ...]
    top: int  # maxTrafficWeight
    header: HeaderRoute
    mirror: MirrorRoute
    experiment: tuple[tuple[str, int], ...]
    both: bool  # two managed routes: a header and a mirror route at once

    def store(self) -> ObjectStore:
        return ObjectStore(self.objects)

    def weight(self, percent: int) -> int:
        return self.top * percent // 100

    def settled(self, store: ObjectStore, state: RouterState, promise: str) -> RouterState:
        """Move to ``state``; the same state again writes nothing; read back."""
        store.move(self.router, self.rollout, state)
        again = list(self.router.plan(self.rollout, state, store.view(self.router, self.rollout)))
        _expect(again == [], promise, f"planning {state} again writes {again}")
        return store.read(self.router, self.rollout)


def _expect(ok: bool, promise: str, detail: str) -> None:
    if not ok:
        raise AssertionError(f"{promise}: {detail}")


def check_router(
    router: TrafficRouter,
    rollout: Rollout,
    objects: Iterable[Mapping[str, Any]] = (),
    *,
    header_routes: bool | None = None,
    mirror_routes: bool | None = None,
    experiments: bool | None = None,
) -> None:
    """Hold ``router`` to every router's promises, on ``rollout`` (a canary whose
    ``trafficRouting`` configures it) and the ``objects`` a user would have made for it
    (a stable Ingress, a VirtualService...), in an :class:`ObjectStore`.

    ``header_routes``, ``mirror_routes`` and ``experiments`` say whether the router can
    express header routes, mirror routes and an experiment's weighted destinations;
    None takes what the router declares (its ``capabilities``): either way it is held
    to it both ways, the routes kept where it can and refused with a RouterError
    naming them where it cannot.
    The routes take the names of the Rollout's first two ``managedRoutes``.  Pure and
    quick: no cluster, no I/O.

    Raises:
        AssertionError: naming the promise broken and what was seen.
    """
    declared = router.capabilities
    header_routes = declared.header_routes if header_routes is None else header_routes
    mirror_routes = declared.mirror_routes if mirror_routes is None else mirror_routes
    experiments = declared.experiment_weights if experiments is None else experiments
    case = _case(router, rollout, tuple(objects))
    _fresh(case)
    _weights(case)
    headers = _capability(case, "header", RouterState(header_routes=(case.header,)), header_routes)
    mirrors = _capability(case, "mirror", RouterState(mirror_routes=(case.mirror,)), mirror_routes)
    weighs = _capability(
        case, "experiment", RouterState(experiment_weights=case.experiment), experiments
    )
    if headers:
        _header_routes(case)
    if mirrors:
        _mirror_routes(case, headers=headers)
    if weighs:
        _experiment_destinations(case)
    routes = RouterState(
        header_routes=(case.header,) if headers else (),
        mirror_routes=(case.mirror,) if mirrors and (case.both or not headers) else (),
    )
    _abort(case, routes, weighs)
    _idempotent(case, routes)
    _unmanaged_fields_survive(case, routes)


def _case(router: TrafficRouter, rollout: Rollout, objects: tuple[Mapping[str, Any], ...]) -> _Case:
    canary = rollout.canary
    if canary is None or canary.traffic_routing is None:
        raise ValueError(f"Rollout {rollout.key} has no canary trafficRouting to check with")
    managed = canary.traffic_routing.managed_routes
    header_name = managed[0] if managed else "testers"
    mirror_name = managed[1] if len(managed) > 1 else ("shadow" if not managed else managed[0])
    top = canary.traffic_routing.max_traffic_weight
    return _Case(
        router=router,
        rollout=rollout,
        objects=objects,
        top=top,
        header=HeaderRoute(header_name, (HeaderMatch("X-Canary", exact="yes"),)),
        mirror=MirrorRoute(
            mirror_name, ({"method": {"exact": "GET"}, "path": {"prefix": "/api"}},), 30
        ),
        experiment=(
            (f"{rollout.name}-exp-baseline", top * 10 // 100),
            (f"{rollout.name}-exp-canary", top * 5 // 100),
        ),
        both=header_name != mirror_name,
    )


def _fresh(case: _Case) -> None:
    promise = "a router accepts the Rollout it is checked with"
    problems = case.router.validate(case.rollout)
    _expect(problems == [], promise, f"validate() says {[str(p) for p in problems]}")
    store = case.store()
    read = store.read(case.router, case.rollout)
    _expect(
        read.weight in (None, 0),
        "fresh objects hold no canary traffic",
        f"read {read.weight}",
    )
    view = store.view(case.router, case.rollout)
    writes = list(case.router.plan(case.rollout, RouterState(), view))
    _expect(writes == [], "wanting nothing on fresh objects writes nothing", f"wrote {writes}")


def _weights(case: _Case) -> None:
    promise = "a weight is written and read back"
    for percent in (0, 25, 100):
        store = case.store()
        weight = case.weight(percent)
        state = case.settled(store, RouterState(weight=weight), promise)
        _expect((state.weight, state.agreed) == (weight, True), promise, f"{weight}: read {state}")
        other = case.top - weight
        state = case.settled(store, RouterState(weight=other), promise)
        _expect(state.weight == other, promise, f"{weight} then {other}: read {state.weight}")


def _capability(case: _Case, word: str, wanted: RouterState, claimed: bool | None) -> bool:
    """Whether the router can express ``wanted`` (header routes, ...); one that cannot
    refuses it with a RouterError naming it, in ``plan``."""
    store = case.store()
    state = attrs.evolve(wanted, weight=case.weight(10))
    try:
        case.router.plan(case.rollout, state, store.view(case.router, case.rollout))
    except RouterError as exc:
        _expect(
            word in str(exc),
            f"a router that cannot express {word} routes says so",
            f"RouterError without the word {word!r}: {exc}",
        )
        _expect(claimed is not True, f"{word} routes are expressed", f"refused: {exc}")
        return False
    _expect(claimed is not False, f"{word} routes are refused", "planned without a RouterError")
    return True


def _header_routes(case: _Case) -> None:
    promise = "a header route is added and removed, and stays whatever the weight"
    store = case.store()
    quarter = case.weight(25)
    case.settled(store, RouterState(weight=quarter), promise)
    state = case.settled(store, RouterState(weight=quarter, header_routes=(case.header,)), promise)
    _expect((state.weight, state.header_routes) == (quarter, (case.header,)), promise, str(state))
    state = case.settled(store, RouterState(weight=quarter), promise)
    _expect((state.weight, state.header_routes) == (quarter, ()), promise, str(state))
    # before any weight (A/B at 0), then through every weight
    store = case.store()
    state = case.settled(store, RouterState(header_routes=(case.header,)), promise)
    _expect((state.weight, state.header_routes) == (0, (case.header,)), promise, str(state))
    for percent in (0, 10, 100, 0):
        weight = case.weight(percent)
        wanted = RouterState(weight=weight, header_routes=(case.header,))
        state = case.settled(store, wanted, promise)
        seen = (state.weight, state.header_routes)
        _expect(seen == (weight, (case.header,)), promise, str(state))
    # a weight change that keeps the routes as read keeps the route
    read = store.read(case.router, case.rollout)
    state = case.settled(store, attrs.evolve(read, weight=case.weight(50)), promise)
    _expect(state.header_routes == (case.header,), promise, str(state))


def _mirror_routes(case: _Case, *, headers: bool) -> None:
    promise = "a mirror route is added and removed, and follows the weight"
    store = case.store()
    quarter = case.weight(25)
    case.settled(store, RouterState(weight=quarter), promise)
    state = case.settled(store, RouterState(weight=quarter, mirror_routes=(case.mirror,)), promise)
    _expect((state.weight, state.mirror_routes) == (quarter, (case.mirror,)), promise, str(state))
    more = case.weight(60)
    state = case.settled(store, attrs.evolve(state, weight=more), promise)
    _expect((state.weight, state.mirror_routes) == (more, (case.mirror,)), promise, str(state))
    if headers and case.both:
        both = RouterState(weight=more, header_routes=(case.header,), mirror_routes=(case.mirror,))
        state = case.settled(store, both, promise)
        seen = (state.header_routes, state.mirror_routes)
        _expect(seen == ((case.header,), (case.mirror,)), promise, f"with a header route: {state}")
        state = case.settled(store, RouterState(weight=more, header_routes=(case.header,)), promise)
        seen = (state.header_routes, state.mirror_routes)
        _expect(seen == ((case.header,), ()), promise, f"removed beside a header route: {state}")
    state = case.settled(store, RouterState(weight=more), promise)
    _expect(state.mirror_routes == (), promise, f"removed: {state}")


def _experiment_destinations(case: _Case) -> None:
    promise = "an experiment's destinations are added, changed and removed"
    store = case.store()
    low, high = case.weight(20), case.weight(40)
    case.settled(store, RouterState(weight=low), promise)
    wanted = RouterState(weight=low, experiment_weights=case.experiment)
    state = case.settled(store, wanted, promise)
    added = (state.weight, state.experiment_weights, state.agreed)
    _expect(added == (low, case.experiment, True), promise, str(state))
    read = store.read(case.router, case.rollout)
    state = case.settled(store, attrs.evolve(read, weight=high), promise)
    kept = (state.weight, state.experiment_weights)
    _expect(kept == (high, case.experiment), promise, f"a weight change: {state}")
    changed = tuple((service, weight * 2) for service, weight in case.experiment)
    state = case.settled(store, RouterState(weight=high, experiment_weights=changed), promise)
    _expect(state.experiment_weights == changed, promise, f"changed: {state}")
    state = case.settled(store, RouterState(weight=high), promise)
    _expect((state.weight, state.experiment_weights) == (high, ()), promise, f"removed: {state}")


def _abort(case: _Case, routes: RouterState, weighs: bool) -> None:
    promise = "an abort sends all the traffic back to stable"
    store = case.store()
    busy = attrs.evolve(
        routes, weight=case.weight(40), experiment_weights=case.experiment if weighs else ()
    )
    case.settled(store, busy, promise)
    state = case.settled(store, RouterState(weight=0), promise)
    seen = (state.weight, state.route_names, state.experiment_weights)
    _expect(seen == (0, (), ()), promise, str(state))


def _idempotent(case: _Case, routes: RouterState) -> None:
    promise = "read and plan are inverses: planning what is there writes nothing"
    store = case.store()
    for state in (
        RouterState(weight=case.weight(25), canary_hash="new", stable_hash="old"),
        attrs.evolve(routes, weight=case.weight(25), mirror_routes=()),
        attrs.evolve(routes, weight=case.weight(75)),
        RouterState(weight=0),
    ):
        store.move(case.router, case.rollout, state)
        before = copy.deepcopy(store.objects)
        view = store.view(case.router, case.rollout)
        again = list(case.router.plan(case.rollout, state, view))
        _expect(again == [], promise, f"planning {state} again writes {again}")
        read = store.read(case.router, case.rollout)
        from_read = list(case.router.plan(case.rollout, read, view))
        _expect(from_read == [], promise, f"planning what was read ({read}) writes {from_read}")
        _expect(store.objects == before, promise, "the objects changed")


def _unmanaged_fields_survive(case: _Case, routes: RouterState) -> None:
    promise = "fields the router does not manage survive its writes"
    store = case.store()
    store.move(case.router, case.rollout, RouterState(weight=case.weight(10)))
    for obj in store.objects.values():  # someone else annotates every object, ours too
        meta = obj["metadata"]
        meta.setdefault("annotations", {})[_NOTE[0]] = _NOTE[1]
        meta.setdefault("labels", {})[_LABEL[0]] = _LABEL[1]
        obj.setdefault("spec", {})[_EXTRA[0]] = copy.deepcopy(_EXTRA[1])
    for state in (
        attrs.evolve(routes, weight=case.weight(30)),
        attrs.evolve(routes, weight=case.top, mirror_routes=()),
        RouterState(weight=0),
    ):
        store.move(case.router, case.rollout, state)
    for key, obj in store.objects.items():
        meta = obj["metadata"]
        kept = (
            (meta.get("annotations") or {}).get(_NOTE[0]) == _NOTE[1]
            and (meta.get("labels") or {}).get(_LABEL[0]) == _LABEL[1]
            and (obj.get("spec") or {}).get(_EXTRA[0]) == _EXTRA[1]
        )
        _expect(kept, promise, f"{key}: {obj}")
