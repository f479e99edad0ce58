"""How long one reconcile() takes, and a whole simulated rollout.

    python bench/reconcile.py [--calls N]

Prints one line per case and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from progressive.core import Observed, ReplicaSetView, Rollout, TrafficView, reconcile


def canary(steps: int) -> dict[str, Any]:
    weights = [round(100 * (i + 1) / (steps + 1)) for i in range(steps)]
    step_list: list[dict[str, Any]] = []
    for w in weights:
        step_list.append({"setWeight": w})
        step_list.append({"pause": {"duration": 60}})
    step_list = step_list[:steps]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "bench"},
        "spec": {
            "replicas": 10,
            "selector": {"matchLabels": {"app": "bench"}},
            "template": {
                "metadata": {"labels": {"app": "bench"}},
                "spec": {"containers": [{"name": "app", "image": "app:2"}]},
            },
            "strategy": {
                "canary": {
                    "canaryService": "bench-canary",
                    "stableService": "bench-stable",
                    "trafficRouting": {"smi": {}},
                    "steps": step_list,
                }
            },
        },
    }


def blue_green() -> dict[str, Any]:
    manifest = canary(1)
    manifest["spec"]["strategy"] = {
        "blueGreen": {
            "activeService": "active",
            "previewService": "preview",
            "autoPromotionEnabled": False,
        }
    }
    return manifest


def mid_update(manifest: dict[str, Any]) -> Observed:
    """A rollout half-way through its update: the steady state the controller sees most."""
    rollout = Rollout.from_manifest(manifest)
    new = rollout.template_hash()
    steps = len(rollout.canary.steps) if rollout.canary else 0
    status = rollout.status
    import attrs

    status = attrs.evolve(
        status,
        current_pod_hash=new,
        current_step_hash=rollout.steps_hash(),
        current_step_index=steps // 2,
        stable_rs="stable0000",
    )
    rollout = attrs.evolve(rollout, status=status)
    # settle the status so the measured call is the steady, nothing-to-do one
    observed = Observed(
        rollout=rollout,
        now=1000.0,
        replica_sets=(
            ReplicaSetView("bench-stable0000", "stable0000", 1, 10, 10, 10),
            ReplicaSetView(f"bench-{new}", new, 2, 5, 5, 5),
        ),
        traffic=TrafficView(weight=50),
        services={"bench-canary": new, "bench-stable": "stable0000"},
    )
    plan = reconcile(observed)
    return attrs.evolve(observed, rollout=attrs.evolve(rollout, status=plan.status))


def measure(observed: Observed, calls: int) -> dict[str, float]:
    for _ in range(min(200, calls)):
        reconcile(observed)
    samples = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        reconcile(observed)
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 1),
        "p99_us": round(samples[int(len(samples) * 0.99) - 1], 1),
    }


def whole_simulation() -> dict[str, Any] | None:
    try:
        from progressive._loader import load_documents
        from progressive._simulation import simulate
    except ImportError:
        return None
    import yaml

    example = Path(__file__).resolve().parent.parent / "examples" / "custom-strategy"
    documents = [d.raw for d in load_documents([example / "rollout.yaml"]).documents]
    metrics = yaml.safe_load((example / "metrics-pass.yaml").read_text())
    start = time.perf_counter()
    result = simulate(documents, metrics=metrics, auto_promote=True)
    wall = time.perf_counter() - start
    return {
        "wall_ms": round(wall * 1000, 1),
        "virtual_s": result.timeline[-1].t,
        "phase": result.phase,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    for name, manifest in [
        ("canary_1_step", canary(1)),
        ("canary_10_steps", canary(10)),
        ("canary_50_steps", canary(50)),
        ("blue_green", blue_green()),
    ]:
        result = measure(mid_update(manifest), args.calls)
        figures[name] = result
        print(
            f"reconcile() {name:<16} median {result['median_us']:>7} us   "
            f"p99 {result['p99_us']:>7} us   ({args.calls} calls)"
        )
    sim = whole_simulation()
    if sim is not None:
        figures["simulate_custom_strategy"] = sim
        print(
            f"simulate examples/custom-strategy: {sim['wall_ms']} ms wall for "
            f"{sim['virtual_s']} virtual seconds, final phase {sim['phase']}"
        )
    print(json.dumps({"bench": "reconcile", **figures}))


if __name__ == "__main__":
    main()
