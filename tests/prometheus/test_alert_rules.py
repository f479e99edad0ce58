"""deploy/prometheus/progressive-rules.yaml: Debian's ``promtool`` accepts it, and each
alert fires when it should, and only then (``promtool test rules`` on synthetic series).

The test file is written here, for a copy of the rules without their annotations (the
prose is not under test; ``promtool`` would compare it word for word): the expressions,
``for`` durations and labels are the file's own.  Every alert has a case that fires it
and one that must not.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.prometheus

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "progressive-rules.yaml"


def info(phase: str) -> str:
    return (
        f'progressive_rollout_info{{namespace="shop", name="web", strategy="canary", '
        f'phase="{phase}"}}'
    )


def errors(kind: str, name: str) -> str:
    return f'progressive_reconcile_errors_total{{kind="{kind}", namespace="shop", name="{name}"}}'


WEB = {"namespace": "shop", "name": "web"}
#: alert -> (input series {selector: values}, when it must not have fired yet, when it
#: must have, the labels it fires with, series that must never fire it)
CASES: dict[str, tuple[dict[str, str], str, str, dict[str, str], dict[str, str]]] = {
    "ProgressiveRolloutDegraded": (
        {info("Degraded"): "1x10"},
        "30s",
        "2m",
        {**WEB, "severity": "warning"},
        {info("Paused"): "1x10"},
    ),
    "ProgressiveRolloutProgressingTooLong": (
        {info("Progressing"): "1x90"},
        "50m",
        "70m",
        {**WEB, "severity": "warning"},
        {info("Healthy"): "1x90"},
    ),
    "ProgressiveRolloutPausedLong": (
        {info("Paused"): "1x800"},
        "11h",
        "13h",
        {**WEB, "severity": "info"},
        {info("Progressing"): "1x800"},
    ),
    "ProgressiveRolloutReconcileErrors": (
        {errors("Rollout", "web"): "0+1x30"},
        "5m",
        "15m",
        {**WEB, "severity": "warning"},
        {errors("Rollout", "web"): "0x30", errors("AnalysisRun", ""): "0+1x30"},
    ),
    "ProgressiveReconcileErrors": (
        {errors("AnalysisRun", ""): "0+1x30"},
        "5m",
        "15m",
        {"kind": "AnalysisRun", "namespace": "shop", "severity": "warning"},
        {errors("Rollout", "web"): "0+1x30"},
    ),
    "ProgressiveControllerAbsent": (
        {"progressive_workqueue_depth{name='rollouts'}": "0x10"},
        "3m",
        "6m",
        {"severity": "critical"},
        {"progressive_leader": "0x10"},
    ),
    "ProgressiveNoLeader": (
        {"progressive_leader": "0x10"},
        "3m",
        "6m",
        {"severity": "critical"},
        {"progressive_leader": "1x10"},
    ),
    "ProgressiveKubernetesAPIErrors": (
        {
            "progressive_k8s_requests_total{verb='get', code='200'}": "0+100x30",
            "progressive_k8s_requests_total{verb='patch', code='503'}": "0+10x30",
        },
        "5m",
        "15m",
        {"severity": "warning"},
        {
            "progressive_k8s_requests_total{verb='get', code='200'}": "0+1000x30",
            "progressive_k8s_requests_total{verb='patch', code='409'}": "0+100x30",
        },
    ),
    "ProgressiveWorkQueueBacklog": (
        {"progressive_workqueue_depth{name='rollouts'}": "150x30"},
        "10m",
        "20m",
        {"name": "rollouts", "severity": "warning"},
        {"progressive_workqueue_depth{name='rollouts'}": "50x30"},
    ),
}


def promtool(prometheus_binary: str) -> str:
    tool = Path(prometheus_binary).with_name("promtool")
    assert tool.exists(), f"no promtool beside {prometheus_binary}"
    return str(tool)


def test_promtool_accepts_the_rules(prometheus_binary: str) -> None:
    done = subprocess.run(
        [promtool(prometheus_binary), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    alerts = [r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert f"SUCCESS: {len(alerts)} rules found" in done.stdout
    assert sorted(alerts) == sorted(CASES), "every alert has its cases here"


def _series(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"series": selector, "values": v} for selector, v in values.items()]


def test_each_alert_fires_when_it_should_and_only_then(
    prometheus_binary: str, tmp_path: Path
) -> None:
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    tests: list[dict[str, Any]] = []
    for alert, (fires, early, late, labels, quiet) in CASES.items():
        tests.append(
            {
                "interval": "1m",
                "input_series": _series(fires),
                "alert_rule_test": [
                    {"eval_time": early, "alertname": alert, "exp_alerts": []},
                    {"eval_time": late, "alertname": alert, "exp_alerts": [{"exp_labels": labels}]},
                ],
            }
        )
        tests.append(
            {
                "interval": "1m",
                "input_series": _series(quiet),
                "alert_rule_test": [{"eval_time": late, "alertname": alert, "exp_alerts": []}],
            }
        )
    suite = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    done = subprocess.run(
        [promtool(prometheus_binary), "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
