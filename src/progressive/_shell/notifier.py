"""The notifier: sends what subscribed Rollouts' triggers say, off the rollout workers.

The controller hands it every change it sees (:meth:`Notifier.observe`: Rollouts,
their AnalysisRuns, the notification ConfigMap and Secret) and every Rollout it lists
(at start and each resync).  The notifier keeps, per subscribed Rollout, the versions it
has not looked at yet (at most :data:`MAX_VERSIONS`), and looks at them in order on a
task of its own, so that a step that lasts one write is seen: which conditions hold
(:func:`progressive.core._notifications.evaluate`), which of those were not sent yet,
and renders those.  Deliveries wait in a queue of their own and go out on
``workers`` tasks, at most ``workers_per_service`` per service, the services taking
turns (:class:`~progressive._shell.pool.FairPool`), each attempt bounded by
:data:`~progressive._shell.notify_services.TIMEOUT`; a transient failure is tried again
after an exponential backoff (:class:`~progressive._shell.workqueue.WorkQueue`'s), at
most ``attempts`` times.  Nothing here blocks a rollout worker: ``observe`` only
appends to a bounded queue.

What was sent is written to the Rollout's notified annotation once delivered (a merge
patch of that annotation alone).  A delivery not sent when the controller stops is not
recorded, so the next controller sends it if its condition still holds; one sent and
recorded is not sent again.  (One sent but not yet recorded when the process dies is
sent twice: at least once, never lost where it can be helped.)  A delivery that fails
for good is a Warning Event ``NotificationFailed`` on the Rollout and the metric
``progressive_notifications_total{outcome="failed"}``; it is tried again after a
restart.  Problems with the configuration are a Warning Event on the ConfigMap
(``NotificationConfigInvalid``) and log lines, once per version of it; problems of a
Rollout's subscriptions a Warning Event ``NotificationInvalid`` on the Rollout.  No
message says a secret: every value taken from the notification Secret is masked.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc
import anyio.lowlevel
import attrs

from .._clusters import Change, Cluster, Ref, list_owned
from ..core._names import HASH_LABEL
from ..core._notifications import (
    ANNOTATION_PREFIXES,
    CONFIGMAPS,
    SECRETS,
    Destination,
    Notification,
    Verdict,
    baseline,
    dump_notified,
    evaluate,
    notified_annotation,
    read_notified,
    render,
    subscriptions,
    template_vars,
)
from ..errors import ClusterError, DeliveryFailed, NotFound, RenderError
from ..metrics._secrets import redacting
from .clocks import Clock
from .events import EventRecorder, Involved
from .notify_services import LoadedConfig, load_config
from .pool import FairPool
from .workqueue import WorkQueue

if TYPE_CHECKING:
    from .metrics import ControllerMetrics

__all__ = ["ATTEMPTS", "MAX_PENDING", "MAX_VERSIONS", "Notifier"]

log = logging.getLogger("progressive.notifications")

#: Versions of one Rollout kept to be looked at (beyond, the oldest are dropped).
MAX_VERSIONS: Final = 16
#: Deliveries queued or under way at most; beyond, Rollouts wait to be looked at.
MAX_PENDING: Final = 1000
#: Attempts of one delivery, and the backoff between two (first, longest; seconds).
ATTEMPTS: Final = 6
BACKOFF: Final = (2.0, 300.0)
#: Seconds the ConfigMap and Secret, once read, are used before being read again.
CONFIG_TTL: Final = 10.0
_MAX_REPORTED: Final = 100  # problems reported per Rollout, at most
_MAX_GIVEN_UP: Final = 100  # deliveries given up remembered per Rollout (the oldest go)
_SUBSCRIBE: Final = tuple(f"{p}/subscri" for p in ANNOTATION_PREFIXES)

_Key = tuple[str, str, str]  # apiVersion, namespace, name of a Rollout


@attrs.define
class _State:
    """What this process knows of one Rollout's notifications: ``sent`` as recorded in
    its annotation (or about to be), the deliveries under way, those given up."""

    ref: Ref
    annotation: str
    sent: dict[str, int]
    stored: str  # the annotation's text as last seen or written
    inflight: set[str] = attrs.Factory(set)
    given_up: dict[str, None] = attrs.Factory(dict)  # insertion-ordered
    reported: set[str] = attrs.Factory(set)


@attrs.define
class _Delivery:
    uid: str
    involved: Involved
    trigger: str
    key: str
    destination: Destination
    notification: Notification
    attempts: int = 0


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _subscribed(obj: Mapping[str, Any]) -> bool:
    annotations = _meta(obj).get("annotations")
    return isinstance(annotations, Mapping) and any(
        str(k).startswith(_SUBSCRIBE) for k in annotations
    )


class Notifier:
    """Sends the notifications subscribed Rollouts ask for.

    Args:
        cluster: where Rollouts are written (the notified annotation) and the
            ConfigMap and Secret are read.
        namespace: where the ConfigMap and Secret are (the controller's own).
        clock: the time recorded in the annotation, and the retries' timers.
        events: where Warning Events go (default: the controller's it is given to, or
            a recorder of its own on ``cluster``).
        metrics: ``progressive_notifications_total`` (None: nowhere).
        workers: deliveries under way at once; ``workers_per_service`` of one service.
        attempts: tries of one delivery before it is given up.
        backoff: the first and the longest wait between two tries (seconds).
        config_ttl: how long the configuration read is used before it is read again.
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        namespace: str,
        clock: Clock,
        events: EventRecorder | None = None,
        metrics: ControllerMetrics | None = None,
        workers: int = 4,
        workers_per_service: int = 2,
        attempts: int = ATTEMPTS,
        backoff: tuple[float, float] = BACKOFF,
        config_ttl: float = CONFIG_TTL,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.cluster = cluster
        self.reader: Cluster = cluster  # where AnalysisRuns are read (a cache, in a controller)
        self.namespace = namespace
        self.clock = clock
        self.events = events if events is not None else EventRecorder(cluster, clock=clock)
        self.own_events = events is None  # a controller given this notifier shares its own
        self.metrics = metrics
        self.attempts = max(1, attempts)
        self.config_ttl = config_ttl
        self.max_pending = max_pending
        self._pool: FairPool[int] = FairPool(
            self._service_of, workers=workers, per_group=workers_per_service
        )
        self._queue: WorkQueue[int] = WorkQueue(
            clock=clock, base_delay=backoff[0], max_delay=backoff[1]
        )
        self._persist: WorkQueue[str] = WorkQueue(clock=clock, base_delay=0.5, max_delay=60.0)
        self._versions: dict[_Key, collections.deque[Mapping[str, Any]]] = {}
        self._latest: dict[_Key, Mapping[str, Any]] = {}
        self._deferred: dict[_Key, Mapping[str, Any]] = {}
        self._states: dict[str, _State] = {}
        self._deliveries: dict[int, _Delivery] = {}
        self._ids = itertools.count(1)
        self._config: LoadedConfig | None = None
        self._config_at = -math.inf
        self._reported_version: tuple[str, ...] = ()
        self._wake: anyio.Event | None = None
        self._busy = False
        self.looks = 0  # Rollout versions looked at
        self.outcomes: collections.Counter[str] = collections.Counter()  # sent/retried/failed
        if metrics is not None:
            metrics.track_queue("notifications", lambda: len(self._deliveries))

    # -- what the controller tells -----------------------------------------------------------
    def observe(self, change: Change) -> None:
        """A change the controller saw (cheap: queues the Rollout to be looked at)."""
        if change.kind == "Rollout":
            key = (change.api_version, change.namespace, change.name)
            if change.type == "deleted":
                self._forget(key, str(_meta(change.obj).get("uid") or ""))
            else:
                self.observe_rollout(change.api_version, change.obj)
        elif change.kind == "AnalysisRun":
            for ref in _meta(change.obj).get("ownerReferences") or ():
                if isinstance(ref, Mapping) and ref.get("kind") == "Rollout":
                    key = (str(ref.get("apiVersion")), change.namespace, str(ref.get("name")))
                    if key in self._latest:
                        self._enqueue(key, self._latest[key])
        elif (
            change.kind in ("ConfigMap", "Secret")
            and change.namespace == self.namespace
            and change.name in (*CONFIGMAPS, *SECRETS)
        ):
            self._config_at = -math.inf
            for key, obj in list(self._latest.items()):
                self._enqueue(key, obj)

    def observe_rollout(self, api_version: str, obj: Mapping[str, Any]) -> None:
        """A Rollout as stored (a change, a listing)."""
        meta = _meta(obj)
        key = (api_version, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if _subscribed(obj) or key in self._latest:
            self._enqueue(key, obj)

    def _enqueue(self, key: _Key, obj: Mapping[str, Any]) -> None:
        versions = self._versions.get(key)
        if versions is None:
            versions = self._versions[key] = collections.deque(maxlen=MAX_VERSIONS)
        versions.append(obj)
        if self._wake is not None:
            self._wake.set()

    def _forget(self, key: _Key, uid: str) -> None:
        self._versions.pop(key, None)
        self._latest.pop(key, None)
        self._deferred.pop(key, None)
        self._states.pop(uid, None)

    @property
    def idle(self) -> bool:
        """Nothing to look at, nothing to send or record (retries waiting count)."""
        return not (
            self._versions
            or self._busy
            or self._deliveries
            or self._persist.depth
            or self._persist.delayed
            or self._persist.processing
        )

    # -- running -----------------------------------------------------------------------------
    async def run(
        self,
        reader: Cluster | None = None,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Look, send and record until cancelled; ``reader`` is where AnalysisRuns are
        read (the controller's cache)."""
        if reader is not None:
            self.reader = reader
        self._wake = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._look_loop)
            tg.start_soon(self._dispatch_loop)
            tg.start_soon(self._pool.run, self._deliver)
            tg.start_soon(self._persist_loop)
            task_status.started()

    async def _look_loop(self) -> None:
        while True:
            while self._versions:
                key = next(iter(self._versions))
                versions = self._versions.pop(key)
                obj = versions.popleft()
                if versions:
                    self._versions[key] = versions  # to the back: the others take turns
                self._busy = True
                try:
                    await self._look(key, obj)
                except Exception:  # one Rollout must not stop the notifications of others
                    log.exception("notifications of Rollout %s/%s failed", key[1], key[2])
                finally:
                    self._busy = False
                await anyio.lowlevel.checkpoint()
            self._wake = anyio.Event()
            await self._wake.wait()

    async def _dispatch_loop(self) -> None:
        while True:
            self._pool.submit(await self._queue.get())

    def _service_of(self, delivery: int) -> str:
        found = self._deliveries.get(delivery)
        return found.destination.service if found is not None else ""

    # -- the configuration -------------------------------------------------------------------
    async def config(self) -> LoadedConfig | None:
        """The configuration, read again when older than ``config_ttl`` (or changed);
        its problems are reported once per version."""
        now = self.clock.now()
        if now - self._config_at < self.config_ttl:
            return self._config
        try:
            config = await load_config(self.cluster, self.namespace)
        except ClusterError as exc:
            log.warning("cannot read the notification configuration in %s: %s", self.namespace, exc)
            return self._config
        self._config, self._config_at = config, now
        if config is not None and config.version != self._reported_version:
            self._reported_version = config.version
            for problem in config.problems:
                log.warning("notification configuration: %s", problem)
            if config.problems and config.source is not None:
                count = len(config.problems)
                message = f"{count} problem{'s' * (count > 1)}: " + "; ".join(config.problems)
                await self.events.post(
                    config.source, "Warning", "NotificationConfigInvalid", message
                )
        return config

    # -- looking at a Rollout ----------------------------------------------------------------
    async def _look(self, key: _Key, obj: Mapping[str, Any]) -> None:
        api_version, namespace, name = key
        self.looks += 1
        meta = _meta(obj)
        uid = str(meta.get("uid") or f"{namespace}/{name}")
        config = await self.config()
        annotations = meta.get("annotations") or {}
        subs, problems = (
            subscriptions(annotations, config.notification) if config is not None else ((), ())
        )
        if not subs and not problems:
            self._latest.pop(key, None)
            self._states.pop(uid, None)
            return
        assert config is not None
        self._latest[key] = obj
        state = self._states.get(uid)
        if state is None:
            annotation = notified_annotation(api_version)
            stored = str(annotations.get(annotation) or "")
            ref = Ref(api_version, "Rollout", namespace, name)
            state = self._states[uid] = _State(ref, annotation, read_notified(stored), stored)
        involved = Involved(api_version, "Rollout", namespace, name, str(meta.get("uid") or ""))
        runs = await self._runs(key, obj)
        verdicts, trigger_problems = evaluate(config.notification, subs, obj, runs)
        missing = {s.destination.service for s in subs} - set(config.services)
        problems = (
            *problems,
            *trigger_problems,
            *(f"service {service} is not configured" for service in sorted(missing)),
            *(
                f"trigger {v.subscription.trigger}[{v.condition.index}]: {v.error}"
                for v in verdicts
                if v.error
            ),
        )
        for problem in problems:
            await self._report(state, involved, "NotificationInvalid", config.scrub(problem))
        now = int(self.clock.now())
        record = baseline(verdicts, state.sent, now)
        if record:
            state.sent.update(record)
            self._persist.add(uid)
        for verdict in verdicts:
            if verdict.subscription.marker in record:
                continue  # a new subscription: taken as it is
            sent_key = verdict.state_key
            if verdict.triggered:
                if sent_key in state.sent or sent_key in state.inflight:
                    continue
                if (
                    sent_key in state.given_up
                    or verdict.subscription.destination.service in missing
                ):
                    continue
                if len(self._deliveries) >= self.max_pending:
                    self._deferred[key] = obj  # looked at again once deliveries are done
                    continue
                await self._start(uid, state, involved, verdict, obj, runs, config)
            elif verdict.triggered is False and verdict.condition.once_per is None:
                state.given_up.pop(sent_key, None)  # false again: may fire again
                if state.sent.pop(sent_key, None) is not None:
                    self._persist.add(uid)

    async def _runs(self, key: _Key, obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The Rollout's AnalysisRuns of its current revision, newest first."""
        uid = _meta(obj).get("uid")
        current = (obj.get("status") or {}).get("currentPodHash")
        if not uid or not current:
            return []
        try:
            runs = await list_owned(self.reader, key[0], "AnalysisRun", key[1], str(uid))
        except ClusterError:
            return []
        mine: list[Mapping[str, Any]] = [
            r for r in runs if (_meta(r).get("labels") or {}).get(HASH_LABEL) == current
        ]
        mine.sort(
            key=lambda r: (str(_meta(r).get("creationTimestamp") or ""), str(_meta(r).get("name"))),
            reverse=True,
        )
        return mine

    async def _report(self, state: _State, involved: Involved, reason: str, message: str) -> None:
        """A problem of one Rollout's notifications: an Event and a log line, once."""
        if message in state.reported or len(state.reported) >= _MAX_REPORTED:
            return
        state.reported.add(message)
        log.warning("notifications of %s/%s: %s", involved.namespace, involved.name, message)
        await self.events.post(involved, "Warning", reason, message)

    async def _start(
        self,
        uid: str,
        state: _State,
        involved: Involved,
        verdict: Verdict,
        obj: Mapping[str, Any],
        runs: list[Mapping[str, Any]],
        config: LoadedConfig,
    ) -> None:
        trigger, destination = verdict.subscription.trigger, verdict.subscription.destination
        try:
            variables = template_vars(obj, runs, destination, trigger)
            notification = render(config.notification, verdict.condition.send, variables)
        except RenderError as exc:
            await self._give_up(
                _Delivery(uid, involved, trigger, verdict.state_key, destination, Notification()),
                config.scrub(str(exc)),
            )
            return
        delivery = _Delivery(uid, involved, trigger, verdict.state_key, destination, notification)
        number = next(self._ids)
        self._deliveries[number] = delivery
        state.inflight.add(verdict.state_key)
        self._queue.add(number)

    # -- delivering --------------------------------------------------------------------------
    async def _deliver(self, number: int) -> None:
        try:
            delivery = self._deliveries.get(number)
            if delivery is not None:
                await self._attempt(number, delivery)
        finally:
            self._queue.done(number)
            if self._deferred and len(self._deliveries) < self.max_pending:
                deferred, self._deferred = self._deferred, {}
                for key, obj in deferred.items():
                    self._enqueue(key, obj)

    async def _attempt(self, number: int, delivery: _Delivery) -> None:
        config = await self.config()
        service = config.services.get(delivery.destination.service) if config else None
        if config is None or service is None:
            del self._deliveries[number]
            await self._give_up(
                delivery, f"service {delivery.destination.service} is not configured"
            )
            return
        error: DeliveryFailed | None = None
        with redacting() as redactor:  # what httpx logs meanwhile is masked too
            for value in config.secrets:
                redactor.add(value)
            try:
                await service.send(delivery.notification, delivery.destination)
            except DeliveryFailed as exc:
                error = exc
            except Exception as exc:  # a bug must not lose the delivery: tried again
                log.error("delivering %s failed: %s", delivery.trigger, config.scrub(repr(exc)))
                error = DeliveryFailed(type(exc).__name__, transient=True)
        delivery.attempts += 1
        service_name, trigger = delivery.destination.service, delivery.trigger
        if error is None:
            del self._deliveries[number]
            self._queue.forget(number)
            self._count(service_name, trigger, "sent")
            log.info(
                "notified %s/%s: %s to %s",
                delivery.involved.namespace,
                delivery.involved.name,
                trigger,
                config.scrub(str(delivery.destination)),
            )
            state = self._states.get(delivery.uid)
            if state is not None:
                state.inflight.discard(delivery.key)
                state.sent[delivery.key] = int(self.clock.now())
                self._persist.add(delivery.uid)
            return
        if error.transient and delivery.attempts < self.attempts:
            self._count(service_name, trigger, "retried")
            delay = self._queue.backoff(number)
            self._queue.add_rate_limited(number)
            if error.retry_after is not None and error.retry_after > delay:
                self._queue.add_after(number, min(error.retry_after, 3600.0))
            log.info("%s to %s: %s; trying again", trigger, service_name, config.scrub(str(error)))
            return
        del self._deliveries[number]
        self._queue.forget(number)
        tries = f" (after {delivery.attempts} attempts)" if delivery.attempts > 1 else ""
        await self._give_up(delivery, config.scrub(str(error)) + tries)

    async def _give_up(self, delivery: _Delivery, why: str) -> None:
        self._count(delivery.destination.service, delivery.trigger, "failed")
        state = self._states.get(delivery.uid)
        if state is not None:
            state.inflight.discard(delivery.key)
            state.given_up[delivery.key] = None
            while len(state.given_up) > _MAX_GIVEN_UP:
                del state.given_up[next(iter(state.given_up))]
        config = self._config
        where = config.scrub(str(delivery.destination)) if config else delivery.destination.service
        message = f"{delivery.trigger} to {where}: {why}"
        log.warning(
            "notification of %s/%s failed: %s",
            delivery.involved.namespace,
            delivery.involved.name,
            message,
        )
        await self.events.post(delivery.involved, "Warning", "NotificationFailed", message)

    def _count(self, service: str, trigger: str, outcome: str) -> None:
        self.outcomes[outcome] += 1
        if self.metrics is not None:
            self.metrics.record_notification(service, trigger, outcome)

    # -- recording what was sent -------------------------------------------------------------
    async def _persist_loop(self) -> None:
        while True:
            uid = await self._persist.get()
            try:
                await self._write(uid)
            finally:
                self._persist.done(uid)

    async def _write(self, uid: str) -> None:
        state = self._states.get(uid)
        if state is None:
            return
        text = dump_notified(state.sent)
        state.sent = read_notified(text)  # what is kept, once truncated
        if text == state.stored:
            return
        patch = {"metadata": {"annotations": {state.annotation: text}}}
        try:
            await self.cluster.patch(state.ref, patch)
        except NotFound:
            self._states.pop(uid, None)
            return
        except ClusterError as exc:
            log.warning("recording notifications on %s: %s; trying again", state.ref, exc)
            self._persist.add_rate_limited(uid)
            return
        state.stored = text
        self._persist.forget(uid)
