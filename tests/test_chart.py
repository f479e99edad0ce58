"""The Helm chart in deploy/chart: `helm lint` passes, and `helm template` renders, for
each set of values, the objects `progressive install` makes with the same options
(labels aside: the chart adds Helm's; and the namespace, which Helm's release has).
helm is built from its Go module by scripts/install-helm (cached by version)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from progressive import _deploy
from progressive._deploy import InstallOptions, Rule

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "chart"


def helm_values(options: InstallOptions) -> dict[str, Any]:
    values = _deploy.values(options)
    if options.image is not None:
        repository, _, tag = options.image.rpartition(":")
        values["image"] = {"repository": repository, "tag": tag}
    return values


def template(helm: str, tmp_path: Path, values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    given = tmp_path / "values.json"  # JSON: every string quoted (helm reads `y` as true)
    given.write_text(json.dumps(values))
    return subprocess.run(
        [
            helm,
            "template",
            "progressive",
            str(CHART),
            "--namespace",
            _deploy.NAMESPACE,
            "--include-crds",
            "--values",
            str(given),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def rendered(helm: str, tmp_path: Path, options: InstallOptions) -> list[dict[str, Any]]:
    done = template(helm, tmp_path, helm_values(options))
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def unlabelled(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    out = {}
    for doc in docs:
        doc = copy.deepcopy(doc)
        doc["metadata"].pop("labels", None)
        template_meta = (doc.get("spec") or {}).get("template", {}).get("metadata")
        if template_meta is not None:
            template_meta.pop("labels", None)
        key = (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
        assert key not in out, f"{key} twice"
        out[key] = doc
    return out


PLUGIN_RULE = Rule(
    "projectcontour.io", ("httpproxies",), ("get", "list", "watch", "patch"), "HTTPProxy weights"
)
OPTIONS = {
    "defaults": InstallOptions(),
    "namespaced, every feature": InstallOptions(
        namespaces=["team-a", "team-b"],
        analysis_secrets=["team-a"],
        job_provider=True,
        restarts=True,
        argoproj=True,
        notifications=True,
        metrics_secure=True,
        service_monitor=True,
        resources={"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
    ),
    "namespaced, secrets everywhere": InstallOptions(namespaces=["team-a"], analysis_secrets=["*"]),
    "secure metrics on another port": InstallOptions(
        metrics_secure=True, metrics_address="[::]:9443", service_monitor=True
    ),
    "no metrics endpoint": InstallOptions(metrics_address="0"),
    "plain metrics on every interface": InstallOptions(metrics_address=":9090"),
    "cluster, secrets in two namespaces, restarts": InstallOptions(
        analysis_secrets=["x", "y"], restarts=True
    ),
    "cluster, one replica, secrets everywhere, argoproj, own image": InstallOptions(
        leader_election=False,
        replicas=1,
        analysis_secrets=["*"],
        argoproj=True,
        notifications=True,
        image="registry.example/progressive:dev",
    ),
    # a router plugin's rules (rbac.extraRules), as progressive install grants them
    "cluster, a plugin's rules": InstallOptions(extra_rules=[PLUGIN_RULE]),
    "namespaced, argoproj, notifications, plugins' rules": InstallOptions(
        namespaces=["team-a", "team-b"],
        argoproj=True,
        notifications=True,
        extra_rules=[PLUGIN_RULE, Rule("kong.example", ("routes",), ("get", "patch"), "Kong")],
    ),
}


def test_helm_lint(helm: str) -> None:
    done = subprocess.run([helm, "lint", "--strict", str(CHART)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("name", OPTIONS)
def test_the_chart_renders_what_progressive_install_makes(
    helm: str, tmp_path: Path, name: str
) -> None:
    options = OPTIONS[name]
    chart = rendered(helm, tmp_path, options)
    ours = [d for d in _deploy.manifests(options) if d["kind"] != "Namespace"]
    got, want = unlabelled(chart), unlabelled(ours)
    assert sorted(got) == sorted(want)
    for key, doc in want.items():
        assert got[key] == doc, key
    # Helm's labels come on top of ours, never instead of them
    by_key = {
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in chart
    }
    for doc in ours:
        key = (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
        assert doc["metadata"]["labels"].items() <= by_key[key]["metadata"]["labels"].items()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"rbac": {"analysisSecrets": ["*", "a"]}}, "stands alone"),
        ({"rbac": {"namespaces": [_deploy.NAMESPACE]}}, "not the controller's own namespace"),
        ({"rbac": {"namespaces": ["a"], "analysisSecrets": ["b"]}}, "not among the namespaces"),
        ({"leaderElection": {"enabled": False}}, "more than one needs leaderElection"),
        ({"replicas": 0}, "at least 1"),
        ({"metrics": {"serviceMonitor": True}}, "needs metrics.secure"),
        ({"metrics": {"address": "localhost"}}, 'HOST:PORT or "0" (none), got "localhost"'),
        ({"metrics": {"address": "0.0.0.0:65536"}}, "expected HOST:PORT"),
        ({"metrics": {"address": "a b:80"}}, "expected HOST:PORT"),
        ({"metrics": {"address": 0, "secure": True}}, "metrics.secure: needs a metrics address"),
    ],
)
def test_the_chart_refuses_what_install_refuses(
    helm: str, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    done = template(helm, tmp_path, values)
    assert done.returncode != 0 and message in done.stderr, done.stderr
