"""Step plugins in the controller, on the in-memory cluster: the feature-flag step of
examples/plugins/progressive-flagd-step, installed as a distribution (its entry point
in a dist-info on sys.path), turns a flagd flag on for the canary when the step is
reached, the step is done once it is in place, and an abort puts the flag back as it
was.  Plugins that are not installed or not configured refuse their Rollouts only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from progressive import client
from progressive._clusters import Ref
from progressive._loader import parse_documents
from progressive._shell import Controller, VirtualClock
from progressive.memory import MemoryCluster
from progressive.steps import default_registry
from progressive.steps import forget as forget_steps

from .helpers import canary_rollout, with_image

FLAG = {
    "state": "ENABLED",
    "variants": {"on": True, "off": False},
    "defaultVariant": "off",
}
FLAG_CONFIG = {"configMap": "flags", "flag": "new-checkout"}
FLAG_STEP = {"plugin": {"name": "openfeature/flagd", "config": FLAG_CONFIG}}
CONFIG_MAP = Ref("v1", "ConfigMap", "default", "flags")
ROLLOUT = Ref("argoproj.io/v1alpha1", "Rollout", "default", "web")


def flags_config_map() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "flags", "namespace": "default"},
        "data": {"flags.flagd.json": json.dumps({"flags": {"new-checkout": FLAG}})},
    }


def flag_of(obj: dict[str, Any] | None) -> dict[str, Any]:
    assert obj is not None
    return json.loads(obj["data"]["flags.flagd.json"])["flags"]["new-checkout"]


class ConfigMapVerbs:
    """A MemoryCluster through which the controller's requests on ConfigMaps are
    recorded, by verb."""

    def __init__(self, cluster: MemoryCluster, verbs: set[str]) -> None:
        self.cluster = cluster
        self.verbs = verbs

    def __getattr__(self, name: str) -> Any:
        member = getattr(self.cluster, name)
        verb = {"list_owned": "list", "replace_status": "update"}.get(name, name)
        if verb not in ("get", "list", "create", "patch", "delete", "update", "watch"):
            return member

        async def recorded(*args: Any, **kwargs: Any) -> Any:
            first = args[0] if args else None
            kind = first.get("kind") if isinstance(first, dict) else getattr(first, "kind", None)
            if kind == "ConfigMap" or (len(args) > 1 and args[1] == "ConfigMap"):
                self.verbs.add(verb)
            return await member(*args, **kwargs)

        return recorded


async def world(
    steps: list[dict[str, Any]], verbs: set[str] | None = None
) -> tuple[MemoryCluster, Controller, VirtualClock]:
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    await cluster.create(flags_config_map())
    await cluster.create(canary_rollout(steps=steps))
    recording = ConfigMapVerbs(cluster, set() if verbs is None else verbs)
    controller = Controller(recording, clock=clock)  # type: ignore[arg-type]
    await controller.settle(wakeup=cluster.next_event_at)  # the first revision
    stored = await cluster.get(ROLLOUT)
    assert stored is not None and stored["status"]["phase"] == "Healthy"
    template = with_image(stored, "registry.example/web:2")["spec"]["template"]
    await cluster.patch(ROLLOUT, {"spec": {"template": template}})
    await controller.settle(wakeup=cluster.next_event_at)
    return cluster, controller, clock


def events(cluster: MemoryCluster) -> list[str]:
    return [e["reason"] for e in cluster.objects("v1", "Event")]


async def test_the_flag_is_on_for_the_canary_at_its_step_and_back_as_it_was_on_abort(
    flagd: Path,
) -> None:
    verbs: set[str] = set()
    cluster, controller, _ = await world([{"setWeight": 25}, FLAG_STEP, {"pause": {}}], verbs)
    rollout = await cluster.get(ROLLOUT)
    assert rollout is not None
    status = rollout["status"]
    assert (status["phase"], status["currentStepIndex"]) == ("Paused", 2)
    canary = status["currentPodHash"]
    flag = flag_of(await cluster.get(CONFIG_MAP))
    assert flag == {
        **FLAG,
        "targeting": {
            "if": [{"==": [{"var": "rollouts-pod-template-hash"}, canary]}, "on", None]
        },
    }
    assert "StepPluginRun" in events(cluster)

    await client.abort(cluster, "default", "web")
    await controller.settle(wakeup=cluster.next_event_at)
    config_map = await cluster.get(CONFIG_MAP)
    assert flag_of(config_map) == FLAG
    assert config_map is not None and not (config_map["metadata"].get("annotations") or {})
    assert "StepPluginAborted" in events(cluster)
    rollout = await cluster.get(ROLLOUT)
    assert rollout is not None and rollout["status"]["phase"] == "Degraded"
    # what the controller did to the ConfigMap is what the step declares, for install
    (access,) = default_registry().get("openfeature/flagd").access  # type: ignore[union-attr]
    assert (access.group, access.resources) == ("", ("configmaps",))
    assert verbs == set(access.verbs) == {"get", "patch"}


async def test_a_promoted_canary_keeps_the_flag(flagd: Path) -> None:
    cluster, controller, _ = await world([{"setWeight": 25}, FLAG_STEP, {"setWeight": 50}])
    rollout = await cluster.get(ROLLOUT)
    assert rollout is not None and rollout["status"]["phase"] == "Healthy"
    flag = flag_of(await cluster.get(CONFIG_MAP))
    assert flag["targeting"]["if"][0]["=="][1] == rollout["status"]["stableRS"]


async def test_a_step_plugin_not_installed_is_invalid_spec() -> None:
    forget_steps()
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    await cluster.create(canary_rollout(steps=[{"setWeight": 25}, FLAG_STEP]))
    await Controller(cluster, clock=clock).settle(wakeup=cluster.next_event_at)
    stored = await cluster.get(ROLLOUT)
    assert stored is not None and stored["status"]["phase"] == "Degraded"
    assert stored["status"]["message"] == (
        "InvalidSpec: spec.strategy.canary.steps[1].plugin.name: the step plugin "
        "'openfeature/flagd' is not installed (installed: none)"
    )


def test_lint_checks_the_steps_config_with_the_plugin(flagd: Path) -> None:
    config = {"configMap": "flags", "falg": "x"}
    bad = {"plugin": {"name": "openfeature/flagd", "config": config}}
    manifest = canary_rollout(steps=[{"setWeight": 25}, bad, FLAG_STEP])
    documents = parse_documents([("r.json", json.dumps(manifest))])
    assert [str(p.error) for p in documents.errors] == [
        "spec.strategy.canary.steps[1].plugin.config.falg: is not a setting (configMap, key, "
        "flag, variant, contextKey)",
        "spec.strategy.canary.steps[1].plugin.config.flag: is required",
    ]
    assert "openfeature/flagd" in [p.name for p in default_registry()]
