"""An async SDK for tools that drive rollouts: release scripts, CI jobs, chat bots.

Everything takes a cluster -- a :class:`~progressive._shell.kube.KubeCluster` (see
:func:`connect`), or the in-memory :class:`~progressive.memory.MemoryCluster` -- and the
Rollout's namespace and name, in either API group (``argoproj.io`` or
``progressive.dev``)::

    from progressive import client

    async with await client.connect() as cluster:            # $KUBECONFIG, or in a Pod
        await client.set_image(cluster, "shop", "web", "app", "registry.example/web:2.1")
        final = await client.wait_for(
            cluster, "shop", "web", phase="Healthy", timeout=900, on_update=print
        )

* :func:`set_image` changes a container's image -- in the Rollout's pod template, or
  in the Deployment its ``workloadRef`` names -- with optimistic concurrency;
* ``async for update in watch(cluster, namespace, name)`` yields a
  :class:`RolloutState` whenever the rollout's status changes (phase, step, weight,
  replicas) and a :class:`RolloutEvent` for every Kubernetes Event about it;
* :func:`wait_for` returns once the *current* revision (the pod template as it is
  now, not the one a Healthy status may still be about) reaches a phase, and raises
  :class:`RolloutFailed` when it reaches a failing one (Degraded: aborted, or an
  invalid spec) and ``TimeoutError`` when time runs out.

The controller does the work; these only read and write the Rollout (and its Deployment).
"""

from __future__ import annotations

import collections
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs

from ._shell.clusters import Change, Cluster, Conflict, NotFound, Ref, list_owned
from .core._errors import ManifestError
from .core._pod_templates import adopt_replica_set
from .core._rollout import API_GROUPS, Rollout
from .core._status import RolloutStatus
from .core._workloads import with_workload

if TYPE_CHECKING:
    from ._shell.kube import KubeCluster

__all__ = [
    "RolloutEvent",
    "RolloutFailed",
    "RolloutState",
    "Update",
    "connect",
    "get_rollout",
    "is_current",
    "set_image",
    "wait_for",
    "watch",
]

_CONFLICT_RETRIES: Final = 5
_EVENT_POLL: Final = 2  # seconds between two looks at the Events on a real server


@attrs.frozen
class RolloutState:
    """A Rollout's status at one moment (what ``kubectl get rollout`` shows)."""

    namespace: str
    name: str
    phase: str
    message: str
    step: int | None  # currentStepIndex (canary)
    steps: int | None  # how many canary steps there are
    weight: int  # percent of traffic the routers send to the canary
    replicas: int
    updated: int
    available: int
    stable: str | None  # the stable pod-template hash
    current: str | None  # the pod-template hash the status is about
    aborted: bool
    generation: int
    observed_generation: int
    manifest: Mapping[str, Any] = attrs.field(eq=False, repr=False, factory=dict)

    @classmethod
    def of(cls, manifest: Mapping[str, Any]) -> RolloutState:
        meta = manifest.get("metadata") or {}
        status = RolloutStatus.from_manifest(manifest.get("status"))
        strategy = ((manifest.get("spec") or {}).get("strategy") or {}).get("canary")
        steps = strategy.get("steps") if isinstance(strategy, Mapping) else None
        try:
            generation = int(meta.get("generation") or 0)
        except (TypeError, ValueError):
            generation = 0
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            phase=status.phase,
            message=status.message,
            step=status.current_step_index,
            steps=len(steps) if isinstance(steps, list) else None,
            weight=status.canary_weight,
            replicas=status.replicas,
            updated=status.updated_replicas,
            available=status.available_replicas,
            stable=status.stable_rs,
            current=status.current_pod_hash,
            aborted=status.abort,
            generation=generation,
            observed_generation=status.observed_generation,
            manifest=manifest,
        )

    def __str__(self) -> str:
        parts = [self.phase or "(no status yet)"]
        if self.steps is not None and self.step is not None:
            parts.append(f"step {self.step}/{self.steps}")
        if self.weight:
            parts.append(f"weight {self.weight}%")
        parts.append(f"{self.available}/{self.replicas} available")
        text = f"{self.namespace}/{self.name}: " + ", ".join(parts)
        return f"{text}: {self.message}" if self.message else text


