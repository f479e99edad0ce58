"""Where the dashboard reads, what tells it that something changed, and how its buttons
act: a :class:`KubeSource` (a real cluster, read through informers: one list and one
watch per kind, kept in memory) or a :class:`MemorySource` (the ``--memory`` state).

Both feed a :class:`Hub` with the namespaces that changed; the page's event streams
wait on it, so nothing polls the cluster.  The buttons call :mod:`progressive.client`:
on a real cluster its commands on the API server (the controller does the rest), in
memory through the CLI's session, which settles the in-memory controller and saves the
state, as any ``progressive --memory`` command does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc

from ... import client
from ..._clusters import Ref
from .._info import Objects
from .._target import ROLLOUT_GROUPS, CliError, Session, Target, _read_state, open_session

if TYPE_CHECKING:
    from ..._clusters import Change, Cluster
    from ..._shell.informers import Informer
    from ...memory import MemoryCluster

__all__ = ["ACTIONS", "Hub", "KubeSource", "MemorySource", "Source"]

log = logging.getLogger("progressive.dashboard")

#: Seconds between two looks at the ``--memory`` state file (a stat, not a read).
STATE_CHECK: Final = 1.0
#: Seconds the informers may take to list what the dashboard shows, at start.
SYNC_TIMEOUT: Final = 30.0

Command = Callable[["Cluster", str, str], Awaitable[Any]]

#: The buttons: action -> (the client's command, what is said once it is done).
ACTIONS: Final[Mapping[str, tuple[Command, str]]] = {
    "promote": (client.promote, "promoted"),
    "promote-full": (lambda c, ns, n: client.promote(c, ns, n, full=True), "fully promoted"),
    "abort": (client.abort, "aborted"),
    "retry": (client.retry, "retried"),
    "pause": (client.pause, "paused"),
    "resume": (client.resume, "resumed"),
    "restart": (client.restart, "restarts"),
    "undo": (client.undo, "rolled back"),
}


class Hub:
    """Who wants to know that something changed, and in which namespace.

    :meth:`changed` is called from cluster callbacks (synchronously, in the event loop);
    :meth:`wait` wakes every waiting stream, which then looks whether its namespace moved.
    """

    def __init__(self) -> None:
        self.version = 0  # every change
        self.everything = 0  # changes that concern every namespace (a reload)
        self.namespaces: dict[str, int] = {}
        self._event = anyio.Event()

    def changed(self, namespace: str | None) -> None:
        self.version += 1
        if namespace is None:
            self.everything += 1
        else:
            self.namespaces[namespace] = self.namespaces.get(namespace, 0) + 1
        self._event.set()
        self._event = anyio.Event()

    def mark(self, namespace: str | None) -> tuple[int, int]:
        """What a stream about ``namespace`` (None: all) has seen."""
        if namespace is None:
            return (self.version, 0)
        return (self.everything, self.namespaces.get(namespace, 0))

    async def wait(self) -> None:
        await self._event.wait()


class Source:
    """The reads the pages need, over :attr:`reader` (a Cluster)."""

    hub: Hub
    namespace: str | None  # the namespace shown (None: all)
    groups: tuple[str, ...] = ROLLOUT_GROUPS  # where Rollouts are read
    run_groups: tuple[str, ...] = ROLLOUT_GROUPS  # where AnalysisRuns are read

    @property
    def reader(self) -> Cluster:
        raise NotImplementedError

    @property
    def writer(self) -> Cluster:
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        raise NotImplementedError

    async def act(self, action: str, namespace: str, name: str) -> str:
        """Run a button's command; what to say once it is done.

        Raises:
            KeyError: no such action.
            ClusterError, EditError: the command's (no such Rollout, a conflict...).
        """
        command, done = ACTIONS[action]
        await command(self.writer, namespace, name)
        return f"rollout '{name}' {done}"

    async def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return await client.events(self.reader, namespace, name)

    async def rollouts(self, namespace: str | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for group in self.groups:
            found.extend(await self.reader.list(group, "Rollout", namespace))
        return sorted(
            found, key=lambda r: (r["metadata"].get("namespace", ""), r["metadata"]["name"])
        )

    async def replica_sets(self, namespace: str | None) -> list[dict[str, Any]]:
        return await self.reader.list("apps/v1", "ReplicaSet", namespace)

    async def rollout(self, namespace: str, name: str) -> dict[str, Any] | None:
        for group in self.groups:
            found = await self.reader.get(Ref(group, "Rollout", namespace, name))
            if found is not None:
                return found
        return None

    async def objects(self, rollout: Mapping[str, Any]) -> Objects:
        """The ReplicaSets and AnalysisRuns around ``rollout``."""
        namespace = str(rollout["metadata"].get("namespace") or "default")
        runs: list[dict[str, Any]] = []
        for group in self.run_groups:
            runs.extend(await self.reader.list(group, "AnalysisRun", namespace))
        return Objects(
            replica_sets=await self.reader.list("apps/v1", "ReplicaSet", namespace),
            analysis_runs=runs,
        )


class MemorySource(Source):
    """The ``--memory`` state file: shown as it is on disk (a command run meanwhile, in
    another terminal, shows up within :data:`STATE_CHECK`), changed by the buttons
    through the CLI's session (locked, settled, saved)."""

    def __init__(self, target: Target, *, all_namespaces: bool = False) -> None:
        self.target = target
        self.path = target.state_path
        self.namespace = None if all_namespaces else (target.namespace or "default")
        self.hub = Hub()
        self._cluster: MemoryCluster | None = None
        self._stamp: tuple[int, int] | None = None

    @property
    def reader(self) -> Cluster:
        assert self._cluster is not None, "run() loads the state"
        return self._cluster

    @property
    def writer(self) -> Cluster:
        raise AssertionError("in memory, act() writes through a session")

    def now(self) -> float:
        assert self._cluster is not None
        return self._cluster.clock.now()

    def _reload(self) -> None:
        """Read the state file again if it changed (by size or time) since last read."""
        try:
            stat = os.stat(self.path)
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if self._cluster is not None and stamp == self._stamp:
            return
        try:
            cluster = _read_state(self.path)
        except CliError as exc:
            if self._cluster is None:
                raise
            log.warning("%s", exc.format_message())  # keep showing what was read last
            return
        self._cluster, self._stamp = cluster, stamp
        self.hub.changed(None)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        self._reload()
        task_status.started()
        while True:
            await anyio.sleep(STATE_CHECK)
            self._reload()

    async def act(self, action: str, namespace: str, name: str) -> str:
        command, done = ACTIONS[action]
        target = Target(memory=True, memory_state=self.path, namespace=namespace)
        try:
            async with open_session(target) as session:
                await command(session.cluster, namespace, name)
        finally:
            self._reload()
        return f"rollout '{name}' {done}"


