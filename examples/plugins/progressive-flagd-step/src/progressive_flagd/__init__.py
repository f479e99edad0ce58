"""A canary step that turns an OpenFeature flag on for the canary: flagd's flag
configuration, held in a ConfigMap (what flagd's Kubernetes sync, or a file mounted from
the ConfigMap, serves), gets a targeting rule that gives the canary's pods the flag's
``variant``, and an abort puts the flag back as it was.

    steps:
    - setWeight: 20
    - plugin:
        name: openfeature/flagd
        config:
          configMap: flags            # in the Rollout's namespace
          key: flags.flagd.json       # the ConfigMap's data key (this by default)
          flag: new-checkout
          variant: "on"               # the variant the canary gets
          contextKey: rollouts-pod-template-hash   # what the app puts in its context

The application evaluates the flag with its pod-template hash (the
``rollouts-pod-template-hash`` label, through the downward API) in the evaluation
context under ``contextKey``.  The rule is flagd's JsonLogic::

    {"if": [{"==": [{"var": "rollouts-pod-template-hash"}, "<canary hash>"]}, "on", null]}

and a null result falls back to the flag's ``defaultVariant``: the stable pods are
served as before.  The flag as it was is kept in an annotation of the ConfigMap
(``progressive.dev/flagd.<flag>``), which the abort restores and removes.  Once the
Rollout is promoted the flag stays on for the revision that is now stable (make it on
for everyone in flagd when you are ready); the next update's step saves the flag as it
is then, so its abort goes back to that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from progressive.core import Rollout
from progressive.errors import FieldProblem
from progressive.steps import KubeAccess, ObjectRef, Objects, Patch, StepPlugin, Write

__all__ = ["FlagdStep", "canary_rule"]

DEFAULT_KEY = "flags.flagd.json"
DEFAULT_CONTEXT_KEY = "rollouts-pod-template-hash"
SAVED = "progressive.dev/flagd."  # + the flag's name: the flag before the step
SETTINGS = frozenset({"configMap", "key", "flag", "variant", "contextKey"})


def canary_rule(context_key: str, canary_hash: str, variant: str) -> dict[str, Any]:
    """The targeting that gives ``variant`` to the canary's pods (null: the default)."""
    return {"if": [{"==": [{"var": context_key}, canary_hash]}, variant, None]}


class FlagdStep(StepPlugin):
    """``plugin: {name: openfeature/flagd, config: {...}}``."""

    name = "openfeature/flagd"
    # what progressive install grants the controller: the ConfigMap is read (get, by
    # name) and patched, never created, listed or deleted
    access = (KubeAccess("", "configmaps", ("get", "patch"), "flagd flag configurations"),)

    @staticmethod
    def _settings(config: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
        return (
            str(config.get("configMap", "")),
            str(config.get("key", DEFAULT_KEY)),
            str(config.get("flag", "")),
            str(config.get("variant", "on")),
            str(config.get("contextKey", DEFAULT_CONTEXT_KEY)),
        )

    def validate(self, rollout: Rollout, config: Mapping[str, Any]) -> list[FieldProblem]:
        problems = [
            FieldProblem(key, "is not a setting (configMap, key, flag, variant, contextKey)")
            for key in sorted(set(config) - SETTINGS)
        ]
        for key in ("configMap", "flag"):
            if not isinstance(config.get(key), str) or not config.get(key):
                problems.append(FieldProblem(key, "is required"))
        return problems

    def refs(self, rollout: Rollout, config: Mapping[str, Any]) -> tuple[ObjectRef, ...]:
        name = self._settings(config)[0]
        return (ObjectRef("", ("v1",), "ConfigMap", rollout.namespace, name),)

    def _flags(
        self, rollout: Rollout, config: Mapping[str, Any], objects: Objects
    ) -> tuple[Mapping[str, Any], dict[str, Any], dict[str, Any]]:
        """The ConfigMap, the flag configuration it holds, and the flag.

        Raises:
            ValueError: the ConfigMap, the configuration or the flag is missing.
        """
        (ref,) = self.refs(rollout, config)
        config_map = objects.get(ref)
        _, key, flag, _, _ = self._settings(config)
        if config_map is None:
            raise ValueError(f"ConfigMap {ref.namespace}/{ref.name} does not exist")
        try:
            flags = json.loads((config_map.get("data") or {}).get(key) or "")
        except ValueError:
            raise ValueError(f"ConfigMap {ref.name}'s {key} is not flagd JSON") from None
        found = (flags.get("flags") or {}).get(flag) if isinstance(flags, dict) else None
        if not isinstance(found, dict):
            raise ValueError(f"ConfigMap {ref.name}'s {key} has no flag {flag!r}")
        return config_map, flags, found

    def done(self, rollout: Rollout, config: Mapping[str, Any], objects: Objects) -> bool:
        try:
            _, _, flag = self._flags(rollout, config, objects)
        except ValueError:
            return False
        _, _, _, variant, context_key = self._settings(config)
        rule = canary_rule(context_key, rollout.template_hash(), variant)
        return flag.get("targeting") == rule and flag.get("state") == "ENABLED"

    def _patch(
        self, config_map: Mapping[str, Any], key: str, flags: Any, annotations: dict[str, Any]
    ) -> Patch:
        meta = config_map["metadata"]
        ref = ObjectRef("", ("v1",), "ConfigMap", meta["namespace"], meta["name"])
        text = json.dumps(flags, indent=2, sort_keys=True) + "\n"
        return Patch(
            ref,
            {
                "metadata": {
                    "resourceVersion": meta.get("resourceVersion"),
                    "annotations": annotations,
                },
                "data": {key: text},
            },
        )

    def plan(
        self, rollout: Rollout, config: Mapping[str, Any], objects: Objects
    ) -> Sequence[Write]:
        if self.done(rollout, config, objects):
            return []
        config_map, flags, flag = self._flags(rollout, config, objects)  # raises: said
        _, key, name, variant, context_key = self._settings(config)
        canary = rollout.template_hash()
        flags["flags"][name] = {
            **flag,
            "state": "ENABLED",
            "targeting": canary_rule(context_key, canary, variant),
        }
        saved = _saved(config_map, name)
        if saved is not None and saved["for"] != rollout.status.stable_rs:
            # an update replaced the canary before it was promoted: the flag to go back
            # to is still the one from before the first canary
            return [self._patch(config_map, key, flags, {})]
        # the flag as it is now, the abort's to restore (after a promotion: with the
        # rule of the revision now stable)
        keep = {"for": canary, "flag": flag}
        return [self._patch(config_map, key, flags, {SAVED + name: json.dumps(keep)})]

    def undo(
        self, rollout: Rollout, config: Mapping[str, Any], objects: Objects
    ) -> Sequence[Write]:
        try:
            config_map, flags, _ = self._flags(rollout, config, objects)
        except ValueError:
            return []  # nothing of ours left to undo
        _, key, name, _, _ = self._settings(config)
        saved = _saved(config_map, name)
        if saved is None:
            return []
        flags["flags"][name] = saved["flag"]
        return [self._patch(config_map, key, flags, {SAVED + name: None})]


def _saved(config_map: Mapping[str, Any], flag: str) -> dict[str, Any] | None:
    """What a step saved of ``flag``: ``{"for": the canary's hash, "flag": the flag as
    it was}``; None when nothing (or something unreadable) is saved."""
    text = (config_map["metadata"].get("annotations") or {}).get(SAVED + flag)
    try:
        saved = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return saved if isinstance(saved, dict) and isinstance(saved.get("flag"), dict) else None
