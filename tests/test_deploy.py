"""deploy/ is what the generator produces, and the CRDs and RBAC say what they must."""

from __future__ import annotations

from pathlib import Path

import yaml

from progressive import _crds, _deploy

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_deploy_is_current() -> None:
    """If this fails: python -m progressive._crds --write deploy/"""
    files = _crds.deploy_files()
    assert sorted(p.name for p in DEPLOY.glob("*.yaml")) == sorted(files)
    for name, text in files.items():
        assert (DEPLOY / name).read_text() == text, f"deploy/{name} is stale"
    assert _crds.main(["--check", str(DEPLOY)]) == 0


def test_every_deploy_file_is_plain_yaml_with_kinds() -> None:
    for path in DEPLOY.glob("*.yaml"):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert docs and all(d.get("apiVersion") and d.get("kind") for d in docs), path


def test_the_crds() -> None:
    by_kind = {c["spec"]["names"]["kind"]: c for c in _crds.crds()}
    assert set(by_kind) == {
        "Rollout",
        "AnalysisTemplate",
        "ClusterAnalysisTemplate",
        "AnalysisRun",
        "Experiment",
    }
    for kind, crd in by_kind.items():
        assert crd["spec"]["group"] == "progressive.dev"
        (version,) = crd["spec"]["versions"]
        assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
        assert crd["spec"]["scope"] == (
            "Cluster" if kind == "ClusterAnalysisTemplate" else "Namespaced"
        )
        has_status = kind in ("Rollout", "AnalysisRun", "Experiment")
        assert ("status" in version.get("subresources", {})) == has_status, kind
    rollout = by_kind["Rollout"]["spec"]["versions"][0]
    assert rollout["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    status = rollout["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert status["properties"]["selector"] == {
        "type": "string",
        "description": "The pods' label selector, for the scale subresource.",
    }
    assert [c["name"] for c in rollout["additionalPrinterColumns"]] == [
        "Desired",
        "Current",
        "Up-to-date",
        "Available",
        "Phase",
        "Age",
    ]


def test_rbac_grants_only_what_the_controller_uses() -> None:
    rules = {
        (group, resource): set(rule.verbs)
        for rule in _deploy.CONTROLLER_RULES
        for group in (rule.group,)
        for resource in rule.resources
    }
    assert all("*" not in verbs for verbs in rules.values())
    assert rules[("", "services")] == {"get", "list", "watch", "patch"}
    assert rules[("", "secrets")] == {"get"}
    assert rules[("", "pods")] == {"list", "watch", "delete"}
    assert rules[("progressive.dev", "rollouts")] == {"get", "list", "watch"}
    assert rules[("progressive.dev", "rollouts/status")] == {"update", "patch"}
    assert ("coordination.k8s.io", "leases") not in rules, "leases: in its own namespace only"
    docs = _deploy.rbac()
    kinds = [d["kind"] for d in docs]
    assert kinds == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
    argo = _deploy.rbac_argoproj()[0]
    assert {g for r in argo["rules"] for g in r["apiGroups"]} == {"argoproj.io"}


def test_the_controller_deployment_uses_the_rbac_service_account() -> None:
    namespace, deployment, service = _deploy.controller()
    assert namespace["metadata"]["name"] == _deploy.NAMESPACE
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == _deploy.SERVICE_ACCOUNT
    (container,) = pod["containers"]
    assert container["args"][0] == "controller"
    assert service["spec"]["ports"][0]["port"] == 8090
    (monitor,) = _deploy.service_monitor()
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
