"""An experiment-step rollout (examples/experiment-ab), crashed after every single write
of its update and restarted, ends as the clean run does (the crash pattern and
invariants of ``test_crash_examples``): the Experiment's ReplicaSets, Services, runs
and traffic included."""

from __future__ import annotations

import pytest

from .test_crash_examples import run

CASES = [("experiment-ab", "metrics-pass.yaml"), ("experiment-ab", "metrics-fail.yaml")]


@pytest.mark.parametrize(("name", "metrics"), CASES, ids=[m for _, m in CASES])
async def test_an_experiment_step_survives_a_crash_after_any_write(name: str, metrics: str) -> None:
    clean, writes = await run(name, metrics, None)
    assert writes > 20
    for k in range(1, writes + 1):
        crashed, _ = await run(name, metrics, k)
        assert crashed == clean, f"crash after write {k} of {writes}"


async def test_the_clean_runs_end_as_the_example_says() -> None:
    passed, _ = await run("experiment-ab", "metrics-pass.yaml", None)
    failed, _ = await run("experiment-ab", "metrics-fail.yaml", None)
    assert passed["phase"] == "Healthy" and failed["phase"] == "Degraded"
    # both experiments' ReplicaSets are down at the end, their Services still there
    for final in (passed, failed):
        assert sum(1 for _, n in final["replicas"] if n == 0) >= 2
        assert {n for n, _ in final["services"]} >= {"shop-stable", "shop-canary"}
        assert len(final["services"]) == 4
