"""Every example, crashed after every single write of its update and restarted.

For each example a clean simulated update counts its writes (N).  Then, for every k in
1..N, the same update runs with the controller dying right after its k-th write; a new
controller carries on from what was stored.  Each run must end in the clean run's
state, never hold two ReplicaSets for one pod template, and never route traffic to
new pods that are not available.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive._clusters import Ref
from progressive._loader import load_documents
from progressive._shell.controller import PassResult
from progressive._shell.traffic import read_traffic
from progressive._simulation import MAX_PASSES, MAX_SECONDS, _Simulation

from .helpers import stored

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HASH = "rollouts-pod-template-hash"

CASES = [
    ("canary-basic", None),
    ("canary-nginx", None),
    ("canary-istio-headers", None),
    ("blue-green", None),
    ("custom-strategy", "metrics-pass.yaml"),
    ("custom-strategy", "metrics-burn.yaml"),
]


class CheckedSimulation(_Simulation):
    """A simulation that checks the cluster's invariants after every controller pass."""

    async def _after_pass(self, result: PassResult) -> None:
        await super()._after_pass(result)
        check_invariants(self)


def check_invariants(sim: _Simulation) -> None:
    sets = sim.cluster.objects("apps/v1", "ReplicaSet")
    hashes = Counter(rs["metadata"]["labels"][HASH] for rs in sets)
    assert all(n == 1 for n in hashes.values()), f"two ReplicaSets for one template: {hashes}"
    canary = sim.model.canary
    if canary is None or canary.traffic_routing is None:
        return
    view = read_traffic(sim.model, stored(sim.cluster))
    weight = (view.weight if view is not None else None) or 0
    services = {s["metadata"]["name"]: s for s in sim.cluster.objects("v1", "Service")}
    canary_hash = (services[canary.canary_service or ""]["spec"].get("selector") or {}).get(HASH)
    target = next((rs for rs in sets if rs["metadata"]["labels"][HASH] == canary_hash), None)
    available = int(((target or {}).get("status") or {}).get("availableReplicas") or 0)
    assert weight <= 100 * available / sim.model.replicas + 1e-9, (
        f"weight {weight} on {available} available pods of {canary_hash}"
    )


async def run(name: str, metrics_file: str | None, crash_after: int | None) -> tuple[Any, int]:
    documents = load_documents([EXAMPLES / name / "rollout.yaml"])
    metrics = yaml.safe_load((EXAMPLES / name / metrics_file).read_text()) if metrics_file else {}
    sim = CheckedSimulation([d.raw for d in documents.documents], metrics, None, 2.0)
    await sim.deploy_previous(MAX_SECONDS, MAX_PASSES)
    before = sim.cluster.writes
    if crash_after is not None:
        sim.cluster.crash_after_actions(crash_after)
    result = await sim.update(True, MAX_SECONDS, MAX_PASSES)
    assert crash_after is None or sim.restarts == 1
    stored = await sim.cluster.get(Ref.of(sim.manifest))
    assert stored is not None
    final = {
        "phase": result.phase,
        "stable": stored["status"].get("stableRS"),
        "replicas": sorted(
            (rs["metadata"]["labels"][HASH], rs["spec"]["replicas"])
            for rs in sim.cluster.objects("apps/v1", "ReplicaSet")
        ),
        "weight": result.timeline[-1].weight,
        "services": sorted(
            (s["metadata"]["name"], (s["spec"].get("selector") or {}).get(HASH))
            for s in sim.cluster.objects("v1", "Service")
        ),
    }
    return final, sim.cluster.writes - before


@pytest.mark.parametrize(("name", "metrics"), CASES, ids=[f"{n}-{m}" for n, m in CASES])
async def test_every_example_survives_a_crash_after_any_write(
    name: str, metrics: str | None
) -> None:
    clean, writes = await run(name, metrics, None)
    assert writes > 5
    for k in range(1, writes + 1):
        crashed, _ = await run(name, metrics, k)
        assert crashed == clean, f"crash after write {k} of {writes}"
