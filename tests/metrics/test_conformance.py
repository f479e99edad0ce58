"""Every metric provider, the same promises: ``progressive.testing.check_provider`` over
each built-in one (against real HTTP servers on 127.0.0.1, the in-memory cluster's
Jobs), and the check itself failing on providers that break a promise."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from progressive.core._analysis import AnalysisPhase, Metric
from progressive.memory import MemoryCluster
from progressive.metrics import (
    JobProvider,
    JudgeProvider,
    MeasurementInProgress,
    MeasurementOutcome,
    PrometheusProvider,
    ProviderRegistry,
    ScriptedProvider,
    WebProvider,
)
from progressive.testing import check_provider

from ..http_servers import answer, serve
from .helpers import run_for

VECTOR = {
    "status": "success",
    "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "0.99"]}]},
}


async def test_prometheus_keeps_the_promises() -> None:
    async with serve(answer(VECTOR)) as server:
        metric = Metric("rate", {"prometheus": {"address": server.url, "query": "up"}})
        outcome = await check_provider(PrometheusProvider(), metric, within=20)
    assert outcome == [0.99]


async def test_web_keeps_the_promises() -> None:
    async with serve(answer({"data": {"ok": 0.5}})) as server:
        metric = Metric("ok", {"web": {"url": server.url, "jsonPath": "{$.data.ok}"}})
        assert await check_provider(WebProvider(), metric, within=20) == 0.5


async def test_the_judge_keeps_the_promises() -> None:
    async with serve(answer(VECTOR)) as server:
        config = {"prometheus": {"address": server.url}, "baseline": "b", "canary": "c"}
        metric = Metric("judged", {"judge": config})
        outcome = await check_provider(JudgeProvider(PrometheusProvider()), metric, within=20)
    assert isinstance(outcome, MeasurementOutcome)
    assert (outcome.phase, outcome.value) == (AnalysisPhase.SUCCESSFUL, 100.0)  # the same samples


async def test_jobs_keep_the_promises() -> None:
    cluster = MemoryCluster(job_seconds=30)
    metric = Metric(
        "smoke",
        {
            "job": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "t", "image": "curl", "command": ["true"]}],
                        }
                    }
                }
            }
        },
    )
    run = run_for(metric)
    await cluster.create(run.to_manifest())
    outcome = await check_provider(
        JobProvider(cluster, poll_interval=7), metric, run, advance=cluster.clock.advance  # type: ignore[attr-defined]
    )
    assert outcome == MeasurementOutcome(AnalysisPhase.SUCCESSFUL, 1, "job run-smoke-1 complete")


async def test_scripted_values_and_a_registry_keep_the_promises() -> None:
    scripted = ScriptedProvider({"m": [0.1, "error"]})
    metric = Metric("m", {"prometheus": {"query": "q"}})
    assert await check_provider(scripted, metric) == 0.1
    registry = ProviderRegistry({"prometheus": ScriptedProvider({"m": [1]})})
    assert await check_provider(registry, metric) == 1


# -- the check fails where a promise is broken -----------------------------------------------


class Broken:
    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.calls = 0

    async def measure(self, metric: Metric, run: Any) -> object:
        self.calls += 1
        config = metric.provider.get("prometheus") or {}
        match self.behaviour:
            case "raises":
                raise RuntimeError("boom")
            case "object":
                return object()
            case "hangs":
                await anyio.sleep_forever()
            case "never-done":
                return MeasurementInProgress(5)
            case "bad-config":  # a tenant's field of the wrong type breaks it
                return str(config["query"].upper())
        return 1.0


@pytest.mark.parametrize(
    ("behaviour", "promise"),
    [
        ("raises", "a measurement ends in an outcome: raised RuntimeError: boom"),
        ("object", "the value is not plain data (a object)"),
        ("hangs", "no answer within 0.2 s"),
        ("never-done", "still in progress after 3 polls"),
        ("bad-config", "never makes the provider raise (every field of the wrong type)"),
    ],
)
async def test_a_provider_that_breaks_a_promise_fails_the_check(
    behaviour: str, promise: str
) -> None:
    metric = Metric("m", {"prometheus": {"query": "up"}})
    with pytest.raises(AssertionError, match=promise.replace("(", r"\(").replace(")", r"\)")):
        await check_provider(
            Broken(behaviour), metric, within=0.2, advance=lambda seconds: None, polls=3
        )