@attrs.frozen
class RolloutEvent:
    """A Kubernetes Event about the Rollout (``kubectl describe rollout`` shows them)."""

    namespace: str
    name: str  # the Rollout's
    type: str  # Normal | Warning
    reason: str
    message: str
    count: int = 1
    time: str = ""  # lastTimestamp

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> RolloutEvent:
        involved = event.get("involvedObject") or {}
        try:
            count = int(event.get("count") or 1)
        except (TypeError, ValueError):
            count = 1
        return cls(
            namespace=str(involved.get("namespace") or ""),
            name=str(involved.get("name") or ""),
            type=str(event.get("type") or "Normal"),
            reason=str(event.get("reason") or ""),
            message=str(event.get("message") or ""),
            count=count,
            time=str(event.get("lastTimestamp") or event.get("eventTime") or ""),
        )

    def __str__(self) -> str:
        times = f" (x{self.count})" if self.count > 1 else ""
        return f"{self.type} {self.reason}: {self.message}{times}"


#: What :func:`watch` yields.
Update = RolloutState | RolloutEvent


class RolloutFailed(Exception):
    """The current revision reached a failing phase (Degraded: aborted, invalid spec)."""

    def __init__(self, state: RolloutState) -> None:
        super().__init__(f"{state.namespace}/{state.name} is {state.phase}: {state.message}")
        self.state = state


async def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    request_timeout: float | None = None,
) -> KubeCluster:
    """A cluster from a kubeconfig (default: ``$KUBECONFIG``, ``~/.kube/config``) or, in
    a Pod, its ServiceAccount.  Close it (``async with``) when done.

    Args:
        request_timeout: seconds each request may take (default 30); a server that
            does not answer in time raises an error naming it and the request.
    """
    from ._shell.kube import DEFAULT_REQUEST_TIMEOUT, KubeCluster

    return await KubeCluster.connect(
        kubeconfig, context, request_timeout=request_timeout or DEFAULT_REQUEST_TIMEOUT
    )


