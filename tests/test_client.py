"""The client's commands and states on the in-memory cluster, each test run under asyncio
and under trio (the SDK is anyio code: it must not assume an event loop).

The controller runs on the cluster's virtual clock between two commands (as the CLI's
``--memory`` does), so hours of pauses take milliseconds and every step is
deterministic.  The same commands on the local control plane: tests/kube/test_client_kube.py.

pytest-asyncio owns every ``async def`` test here (``asyncio_mode = "auto"``), so these
are plain tests that run their body with ``anyio.run(..., backend=...)``.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from progressive import client
from progressive._shell import Controller, Ref, VirtualClock, WallClock
from progressive.core import PauseReason
from progressive.errors import Conflict, NotFound
from progressive.memory import MemoryCluster

API = "progressive.dev/v1alpha1"
REF = Ref(API, "Rollout", "default", "web")
BACKENDS = ["asyncio", "trio"]


def run(backend: str, body: Callable[[], Awaitable[None]]) -> None:
    anyio.run(body, backend=backend)


def canary(**strategy: Any) -> dict[str, Any]:
    """Three pods, no traffic router: a 20% step is one pod of three (33%)."""
    return {
        "apiVersion": API,
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "web:1"}]},
            },
            "strategy": {
                "canary": {
                    "steps": [
                        {"setWeight": 20},
                        {"pause": {}},
                        {"setWeight": 50},
                        {"pause": {"duration": "30s"}},
                    ],
                    **strategy,
                }
            },
        },
    }


class World:
    """An in-memory cluster and its controller on a virtual clock."""

    def __init__(self) -> None:
        self.clock = VirtualClock(1_700_000_000.0)
        self.cluster = MemoryCluster(self.clock)
        self.controller = Controller(self.cluster, clock=self.clock)

    async def settle(self, seconds: float = 3600.0) -> None:
        """Run the controller until nothing is due within ``seconds`` of virtual time."""
        await self.controller.settle(
            until=self.clock.now() + seconds, wakeup=self.cluster.next_event_at
        )

    async def state(self) -> client.RolloutState:
        found = await client.find_rollout(self.cluster, "default", "web")
        return await client.state_of(self.cluster, found)

    async def rollout(self) -> dict[str, Any]:
        return await client.find_rollout(self.cluster, "default", "web")


async def updated(world: World) -> World:
    """``web`` Healthy at web:1, then updated to web:2 and paused at its first step."""
    await world.cluster.create(canary())
    await world.settle()
    assert (await world.state()).phase == "Healthy"
    change = await client.set_image(world.cluster, "default", "web", "app", "web:2")
    assert change.changed and change.ref == REF
    await world.settle()
    return world


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_state_has_the_pause_and_both_weights_as_the_cli_shows_them(backend: str) -> None:
    async def body() -> None:
        world = await updated(World())
        paused = await world.state()
        assert (paused.phase, paused.step, paused.steps) == ("Paused", 1, 4)
        assert paused.pause_reason == PauseReason.CANARY_STEP
        assert paused.paused_until is None, "an indefinite pause lasts until promoted"
        # no traffic router: the set weight is the step's, the actual one the pods' share
        assert (paused.set_weight, paused.actual_weight) == (20, 33)
        assert paused.weight_note == "no traffic router: the canary's share of the pods, 1 of 3"
        assert "Paused (CanaryPauseStep), step 1/4, weight 20% (actual 33%)" in str(paused)
        without_sets = client.RolloutState.of(paused.manifest)
        assert without_sets.actual_weight == 0, "the pods' share needs the ReplicaSets"

        await client.promote(world.cluster, "default", "web")
        await world.settle(10)
        timed = await world.state()
        assert (timed.phase, timed.step, timed.set_weight, timed.actual_weight) == (
            "Paused",
            3,
            50,
            66,
        )
        assert timed.pause is not None and timed.pause.since is not None
        assert timed.paused_until == timed.pause.since + 30
        await world.settle()
        healthy = await world.state()
        assert healthy.phase == "Healthy" and healthy.pause is None
        assert (healthy.set_weight, healthy.actual_weight) == (100, 100)

    run(backend, body)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pause_holds_a_timed_pause_and_resume_ends_only_the_users(backend: str) -> None:
    async def body() -> None:
        world = await updated(World())
        stored = await client.pause(world.cluster, "default", "web")
        assert stored["spec"]["paused"] is True
        await world.settle()
        held = await world.state()
        assert (held.phase, held.pause_reason, held.step) == ("Paused", client.MANUAL_PAUSE, 1)

        await client.resume(world.cluster, "default", "web")
        await world.settle()
        resumed = await world.state()
        assert (await world.rollout())["spec"]["paused"] is False
        assert (resumed.phase, resumed.step) == ("Paused", 1), "the pause step still holds"
        assert resumed.pause_reason == PauseReason.CANARY_STEP
        writes = world.cluster.writes
        await client.resume(world.cluster, "default", "web")
        assert world.cluster.writes == writes, "resuming what is not paused writes nothing"

        await client.promote(world.cluster, "default", "web", full=True)
        await world.settle(20)
        assert (await world.state()).phase == "Healthy", "--full skips the 30s pause too"

    run(backend, body)


@pytest.mark.parametrize("backend", BACKENDS)
def test_abort_then_retry(backend: str) -> None:
    async def body() -> None:
        world = await updated(World())
        await client.abort(world.cluster, "default", "web")
        await world.settle()
        aborted = await world.state()
        assert aborted.phase == "Degraded" and aborted.aborted
        assert (aborted.set_weight, aborted.actual_weight, aborted.pause) == (0, 0, None)
        assert aborted.available == 3 and aborted.current != aborted.stable

        await client.retry(world.cluster, "default", "web")
        stale = await world.state()
        assert (stale.phase, stale.aborted) == ("Degraded", False)
        assert not await client.is_current(world.cluster, stale), "the retry is not seen yet"
        await world.settle()
        again = await world.state()
        assert (again.phase, again.step, again.aborted) == ("Paused", 1, False)
        assert again.actual_weight == 33
        assert await client.is_current(world.cluster, again)

    run(backend, body)


@pytest.mark.parametrize("backend", BACKENDS)
def test_restart_at_the_clusters_time_and_undo(backend: str) -> None:
    async def body() -> None:
        world = await updated(World())
        await client.promote(world.cluster, "default", "web", full=True)
        await world.settle()
        now = world.clock.now()
        from progressive.core._times import parse_time

        stored = await client.restart(world.cluster, "default", "web")
        assert parse_time(stored["spec"]["restartAt"]) == now, "the in-memory clock's now"
        stored = await client.restart(world.cluster, "default", "web", at=now + 60)
        assert parse_time(stored["spec"]["restartAt"]) == now + 60
        await world.settle()

        undone = await client.undo(world.cluster, "default", "web")
        assert (undone.changed, undone.revision, undone.ref) == (True, 1, REF)
        image = (await world.rollout())["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == "web:1"
        await world.settle()
        again = await client.undo(world.cluster, "default", "web", to_revision=3)
        assert (again.changed, again.revision) == (False, 3), "already revision 3's"
        with pytest.raises(client.EditError, match="rollout 'web': unable to find revision 9"):
            await client.undo(world.cluster, "default", "web", to_revision=9)

    run(backend, body)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_missing_rollout_is_named(backend: str) -> None:
    async def body() -> None:
        cluster = MemoryCluster()
        message = 'rollout "nope" not found in namespace "default"'
        for command in (client.promote, client.abort, client.retry, client.pause, client.undo):
            with pytest.raises(NotFound) as missing:
                await command(cluster, "default", "nope")
            assert str(missing.value) == message
        with pytest.raises(NotFound, match="nope"):
            await client.set_image(cluster, "default", "nope", "app", "x:1")

    run(backend, body)


def test_a_command_retries_a_conflict_with_what_it_reads_again() -> None:
    class Busy(MemoryCluster):
        conflicts = 0

        async def patch(self, ref: Ref, patch: Any) -> dict[str, Any]:
            if self.conflicts < 2 and ref.kind == "Rollout" and "status" in patch:
                self.conflicts += 1
                # someone promoted it meanwhile: it is past its pause, at the next step
                current = await self.get(ref)
                assert current is not None
                step = current["status"]["currentStepIndex"] + 1
                await super().patch(
                    ref, {"status": {"currentStepIndex": step, "pauseConditions": None}}
                )
                raise Conflict("stale")
            return await super().patch(ref, patch)

    async def body() -> None:
        world = World()
        world.cluster = Busy(world.clock)
        world.controller = Controller(world.cluster, clock=world.clock)
        await updated(world)
        before = (await world.rollout())["status"]["currentStepIndex"]
        world.cluster.conflicts = 0
        stored = await client.promote(world.cluster, "default", "web")
        assert world.cluster.conflicts == 2
        # promote does what fits the rollout as it is when it writes: past the pause it
        # read first, it skips the step it is at
        assert stored["status"]["currentStepIndex"] == before + 3

    anyio.run(body)


def test_a_blue_green_preview_is_promoted_automatically_at_a_known_time() -> None:
    manifest = {
        "spec": {
            "strategy": {"blueGreen": {"activeService": "a", "autoPromotionSeconds": 90}},
        },
        "status": {
            "phase": "Paused",
            "pauseConditions": [
                {"reason": PauseReason.BLUE_GREEN, "startTime": "2024-01-01T00:00:00Z"}
            ],
        },
    }
    state = client.RolloutState.of(manifest)
    assert state.pause == client.Pause(PauseReason.BLUE_GREEN, 1704067200.0, 1704067290.0)
    assert (state.set_weight, state.actual_weight) == (None, None), "blue-green: no weights"
    manifest["spec"]["strategy"]["blueGreen"]["autoPromotionEnabled"] = False
    assert client.pause_of(manifest) == client.Pause(PauseReason.BLUE_GREEN, 1704067200.0)


# -- watch and wait_for under both event loops -------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_wait_for_and_an_abandoned_watch_leave_no_generator_to_the_collector(
    backend: str,
) -> None:
    """trio warns ("Async generator ... was garbage collected") about every async
    generator left unclosed; wait_for returns from inside one, and so does a caller
    that stops its own ``watch`` early with ``aclosing``."""
    from contextlib import aclosing

    async def body() -> None:
        clock = WallClock()
        cluster = MemoryCluster(clock, pod_ready_seconds=0.01)
        controller = Controller(cluster, clock=clock)
        async with anyio.create_task_group() as tg:
            await tg.start(controller.run)
            await cluster.create(canary(steps=[{"setWeight": 20}, {"pause": {}}]))
            with anyio.fail_after(10):
                first = await client.wait_for(cluster, "default", "web", timeout=None)
                assert first.phase == "Healthy"
                await client.set_image(cluster, "default", "web", "app", "web:2")
                seen: list[client.RolloutState] = []
                async with aclosing(client.watch(cluster, "default", "web")) as updates:
                    async for update in updates:
                        if isinstance(update, client.RolloutState):
                            seen.append(update)
                            if update.phase == "Paused":
                                break
                assert (seen[-1].set_weight, seen[-1].actual_weight) == (20, 33)
                paused = await client.wait_for(
                    cluster, "default", "web", phase="Paused", on_update=lambda u: None
                )
                assert paused.step == 1
            tg.cancel_scope.cancel()
        gc.collect()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(backend, body)
        gc.collect()
    collected = [str(w.message) for w in caught if "garbage collected" in str(w.message)]
    assert collected == []
