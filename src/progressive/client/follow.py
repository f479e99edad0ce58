"""Following a Rollout: :func:`watch` yields its state at every status change and
every Kubernetes Event about it; :func:`wait_for` waits until its *current* revision
reaches a phase.

On the in-memory cluster the changes come from :meth:`MemoryCluster.subscribe
<progressive.memory.MemoryCluster.subscribe>`; on a real server from a watch of the
Rollout (resumed from its resourceVersion), with the Events read between two watches.
Both are async generators: close them (``async with contextlib.aclosing(...)``) when
you stop early, as :func:`wait_for` does, so that nothing is left to the garbage
collector (trio warns about that).
"""

from __future__ import annotations

import collections
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Mapping
from contextlib import aclosing
from typing import Any, Final

import anyio

from .._clusters import Change, Cluster, Ref, list_owned
from ..core._names import COMPLETED_EVENT, PROMOTED_EVENT
from ..core._pod_templates import adopt_replica_set
from ..core._rollout import Rollout
from ..core._status import Phase
from ..core._workloads import with_workload
from ..errors import ManifestError, NotFound
from .reading import events as rollout_events
from .reading import find_rollout, is_about, replica_sets
from .state import RolloutEvent, RolloutFailed, RolloutState, Update, needs_replica_sets

__all__ = ["event_counts", "is_current", "state_of", "wait_for", "watch"]

_EVENT_POLL: Final = 2  # seconds between two looks at the Events on a real server
# A controller writes Events in the background, a moment after the status they explain
# (never before it: they must not delay it, and a busy controller writes them with
# spare rate-limit tokens only), so a wait can end before the Events of its last step
# are written.  The one that announces a promotion the wait saw (Promoted, or a
# blue-green Rollout's RolloutCompleted) is waited for, for at most this long, looked
# for this often (in-process, on a cluster that reports its changes: every Event)...
_EVENT_WAIT: Final = 30.0
_EVENT_WAIT_POLL: Final = 0.25
# ... and the others are looked for this long after a wait is over.
_EVENT_GRACE: Final = 1.0
_EVENT_GRACE_IN_PROCESS: Final = 0.05
ABORTED: Final = "RolloutAborted"  # how the message of an aborted Rollout starts


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


async def state_of(cluster: Cluster, manifest: Mapping[str, Any]) -> RolloutState:
    """The :class:`RolloutState` of a Rollout manifest, with the canary's ReplicaSet read
    when the actual weight needs it (a canary without a traffic router, mid-update)."""
    if not needs_replica_sets(manifest):
        return RolloutState.of(manifest)
    current = str((manifest.get("status") or {}).get("currentPodHash"))
    return RolloutState.of(manifest, await replica_sets(cluster, manifest, pod_hash=current))


async def is_current(cluster: Cluster, state: RolloutState) -> bool:
    """Whether ``state`` is about the Rollout's spec as it is now: the controller has
    seen its generation, and the status is about its pod template (the Deployment's,
    with a ``workloadRef``).  A Healthy status from before an image was set is not.

    Nor is a phase the controller has not recomputed since a command changed what it
    derives from: Paused with no pause left (a :func:`promote` or :func:`resume`), or
    Degraded by an abort that a :func:`retry` cleared."""
    if state.observed_generation < state.generation:
        return False
    if state.phase == Phase.PAUSED and state.pause is None:
        return False
    if state.phase == Phase.DEGRADED and not state.aborted:
        if state.message.startswith(ABORTED):
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