async def get_rollout(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    """The Rollout, in whichever API group it is (None when there is none)."""
    for api_version in API_GROUPS:
        found = await cluster.get(Ref(api_version, "Rollout", namespace, name))
        if found is not None:
            return found
    return None


async def _require(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found = await get_rollout(cluster, namespace, name)
    if found is None:
        raise NotFound(f"Rollout {namespace}/{name} not found")
    return found


def _workload_ref(rollout: Mapping[str, Any], namespace: str) -> Ref | None:
    ref = (rollout.get("spec") or {}).get("workloadRef")
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return None
    return Ref(
        str(ref.get("apiVersion") or "apps/v1"),
        str(ref.get("kind") or "Deployment"),
        namespace,
        str(ref["name"]),
    )


async def set_image(
    cluster: Cluster, namespace: str, name: str, container: str, image: str
) -> dict[str, Any]:
    """Set ``container``'s image in the Rollout's pod template (in the Deployment its
    ``workloadRef`` names, if it has one) and return the object as stored.

    The write carries the resourceVersion read, so a concurrent edit is never lost: a
    conflict reads again and retries.  Setting the image it already has writes nothing.

    Raises:
        NotFound: no such Rollout (or Deployment).
        ValueError: the pod template has no container of that name.
    """
    for attempt in range(_CONFLICT_RETRIES):
        rollout = await _require(cluster, namespace, name)
        ref = _workload_ref(rollout, namespace)
        if ref is None:
            ref, obj = Ref.of(rollout), rollout
        else:
            found = await cluster.get(ref)
            if found is None:
                raise NotFound(f"{ref} (the workloadRef of Rollout {namespace}/{name}) not found")
            obj = found
        template_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        patch_spec: dict[str, Any] = {}
        changed = matched = False
        for key in ("initContainers", "containers"):
            containers = [dict(c) for c in template_spec.get(key) or () if isinstance(c, Mapping)]
            for c in containers:
                if c.get("name") == container:
                    matched = True
                    if c.get("image") != image:
                        c["image"] = image
                        changed = True
                        patch_spec[key] = containers
        if not matched:
            raise ValueError(f"{ref} has no container named {container!r}")
        if not changed:
            return obj
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        try:
            return await cluster.patch(
                ref,
                {"metadata": {"resourceVersion": rv}, "spec": {"template": {"spec": patch_spec}}},
            )
        except Conflict:
            await anyio.sleep(random.uniform(0.01, 0.02) * 2**attempt)  # read again, retry
    raise Conflict(f"Rollout {namespace}/{name}: kept changing while its image was set")


async def is_current(cluster: Cluster, state: RolloutState) -> bool:
    """Whether ``state`` is about the Rollout's spec as it is now: the controller has
    seen its generation, and the status is about its pod template (the Deployment's,
    with a ``workloadRef``).  A Healthy status from before an image was set is not."""
    if state.observed_generation < state.generation:
        return False
    try:
        rollout = Rollout.from_manifest(state.manifest)
    except ManifestError:
        return True  # an invalid spec: the status (InvalidSpec) is about it already
    ref = _workload_ref(state.manifest, state.namespace)
    if ref is not None:
        workload = await cluster.get(ref)
        if workload is None:
            return True  # the status says it is missing
        rollout = with_workload(rollout, workload)
    if state.current == rollout.template_hash():
        return True
    # a template an undo copied from a ReplicaSet: that one's hash is the current one
    owned = await list_owned(cluster, "apps/v1", "ReplicaSet", state.namespace, rollout.uid)
    return state.current == adopt_replica_set(rollout, owned).template_hash()


def _about(event: Mapping[str, Any], namespace: str, name: str) -> bool:
    involved = event.get("involvedObject") or {}
    return (
        involved.get("kind") == "Rollout"
        and involved.get("name") == name
        and (involved.get("namespace") or namespace) == namespace
    )


class _Follower:
    """Turns objects seen into updates: a state when the status changed, an event
    when it is new (or counted again)."""

    def __init__(self, namespace: str, name: str, events: bool) -> None:
        self.namespace = namespace
        self.name = name
        self.events = events
        self.state: RolloutState | None = None
        self.counts: dict[str, int] = {}

    def rollout(self, manifest: Mapping[str, Any]) -> list[Update]:
        state = RolloutState.of(manifest)
        if state == self.state:
            return []
        self.state = state
        return [state]

    def event(self, event: Mapping[str, Any], *, announce: bool = True) -> list[Update]:
        if not self.events or not _about(event, self.namespace, self.name):
            return []
        key = str((event.get("metadata") or {}).get("name") or "")
        update = RolloutEvent.of(event)
        if self.counts.get(key, 0) >= update.count:
            return []
        self.counts[key] = update.count
        return [update] if announce else []


async def watch(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    events: bool = True,
    history: bool = False,
    interval: float = 1.0,
) -> AsyncIterator[Update]:
    """Follow a Rollout: its current :class:`RolloutState` first, then a new one at
    every status change and a :class:`RolloutEvent` for every Event about it.  Ends
    when the Rollout is deleted.

    Args:
        events: yield Kubernetes Events too.
        history: yield the Events that exist already (by default only new ones, and
            old ones counted again).
        interval: seconds between two looks, on a cluster that reports no changes
            (on a real server the status is watched; Events are looked at every
            couple of seconds).

    Raises:
        NotFound: no such Rollout.
    """
    follow = _Follower(namespace, name, events)
    manifest = await _require(cluster, namespace, name)
    ref = Ref.of(manifest)
    for update in follow.rollout(manifest):
        yield update
    if events:
        for event in await _events(cluster, namespace, name):
            for update in follow.event(event, announce=history):
                yield update
    subscribe = getattr(cluster, "subscribe", None)
    if subscribe is not None:
        source = _subscribed(cluster, subscribe, ref, follow)
    elif hasattr(cluster, "watch") and hasattr(cluster, "list_with_version"):
        source = _watched(cluster, ref, follow)
    else:
        source = _polled(cluster, ref, follow, interval)
    async for update in source:
        yield update


async def _events(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    lister = getattr(cluster, "list_with_version", None)
    if lister is not None:
        selector = f"involvedObject.kind=Rollout,involvedObject.name={name}"
        result = await lister("v1", "Event", namespace, field_selector=selector)
        items: list[dict[str, Any]] = result.items
    else:
        items = [
            e for e in await cluster.list("v1", "Event", namespace) if _about(e, namespace, name)
        ]
    return sorted(items, key=_written_at)


def _written_at(event: Mapping[str, Any]) -> tuple[str, int]:
    """Events in the order they were last written (resourceVersions grow on one server)."""
    meta = event.get("metadata") or {}
    version = str(meta.get("resourceVersion") or "")
    return (str(event.get("lastTimestamp") or ""), int(version) if version.isdigit() else 0)


async def _subscribed(
    cluster: Cluster, subscribe: Any, ref: Ref, follow: _Follower
) -> AsyncIterator[Update]:
    """A cluster that reports its changes (the in-memory one)."""
    pending: collections.deque[Change] = collections.deque()
    wake = anyio.Event()

    def on_change(change: Change) -> None:
        nonlocal wake
        if (change.kind == "Rollout" and change.api_version == ref.api_version) or (
            change.kind == "Event" and change.namespace == ref.namespace
        ):
            pending.append(change)
            wake.set()

    unsubscribe = subscribe(on_change)
    try:
        # what changed between the first read and the subscription
        current = await cluster.get(ref)
        if current is None:
            return
        for update in follow.rollout(current):
            yield update
        while True:
            if not pending:
                await wake.wait()
                wake = anyio.Event()
                continue
            change = pending.popleft()
            if change.kind == "Event":
                for update in follow.event(dict(change.obj)):
                    yield update
            elif change.name == ref.name and change.namespace == ref.namespace:
                if change.type == "deleted":
                    return
                for update in follow.rollout(dict(change.obj)):
                    yield update
    finally:
        unsubscribe()


async def _watched(cluster: Any, ref: Ref, follow: _Follower) -> AsyncIterator[Update]:
    """A real server: watch the Rollout (each watch ends after a couple of seconds, so
    the Events are looked at in between) and resume from the last resourceVersion."""
    from contextlib import aclosing

    from ._shell.kube import Gone, KubeError

    version = ""
    failures = 0
    while True:
        if not version:
            listed = await cluster.list_with_version(
                ref.api_version,
                "Rollout",
                ref.namespace,
                field_selector=f"metadata.name={ref.name}",
            )
            if not listed.items:
                return
            version = listed.resource_version
            for update in follow.rollout(listed.items[0]):
                yield update
        try:
            stream = cluster.watch(
                ref.api_version,
                "Rollout",
                ref.namespace,
                resource_version=version,
                timeout_seconds=_EVENT_POLL,
                field_selector=f"metadata.name={ref.name}",
            )
            async with aclosing(stream):
                async for item in stream:
                    obj = item.get("object") or {}
                    kind = item.get("type")
                    if kind == "ERROR":
                        if int(obj.get("code") or 0) == 410:
                            raise Gone("expired", status=410)
                        raise KubeError(
                            str(obj.get("message") or obj), status=int(obj.get("code") or 0)
                        )
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    if kind == "DELETED":
                        return
                    if kind in ("ADDED", "MODIFIED"):
                        for update in follow.rollout(obj):
                            # the Events of the reconcile that wrote it come first
                            async for event in _new_events(cluster, ref, follow):
                                yield event
                            yield update
            failures = 0
        except Gone:
            version = ""
        except KubeError:
            failures += 1
            await anyio.sleep(min(10.0, 0.5 * 2**failures))
        async for event in _new_events(cluster, ref, follow):
            yield event


async def _new_events(cluster: Cluster, ref: Ref, follow: _Follower) -> AsyncIterator[Update]:
    """The Events about the Rollout not yielded yet (none when they cannot be read)."""
    from ._shell.kube import KubeError

    if not follow.events:
        return
    try:
        found = await _events(cluster, ref.namespace, ref.name)
    except KubeError:
        return
    for event in found:
        for update in follow.event(event):
            yield update


async def _polled(
    cluster: Cluster, ref: Ref, follow: _Follower, interval: float
) -> AsyncIterator[Update]:
    while True:
        await anyio.sleep(interval)
        current = await cluster.get(ref)
        if current is None:
            return
        async for event in _new_events(cluster, ref, follow):
            yield event
        for update in follow.rollout(current):
            yield update


async def wait_for(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    phase: str | Collection[str] = "Healthy",
    timeout: float | None = 600.0,  # noqa: ASYNC109 - what a CI job wants to say
    fail_on: Collection[str] | None = None,
    on_update: Callable[[Update], Awaitable[None] | None] | None = None,
) -> RolloutState:
    """Wait until the Rollout's current revision is in ``phase`` (one of them).

    Args:
        phase: the phase, or phases, to wait for (Healthy, Paused, Degraded...).
        timeout: seconds (None: no limit).
        fail_on: phases that end the wait with :class:`RolloutFailed` (default:
            Degraded, unless waited for).
        on_update: called with every update on the way (states and Events).

    Raises:
        RolloutFailed: the current revision reached a phase of ``fail_on``.
        TimeoutError: ``timeout`` passed first.
        NotFound: no such Rollout (or it was deleted meanwhile).
    """
    wanted = {phase} if isinstance(phase, str) else set(phase)
    failing = set(fail_on) if fail_on is not None else {"Degraded"} - wanted
    with anyio.fail_after(timeout):
        async for update in watch(cluster, namespace, name, events=on_update is not None):
            if on_update is not None:
                maybe = on_update(update)
                if maybe is not None:
                    await maybe
            if not isinstance(update, RolloutState) or not await is_current(cluster, update):
                continue
            if update.phase in wanted:
                return update
            if update.phase in failing:
                raise RolloutFailed(update)
    raise NotFound(f"Rollout {namespace}/{name} was deleted")
