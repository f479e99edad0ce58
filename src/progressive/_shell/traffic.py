"""Traffic routers as the shell sees them.

:class:`Traffic` is the small async interface ``apply``, ``observe`` and the
controller use (:class:`progressive.routers.TrafficRouter` is the pure interface of one
router, which :class:`RouterTraffic` drives); Argo's routers
share its shape (SetWeight, SetHeaderRoute, SetMirrorRoute, RemoveManagedRoutes).
Two implementations:

* :class:`RouterTraffic` (the controller's default) drives the pure routers of
  :mod:`progressive.routers` -- it reads their objects, asks them for writes, applies
  those and reads the objects back -- and moves several routers of one Rollout together
  (see its docstring);
* :class:`MemoryTraffic` keeps one ``TrafficState`` object per Rollout
  (``progressive.dev/v1alpha1``, named after the Rollout, owned by it): a router of its
  own for embedders and tests that want traffic without router objects.

A Rollout that configures a router the registry does not hold (one of Argo's that is
not implemented here, a plugin not installed) is refused by
:meth:`RouterTraffic.validate` (:meth:`progressive.routers.RouterRegistry.validate`):
the controller gives it InvalidSpec.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, Protocol, TypeAlias, assert_never

import attrs

from .. import routers
from .._clusters import Cluster, Ref, owner_reference
from ..core._actions import WriteHeaderRoute, WriteMirrorRoute, WriteWeight
from ..core._observed import TrafficView
from ..core._rollout import Rollout
from ..errors import AlreadyExists, Conflict, FieldProblem, NotFound, RouterError
from ..routers import HeaderRoute, MirrorRoute, ObjectRef, RouterRegistry, RouterState

__all__ = [
    "TRAFFIC_STATE_API",
    "MemoryTraffic",
    "RouterTraffic",
    "Traffic",
    "read_states",
    "read_traffic",
    "traffic_view",
]

log = logging.getLogger("progressive.traffic")

TRAFFIC_STATE_API: Final = "progressive.dev/v1alpha1"
TRAFFIC_STATE_KIND: Final = "TrafficState"


class Traffic(Protocol):
    """Where a Rollout's traffic is read and written, whichever routers carry it."""

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        """Router configuration problems (reported like spec errors: InvalidSpec)."""
        ...

    async def unserved(self, rollout: Rollout) -> list[FieldProblem]:
        """The kinds the routers of ``rollout`` read and write that the API server does
        not serve (their CRDs are not installed): InvalidSpec until it serves them."""
        ...

    async def align(self, rollout: Rollout) -> int:
        """Bring routers that disagree back to what all of them hold; returns writes."""
        ...

    async def set_weight(self, rollout: Rollout, action: WriteWeight) -> None: ...

    async def set_header_route(self, rollout: Rollout, action: WriteHeaderRoute) -> None: ...

    async def set_mirror_route(self, rollout: Rollout, action: WriteMirrorRoute) -> None: ...

    async def remove_managed_routes(self, rollout: Rollout, names: tuple[str, ...]) -> None: ...

    async def observe(self, rollout: Rollout) -> TrafficView:
        """What the router holds for ``rollout`` now."""
        ...


