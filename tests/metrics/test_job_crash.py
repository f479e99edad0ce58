"""The analysis example (a web check, a smoke-test Job, a background SLO gate) crashed
after every single write of its update: a restarted controller finds its Job again,
never starts a second one, and ends where the clean run ends."""

from __future__ import annotations

import pytest

from progressive._clusters import Ref
from progressive._simulation import MAX_PASSES, MAX_SECONDS

from ..shell.test_crash_examples import CheckedSimulation, run


@pytest.mark.parametrize("metrics", ["metrics-pass.yaml", "metrics-burn.yaml"])
async def test_the_analysis_example_survives_a_crash_after_any_write(metrics: str) -> None:
    clean, writes = await run("analysis", metrics, None)
    assert writes > 5
    for k in range(1, writes + 1):
        crashed, _ = await run("analysis", metrics, k)
        assert crashed == clean, f"crash after write {k} of {writes}"


async def test_one_job_per_measurement_even_across_a_crash() -> None:
    from progressive._loader import load_documents

    from ..shell.test_crash_examples import EXAMPLES

    documents = load_documents([EXAMPLES / "analysis" / "rollout.yaml"])
    sim = CheckedSimulation(
        [d.raw for d in documents.documents], {"health-check": [0.999]}, None, 2.0
    )
    await sim.deploy_previous(MAX_SECONDS, MAX_PASSES)
    sim.cluster.crash_after_actions(8)
    await sim.update(True, MAX_SECONDS, MAX_PASSES)
    assert sim.restarts == 1
    jobs = sim.cluster.objects("batch/v1", "Job")
    assert len(jobs) == 1 and jobs[0]["status"]["succeeded"] == 1
    stored = await sim.cluster.get(Ref.of(sim.manifest))
    assert stored is not None and stored["status"]["phase"] == "Healthy"
