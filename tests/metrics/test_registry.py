"""The registry, the default providers, and the scripted provider's fallback."""

from __future__ import annotations

from progressive.core._analysis import AnalysisRun, Metric
from progressive.memory import MemoryCluster
from progressive.metrics import (
    JobProvider,
    MeasurementFailure,
    PrometheusProvider,
    ProviderRegistry,
    ScriptedProvider,
    WebProvider,
    default_registry,
)

from .helpers import run_for


class Fixed:
    def __init__(self, value: object) -> None:
        self.value = value
        self.asked: list[str] = []

    async def measure(self, metric: Metric, run: AnalysisRun) -> object:
        self.asked.append(metric.name)
        return self.value


def test_the_default_registry_has_every_provider() -> None:
    registry = default_registry(MemoryCluster())
    assert registry.keys == {"prometheus", "web", "job", "judge"}
    assert default_registry().keys == {"prometheus", "web", "judge"}  # no cluster, no Jobs
    for key, kind in (
        ("prometheus", PrometheusProvider),
        ("web", WebProvider),
        ("job", JobProvider),
    ):
        assert isinstance(registry._providers[key], kind)


async def test_unscripted_metrics_go_to_the_fallback() -> None:
    fallback = Fixed([0.5])
    scripted = ScriptedProvider({"a": [1]}, fallback=ProviderRegistry({"prometheus": fallback}))
    a = Metric("a", {"prometheus": {"query": "q"}})
    b = Metric("b", {"prometheus": {"query": "q"}})
    run = run_for(a, b)
    assert await scripted.measure(a, run) == 1
    assert await scripted.measure(b, run) == [0.5]
    assert fallback.asked == ["b"]


async def test_without_a_fallback_an_unscripted_metric_is_an_error() -> None:
    b = Metric("b", {"prometheus": {"query": "q"}})
    outcome = await ScriptedProvider({"a": [1]}).measure(b, run_for(b))
    assert outcome == MeasurementFailure("no scripted values for metric 'b'")


async def test_an_unknown_provider_key_is_an_error() -> None:
    m = Metric("m", {"datadog": {"query": "q"}})
    outcome = await default_registry().measure(m, run_for(m))
    assert isinstance(outcome, MeasurementFailure)
    assert "unknown metric provider 'datadog'" in outcome.message
    assert "registered: judge, prometheus, web" in outcome.message
