"""An AnalysisRun is never measured again on a stale copy of itself.

The controller reads runs through its informers' caches.  When the answer to a status
write is lost (the API server stored it, then timed out: the client's retry of the PUT
conflicts, or the retries run out), the cache is not told of the write and holds the
run as it was until the watch brings the new version, which a loaded server sends late.
The copy from before the write must not be measured again: a web metric would be asked
twice, a Job provider would start a second Job.

Here the in-memory cluster plays the API server behind a list+watch of its own (the
controller's real informers and cache in front of it), a real HTTP server on
127.0.0.1 is the metric, and the watch of AnalysisRuns is held back from the lost write
on, until the controller has looked at the run again and has nothing left to do.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from progressive._clusters import Change, Ref
from progressive._shell import Controller, WallClock
from progressive._shell.expectations import UNANSWERED_WRITE_SECONDS, Expectations
from progressive._shell.kube import ListResult
from progressive._shell.view import ControllerView
from progressive.errors import Conflict, Unavailable
from progressive.memory import MemoryCluster

from ..http_servers import Reply, Request, answer, serve
from .helpers import until
from .test_analysis_isolation import ARGO, analysis_run

RUN = Ref(ARGO, "AnalysisRun", "ns", "run")


class Server(ControllerView):
    """``memory`` as an API server with list+watch (every change logged, watched from a
    resourceVersion), whose next status write of ``target`` (the next one ``when`` says
    is the one) is stored but answered with ``lost``, and whose watch of ``target``'s
    kind is held back from then (or from :meth:`hold`) until :meth:`release`."""

    def __init__(
        self,
        memory: MemoryCluster,
        lost: Exception | None = None,
        target: Ref = RUN,
        *,
        stored: bool = True,
        when: Callable[[Mapping[str, Any]], bool] = lambda _: True,
    ) -> None:
        super().__init__(memory, set())
        self.memory = memory
        self.lost = lost
        self.target = target
        self.when = when
        self.stored = stored  # False: the write whose answer is lost is not stored yet
        self.in_flight: dict[str, Any] | None = None
        self.log: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] | None = None
        self.fresh_reads = 0
        self._changed = anyio.Event()
        memory.subscribe(self._record)

    def _record(self, change: Change) -> None:
        event = {"type": change.type.upper(), "object": copy.deepcopy(dict(change.obj))}
        if self.held is not None and change.kind == self.target.kind:
            self.held.append(event)
        else:
            self._append(event)

    def hold(self) -> None:
        """The watch of ``target``'s kind falls behind from now on."""
        if self.held is None:
            self.held = []

    def _append(self, event: dict[str, Any]) -> None:
        self.log.append(event)
        self._changed.set()
        self._changed = anyio.Event()

    def release(self) -> None:
        """The watch catches up with what it held back."""
        held, self.held = self.held or [], None
        for event in held:
            self._append(event)

    # -- list+watch ------------------------------------------------------------------------
    async def list_with_version(
        self, api_version: str, kind: str, namespace: str | None = None, **_: Any
    ) -> ListResult:
        version = _rv(self.log[-1]["object"]) if self.log else 0
        return ListResult(await self.memory.list(api_version, kind, namespace), str(version))

    async def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        **_: Any,
    ) -> AsyncGenerator[dict[str, Any], None]:
        since, seen = int(resource_version or 0), 0
        while True:
            changed = self._changed
            for event in self.log[seen:]:
                obj = event["object"]
                if (obj["apiVersion"], obj["kind"]) == (api_version, kind) and _rv(obj) > since:
                    yield event
            seen = len(self.log)
            await changed.wait()

    # -- the Cluster (the rest goes to ``memory``, as the view's does) ---------------------
    async def get(self, ref: Ref) -> dict[str, Any] | None:
        self.fresh_reads += ref == self.target
        return await self.memory.get(ref)

    async def replace_status(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        lost = self.lost if Ref.of(obj) == self.target and self.when(obj) else None
        if lost is None:
            return await self.memory.replace_status(obj)
        self.lost = None
        if self.stored:
            self.hold()
            await self.memory.replace_status(obj)  # stored; the answer does not come back
        else:
            self.in_flight = dict(obj)  # the server still works on it
        raise lost

    async def land(self) -> None:
        """The write still in the server's hands is stored at last."""
        assert self.in_flight is not None
        await self.memory.replace_status(self.in_flight)


def _rv(obj: Mapping[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


def _idle(controller: Controller) -> bool:
    queue = controller.queue
    return not queue.depth and not queue.delayed and not queue.processing


@asynccontextmanager
async def running(
    server: Server, undecided_seconds: float | None = None
) -> AsyncIterator[Controller]:
    """A controller on ``server`` (its informers and cache in front), running;
    ``undecided_seconds``: how long its writes without an answer may land."""
    controller = Controller(server, clock=server.memory.clock)
    if undecided_seconds is not None:
        controller._expectations.undecided_seconds = undecided_seconds
    async with anyio.create_task_group() as tg:
        await tg.start(lambda task_status: controller.run(resync=None, task_status=task_status))
        yield controller
        tg.cancel_scope.cancel()


async def behind_the_watch(
    controller: Controller, server: Server, twice: Callable[[], bool], what: str
) -> None:
    """Wait until the controller, the watch held back, has nothing left to do -- or did
    ``twice`` what it must do once (without the expectations it never rests)."""
    await until(what, lambda: (server.held is not None and _idle(controller)) or twice(), 30)


@pytest.mark.parametrize(
    "lost",
    [
        # the transport retried the PUT whose answer was lost: the retry conflicts
        Conflict("replace status of AnalysisRun ns/run: the object has been modified"),
        # no answer at all, retries included
        Unavailable("replace status of AnalysisRun ns/run: the API server did not answer"),
    ],
    ids=["retry-conflicts", "no-answer"],
)
async def test_a_run_whose_status_answer_was_lost_is_not_measured_again(
    lost: Exception,
) -> None:
    memory = MemoryCluster(WallClock())
    server = Server(memory, lost)
    async with serve(answer({"ok": True})) as web:
        await memory.create(analysis_run("run", "ns", web.url))  # one measurement (count 1)
        async with running(server) as controller:
            await behind_the_watch(
                controller, server, lambda: len(web.requests) > 1, "the lost answer's sequel"
            )
            stored = await memory.get(RUN)
            assert stored is not None and stored["status"]["phase"] == "Successful"
            assert len(web.requests) == 1, "measured again on the copy from before the write"
            # the watch catches up: its late events change nothing
            server.release()
            await until(
                "the cache caught up",
                lambda: _cached_at(controller, stored["metadata"]["resourceVersion"]),
                30,
            )
            await until("idle", lambda: _idle(controller), 30)
            assert len(web.requests) == 1
            assert not len(controller._expectations)  # complete in the cache: forgotten


async def _cached_at(controller: Controller, version: str, ref: Ref = RUN) -> bool:
    """Whether the controller's cache holds ``ref`` at ``version``."""
    cached = await controller.view.get(ref)
    return cached is not None and cached["metadata"]["resourceVersion"] == version


async def test_the_fresh_read_is_only_for_a_copy_from_before_our_own_write() -> None:
    """No lost answer: the cache is written through, and the run is never read from the
    server itself."""
    memory = MemoryCluster(WallClock())
    server = Server(memory)
    async with serve(answer({"ok": True})) as web:
        await memory.create(analysis_run("run", "ns", web.url))
        async with running(server) as controller:
            await until("measured", lambda: len(web.requests) == 1, 30)
            await until("idle", lambda: _idle(controller), 30)
        stored = await memory.get(RUN)
        assert stored is not None and stored["status"]["phase"] == "Successful"
        assert (len(web.requests), server.fresh_reads) == (1, 0)


async def test_a_run_written_meanwhile_keeps_its_measurement_though_the_cache_lags() -> None:
    """Someone writes the run while it is measured (an annotation) and the watch of it
    lags: the status write conflicts, and the measurement is recorded on the run as the
    API server holds it, not on the cache's copy (which would conflict again, throw the
    measurement away and make it again)."""
    memory = MemoryCluster(WallClock())
    server = Server(memory)

    async def edit_then_answer(request: Request, reply: Reply) -> None:
        server.hold()
        await memory.patch(RUN, {"metadata": {"annotations": {"note": "edited"}}})
        await reply.whole(200, b'{"ok": true}')

    async with serve(edit_then_answer) as web:
        await memory.create(analysis_run("run", "ns", web.url))
        async with running(server) as controller:
            await behind_the_watch(
                controller, server, lambda: len(web.requests) > 1, "the conflict's sequel"
            )
    stored = await memory.get(RUN)
    assert stored is not None and stored["status"]["phase"] == "Successful"
    assert stored["metadata"]["annotations"] == {"note": "edited"}
    assert len(web.requests) == 1


async def test_an_experiment_whose_status_answer_was_lost_does_not_end_twice() -> None:
    """An Experiment ends (``terminate``) with an Event, and the answer to the status
    write that records its end is lost: looked at again, it is not ended a second time
    from the cache's copy, with a second Event."""
    memory = MemoryCluster(WallClock())
    ref = Ref(ARGO, "Experiment", "ns", "ab")
    server = Server(memory, Conflict("the object has been modified"), target=ref)
    template = {
        "metadata": {"labels": {"app": "ab"}},
        "spec": {"containers": [{"name": "app", "image": "web:1"}]},
    }
    await memory.create(
        {
            "apiVersion": ARGO,
            "kind": "Experiment",
            "metadata": {"name": ref.name, "namespace": ref.namespace},
            "spec": {
                "terminate": True,
                "scaleDownDelaySeconds": 0,
                "templates": [{"name": "a", "replicas": 1, "template": template}],
            },
        }
    )

    def ended() -> list[dict[str, Any]]:
        return [e for e in memory.objects("v1", "Event") if e["reason"] == "ExperimentSuccessful"]

    async with running(server) as controller:
        await behind_the_watch(
            controller, server, lambda: len(ended()) > 1, "the lost answer's sequel"
        )
        stored = await memory.get(ref)
        assert stored is not None and stored["status"]["phase"] == "Successful"
        assert len(ended()) == 1, "ended again from the copy from before the write"
        # an Experiment is looked at once over too (its scale-down): forgotten when deleted
        assert len(controller._expectations) == 1
        server.release()
        await memory.delete(ref)
        await until("a deleted Experiment forgotten", lambda: not len(controller._expectations))


@pytest.mark.parametrize("lands", [True, False], ids=["lands-later", "never-lands"])
async def test_a_status_write_without_an_answer_may_land_later(lands: bool) -> None:
    """Our client gave up on the status write (no answer), but the API server still holds
    it and may store it for a while: the run is not measured again meanwhile, although
    the server's copy is still the one written over.  If the write lands, that was the
    measurement; if it never does, the run is measured again once it could no longer
    land (here 0.5 s; on a real server :data:`UNANSWERED_WRITE_SECONDS`)."""
    memory = MemoryCluster(WallClock())
    server = Server(memory, Unavailable("the API server did not answer"), stored=False)
    async with serve(answer({"ok": True})) as web:
        await memory.create(analysis_run("run", "ns", web.url))
        async with running(server, undecided_seconds=0.5) as controller:
            await until(
                "looked at again and left alone",
                lambda: (
                    (server.fresh_reads and not controller.queue.processing)
                    or len(web.requests) > 1
                ),
                30,
            )
            assert len(web.requests) == 1, "measured again while our write may still land"
            if lands:
                await server.land()
            await until("idle", lambda: _idle(controller), 30)
            stored = await memory.get(RUN)
            assert stored is not None and stored["status"]["phase"] == "Successful"
            assert len(web.requests) == (1 if lands else 2)


# -- the expectations alone ------------------------------------------------------------------


async def test_expectations_of_a_status_write() -> None:
    memory = MemoryCluster()
    created = await memory.create(analysis_run("run", "ns", "http://unused.invalid"))
    expectations = Expectations(memory.get, memory.clock.now, max_entries=2)
    # written over version X, answered with Y: X and older are stale, Y and later are not
    expectations.writing(created)
    stored = await memory.replace_status({**created, "status": {"phase": "Running"}})
    expectations.written(created, stored)
    assert expectations.stale(created) and not expectations.stale(stored)
    assert await expectations.current(created) == stored
    assert await expectations.current(stored) is stored
    # another object of that name (deleted and created again) is not ours
    assert not expectations.stale({**created, "metadata": {**created["metadata"], "uid": "new"}})
    # a write refused, or answered with a conflict, that never landed: the server still
    # has the version written over, which is current after all
    expectations.writing(stored)
    assert expectations.stale(stored)
    assert await expectations.current(stored) == stored
    assert not len(expectations) and not expectations.stale(stored)
    # a write without an answer: left alone while it may land, then current again
    expectations.writing(stored)
    expectations.unanswered(stored)
    assert await expectations.current(stored) is None
    assert expectations.retry_at(RUN) == memory.clock.now() + UNANSWERED_WRITE_SECONDS
    memory.clock.advance(UNANSWERED_WRITE_SECONDS)  # type: ignore[attr-defined]
    assert await expectations.current(stored) == stored
    assert not len(expectations) and expectations.retry_at(RUN) is None
    # bounded: the oldest write is forgotten first
    for name in ("a", "b", "c"):
        expectations.writing({**stored, "metadata": {**stored["metadata"], "name": name}})
    assert len(expectations) == 2
    assert not expectations.stale({**stored, "metadata": {**stored["metadata"], "name": "a"}})
    expectations.forget(Ref(ARGO, "AnalysisRun", "ns", "c"))
    assert len(expectations) == 1
