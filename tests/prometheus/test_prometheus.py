"""End to end against a real Prometheus: rollouts on the in-memory cluster, measured by
the real Prometheus provider, on the wall clock (intervals of a second)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import attrs
import pytest

from progressive._clusters import Ref
from progressive._shell.clocks import WallClock
from progressive._shell.controller import Controller, PassResult
from progressive.core._analysis import (
    AnalysisPhase,
    Metric,
    build_analysis_run,
    evaluate_measurement,
    record,
)
from progressive.core._analysis_model import AnalysisTemplate
from progressive.core._slo import SLO, burn_rate_metrics, burn_rate_template
from progressive.memory import MemoryCluster
from progressive.metrics import MeasurementFailure, PrometheusProvider, default_registry

from .conftest import Stack, slo_for

pytestmark = pytest.mark.prometheus

API = "argoproj.io/v1alpha1"
ERROR_RATIO = (
    'sum(rate(http_requests_total{{service="{s}",track="canary",code=~"5.."}}[10s]))'
    ' / sum(rate(http_requests_total{{service="{s}",track="canary"}}[10s]))'
)


def error_ratio_template(name: str = "error-ratio", **fields: Any) -> dict[str, Any]:
    metric = {
        "name": "error-ratio",
        "interval": "1s",
        "count": 3,
        "successCondition": "result[0] < 0.05",
        "provider": {"prometheus": {"query": ERROR_RATIO.format(s="{{args.service}}")}},
        **fields,
    }
    return {
        "apiVersion": API,
        "kind": "AnalysisTemplate",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"args": [{"name": "service"}], "metrics": [metric]},
    }


def rollout(template: str, service: str, image: str = "web:1") -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
            "strategy": {
                "canary": {
                    "steps": [
                        {"setWeight": 50},
                        {
                            "analysis": {
                                "templates": [{"templateName": template}],
                                "args": [{"name": "service", "value": service}],
                            }
                        },
                    ]
                }
            },
        },
    }


@attrs.frozen
class Outcome:
    status: dict[str, Any]
    run: dict[str, Any]
    replicas: dict[str, int]  # image -> spec.replicas of its ReplicaSet
    seconds: float

    @property
    def measurements(self) -> list[dict[str, Any]]:
        return list(self.run["status"]["metricResults"][0]["measurements"])


async def update(
    address: str,
    templates: Sequence[dict[str, Any]],
    manifest: dict[str, Any],
    *,
    seconds: float = 30.0,
    after_pass: Callable[[MemoryCluster], Awaitable[None]] | None = None,
) -> Outcome:
    """Deploy ``manifest`` at web:1, update it to web:2, run until nothing is due."""
    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=0.1)
    controller = Controller(
        cluster, clock=clock, provider=default_registry(cluster, prometheus_address=address)
    )
    for template in templates:
        await cluster.create(template)
    await cluster.create(manifest)
    await controller.settle(until=clock.now() + 10, wakeup=cluster.next_event_at)
    ref = Ref(API, "Rollout", "default", "web")
    assert ((await cluster.get(ref)) or {})["status"]["phase"] == "Healthy"
    started = time.monotonic()
    await cluster.patch(
        ref, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}}
    )

    async def hook(result: PassResult) -> None:
        if after_pass is not None:
            await after_pass(cluster)

    await controller.settle(
        until=clock.now() + seconds, wakeup=cluster.next_event_at, after_pass=hook
    )
    stored = await cluster.get(ref)
    assert stored is not None
    runs = await cluster.list(API, "AnalysisRun", "default")
    assert len(runs) == 1, runs
    replicas = {
        rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs["spec"]["replicas"]
        for rs in await cluster.list("apps/v1", "ReplicaSet", "default")
    }
    return Outcome(stored["status"], runs[0], replicas, time.monotonic() - started)


async def test_a_healthy_canary_passes_and_is_promoted(stack: Stack) -> None:
    outcome = await update(
        stack.address, [error_ratio_template()], rollout("error-ratio", "healthy")
    )
    assert outcome.run["status"]["phase"] == "Successful", outcome.run["status"]
    assert outcome.status["phase"] == "Healthy", outcome.status
    assert outcome.replicas == {"web:1": 0, "web:2": 2}
    # the value is a string, as Argo stores it
    values = [json.loads(m["value"])[0] for m in outcome.measurements]
    assert len(values) == 3 and all(0 <= v < 0.01 for v in values), values


async def test_a_canary_at_20_percent_errors_fails_and_aborts(stack: Stack) -> None:
    outcome = await update(stack.address, [error_ratio_template()], rollout("error-ratio", "bad"))
    assert outcome.run["status"]["phase"] == "Failed"
    assert outcome.status["phase"] == "Degraded" and outcome.status["abort"] is True
    assert outcome.replicas == {"web:1": 2, "web:2": 0}  # weight back to 0
    (measurement,) = outcome.measurements
    assert measurement["phase"] == "Failed"
    assert json.loads(measurement["value"])[0] == pytest.approx(0.2, abs=0.02)


async def test_prometheus_stopped_during_an_analysis_aborts_the_rollout(
    stack: Stack, start_prometheus: Callable[..., Any]
) -> None:
    own = start_prometheus(targets=[stack.app.target])
    own.wait_for('sum(rate(http_requests_total{service="stopped"}[10s]))')
    stopped_at: list[float] = []

    async def stop_after_first_measurement(cluster: MemoryCluster) -> None:
        if stopped_at:
            return
        for run in await cluster.list(API, "AnalysisRun", "default"):
            results = (run.get("status") or {}).get("metricResults") or []
            if results and results[0].get("successful", 0) >= 1:
                await anyio.to_thread.run_sync(own.stop)
                stopped_at.append(time.monotonic())

    template = error_ratio_template(count=30, consecutiveErrorLimit=1)
    outcome = await update(
        own.address,
        [template],
        rollout("error-ratio", "stopped"),
        after_pass=stop_after_first_measurement,
    )
    assert stopped_at, "the analysis never measured"
    phases = [m["phase"] for m in outcome.measurements]
    assert phases[0] == "Successful" and phases[-2:] == ["Error", "Error"], phases
    assert "ConnectError" in outcome.measurements[-1]["message"]
    assert own.address in outcome.measurements[-1]["message"]
    assert outcome.run["status"]["phase"] == "Error"
    assert outcome.status["phase"] == "Degraded" and outcome.status["abort"] is True
    assert outcome.replicas == {"web:1": 2, "web:2": 0}  # never promoted on missing data


async def test_a_bad_query_is_an_error_with_prometheus_message(stack: Stack) -> None:
    metric = Metric(
        "broken",
        {"prometheus": {"query": "sum(rate(http_requests_total[5m]"}},
        success_condition="result[0] < 1",
    )
    run = build_analysis_run(
        "r", "default", [AnalysisTemplate("t", metrics=(metric,))], (), None, 0.0
    )
    outcome = await PrometheusProvider(address=stack.address).measure(metric, run)
    assert isinstance(outcome, MeasurementFailure)
    assert outcome.message.startswith("prometheus bad_data: ")
    assert "parse error" in outcome.message
    run = record(run, "broken", outcome, 1.0)
    result = run.result("broken")
    assert result is not None and result.last is not None
    assert result.last.phase is AnalysisPhase.ERROR
    assert "parse error" in result.last.message


@pytest.mark.parametrize(("service", "passes"), [("slo-pass", True), ("slo-fail", False)])
async def test_the_slo_burn_rate_gate(stack: Stack, service: str, passes: bool) -> None:
    slo = slo_for(service)
    template = burn_rate_template(slo, namespace="default", interval="1s", count=2)
    outcome = await update(
        stack.address, [template], rollout(template["metadata"]["name"], service)
    )
    results = outcome.run["status"]["metricResults"]
    names = [f"{slo.name}-burn-rate-5m-1h", f"{slo.name}-burn-rate-30m-6h"]
    # a failing first metric ends the run before the second is judged
    assert [r["name"] for r in results] == (names if passes else names[:1])
    values = json.loads(results[0]["measurements"][0]["value"])
    assert len(values) == 2  # [short, long] burn rates
    if passes:
        assert all(0 < v < 1 for v in values), values  # 0.5x the budget
        assert outcome.status["phase"] == "Healthy", outcome.status
    else:
        assert all(v > 14 for v in values), values  # 20x: budget gone in 1.4 days
        assert outcome.run["status"]["phase"] == "Failed"
        assert outcome.status["phase"] == "Degraded"
        assert outcome.replicas == {"web:1": 2, "web:2": 0}


@pytest.mark.parametrize(("track", "expected"), [("canary", "Failed"), ("stable", "Successful")])
async def test_the_burn_rate_gate_on_raw_counters(stack: Stack, track: str, expected: str) -> None:
    slo = SLO(
        "counters",
        0.99,
        total='http_requests_total{service="counters"}',
        errors='http_requests_total{service="counters",code=~"5.."}',
    )
    (metric_manifest, _) = burn_rate_metrics(slo, source="counters", track=track)
    metric = Metric.from_manifest(metric_manifest)
    run = build_analysis_run(
        "r", "default", [AnalysisTemplate("t", metrics=(metric,))], (), None, 0.0
    )
    value = await PrometheusProvider(address=stack.address).measure(metric, run)
    assert isinstance(value, list) and len(value) == 2 and not any(map(math.isnan, value))
    assert evaluate_measurement(metric, value)[0] == AnalysisPhase(expected), value


@pytest.mark.parametrize(("service", "phase"), [("healthy", "Healthy"), ("bad", "Degraded")])
def test_simulate_replays_a_strategy_against_live_metrics(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, service: str, phase: str
) -> None:
    from progressive._simulation import simulate

    monkeypatch.setenv("PROGRESSIVE_PROMETHEUS_ADDRESS", stack.address)
    documents = [rollout("error-ratio", service, image="web:2"), error_ratio_template()]
    # `other` is scripted; error-ratio is not, so the real Prometheus measures it
    documents[1]["spec"]["metrics"].append(
        {
            "name": "other",
            "successCondition": "result == 1",
            "provider": {"web": {"url": "http://x"}},
        }
    )
    result = simulate(documents, {"other": [1]})
    assert result.phase == phase, result.message
