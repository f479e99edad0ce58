"""deploy/argocd/argocd-cm.yaml: Argo CD's health check and resource actions for
progressive.dev Rollouts, run as Argo CD runs them, on statuses the controller wrote.

The scripts run in Lua 5.1 (``lupa``) with what Argo CD gives a customization and no
more: the base, table and package libraries and a safe ``os`` (``date``, ``time``), the
object as the global ``obj``, JSON nulls left out.  The Rollouts are driven by the real
controller on the in-memory cluster into every phase (no status yet, a spec not yet
observed, Progressing, Paused at a step, paused by hand, a blue-green promotion gate,
aborted, an invalid spec, the progress deadline passed, scaled to zero, Healthy), and
for each the health must be the phase's, the enabled actions the ones that make sense,
and every enabled action's object exactly what the plugin's own command
(``progressive.core._commands``) makes of the Rollout.  Each action is then applied as
Argo CD applies one (a merge patch of the main resource, another of the status
subresource) and the controller must take the Rollout where the action says.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from progressive._shell import Controller, Ref
from progressive._shell.clocks import VirtualClock
from progressive.core import Rollout
from progressive.core import _commands as commands
from progressive.core._times import parse_time
from progressive.memory import MemoryCluster

CONFIG_MAP = Path(__file__).resolve().parent.parent / "deploy" / "argocd" / "argocd-cm.yaml"
HEALTH_KEY = "resource.customizations.health.progressive.dev_Rollout"
ACTIONS_KEY = "resource.customizations.actions.progressive.dev_Rollout"
API = "progressive.dev/v1alpha1"
REF = Ref(API, "Rollout", "default", "web")
ACTIONS = ("resume", "promote-full", "abort", "retry", "restart")
#: Argo CD's health for each phase the controller writes
HEALTH_OF_PHASE = {
    "Healthy": "Healthy",
    "Progressing": "Progressing",
    "Paused": "Suspended",
    "Degraded": "Degraded",
}

# What Argo CD leaves a customization (util/lua/lua.go, oslib_safe.go): no string, math,
# io or debug library, and an os module with only date and time.
SANDBOX = """
local date, time = os.date, os.time
string, math, io, debug, coroutine, dofile, loadfile = nil, nil, nil, nil, nil, nil, nil
os = {date = date, time = time}
for name, _ in pairs(package.loaded) do
  if name ~= "_G" and name ~= "table" and name ~= "package" then package.loaded[name] = nil end
end
package.loaded.os = os
"""


# -- running the scripts as Argo CD does --------------------------------------------------


def run_lua(script: str, obj: Mapping[str, Any]) -> Any:
    """The chunk's return value, ``obj`` given as Argo CD decodes an object."""
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    lua.execute(SANDBOX)

    def to_lua(value: Any) -> Any:
        if isinstance(value, Mapping):
            return lua.table_from({k: to_lua(v) for k, v in value.items() if v is not None})
        if isinstance(value, list):
            return lua.table_from([to_lua(v) for v in value])
        return value

    lua.globals().obj = to_lua(dict(obj))
    return restore_empty_maps(from_lua(lua.execute(script)), obj)


def from_lua(value: Any) -> Any:
    """A Lua value as Argo CD's JSON encoder writes it: a table with keys 1..n, or
    none, is an array; numbers are JSON numbers."""
    if lua51.lua_type(value) == "table":
        items = dict(value.items())
        if set(items) == set(range(1, len(items) + 1)):
            return [from_lua(items[i]) for i in range(1, len(items) + 1)]
        return {str(k): from_lua(v) for k, v in items.items()}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def restore_empty_maps(new: Any, old: Any) -> Any:
    """Argo CD's ``cleanReturnedObj``: an empty array where the object had a map (Lua
    cannot tell them apart) is the map again."""
    if isinstance(new, dict) and isinstance(old, Mapping):
        return {k: restore_empty_maps(v, old.get(k)) for k, v in new.items()}
    if new == [] and isinstance(old, Mapping):
        return dict(old)
    if isinstance(new, list) and isinstance(old, list):
        pairs = zip(new, old + [None] * (len(new) - len(old)), strict=False)
        return [restore_empty_maps(n, o) for n, o in pairs]
    return new