class _Follower:
    """Turns objects seen into updates: a state when the status changed, an event
    when it is new (or counted again)."""

    def __init__(self, cluster: Cluster, namespace: str, name: str, events: bool) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.events = events
        self.state: RolloutState | None = None
        self.counts: dict[str, int] = {}

    async def rollout(self, manifest: Mapping[str, Any]) -> list[Update]:
        state = await state_of(self.cluster, manifest)
        if state == self.state:
            return []
        self.state = state
        return [state]

    def event(self, event: Mapping[str, Any], *, announce: bool = True) -> list[Update]:
        if not self.events or not is_about(event, self.namespace, self.name):
            return []
        key = str((event.get("metadata") or {}).get("name") or "")
        update = RolloutEvent.of(event)
        if self.counts.get(key, 0) >= update.count:
            return []
        self.counts[key] = update.count
        return [update] if announce else []

    async def new_events(self, ref: Ref) -> list[Update]:
        """The Events about the Rollout not yielded yet (none when they cannot be read)."""
        from ..errors import KubeError

        if not self.events:
            return []
        try:
            found = await rollout_events(self.cluster, ref.namespace, ref.name)
        except KubeError:
            return []
        return [update for event in found for update in self.event(event)]


async def watch(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    events: bool = True,
    history: bool = False,
    interval: float = 1.0,
) -> AsyncGenerator[Update, None]:
    """Follow a Rollout: its current :class:`RolloutState` first, then a new one at
    every status change and a :class:`RolloutEvent` for every Event about it.  Ends
    when the Rollout is deleted.

    An async generator: when you stop before it ends, close it (``async with
    contextlib.aclosing(watch(...)) as updates:``), which ends its subscription or
    watch at once.

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
    updates = _follow(_Follower(cluster, namespace, name, events), history, interval)
    async with aclosing(updates):
        async for update in updates:
            yield update


async def _follow(
    follow: _Follower, history: bool, interval: float
) -> AsyncGenerator[Update, None]:
    cluster, namespace, name, events = follow.cluster, follow.namespace, follow.name, follow.events
    manifest = await find_rollout(cluster, namespace, name)
    ref = Ref.of(manifest)
    for update in await follow.rollout(manifest):
        yield update
    if events:
        for event in await rollout_events(cluster, namespace, name):
            for update in follow.event(event, announce=history):
                yield update
    subscribe = getattr(cluster, "subscribe", None)
    if subscribe is not None:
        source = _subscribed(cluster, subscribe, ref, follow)
    elif hasattr(cluster, "watch") and hasattr(cluster, "list_with_version"):
        source = _watched(cluster, ref, follow)
    else:
        source = _polled(cluster, ref, follow, interval)
    async with aclosing(source):
        async for update in source:
            yield update


async def _subscribed(
    cluster: Cluster, subscribe: Any, ref: Ref, follow: _Follower
) -> AsyncGenerator[Update, None]:
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
        for update in await follow.rollout(current):
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
                for update in await follow.rollout(dict(change.obj)):
                    yield update
    finally:
        unsubscribe()


async def _watched(cluster: Any, ref: Ref, follow: _Follower) -> AsyncGenerator[Update, None]:
    """A real server: watch the Rollout (each watch ends after a couple of seconds, so
    the Events are looked at in between) and resume from the last resourceVersion."""
    from ..errors import Gone, KubeError

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
            for update in await follow.rollout(listed.items[0]):
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
                        for update in await follow.rollout(obj):
                            # the Events of the reconcile that wrote it come first
                            for event in await follow.new_events(ref):
                                yield event
                            yield update
            failures = 0
        except Gone:
            version = ""
        except KubeError:
            failures += 1
            await anyio.sleep(min(10.0, 0.5 * 2**failures))
        for event in await follow.new_events(ref):
            yield event


async def _polled(
    cluster: Cluster, ref: Ref, follow: _Follower, interval: float
) -> AsyncGenerator[Update, None]:
    while True:
        await anyio.sleep(interval)
        current = await cluster.get(ref)
        if current is None:
            return
        for event in await follow.new_events(ref):
            yield event
        for update in await follow.rollout(current):
            yield update


async def event_counts(cluster: Cluster, namespace: str, name: str) -> dict[str, int]:
    """The Events about the Rollout now, name -> count: taken before a change, what
    :func:`wait_for` (``since``) then leaves out."""
    return {
        str((e.get("metadata") or {}).get("name") or ""): RolloutEvent.of(e).count
        for e in await rollout_events(cluster, namespace, name)
    }


async def wait_for(
    cluster: Cluster,
    namespace: str,
    name: str,
    *,
    phase: str | Collection[str] = "Healthy",
    timeout: float | None = 600.0,  # noqa: ASYNC109 - what a CI job wants to say
    fail_on: Collection[str] | None = None,
    on_update: Callable[[Update], Awaitable[None] | None] | None = None,
    since: Mapping[str, int] | None = None,
) -> RolloutState:
    """Wait until the Rollout's current revision is in ``phase`` (one of them).

    Args:
        phase: the phase, or phases, to wait for (Healthy, Paused, Degraded...).
        timeout: seconds (None: no limit).
        fail_on: phases that end the wait with :class:`RolloutFailed` (default:
            Degraded, unless waited for).
        on_update: called with every update on the way (states and Events).  The
            controller writes Events a moment after the status they explain: when the
            wait saw the revision it ends at become stable, the Event announcing it
            (``Promoted``; a blue-green Rollout's ``RolloutCompleted``) is waited for
            (30 s at most); other Events written within a second after the wanted
            phase are passed on too.
        since: :func:`event_counts` taken before the change waited on: every Event
            written since is passed to ``on_update``, even one written before this
            call (the controller may be quicker than the caller).  Without it, the
            Events that exist when the wait starts are left out.

    Raises:
        RolloutFailed: the current revision reached a phase of ``fail_on``.
        TimeoutError: ``timeout`` passed first.
        NotFound: no such Rollout (or it was deleted meanwhile).
    """
    wanted = {phase} if isinstance(phase, str) else set(phase)
    failing = set(fail_on) if fail_on is not None else {"Degraded"} - wanted
    follow = _Follower(cluster, namespace, name, on_update is not None)
    follow.counts.update(since or {})
    told: list[str] = []  # the reasons of the Events told
    first: list[RolloutState] = []  # the first state seen

    async def tell(update: Update) -> None:
        if isinstance(update, RolloutEvent):
            told.append(update.reason)
        elif not first:
            first.append(update)
        if on_update is not None:
            maybe = on_update(update)
            if maybe is not None:
                await maybe

    async def last_events(final: RolloutState) -> None:
        if on_update is None:
            return
        ref = Ref("", "Rollout", namespace, name)
        in_process = getattr(cluster, "subscribe", None) is not None
        announcing = _announcing(first[0] if first else final, final)
        if announcing is not None and announcing not in told:
            with anyio.move_on_after(_EVENT_WAIT):
                while announcing not in told:
                    await anyio.sleep(_EVENT_GRACE_IN_PROCESS if in_process else _EVENT_WAIT_POLL)
                    for update in await follow.new_events(ref):
                        await tell(update)
        await anyio.sleep(_EVENT_GRACE_IN_PROCESS if in_process else _EVENT_GRACE)
        for update in await follow.new_events(ref):
            await tell(update)

    updates = _follow(follow, since is not None, 1.0)
    with anyio.fail_after(timeout):
        async with aclosing(updates):
            async for update in updates:
                await tell(update)
                if not isinstance(update, RolloutState) or not await is_current(cluster, update):
                    continue
                if update.phase in wanted:
                    await last_events(update)
                    return update
                if update.phase in failing:
                    await last_events(update)
                    raise RolloutFailed(update)
    raise NotFound(f'rollout "{name}" in namespace "{namespace}" was deleted')


def _announcing(first: RolloutState, final: RolloutState) -> str | None:
    """The reason of the Event that announces the promotion a wait saw (the revision it
    ended at became stable after its first state), which the controller writes after
    the status; None when it saw none."""
    if final.stable is None or final.stable != final.current or first.stable == final.stable:
        return None
    blue_green = "blueGreen" in ((final.manifest.get("spec") or {}).get("strategy") or {})
    return COMPLETED_EVENT if blue_green else PROMOTED_EVENT
