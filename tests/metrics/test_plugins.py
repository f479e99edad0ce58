"""Metric providers installed by other distributions (``progressive.metrics`` entry
points): made with the controller's context, found by key and by Argo plugin name,
checked by lint, and refused one by one when broken."""

from __future__ import annotations

from pathlib import Path

from progressive._loader import parse_documents
from progressive.core._analysis import Metric
from progressive.memory import MemoryCluster
from progressive.metrics import MeasurementFailure, default_registry

from ..installed import install
from .helpers import run_for

MODULE = '''
from progressive.errors import FieldProblem

class Constant:
    """provider: {constant: {value: N}}"""
    plugin_names = ("example/constant",)

    def __init__(self, context):
        self.context = context

    async def measure(self, metric, run):
        return metric.provider["constant"]["value"]

    def validate(self, metric):
        value = metric.provider["constant"].get("value")
        if not isinstance(value, (int, float)):
            return [FieldProblem("constant.value", f"must be a number, got {value!r}")]
        return []

class Same(Constant):
    plugin_names = ("example/constant",)

def broken(context):
    raise RuntimeError("no license key")

class Web:
    def __init__(self, context):
        pass

    async def measure(self, metric, run):
        return "not the built-in"
'''


def plugin_site(site: Path, *entry_points: tuple[str, str, str]) -> None:
    (site / "providers_for_tests.py").write_text(MODULE)
    for dist, name, target in entry_points:
        install(site, dist, "progressive.metrics", {name: f"providers_for_tests:{target}"})


async def test_a_plugin_measures_by_its_key_and_by_its_argo_plugin_name(site: Path) -> None:
    plugin_site(site, ("constant-provider", "constant", "Constant"))
    cluster = MemoryCluster()
    registry = default_registry(cluster)
    assert "constant" in registry.keys and registry.origin("constant") == "constant-provider 1.0"
    assert registry._providers["constant"].context.cluster is cluster  # type: ignore[attr-defined]
    by_key = Metric("a", {"constant": {"value": 7}})
    by_plugin = Metric("b", {"plugin": {"example/constant": {"value": 8}}})
    assert await registry.measure(by_key, run_for(by_key)) == 7
    assert await registry.measure(by_plugin, run_for(by_plugin)) == 8


async def test_a_broken_plugin_fails_the_metrics_that_name_it_only(site: Path) -> None:
    plugin_site(site, ("licensed-provider", "licensed", "broken"))
    registry = default_registry()
    licensed = Metric("a", {"licensed": {"q": 1}})
    assert await registry.measure(licensed, run_for(licensed)) == MeasurementFailure(
        "the metric provider plugin 'licensed' of licensed-provider 1.0 cannot be used: "
        "RuntimeError: no license key"
    )
    assert registry.keys == {"prometheus", "web", "judge"}


async def test_plugins_declaring_one_name_are_refused_for_it(site: Path) -> None:
    plugin_site(site, ("a-provider", "constant", "Constant"), ("b-provider", "same", "Same"))
    registry = default_registry()
    metric = Metric("m", {"plugin": {"example/constant": {"value": 1}}})
    outcome = await registry.measure(metric, run_for(metric))
    assert isinstance(outcome, MeasurementFailure)
    assert "declares the provider name 'example/constant', which" in outcome.message


async def test_a_plugin_cannot_take_a_built_in_key(site: Path) -> None:
    plugin_site(site, ("web-provider", "web", "Web"))
    registry = default_registry()
    assert registry.origin("web") == "progressive"


def test_lint_checks_metrics_against_the_installed_providers(site: Path) -> None:
    plugin_site(site, ("constant-provider", "constant", "Constant"))
    template = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  metrics:
  - name: good
    provider: {constant: {value: 1}}
  - name: plugin-form
    provider: {plugin: {example/constant: {value: 2}}}
  - name: bad
    provider: {constant: {value: high}}
  - name: elsewhere
    provider: {datadog: {query: q}}
"""
    documents = parse_documents([("t.yaml", template)])
    assert [str(p) for p in documents.problems] == [
        "t.yaml: spec.metrics[2].provider.constant.value: must be a number, got 'high'",
        "t.yaml: spec.metrics[3].provider: unknown metric provider 'datadog' for metric "
        "'elsewhere' (registered: constant, judge, prometheus, web; plugins: "
        "example/constant)",
    ]
    assert [p.error.severity for p in documents.problems] == ["error", "warning"]