def customizations() -> tuple[str, str, dict[str, str]]:
    data = yaml.safe_load(CONFIG_MAP.read_text())["data"]
    actions = yaml.safe_load(data[ACTIONS_KEY])
    scripts = {d["name"]: d["action.lua"] for d in actions["definitions"]}
    return data[HEALTH_KEY], actions["discovery.lua"], scripts


HEALTH, DISCOVERY, ACTION_SCRIPTS = customizations()


def health(obj: Mapping[str, Any]) -> tuple[str, str]:
    result = run_lua(HEALTH, obj)
    return result["status"], result.get("message", "")


def enabled_actions(obj: Mapping[str, Any]) -> set[str]:
    found = run_lua(DISCOVERY, obj)
    assert set(found) == set(ACTIONS)
    return {name for name, action in found.items() if not action["disabled"]}


def argocd_patches(live: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[Any, Any]:
    """What Argo CD sends for an action's object: a merge patch of the main resource
    and, when the status changed, one of the status subresource."""

    def diff(a: Any, b: Any) -> Any:
        if not (isinstance(a, Mapping) and isinstance(b, Mapping)):
            return copy.deepcopy(b)
        out = {k: None for k in a if k not in b}
        out.update({k: diff(a.get(k), v) for k, v in b.items() if a.get(k) != v})
        return out

    patch = diff(live, new)
    status = patch.pop("status", None)
    return patch, ({"status": status} if status else None)


# -- driving the controller ----------------------------------------------------------------


def rollout(**changes: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "apiVersion": API,
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "example/web:1"}]},
            },
            "strategy": {
                "canary": {"steps": [{"setWeight": 50}, {"pause": {}}, {"setWeight": 80}]}
            },
        },
    }
    for path, value in changes.items():
        node = manifest
        *parents, last = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return manifest


class World:
    """The in-memory cluster and its controller, on a virtual clock."""

    def __init__(self, pod_ready_seconds: float = 2.0) -> None:
        # an hour ago: what the Rollout does happens before Argo CD's wall-clock now
        # (the moment a restart action writes)
        self.clock = VirtualClock(start=time.time() - 3600)
        self.cluster = MemoryCluster(self.clock, pod_ready_seconds=pod_ready_seconds)

    async def settle(self, seconds: float = 3600.0) -> None:
        controller = Controller(self.cluster, clock=self.clock)
        await controller.settle(until=self.clock.now() + seconds, wakeup=self.cluster.next_event_at)

    async def get(self) -> dict[str, Any]:
        found = await self.cluster.get(REF)
        assert found is not None
        return found

    async def patch(self, spec: Mapping[str, Any] | None, status: Mapping[str, Any] | None) -> None:
        for patch in (spec, status):
            if patch:
                await self.cluster.patch(REF, patch)

    async def new_image(self, image: str = "example/web:2") -> None:
        obj = await self.get()
        template = copy.deepcopy(obj["spec"]["template"])
        template["spec"]["containers"][0]["image"] = image
        await self.patch({"spec": {"template": template}}, None)


