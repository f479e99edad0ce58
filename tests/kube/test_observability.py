"""deploy/grafana's dashboard and deploy/prometheus' alert rules query only what the
controller serves: every series they select is on the /metrics of a real
``progressive controller`` that has reconciled a Rollout on the local control plane,
with every label they match on or group by, and the values they match label by label
are ones the controller writes (phases, key kinds, replica states).

The PromQL is parsed (``promql-parser``): each vector selector's metric name and label
matchers, each aggregation's ``by`` labels and each binary operation's ``on`` labels
are checked against the series scraped.  Grafana's variables stand for what Grafana
puts there (``$__rate_interval`` a duration; ``$namespace`` sits inside a regex).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import promql_parser as promql
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from progressive._cluster._processes import free_ports
from progressive._shell.keys import REPLICA_SET
from progressive._shell.kube import KubeCluster
from progressive.core._names import ANALYSIS_RUN, EXPERIMENT, ROLLOUT
from progressive.core._status import Phase

from ._e2e import (
    controller_process,
    create_all,
    phase_is,
    progressive_controller,
    rollout,
    services,
    until,
)

pytestmark = pytest.mark.kube

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "progressive-dashboard.json"
RULES = DEPLOY / "prometheus" / "progressive-rules.yaml"
#: what the controller writes in the labels the files match on a value
VALUES = {
    "phase": {Phase.HEALTHY, Phase.PROGRESSING, Phase.PAUSED, Phase.DEGRADED},
    "kind": {ROLLOUT, ANALYSIS_RUN, EXPERIMENT, REPLICA_SET},
    "state": {"desired", "updated", "available"},
}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m"}


# -- what the files query ----------------------------------------------------------------


def dashboard_queries() -> Iterator[tuple[str, str, str | None]]:
    """(where, PromQL, the label a ``label_values`` variable reads) of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", ()):
            yield f"panel {panel['title']!r}", target["expr"], None
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        found = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["query"]["query"])
        assert found, variable["query"]
        yield f"variable ${variable['name']}", found.group(1), found.group(2)


def rule_queries() -> Iterator[tuple[str, str, str | None]]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            yield f"alert {rule['alert']}", rule["expr"], None


def nodes(node: Any) -> Iterator[Any]:
    """``node`` and every node under it."""
    yield node
    if isinstance(node, promql.MatrixSelector):
        under = [node.vector_selector]
    elif isinstance(node, promql.AggregateExpr):
        under = [node.expr, *([node.param] if node.param is not None else [])]
    elif isinstance(node, promql.BinaryExpr):
        under = [node.lhs, node.rhs]
    elif isinstance(node, promql.Call):
        under = list(node.args)
    elif isinstance(node, promql.ParenExpr | promql.UnaryExpr | promql.SubqueryExpr):
        under = [node.expr]
    else:
        under = []
    for child in under:
        yield from nodes(child)


def selectors(node: Any) -> list[Any]:
    """Every vector selector under ``node``."""
    return [n for n in nodes(node) if isinstance(n, promql.VectorSelector)]


def label_uses(node: Any) -> Iterator[tuple[frozenset[str], list[Any]]]:
    """(labels, the selectors that must carry them) of each ``by`` and ``on``."""
    for n in nodes(node):
        if isinstance(n, promql.AggregateExpr) and str(n.modifier or "").startswith("by"):
            yield frozenset(n.modifier.labels), selectors(n.expr)
        if isinstance(n, promql.BinaryExpr) and n.modifier is not None:
            matching = n.modifier.matching
            if matching is not None and str(matching).startswith("on"):
                yield frozenset(matching.labels), [*selectors(n.lhs), *selectors(n.rhs)]


