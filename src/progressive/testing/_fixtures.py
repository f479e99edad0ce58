"""The pytest fixtures of ``progressive.testing``: a virtual clock, the in-memory
cluster on it, scripted metrics, and a controller over the three (not started: drive
it with :func:`~progressive.testing.settle_until`)."""

from __future__ import annotations

import pytest

from .._shell import Controller, VirtualClock
from ..memory import MemoryCluster
from ..metrics import ScriptedProvider

__all__ = ["controller", "memory_cluster", "scripted_metrics", "virtual_clock"]


@pytest.fixture
def virtual_clock() -> VirtualClock:
    """A clock at 0 that moves only when the controller sleeps: hours in no time."""
    return VirtualClock()


@pytest.fixture
def memory_cluster(virtual_clock: VirtualClock) -> MemoryCluster:
    """The in-memory cluster on :func:`virtual_clock`: create your Rollout (a manifest,
    or ``rollout.to_manifest()``), Services and templates in it; pods turn ready 2 s
    after their ReplicaSet asks for them."""
    return MemoryCluster(virtual_clock)


@pytest.fixture
def scripted_metrics() -> ScriptedProvider:
    """Metric values by metric name, none yet: ``scripted_metrics.script("error-rate",
    [0.01, 0.2])`` (the last value repeats; ``"error"`` fails a measurement)."""
    return ScriptedProvider({})


@pytest.fixture
def controller(
    memory_cluster: MemoryCluster, virtual_clock: VirtualClock, scripted_metrics: ScriptedProvider
) -> Controller:
    """The controller over :func:`memory_cluster`, measuring with
    :func:`scripted_metrics`, on :func:`virtual_clock`."""
    return Controller(memory_cluster, clock=virtual_clock, provider=scripted_metrics)