class KubeSource(Source):
    """A real cluster, read through informers (Rollouts and AnalysisRuns of the served
    groups, ReplicaSets, the Events about Rollouts) in one namespace or all."""

    def __init__(self, session: Session, *, all_namespaces: bool = False) -> None:
        self.session = session
        self.namespace = None if all_namespaces else session.namespace
        self.hub = Hub()
        self._cached: Cluster | None = None
        self._events: Informer | None = None

    @property
    def reader(self) -> Cluster:
        assert self._cached is not None, "run() starts the informers"
        return self._cached

    @property
    def writer(self) -> Cluster:
        return self.session.cluster

    def now(self) -> float:
        return time.time()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        from ..._shell.informers import CachedCluster, Informer, Informers, trim_default

        kube: Any = self.session.cluster
        self.groups = tuple([g for g in ROLLOUT_GROUPS if await self.session.serves(g, "Rollout")])
        if not self.groups:
            raise CliError(
                f"the server serves no Rollout ({' or '.join(ROLLOUT_GROUPS)}): are the CRDs "
                "installed? (progressive install --crds-only)"
            )
        informers = Informers(kube, namespace=self.namespace)
        runs = []
        for group in self.groups:
            informers.informer(group, "Rollout")
            if await self.session.serves(group, "AnalysisRun"):
                informers.informer(group, "AnalysisRun")
                runs.append(group)
        self.run_groups = tuple(runs)
        # whole ReplicaSets: the page shows their images (the controller's caches drop
        # the pod template)
        informers.informer("apps/v1", "ReplicaSet", trim=trim_default)
        self._events = Informer(
            kube,
            "v1",
            "Event",
            namespace=self.namespace,
            field_selector="involvedObject.kind=Rollout",
        )

        def changed(change: Change) -> None:
            self.hub.changed(change.namespace)

        unsubscribe = [i.subscribe(changed) for i in [*informers, self._events]]
        self._cached = CachedCluster(kube, informers)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(informers.run)
                tg.start_soon(self._events.run)
                with anyio.move_on_after(SYNC_TIMEOUT):
                    await informers.wait_synced()
                    await self._events.wait_synced()
                task_status.started()
        finally:
            for stop in unsubscribe:
                with contextlib.suppress(ValueError):
                    stop()

    async def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        if self._events is None or not self._events.synced:
            return await super().events(namespace, name)
        return [
            e
            for e in self._events.list(namespace)
            if (e.get("involvedObject") or {}).get("name") == name
        ]
