"""Step plugins as the shell drives them: read the objects a plugin names, ask it
whether its change is in place (observe) and for the writes that make or undo it
(apply), and make them.  Plugins themselves are pure (:mod:`progressive.steps`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._clusters import Cluster, Ref
from ..core._actions import RunStepPlugin, UndoStepPlugin
from ..core._rollout import Rollout
from ..errors import AlreadyExists, ApplyError, Conflict, NotFound
from ..routers import Create, ObjectRef, Patch, Write
from ..steps import StepPlugin, StepRegistry, plugin_steps

__all__ = ["observe_plugin_steps", "run_step_plugin"]


async def _read(cluster: Cluster, refs: Sequence[ObjectRef]) -> dict[ObjectRef, Any]:
    objects: dict[ObjectRef, Any] = {}
    for ref in refs:
        found = None
        for version in ref.versions:
            found = await cluster.get(
                Ref(ref.api_version_of(version), ref.kind, ref.namespace, ref.name)
            )
            if found is not None:
                break
        objects[ref] = found
    return objects


async def _write(cluster: Cluster, writes: Sequence[Write]) -> None:
    for write in writes:
        match write:
            case Create(ref, obj):
                try:
                    await cluster.create(obj)
                except AlreadyExists:
                    raise Conflict(f"{ref} was created meanwhile") from None
            case Patch(ref, patch):
                where = Ref(ref.api_version, ref.kind, ref.namespace, ref.name)
                try:
                    await cluster.patch(where, patch)
                except NotFound:
                    raise ApplyError(f"{ref} disappeared") from None


def _plugin(registry: StepRegistry, name: str) -> StepPlugin:
    plugin = registry.get(name)
    if plugin is None:
        raise ApplyError(f"no step plugin {name!r} is installed")
    return plugin


async def observe_plugin_steps(
    cluster: Cluster, rollout: Rollout, registry: StepRegistry
) -> frozenset[int]:
    """The indexes of ``rollout``'s plugin steps whose change is in place for its
    current revision (the core's ``Observed.plugin_steps``); a step whose plugin is not
    installed counts as not done (the controller refuses such a Rollout first)."""
    done = set()
    for index, step in plugin_steps(rollout):
        plugin = registry.get(step.name)
        if plugin is None:
            continue
        objects = await _read(cluster, plugin.refs(rollout, step.config))
        if plugin.done(rollout, step.config, objects):
            done.add(index)
    return frozenset(done)


async def run_step_plugin(
    cluster: Cluster,
    rollout: Rollout,
    action: RunStepPlugin | UndoStepPlugin,
    registry: StepRegistry,
) -> None:
    """Make the writes of ``action``'s plugin: those that make its change, or undo it."""
    plugin = _plugin(registry, action.name)
    config: Mapping[str, Any] = action.config
    objects = await _read(cluster, plugin.refs(rollout, config))
    if isinstance(action, RunStepPlugin):
        writes = plugin.plan(rollout, config, objects)
    else:
        writes = plugin.undo(rollout, config, objects)
    await _write(cluster, writes)