async def healthy(world: World, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    await world.cluster.create(manifest or rollout())
    await world.settle()
    return await world.get()


async def no_status(world: World) -> dict[str, Any]:
    await world.cluster.create(rollout())
    return await world.get()


async def spec_not_observed(world: World) -> dict[str, Any]:
    await healthy(world)
    await world.new_image()
    return await world.get()


async def progressing(world: World) -> dict[str, Any]:
    await healthy(world)
    await world.new_image()
    await world.settle(seconds=1)  # the new pod is not ready yet
    return await world.get()


async def paused_at_a_step(world: World) -> dict[str, Any]:
    await healthy(world)
    await world.new_image()
    await world.settle()
    return await world.get()


async def paused_by_hand(world: World) -> dict[str, Any]:
    await healthy(world)
    await world.patch(*commands.pause(Rollout.from_manifest(await world.get())))
    await world.settle()
    return await world.get()


async def blue_green_gate(world: World) -> dict[str, Any]:
    manifest = rollout(
        spec__strategy={"blueGreen": {"activeService": "web", "autoPromotionEnabled": False}}
    )
    await world.cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}},
        }
    )
    await healthy(world, manifest)
    await world.new_image()
    await world.settle()
    return await world.get()


async def aborted(world: World) -> dict[str, Any]:
    await paused_at_a_step(world)
    await world.patch(*commands.abort(Rollout.from_manifest(await world.get())))
    await world.settle()
    return await world.get()


async def invalid_spec(world: World) -> dict[str, Any]:
    manifest = rollout()
    manifest["spec"]["strategy"]["canary"]["steps"][0] = {"setWeight": 150}
    await world.cluster.create(manifest)
    await world.settle()
    return await world.get()


async def deadline_passed(world: World) -> dict[str, Any]:
    world.cluster.pod_ready_seconds = 10_000.0  # the new pods never become ready in time
    await healthy(world, rollout(spec__progressDeadlineSeconds=30))
    await world.new_image()
    await world.settle(seconds=120)
    return await world.get()


async def scaled_to_zero(world: World) -> dict[str, Any]:
    await healthy(world)
    await world.patch({"spec": {"replicas": 0}}, None)
    await world.settle()
    return await world.get()


