"""The router examples, crashed after every single write of their update and restarted.

The harness of ``tests/shell/test_crash_examples.py``, with the routers in view: a crash
between the two routers' writes of ``canary-nginx-smi`` leaves them disagreeing; the
next controller must bring them back together and end exactly where a clean run ends,
router objects included, and no router -- each one on its own, not only the weight all
of them hold -- may ever send more traffic to the new pods than they can carry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from progressive._loader import load_documents
from progressive._shell.controller import PassResult
from progressive._shell.traffic import read_states
from progressive._simulation import MAX_PASSES, MAX_SECONDS, _Simulation
from progressive.routers import ROUTERS

from ..shell.helpers import stored

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HASH = "rollouts-pod-template-hash"
CASES = ["canary-nginx-smi", "canary-smi", "canary-gateway-api"]


def router_weights(sim: _Simulation) -> dict[str, Any]:
    """Each router's own state, read back from its objects."""
    states = read_states(sim.model, stored(sim.cluster)) or {}
    return {name: (state.weight, state.route_names) for name, state in states.items()}


class Checked(_Simulation):
    async def _after_pass(self, result: PassResult) -> None:
        await super()._after_pass(result)
        check(self)


def check(sim: _Simulation) -> None:
    canary = sim.model.canary
    assert canary is not None
    services = {s["metadata"]["name"]: s for s in sim.cluster.objects("v1", "Service")}
    target = (services[canary.canary_service or ""]["spec"].get("selector") or {}).get(HASH)
    sets = sim.cluster.objects("apps/v1", "ReplicaSet")
    rs = next((r for r in sets if r["metadata"]["labels"][HASH] == target), None)
    available = int(((rs or {}).get("status") or {}).get("availableReplicas") or 0)
    for name, (weight, _) in router_weights(sim).items():
        assert (weight or 0) <= 100 * available / sim.model.replicas + 1e-9, (
            f"{name} sends {weight}% to {available} available pods"
        )


async def run(name: str, crash_after: int | None) -> tuple[dict[str, Any], int]:
    documents = load_documents([EXAMPLES / name / "rollout.yaml"])
    sim = Checked([d.raw for d in documents.documents], {}, None, 2.0)
    await sim.deploy_previous(MAX_SECONDS, MAX_PASSES)
    before = sim.cluster.writes
    if crash_after is not None:
        sim.cluster.crash_after_actions(crash_after)
    result = await sim.update(True, MAX_SECONDS, MAX_PASSES)
    assert crash_after is None or sim.restarts == 1
    final = {
        "phase": result.phase,
        "weights": [(r.step, r.weight) for r in result.timeline if r.event == "Paused"],
        "routers": router_weights(sim),
        "replicas": sorted(
            (rs["metadata"]["labels"][HASH], rs["spec"]["replicas"])
            for rs in sim.cluster.objects("apps/v1", "ReplicaSet")
        ),
    }
    return final, sim.cluster.writes - before


@pytest.mark.parametrize("name", CASES)
async def test_a_router_example_survives_a_crash_after_any_write(name: str) -> None:
    clean, writes = await run(name, None)
    assert clean["phase"] == "Healthy"
    assert set(clean["routers"]) <= set(ROUTERS)
    assert all(weight == 0 and not routes for weight, routes in clean["routers"].values())
    for k in range(1, writes + 1):
        crashed, _ = await run(name, k)
        assert crashed["phase"] == clean["phase"], f"crash after write {k} of {writes}"
        assert crashed["routers"] == clean["routers"], f"crash after write {k} of {writes}"
        assert crashed["replicas"] == clean["replicas"], f"crash after write {k} of {writes}"