def problems(served: dict[str, set[str]]) -> list[str]:
    """What the files query that ``served`` (series name -> its label names) lacks."""
    found = []
    queries = [*dashboard_queries(), *rule_queries()]
    assert len(queries) > 20
    for where, text, read_label in queries:
        for variable, stand_in in GRAFANA_VARIABLES.items():
            text = text.replace(variable, stand_in)
        expr = promql.parse(text)
        used = selectors(expr)
        assert used, f"{where}: selects no series"
        for selector in used:
            name = selector.name
            if name not in served:
                found.append(f"{where}: {name} is not on /metrics")
                continue
            for matcher in selector.matchers.matchers:
                if matcher.name not in served[name]:
                    found.append(f"{where}: {name} has no label {matcher.name!r}")
                known = VALUES.get(matcher.name)
                literal = str(matcher.op) in ("MatchOp.Equal", "MatchOp.NotEqual")
                if known is not None and literal and matcher.value not in known:
                    found.append(f"{where}: {matcher.name}={matcher.value!r} is never written")
            if read_label is not None and read_label not in served[name]:
                found.append(f"{where}: {name} has no label {read_label!r}")
        for labels, under in label_uses(expr):
            for selector in under:
                missing = labels - served.get(selector.name, set())
                if missing and selector.name in served:
                    found.append(f"{where}: {selector.name} has no {sorted(missing)} to group by")
    return found


# -- what the controller serves ------------------------------------------------------------


def series_labels(text: str) -> dict[str, set[str]]:
    served: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            served.setdefault(sample.name, set()).update(sample.labels)
    return served


@pytest.fixture
async def scraped(
    kube: KubeCluster, sa_config: dict[str, Any], namespace: str, tmp_path: Path
) -> dict[str, set[str]]:
    """The /metrics of a controller (a namespaced install's rights) that has taken a
    Rollout through a step and a pause to Healthy."""
    (port,) = free_ports(1)
    own = tmp_path / "kubeconfig"
    own.write_text(yaml.safe_dump(sa_config))
    argv = progressive_controller(
        own,
        namespace,
        "--leader-elect",
        f"--lease-namespace={namespace}",
        f"--metrics-address=127.0.0.1:{port}",
    )
    steps = [{"setWeight": 50}, {"pause": {"duration": "1s"}}]
    await create_all(kube, *services(namespace), rollout(namespace, steps=steps, router=None))
    async with controller_process(argv) as stop:
        await until("Healthy", lambda: phase_is(kube, namespace, "Healthy"), seconds=30)
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        await stop()
    return series_labels(text)


async def test_the_dashboard_and_the_alerts_query_what_the_controller_serves(
    scraped: dict[str, set[str]],
) -> None:
    # the scrape has what a reconciled Rollout leaves (the check below is against it)
    assert {"namespace", "name", "phase", "strategy"} <= scraped["progressive_rollout_info"]
    assert {"kind", "namespace", "name"} <= scraped["progressive_reconcile_errors_total"]
    assert problems(scraped) == []


def test_the_check_finds_what_is_missing() -> None:
    # the same check against a /metrics without the per-Rollout error series, with the
    # info series lacking its phase, and with no events at all
    served = {
        "progressive_rollout_info": {"namespace", "name", "strategy"},
        "progressive_reconcile_errors_total": {"kind"},
        "progressive_leader": set(),
    }
    found = problems(served)
    assert any("progressive_rollout_info has no label 'phase'" in p for p in found)
    assert any(
        "alert ProgressiveRolloutReconcileErrors: progressive_reconcile_errors_total has no "
        "['name', 'namespace'] to group by" in p
        for p in found
    )
    assert any("progressive_events_total is not on /metrics" in p for p in found)
    without_namespaces = problems({"progressive_rollout_info": {"name", "phase"}})
    assert "variable $namespace: progressive_rollout_info has no label 'namespace'" in (
        without_namespaces
    )


def test_the_promql_parses_as_grafana_and_prometheus_send_it() -> None:
    for _, text, _ in [*dashboard_queries(), *rule_queries()]:
        for variable, stand_in in GRAFANA_VARIABLES.items():
            text = text.replace(variable, stand_in)
        promql.parse(text)
    with pytest.raises(ValueError):
        promql.parse("sum by (name (progressive_leader)")