Scenario = Callable[[World], Any]
#: scenario -> (the phase the controller wrote, Argo CD's health and message, the
#: actions that apply)
SCENARIOS: dict[str, tuple[Scenario, str | None, tuple[str, str | None], set[str]]] = {
    "no status yet": (
        no_status,
        None,
        ("Progressing", "Waiting for the controller to observe the rollout"),
        {"restart"},
    ),
    "spec not observed yet": (
        spec_not_observed,
        "Healthy",
        ("Progressing", "Waiting for rollout spec update to be observed"),
        {"restart"},
    ),
    "progressing": (
        progressing,
        "Progressing",
        ("Progressing", None),
        {"abort", "promote-full", "restart"},
    ),
    "paused at a step": (
        paused_at_a_step,
        "Paused",
        ("Suspended", "CanaryPauseStep"),
        {"resume", "abort", "promote-full", "restart"},
    ),
    "paused by hand": (
        paused_by_hand,
        "Paused",
        ("Suspended", "manually paused"),
        {"resume", "restart"},
    ),
    "blue-green promotion gate": (
        blue_green_gate,
        "Paused",
        ("Suspended", "BlueGreenPause"),
        {"resume", "abort", "promote-full", "restart"},
    ),
    "aborted": (aborted, "Degraded", ("Degraded", None), {"retry", "restart"}),
    "invalid spec": (invalid_spec, "Degraded", ("Degraded", None), {"restart"}),
    "progress deadline passed": (
        deadline_passed,
        "Degraded",
        ("Degraded", None),
        {"abort", "promote-full", "restart"},
    ),
    "scaled to zero": (scaled_to_zero, "Healthy", ("Healthy", ""), {"restart"}),
    "healthy": (healthy, "Healthy", ("Healthy", ""), {"restart"}),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_health_and_the_actions_that_apply(name: str) -> None:
    scenario, phase, (expected_health, expected_message), expected_actions = SCENARIOS[name]
    world = World()
    obj = await scenario(world)
    status = obj.get("status") or {}
    assert status.get("phase") == phase, status
    got_health, got_message = health(obj)
    assert got_health == expected_health
    if expected_message is not None:
        assert got_message == expected_message
    elif name == "invalid spec":
        (invalid,) = [c for c in status["conditions"] if c["type"] == "InvalidSpec"]
        assert got_message == invalid["message"] and "setWeight" in got_message
    else:
        assert got_message == status["message"] and got_message
    assert enabled_actions(obj) == expected_actions


def core_result(action: str, obj: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The object the plugin's own command makes of ``obj``."""
    model = Rollout.from_manifest(obj)
    spec_patch, status_patch = {
        "resume": lambda: commands.promote(model),
        "promote-full": lambda: commands.promote(model, full=True),
        "abort": lambda: commands.abort(model),
        "retry": lambda: commands.retry(model),
        "restart": lambda: commands.restart(model, now),
    }[action]()
    out: dict[str, Any] = commands.merge_patch(commands.merge_patch(obj, spec_patch), status_patch)
    return out


#: after each action from a state, where the controller takes the Rollout
OUTCOMES = [
    ("paused at a step", "resume", "Healthy", "example/web:2"),
    ("paused at a step", "promote-full", "Healthy", "example/web:2"),
    ("paused at a step", "abort", "Degraded", "example/web:1"),
    ("paused by hand", "resume", "Healthy", "example/web:1"),
    ("blue-green promotion gate", "resume", "Healthy", "example/web:2"),
    ("aborted", "retry", "Paused", "example/web:1"),
    ("progressing", "abort", "Degraded", "example/web:1"),
    ("healthy", "restart", "Healthy", "example/web:1"),
]


@pytest.mark.parametrize(("name", "action", "phase", "stable_image"), OUTCOMES)
async def test_each_action_is_the_plugins_command_and_does_what_it_says(
    name: str, action: str, phase: str, stable_image: str
) -> None:
    scenario = SCENARIOS[name][0]
    world = World()
    obj = await scenario(world)
    assert action in enabled_actions(obj)
    before = datetime.now(UTC).replace(microsecond=0).timestamp()
    new = run_lua(ACTION_SCRIPTS[action], obj)
    expected = core_result(action, obj, before)
    if action == "restart":
        # os.date is the wall clock: a moment from this test, in the plugin's format
        moment = parse_time(new["spec"]["restartAt"])
        assert moment is not None and before <= moment <= before + 60
        expected["spec"]["restartAt"] = new["spec"]["restartAt"]
    assert json.dumps(new, sort_keys=True) == json.dumps(expected, sort_keys=True)
    spec_patch, status_patch = argocd_patches(obj, new)
    await world.patch(spec_patch, status_patch)
    await world.settle()
    after = await world.get()
    assert after["status"]["phase"] == phase, after["status"]
    stable = [
        rs
        for rs in await world.cluster.list("apps/v1", "ReplicaSet", "default")
        if rs["metadata"]["labels"]["rollouts-pod-template-hash"] == after["status"]["stableRS"]
    ]
    assert stable[0]["spec"]["template"]["spec"]["containers"][0]["image"] == stable_image


async def test_restart_replaces_the_pods() -> None:
    world = World()
    obj = await healthy(world)
    pods = {p["metadata"]["name"] for p in await world.cluster.list("v1", "Pod", "default")}
    new = run_lua(ACTION_SCRIPTS["restart"], obj)
    await world.patch(*argocd_patches(obj, new))
    await world.settle()
    now = {p["metadata"]["name"] for p in await world.cluster.list("v1", "Pod", "default")}
    assert len(now) == 3 and not now & pods


def test_the_scripts_get_no_more_than_argo_cd_gives() -> None:
    # a script using a library Argo CD does not open fails here as it would there
    with pytest.raises(lua51.LuaError):
        run_lua('return string.upper("x")', {})
    with pytest.raises(lua51.LuaError):
        run_lua("return os.getenv('HOME')", {})
    assert run_lua('return require("os").date("!%Y")', {}) == str(datetime.now(UTC).year)
