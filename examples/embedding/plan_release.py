"""Embedding reconcile() in a platform tool: "what will this release do, step by step?"

A release-review tool reads a Rollout manifest and prints every action the controller
would take, with the traffic split and the pod counts after each, before anything
touches a cluster. It needs no cluster, no event loop and no clock: it calls the pure
``reconcile()`` and applies the returned actions to its own small model of the world.

    python examples/embedding/plan_release.py examples/canary-nginx/rollout.yaml
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from typing import Any

import attrs
import yaml

from progressive import (
    Observed,
    ReplicaSetView,
    Rollout,
    RolloutStatus,
    TrafficView,
    actions,
    reconcile,
)
from progressive.core import merge_patch, promote

POD_READY_SECONDS = 5.0


@dataclass
class World:
    """The tool's own model of a cluster: enough to answer reconcile()'s questions."""

    rollout: Rollout
    now: float = 0.0
    sets: dict[str, ReplicaSetView] = field(default_factory=dict)
    weight: int | None = None
    services: dict[str, str | None] = field(default_factory=dict)

    def observe(self) -> Observed:
        return Observed(
            rollout=self.rollout,
            now=self.now,
            replica_sets=tuple(self.sets.values()),
            traffic=TrafficView(weight=self.weight),
            services=dict(self.services),
        )

    def apply(self, action: actions.Action) -> str | None:
        """Carry out one action; return a line describing it (None: nothing to say)."""
        match action:
            case actions.CreateReplicaSet(name=name, replicas=n):
                self.sets[name] = ReplicaSetView(name, action.pod_template_hash, action.revision, n)
                return f"create ReplicaSet {name} with {n} pods"
            case actions.ScaleReplicaSet(name=name, replicas=n):
                self.sets[name] = attrs.evolve(self.sets[name], replicas=n)
                return f"scale {name} to {n}"
            case actions.WriteWeight(weight=w):
                self.weight = w
                return f"route {w}% of the traffic to the canary"
            case actions.SetServiceSelector(service=svc, pod_template_hash=h):
                self.services[svc] = h
                return f"point Service {svc} at pods {h}"
            case actions.SetScaleDownDeadline(name=name, deadline=t):
                self.sets[name] = attrs.evolve(self.sets[name], scale_down_deadline=t)
                return None if t is None else f"scale {name} down at t={t:.0f}s"
            case actions.EmitEvent(reason=reason, message=message):
                return f"event {reason}: {message}"
            case _:
                return type(action).__name__
        return None

    def pods_become_ready(self) -> None:
        for name, rs in self.sets.items():
            self.sets[name] = attrs.evolve(
                rs, ready_replicas=rs.replicas, available_replicas=rs.replicas
            )


def plan_release(manifest: dict[str, Any], new_image: str) -> list[str]:
    """Every line the tool prints for an update of ``manifest`` to ``new_image``."""
    world = World(Rollout.from_manifest(manifest))
    lines: list[str] = []
    settle(world, lines, quiet=True)  # the current revision, deployed and Healthy
    template = copy.deepcopy(world.rollout.template)
    template["spec"]["containers"][0]["image"] = new_image
    world.rollout = attrs.evolve(world.rollout, template=template)
    lines.append(f"update to {new_image}:")
    settle(world, lines, quiet=False)
    lines.append(f"final phase: {world.rollout.status.phase}")
    return lines


def settle(world: World, lines: list[str], *, quiet: bool, max_rounds: int = 500) -> None:
    for _ in range(max_rounds):
        plan = reconcile(world.observe())
        for action in plan.actions:
            line = world.apply(action)
            if line and not quiet:
                lines.append(f"  t={world.now:>5.0f}s  {line}")
        world.rollout = attrs.evolve(world.rollout, status=plan.status)
        if plan.actions:
            continue
        if any(rs.available_replicas < rs.replicas for rs in world.sets.values()):
            world.now += POD_READY_SECONDS
            world.pods_become_ready()
        elif plan.requeue_at is not None:
            world.now = plan.requeue_at
        elif plan.status.phase == "Paused":
            # a pause until promoted: this tool promotes, as a reviewer would
            _, patch = promote(world.rollout)
            status = merge_patch(plan.status.to_manifest(), patch["status"])
            world.rollout = attrs.evolve(
                world.rollout, paused=False, status=RolloutStatus.from_manifest(status)
            )
            if not quiet:
                lines.append(f"  t={world.now:>5.0f}s  (promoted by hand)")
        else:
            return
    raise RuntimeError("the release did not settle")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    with open(argv[1]) as f:
        manifest = next(d for d in yaml.safe_load_all(f) if d and d.get("kind") == "Rollout")
    image = argv[2] if len(argv) > 2 else "registry.example/app:next"
    print("\n".join(plan_release(manifest, image)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