class MemoryTraffic:
    """Routes kept in a ``TrafficState`` object: ``spec.weight``, ``spec.maxWeight``,
    ``spec.canaryHash``, ``spec.stableHash``, ``spec.headerRoutes[]``,
    ``spec.mirrorRoutes[]``."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        return []

    async def unserved(self, rollout: Rollout) -> list[FieldProblem]:
        ref = self.ref(rollout)
        if await serves(self.cluster, ref.api_version, ref.kind):
            return []
        return [FieldProblem("", f"the API server serves no {ref.kind} ({ref.api_version})")]

    async def align(self, rollout: Rollout) -> int:
        return 0  # one object: nothing to disagree with

    @staticmethod
    def ref(rollout: Rollout) -> Ref:
        return Ref(TRAFFIC_STATE_API, TRAFFIC_STATE_KIND, rollout.namespace, rollout.name)

    async def _spec(self, rollout: Rollout) -> dict[str, Any] | None:
        obj = await self.cluster.get(self.ref(rollout))
        return None if obj is None else dict(obj.get("spec") or {})

    async def _write(self, rollout: Rollout, spec: Mapping[str, Any]) -> None:
        ref = self.ref(rollout)
        if await self.cluster.get(ref) is not None:
            await self.cluster.patch(ref, {"spec": dict(spec)})
            return
        obj = {
            "apiVersion": TRAFFIC_STATE_API,
            "kind": TRAFFIC_STATE_KIND,
            "metadata": {
                "name": rollout.name,
                "namespace": rollout.namespace,
                "ownerReferences": [
                    owner_reference(rollout.api_version, "Rollout", rollout.name, rollout.uid)
                ],
            },
            "spec": {key: value for key, value in spec.items() if value is not None},
        }
        try:
            await self.cluster.create(obj)
        except AlreadyExists:
            await self.cluster.patch(ref, {"spec": dict(spec)})

    async def set_weight(self, rollout: Rollout, action: WriteWeight) -> None:
        await self._write(
            rollout,
            {
                "weight": action.weight,
                "maxWeight": action.max_weight,
                "canaryHash": action.canary_hash,
                "stableHash": action.stable_hash,
                # none: the key goes (a merge patch's null)
                "experimentWeights": [
                    {"service": service, "weight": weight}
                    for service, weight in action.experiment_weights
                ]
                or None,
            },
        )

    async def set_header_route(self, rollout: Rollout, action: WriteHeaderRoute) -> None:
        routes = [
            r for r in await self._routes(rollout, "headerRoutes") if r["name"] != action.name
        ]
        if action.match:
            routes.append(
                {
                    "name": action.name,
                    "match": [
                        {
                            "headerName": m.header_name,
                            "headerValue": {
                                k: v
                                for k, v in (
                                    ("exact", m.exact),
                                    ("regex", m.regex),
                                    ("prefix", m.prefix),
                                )
                                if v is not None
                            },
                        }
                        for m in action.match
                    ],
                }
            )
        await self._write(rollout, {"headerRoutes": routes})

    async def set_mirror_route(self, rollout: Rollout, action: WriteMirrorRoute) -> None:
        routes = [
            r for r in await self._routes(rollout, "mirrorRoutes") if r["name"] != action.name
        ]
        if action.match:
            routes.insert(
                0,
                {"name": action.name, "match": list(action.match), "percentage": action.percentage},
            )
        await self._write(rollout, {"mirrorRoutes": routes})

    async def remove_managed_routes(self, rollout: Rollout, names: tuple[str, ...]) -> None:
        spec = await self._spec(rollout)
        if spec is None:
            return
        # Argo removes every managed route and every route a step created: here all of
        # them live in this object, so both lists empty out.
        await self._write(rollout, {"headerRoutes": [], "mirrorRoutes": []})

    async def _routes(self, rollout: Rollout, key: str) -> list[dict[str, Any]]:
        return _named(await self._spec(rollout) or {}, key)

    async def observe(self, rollout: Rollout) -> TrafficView:
        spec = await self._spec(rollout)
        if spec is None:
            return TrafficView()
        weight = spec.get("weight")
        return TrafficView(
            weight=weight if isinstance(weight, int) and not isinstance(weight, bool) else None,
            header_routes=tuple(r["name"] for r in _named(spec, "headerRoutes")),
            mirror_routes=tuple(r["name"] for r in _named(spec, "mirrorRoutes")),
            experiment_weights=tuple(
                (str(e.get("service")), int(e.get("weight") or 0))
                for e in spec.get("experimentWeights") or ()
                if isinstance(e, Mapping)
            ),
        )


def _named(spec: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    return [r for r in spec.get(key) or () if isinstance(r, dict) and "name" in r]


async def serves(cluster: Cluster, api_version: str, kind: str) -> bool:
    """Whether ``cluster`` serves the kind: a real server says (discovery); a cluster
    that cannot tell (the in-memory one) serves every kind."""
    ask = getattr(cluster, "serves", None)
    return True if ask is None else bool(await ask(api_version, kind))


# -- the routers of progressive.routers ----------------------------------------------------


def traffic_view(states: Sequence[RouterState]) -> TrafficView:
    """The core's view of several routers: what ALL of them hold.

    ``weight`` is None when no router holds a weight yet; otherwise the smallest canary
    weight among them (a router that holds none counts as 0): every router sends at
    least that much to the canary, and none of them less.  The routes are those every
    router holds.  Routers normally agree -- :class:`RouterTraffic` moves them together
    and brings them back to a common state when one fails -- so this is the weight of
    each of them, except for the moment between a crash and the next ``align``.
    """
    if not states:
        return TrafficView()
    held = [s.weight for s in states if s.weight is not None]
    headers = set.intersection(*(set(r.name for r in s.header_routes) for s in states))
    mirrors = set.intersection(*(set(r.name for r in s.mirror_routes) for s in states))
    experiments = states[0].experiment_weights
    return TrafficView(
        weight=min(s.weight or 0 for s in states) if held else None,
        header_routes=tuple(r.name for r in states[0].header_routes if r.name in headers),
        mirror_routes=tuple(r.name for r in states[0].mirror_routes if r.name in mirrors),
        # the experiment destinations all of them hold; none when they disagree
        experiment_weights=(
            experiments if all(s.experiment_weights == experiments for s in states) else ()
        ),
        # those of the router that pins them (routers that do not pin read None)
        canary_hash=next((s.canary_hash for s in states if s.canary_hash is not None), None),
        stable_hash=next((s.stable_hash for s in states if s.stable_hash is not None), None),
    )


Routers: TypeAlias = RouterRegistry | Mapping[str, routers.TrafficRouter]


def registry_of(given: Routers | None) -> RouterRegistry:
    """``given`` as a registry: the default one (progressive's routers and the installed
    plugins') for None, one holding exactly the routers of a mapping (by key)."""
    if given is None:
        return routers.default_registry()
    if isinstance(given, RouterRegistry):
        return given
    for key, router in given.items():
        if key != router.name:
            raise ValueError(f"the router under {key!r} has the key {router.name!r}")
    return RouterRegistry(given.values())


def read_states(
    rollout: Rollout,
    get: Callable[[Ref], Mapping[str, Any] | None],
    implemented: Routers | None = None,
) -> dict[str, RouterState]:
    """Each router's state, read through a synchronous ``get`` (tests and tools that
    hold a cluster's objects).

    Raises:
        RouterError: the Rollout configures a router the registry does not hold.
    """
    chosen = registry_of(implemented).routers_of(rollout)

    def first(ref: ObjectRef) -> Mapping[str, Any] | None:
        for version in ref.versions:
            obj = get(Ref(ref.api_version_of(version), ref.kind, ref.namespace, ref.name))
            if obj is not None:
                return obj
        return None

    return {
        router.name: router.read(rollout, routers.read_objects(router, rollout, first))
        for router in chosen
    }


def read_traffic(
    rollout: Rollout,
    get: Callable[[Ref], Mapping[str, Any] | None],
    implemented: Routers | None = None,
) -> TrafficView:
    """What :meth:`RouterTraffic.observe` would see, through a synchronous ``get``."""
    return traffic_view(list(read_states(rollout, get, implemented).values()))


def _agree(states: Sequence[RouterState]) -> bool:
    if not states:
        return True
    first = states[0]
    return all(s.agreed for s in states) and all(
        (s.weight or 0) == (first.weight or 0)
        and set(s.route_names) == set(first.route_names)
        and s.experiment_weights == first.experiment_weights
        for s in states
    )


@attrs.frozen
class _Held:
    """One router's objects as read, and the state they hold."""

    router: routers.TrafficRouter
    objects: dict[ObjectRef, dict[str, Any] | None]
    state: RouterState


class RouterTraffic:
    """Traffic through the routers of :mod:`progressive.routers`.

    Each action reads every router's objects, asks each router for the writes that
    bring its objects to the state wanted, applies them (creates for the objects the
    Rollout owns, merge patches guarded by resourceVersion for the others) and reads the
    objects back.  Several routers on one Rollout move together:

    * an action is done only when every router reports the state wanted once its writes
      are applied; until then it raises, the plan's status is not written, and the step
      does not advance;
    * when one router fails, the routers already moved (and the failing one) are
      brought back to the weight all of them held before -- and their routes to what
      each held -- before the error is raised;
    * a controller that died between two routers' writes leaves them disagreeing:
      :meth:`align`, called before each observation, brings them back to what all of
      them hold (:func:`traffic_view`), so the core always sees one state.

    ``routers`` is the registry it takes the routers from (default: progressive's and
    the installed plugins', :func:`progressive.routers.default_registry`); a mapping
    by key is taken as a registry of exactly those.  A Rollout that configures a router
    the registry does not hold is refused by :meth:`validate`; any other method raises
    :class:`~progressive.routers.RouterError` for it.

    Reads: inside :meth:`session` (one reconcile of a Rollout), what :meth:`align`
    read is what :meth:`observe` and the first action see, until a write; a write is
    checked against the object the server returned rather than read again.  Outside a
    session every call reads afresh.
    """

    def __init__(
        self,
        cluster: Cluster,
        routers: Routers | None = None,
    ) -> None:
        self.cluster = cluster
        self.routers = registry_of(routers)
        self._sessions: dict[str, list[_Held] | None] = {}  # Rollout key -> what was read

    @contextlib.contextmanager
    def session(self, rollout: Rollout) -> Iterator[None]:
        """Share reads of ``rollout``'s router objects until they are written (one
        reconcile: align, observe, apply)."""
        self._sessions[rollout.key] = None
        try:
            yield
        finally:
            self._sessions.pop(rollout.key, None)

    def routers_of(self, rollout: Rollout) -> list[routers.TrafficRouter]:
        """The Rollout's routers in configuration order.

        Raises:
            RouterError: it configures a router the registry does not hold.
        """
        return self.routers.routers_of(rollout)

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        """Routers the registry does not hold, what they cannot express, then each
        router's own checks (:meth:`RouterRegistry.validate`)."""
        return self.routers.validate(rollout)

    async def unserved(self, rollout: Rollout) -> list[FieldProblem]:
        """Each router whose objects' kind the API server serves in none of the API
        versions the router may use, one error per kind."""
        errors: list[FieldProblem] = []
        seen: set[tuple[str, str]] = set()
        for router in self.routers_of(rollout):
            for ref in router.refs(rollout):
                if (ref.group, ref.kind) in seen:
                    continue
                seen.add((ref.group, ref.kind))
                for version in ref.versions:
                    if await serves(self.cluster, ref.api_version_of(version), ref.kind):
                        break
                else:
                    versions = ", ".join(ref.api_version_of(v) for v in ref.versions)
                    errors.append(
                        FieldProblem(
                            f"spec.strategy.canary.trafficRouting.{router.name}",
                            f"the API server serves no {ref.kind} ({versions}), which the "
                            f"{router.name} router writes: is its CRD installed?",
                        )
                    )
        return errors

    # -- reading ------------------------------------------------------------------------
    async def _get(self, ref: ObjectRef) -> dict[str, Any] | None:
        # A cluster that can cache a kind (the controller's informers) is asked to: a
        # reconcile then reads its router objects from memory.  The versions of one
        # kind are views of the same objects: a cache of one that lacks the object
        # answers for all of them.
        cache = getattr(self.cluster, "watch_kind", None)
        for version in ref.versions:
            where = Ref(ref.api_version_of(version), ref.kind, ref.namespace, ref.name)
            cached = cache is not None and await cache(where.api_version, where.kind)
            obj = await self.cluster.get(where)
            if obj is not None or cached:
                return obj
        return None

    async def _read(self, rollout: Rollout, router: routers.TrafficRouter) -> _Held:
        objects: dict[ObjectRef, dict[str, Any] | None] = {}
        for pending in routers.reading_rounds(router, rollout, objects):
            for ref in pending:
                objects[ref] = await self._get(ref)
        return _Held(router, objects, router.read(rollout, objects))

    async def _read_all(self, rollout: Rollout) -> list[_Held]:
        chosen = self.routers_of(rollout)
        shared = self._sessions.get(rollout.key)
        if shared is not None:
            return shared
        held = [await self._read(rollout, router) for router in chosen]
        if rollout.key in self._sessions:
            self._sessions[rollout.key] = held
        return held

    def _wrote(self, rollout: Rollout) -> None:
        """What was read of ``rollout``'s routers is stale: the next call reads."""
        if rollout.key in self._sessions:
            self._sessions[rollout.key] = None

    @staticmethod
    def _after(rollout: Rollout, held: _Held, stored: Sequence[dict[str, Any]]) -> _Held:
        """``held`` with the objects the server returned for its writes."""
        objects = dict(held.objects)
        for obj in stored:
            meta = obj.get("metadata") or {}
            group = str(obj.get("apiVersion", "")).rpartition("/")[0]
            for ref in objects:
                if (ref.group, ref.kind, ref.namespace, ref.name) == (
                    group,
                    obj.get("kind"),
                    meta.get("namespace"),
                    meta.get("name"),
                ):
                    objects[ref] = obj
        return _Held(held.router, objects, held.router.read(rollout, objects))

    async def observe(self, rollout: Rollout) -> TrafficView:
        return traffic_view(await self.states(rollout))

    async def states(self, rollout: Rollout) -> list[RouterState]:
        """What each router of ``rollout`` holds now (with the pod-template hashes of
        the routers that pin them: Istio's subsets)."""
        return [h.state for h in await self._read_all(rollout)]

    async def objects(self, rollout: Rollout) -> list[dict[str, Any]]:
        """Every router object of ``rollout`` that exists, as stored."""
        out = []
        for router in self.routers_of(rollout):
            held = await self._read(rollout, router)
            out += [obj for obj in held.objects.values() if obj is not None]
        return out

    # -- writing ------------------------------------------------------------------------
    async def _write(self, writes: Sequence[routers.Write]) -> list[dict[str, Any]]:
        """Apply ``writes``; returns the objects as the server stored them."""
        stored = []
        for write in writes:
            match write:
                case routers.Create(ref, obj):
                    try:
                        stored.append(await self.cluster.create(obj))
                    except AlreadyExists:
                        raise Conflict(f"{ref} was created meanwhile") from None
                case routers.Patch(ref, patch):
                    where = Ref(ref.api_version, ref.kind, ref.namespace, ref.name)
                    try:
                        stored.append(await self.cluster.patch(where, patch))
                    except NotFound:
                        raise RouterError(f"{ref} disappeared") from None
                case _:
                    assert_never(write)
        return stored

    async def align(self, rollout: Rollout) -> int:
        held = await self._read_all(rollout)
        states = [h.state for h in held]
        if _agree(states):
            return 0
        view = traffic_view(states)
        log.warning("routers of Rollout %s disagree: bringing them back to %s", rollout.key, view)
        writes = 0
        self._wrote(rollout)
        for h in held:
            target = RouterState(
                weight=None if h.state.weight is None else view.weight,
                header_routes=tuple(
                    r for r in h.state.header_routes if r.name in view.header_routes
                ),
                mirror_routes=tuple(
                    r for r in h.state.mirror_routes if r.name in view.mirror_routes
                ),
                experiment_weights=view.experiment_weights if h.state.weight is not None else (),
            )
            writes += len(await self._write(h.router.plan(rollout, target, h.objects)))
        return writes

    async def _move(
        self,
        rollout: Rollout,
        change: Callable[[RouterState], RouterState],
        check: Callable[[RouterState], bool],
        wanted: str,
    ) -> None:
        held = await self._read_all(rollout)
        common = traffic_view([h.state for h in held]).weight
        moved: list[_Held] = []
        for h in held:
            moved.append(h)
            try:
                writes = h.router.plan(rollout, change(h.state), h.objects)
                if writes:
                    self._wrote(rollout)
                after = self._after(rollout, h, await self._write(writes))
                if not check(after.state):
                    raise RouterError(
                        f"the {h.router.name} router holds {_describe(after.state)} "
                        f"after the write, not {wanted}"
                    )
            except Exception as exc:
                back = await self._bring_back(rollout, moved, common)
                if isinstance(exc, RouterError):
                    raise RouterError(f"{h.router.name}: {exc}{back}") from exc
                raise

    async def _bring_back(self, rollout: Rollout, moved: list[_Held], weight: int | None) -> str:
        """Return the routers in ``moved`` to ``weight`` (and their routes to what each
        held before); a description for the error message."""
        self._wrote(rollout)
        done = []
        for h in moved:
            try:
                now = await self._read(rollout, h.router)
                target = attrs.evolve(
                    h.state,
                    weight=None if now.state.weight is None else (weight or 0),
                    canary_hash=None,
                    stable_hash=None,
                )
                await self._write(h.router.plan(rollout, target, now.objects))
                done.append(h.router.name)
            except Exception:  # the next align tries again
                log.exception(
                    "bringing the %s router of %s back failed", h.router.name, rollout.key
                )
        if not done:
            return ""
        return f"; {', '.join(done)} brought back to weight {weight or 0}"

    async def set_weight(self, rollout: Rollout, action: WriteWeight) -> None:
        await self._move(
            rollout,
            lambda s: attrs.evolve(
                s,
                weight=action.weight,
                canary_hash=action.canary_hash,
                stable_hash=action.stable_hash,
                experiment_weights=action.experiment_weights,
            ),
            lambda s: (
                s.weight == action.weight
                and s.experiment_weights == action.experiment_weights
                # a router that pins hashes holds those asked for (else the core, which
                # pins them whenever they differ, would ask again and again)
                and (
                    s.stable_hash is None
                    or (s.canary_hash, s.stable_hash) == (action.canary_hash, action.stable_hash)
                )
            ),
            f"weight {action.weight}"
            + "".join(f", {service} {w}" for service, w in action.experiment_weights)
            + f" (canary {action.canary_hash}, stable {action.stable_hash})",
        )

    @staticmethod
    def _pinned(rollout: Rollout, state: RouterState) -> RouterState:
        """``state`` with the pod-template hashes a route action pins (Istio subsets):
        the new revision for the canary, the stable one for the stable subset."""
        return attrs.evolve(
            state, canary_hash=rollout.template_hash(), stable_hash=rollout.status.stable_rs
        )

    async def set_header_route(self, rollout: Rollout, action: WriteHeaderRoute) -> None:
        def change(s: RouterState) -> RouterState:
            routes = [r for r in s.header_routes if r.name != action.name]
            if action.match:
                routes.append(HeaderRoute(action.name, action.match))
            return self._pinned(rollout, attrs.evolve(s, header_routes=tuple(routes)))

        await self._move(
            rollout,
            change,
            lambda s: (action.name in [r.name for r in s.header_routes]) == bool(action.match),
            f"header route {action.name} {'set' if action.match else 'removed'}",
        )

    async def set_mirror_route(self, rollout: Rollout, action: WriteMirrorRoute) -> None:
        def change(s: RouterState) -> RouterState:
            routes = [r for r in s.mirror_routes if r.name != action.name]
            if action.match:
                routes.insert(0, MirrorRoute(action.name, action.match, action.percentage))
            return self._pinned(rollout, attrs.evolve(s, mirror_routes=tuple(routes)))

        await self._move(
            rollout,
            change,
            lambda s: (action.name in [r.name for r in s.mirror_routes]) == bool(action.match),
            f"mirror route {action.name} {'set' if action.match else 'removed'}",
        )

    async def remove_managed_routes(self, rollout: Rollout, names: tuple[str, ...]) -> None:
        # Argo removes every managed route and every route a step made; a router reads
        # back only managed routes, so every route it holds goes
        await self._move(
            rollout,
            lambda s: attrs.evolve(s, header_routes=(), mirror_routes=()),
            lambda s: not s.route_names,
            "no managed routes",
        )


def _describe(state: RouterState) -> str:
    routes = ", ".join(state.route_names) or "none"
    return f"weight {state.weight} (routes: {routes})"
