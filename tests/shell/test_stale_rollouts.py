"""A Rollout is never reconciled again from a stale copy of itself.

The same lost answer as in :mod:`.test_stale_runs`, on a Rollout: the status write that
records a pause is stored, its answer lost, and the watch of Rollouts falls behind.
Reconciled again from the cached copy from before the write, the controller would take
the step again and post its "Paused" Event again (its count went to 9 within a second
before the controller expected its Rollout status writes too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from progressive._clusters import Ref
from progressive._shell import Controller, WallClock
from progressive.core import Rollout
from progressive.errors import Conflict, Unavailable
from progressive.memory import MemoryCluster

from .helpers import canary_rollout, until
from .test_stale_runs import Server, _cached_at, running

ROLLOUT = Ref("argoproj.io/v1alpha1", "Rollout", "default", "web")
SPEC: dict[str, Any] = {"name": "web", "replicas": 2, "steps": [{"setWeight": 50}, {"pause": {}}]}


def _records_a_pause(obj: Mapping[str, Any]) -> bool:
    """The status write that records the pause: its answer is the one lost."""
    return bool((obj.get("status") or {}).get("pauseConditions"))


@pytest.mark.parametrize(
    "lost",
    [
        Conflict("replace status of Rollout default/web: the object has been modified"),
        Unavailable("replace status of Rollout default/web: the API server did not answer"),
    ],
    ids=["retry-conflicts", "no-answer"],
)
async def test_a_pause_whose_status_answer_was_lost_is_not_taken_again(lost: Exception) -> None:
    memory = MemoryCluster(WallClock(), pod_ready_seconds=0.01)
    server = Server(memory, lost, target=ROLLOUT, when=_records_a_pause)
    await memory.create(canary_rollout(**SPEC))
    async with running(server) as controller:
        reconciled: list[Rollout] = []  # from the lost write on

        def on_plan(rollout: Rollout, _: object) -> None:
            if server.held is not None:
                reconciled.append(rollout)

        controller.on_plan = on_plan
        await until("Healthy", lambda: _phase_is(memory, "Healthy"), 30)
        await memory.patch(ROLLOUT, {"spec": canary_rollout(**SPEC, image="web:2")["spec"]})
        await until("the pause's write", lambda: _held(server, memory), 30)
        await until(
            "a reconcile from the copy holding the pause, or the pause taken again",
            lambda: any(r.status.pause_conditions for r in reconciled) or _again(memory),
            30,
        )
        assert paused_counts(memory) == [1]
        stored = await memory.get(ROLLOUT)
        assert stored is not None
        server.release()
        version = stored["metadata"]["resourceVersion"]
        await until("the cache caught up", lambda: _cached_at(controller, version, ROLLOUT), 30)
        await until("the late events handled", lambda: _busy(controller) == (0, 0), 30)
        assert paused_counts(memory) == [1]
        assert await _phase_is(memory, "Paused")


def paused_counts(memory: MemoryCluster) -> list[int]:
    return [
        int(e.get("count") or 1) for e in memory.objects("v1", "Event") if e["reason"] == "Paused"
    ]


def _again(memory: MemoryCluster) -> bool:
    return sum(paused_counts(memory)) > 1


async def _phase_is(memory: MemoryCluster, wanted: str) -> bool:
    obj = await memory.get(ROLLOUT)
    return ((obj or {}).get("status") or {}).get("phase") == wanted


async def _held(server: Server, memory: MemoryCluster) -> bool:
    await memory.get(ROLLOUT)  # the in-memory cluster's pods get ready as it is asked
    return server.held is not None


def _busy(controller: Controller) -> tuple[int, int]:
    """Keys waiting and keys being handled (timers left aside: a pause has its own)."""
    return controller.queue.depth, len(controller.queue.processing)
