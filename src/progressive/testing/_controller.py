"""Driving the real controller in a test: on the in-memory cluster, in virtual time.

:func:`settle_until` runs a :class:`~progressive.Controller` (its passes, its clock:
hours of pauses in milliseconds on a :class:`~progressive.VirtualClock`) until a
condition holds, and fails with what it saw when it does not; :func:`stored_rollout`
reads a Rollout as stored, status included, for such a condition.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from .._clusters import Cluster
from .._shell import Controller, PassResult
from ..client import find_rollout
from ..core._rollout import Rollout, read_rollout
from ..errors import ManifestError

__all__ = ["settle_until", "stored_rollout"]

Condition = Callable[[], Awaitable[object] | object]


class _Reached(Exception):
    """Raised from a pass hook to stop ``Controller.settle`` where the condition holds."""


async def stored_rollout(cluster: Cluster, name: str, namespace: str = "default") -> Rollout:
    """Rollout ``name`` as stored (in either API group), its status included; one whose
    spec is invalid is read as far as it can be (its status says why).

    Raises:
        NotFound: there is no such Rollout.
        ManifestError: it cannot be read at all.
    """
    rollout, problems = read_rollout(await find_rollout(cluster, namespace, name))
    if rollout is None:
        raise ManifestError(problems)
    return rollout


async def settle_until(
    controller: Controller,
    condition: Condition,
    *,
    within: float = 3600.0,
    max_passes: int = 10_000,
) -> None:
    """Run ``controller`` pass after pass, on its clock, until ``condition()`` (a
    function, or a coroutine function, of nothing) is true, checked before the first
    pass and after each one.

    On a virtual clock, ``within`` seconds of it pass in no time; on a wall clock they
    are real seconds.  A simulated cluster's own events (pods becoming ready, Jobs
    finishing) wake the controller as they come.

    Raises:
        AssertionError: the condition did not hold once nothing more was scheduled,
            after ``within`` seconds of the clock, or after ``max_passes`` passes; the
            message says which, and lists the reconcile failures seen.
    """

    async def check(_: PassResult | None = None) -> None:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            raise _Reached

    clock = controller.clock
    started = clock.now()
    try:
        await check()
        result = await controller.settle(
            until=started + within,
            max_passes=max_passes,
            wakeup=getattr(controller.cluster, "next_event_at", None),
            after_pass=check,
        )
    except _Reached:
        return
    if result.idle:
        why = "nothing more was scheduled"
    elif result.passes >= max_passes:
        why = f"{max_passes} passes were run"
    else:
        why = f"{within:g} s of the clock passed"
    failures = "".join(f"\n  {f}" for f in result.errors)
    raise AssertionError(
        f"the condition did not hold: {why} (at t={clock.now() - started:g} s, "
        f"{result.passes} passes)" + (f"; reconcile failures:{failures}" if failures else "")
    )
