"""The one shape every traffic router has, and the values it works on.

A router is *pure*: it performs no I/O.  The shell asks it which objects to read
(:meth:`TrafficRouter.refs`), reads them, and then

* :meth:`TrafficRouter.read` turns those objects into a :class:`RouterState` (the
  weight and the header and mirror routes they hold now), from which the shell builds
  the core's ``TrafficView``;
* :meth:`TrafficRouter.plan` gets the state wanted and the same objects and returns
  the writes (:class:`Create` for the objects the Rollout owns and which do not exist
  yet, :class:`Patch` -- an RFC 7386 merge patch -- for everything else) that bring
  the objects there, and nothing when they are there already.

Read and plan are each other's inverse: ``read(objects after plan(state))`` is
``state``, and planning the same state again on those objects gives no writes.  The
conformance suite (``tests/routers/test_conformance.py``) checks both for every router.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, Protocol, final

import attrs

from .._access import KubeAccess
from ..core._rollout import Rollout
from ..core._router_keys import RouterCapabilities
from ..core._steps import HeaderMatch
from ..errors import FieldProblem

__all__ = [
    "Create",
    "HeaderRoute",
    "KubeAccess",
    "MirrorRoute",
    "ObjectRef",
    "Objects",
    "Patch",
    "RouterState",
    "TrafficRouter",
    "Write",
    "LINK_DEPTH",
    "read_objects",
    "reading_rounds",
    "refs_to_read",
]


@attrs.frozen
class ObjectRef:
    """An object a router reads or writes.

    ``versions`` lists the API versions it may be stored under, preferred first (a
    VirtualService may have been applied as ``v1beta1`` or ``v1``): the shell reads
    the first one that exists.
    """

    group: str
    versions: tuple[str, ...]
    kind: str
    namespace: str
    name: str

    @property
    def api_version(self) -> str:
        """The preferred ``apiVersion``."""
        return self.api_version_of(self.versions[0])

    def api_version_of(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


# The objects of ``refs()`` as read: None for one that does not exist.
Objects = Mapping[ObjectRef, Mapping[str, Any] | None]


@attrs.frozen
class HeaderRoute:
    """Requests matching any of ``match`` go to the canary, whatever the weight."""

    name: str
    match: tuple[HeaderMatch, ...]


@attrs.frozen
class MirrorRoute:
    """``percentage`` percent of the requests matching any of ``match`` are copied to
    the canary.  ``match`` items keep Argo's shape: ``{method, path, headers}``, each a
    string match (``{exact|prefix|regex: value}``; ``headers`` maps a name to one)."""

    name: str
    match: tuple[Mapping[str, Any], ...]
    percentage: int = 100


@attrs.frozen
class RouterState:
    """What a router's objects hold, or should hold.

    Attributes:
        weight: the canary's share, in units of ``maxTrafficWeight`` (100 unless set).
            Read: None when the router holds no weight yet (its objects do not exist).
            Wanted: None leaves the weight as it is (0 for an object to be created).
        canary_hash, stable_hash: the pod-template hashes the routes pin (only routers
            that select pods themselves, Istio subsets, use them); None: leave as is.
        header_routes, mirror_routes: the managed routes held, by name, in order.
        experiment_weights: ``(service, weight)`` of the experiment templates' Services
            (extra destinations, in units of ``maxTrafficWeight`` like ``weight``; the
            stable Service gets what the canary and these leave), in order.  Only the
            routers that can express them (smi, istio) hold any; the others refuse a
            state that wants some.
        agreed: read only; False when the router's own objects disagree (one of two
            VirtualServices was written and not the other): ``weight`` is then the
            smallest and the routes those every object holds.
    """

    weight: int | None = None
    canary_hash: str | None = None
    stable_hash: str | None = None
    header_routes: tuple[HeaderRoute, ...] = ()
    mirror_routes: tuple[MirrorRoute, ...] = ()
    experiment_weights: tuple[tuple[str, int], ...] = ()
    agreed: bool = True

    @property
    def route_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.header_routes) + tuple(r.name for r in self.mirror_routes)


@final
@attrs.frozen
class Create:
    """Create ``obj`` (an object the Rollout owns: ownerReferences already set)."""

    ref: ObjectRef
    obj: Mapping[str, Any]


@final
@attrs.frozen
class Patch:
    """Apply the JSON merge patch ``patch`` to the object ``ref`` (stored under
    ``ref.versions[0]``); its ``metadata.resourceVersion`` is the one read, so an object
    changed meanwhile is not overwritten."""

    ref: ObjectRef
    patch: Mapping[str, Any]


Write = Create | Patch


class TrafficRouter(Protocol):
    """A traffic router: pure functions from a Rollout and plain-dict objects.

    What it declares (the registry, :class:`~progressive.routers.RouterRegistry`, reads
    it; ``lint``, ``simulate`` and the controller check Rollouts against it):

    * ``name``: its key under ``spec.strategy.canary.trafficRouting`` (``contour``);
    * ``plugin_names``: the Argo plugin names it also answers to under
      ``trafficRouting.plugins`` (``argoproj-labs/contour``), none for most;
    * ``capabilities``: what it can express besides a weight (header routes, mirror
      routes, experiment weights, ping-pong Services); a Rollout asking a router for
      more is refused with a message naming the routers that can;
    * ``access``: the Kubernetes access it needs on the objects it reads and writes
      (:class:`KubeAccess`: API group, resources, verbs, and why), which
      ``progressive install`` grants the controller.  Optional for a plugin: a router
      without it (or None, what a subclass of this Protocol inherits) still loads
      (lint, simulate and the controller use it), and ``progressive install`` warns
      that it grants that router nothing.  An empty sequence says it needs nothing
      beyond what every Rollout is granted (its Services).

    A router reads its configuration with :func:`~progressive.routers.router_config`
    (under whichever of its names the Rollout used).

    Optionally, a router whose objects name the others it reads (App Mesh: the
    VirtualService names its VirtualRouter) also has ``linked_refs(rollout, objects)
    -> Sequence[ObjectRef]``: the objects named by those read so far (``objects``,
    those of :meth:`refs` first); the shell reads them too, a bounded number of times
    (:data:`LINK_DEPTH`), and hands all of them to :meth:`read` and :meth:`plan`.
    """

    @property
    def name(self) -> str: ...

    @property
    def plugin_names(self) -> Sequence[str]: ...

    @property
    def capabilities(self) -> RouterCapabilities: ...

    @property
    def access(self) -> Sequence[KubeAccess] | None:
        """The Kubernetes access the router needs; None (what a class subclassing
        this Protocol without saying inherits): it declares none."""
        return None

    def validate(self, rollout: Rollout) -> list[FieldProblem]:
        """Problems with the router's configuration or with steps it cannot express."""
        ...

    def refs(self, rollout: Rollout) -> tuple[ObjectRef, ...]:
        """Every object the router reads or writes for ``rollout`` that the Rollout
        names (see ``linked_refs`` above for those other objects name)."""
        ...

    def read(self, rollout: Rollout, objects: Objects) -> RouterState:
        """The state the objects hold now.

        Raises:
            RouterError: the objects cannot be read as this router's (a foreign
                object where the Rollout's own should be).
        """
        ...

    def plan(self, rollout: Rollout, desired: RouterState, objects: Objects) -> Sequence[Write]:
        """The writes that bring ``objects`` to ``desired``; empty when they are there.

        Raises:
            RouterError: it cannot be done (see :class:`RouterError`).
        """
        ...

    def stand_ins(self, rollout: Rollout) -> list[dict[str, Any]]:
        """The objects a user would have made for this router (a stable Ingress, a
        VirtualService...): ``simulate`` creates those its files lack."""
        ...


#: How many times the objects a router reads may name more objects to read
#: (``linked_refs``): App Mesh's VirtualService naming its VirtualRouter is one.
LINK_DEPTH: Final = 2


def refs_to_read(
    router: TrafficRouter, rollout: Rollout, objects: Objects
) -> tuple[ObjectRef, ...]:
    """What ``router`` reads for ``rollout`` that ``objects`` (those read so far) lacks:
    its :meth:`~TrafficRouter.refs`, then the objects those name (its optional
    ``linked_refs``)."""
    linked = getattr(router, "linked_refs", None)
    wanted = [*router.refs(rollout), *(linked(rollout, objects) if linked is not None else ())]
    return tuple(dict.fromkeys(ref for ref in wanted if ref not in objects))


def reading_rounds(
    router: TrafficRouter, rollout: Rollout, objects: Objects
) -> Iterator[tuple[ObjectRef, ...]]:
    """The refs to read, round by round: the caller reads each round into ``objects``
    before asking for the next (at most ``1 + LINK_DEPTH`` rounds)."""
    for _ in range(1 + LINK_DEPTH):
        pending = refs_to_read(router, rollout, objects)
        if not pending:
            return
        yield pending


def read_objects(
    router: TrafficRouter, rollout: Rollout, get: Callable[[ObjectRef], Mapping[str, Any] | None]
) -> dict[ObjectRef, Mapping[str, Any] | None]:
    """Every object ``router`` reads for ``rollout`` (its refs and the linked ones), by a
    synchronous ``get`` (None for one that does not exist)."""
    objects: dict[ObjectRef, Mapping[str, Any] | None] = {}
    for pending in reading_rounds(router, rollout, objects):
        objects.update((ref, get(ref)) for ref in pending)
    return objects
