"""deploy/ is what the generator produces, and the CRDs, the RBAC of each install mode and
the Deployment say what they must."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from progressive import _deploy
from progressive._access import access_of
from progressive._deploy import InstallOptions, Rule, _crds
from progressive.cli import main
from progressive.routers import ROUTERS

from .installed import install, install_fakes

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_deploy_is_current() -> None:
    """If this fails: python -m progressive._deploy --write deploy/"""
    files = _deploy.deploy_files()
    assert sorted(p.name for p in DEPLOY.glob("*.yaml")) == sorted(
        name for name in files if "/" not in name
    )
    for name, text in files.items():
        assert (DEPLOY / name).read_text() == text, f"deploy/{name} is stale"
    assert _deploy.main(["--check", str(DEPLOY)]) == 0


def test_a_stale_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _deploy.main(["--write", str(tmp_path)]) == 0
    (tmp_path / "chart" / "values.yaml").write_text("replicas: 9\n")
    assert _deploy.main(["--check", str(tmp_path)]) == 1
    assert "chart/values.yaml is not current" in capsys.readouterr().err


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
        "statusReplicasPath": ".status.HPAReplicas",
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


def grants(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str, str], set[str]]:
    """(role kind, namespace, API group, resource) -> verbs, over every role in docs."""
    out: dict[tuple[str, str, str, str], set[str]] = {}
    for doc in docs:
        if doc["kind"] not in ("Role", "ClusterRole"):
            continue
        ns = doc["metadata"].get("namespace", "")
        for rule in doc["rules"]:
            for group in rule.get("apiGroups", ("",)):
                for resource in rule.get("resources") or rule.get("nonResourceURLs"):
                    key = (doc["kind"], ns, group, resource)
                    out.setdefault(key, set()).update(rule["verbs"])
    return out


def cluster_wide(docs: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    return {(g, r): v for (kind, _, g, r), v in grants(docs).items() if kind == "ClusterRole"}


def test_the_default_rbac_grants_only_what_every_rollout_uses() -> None:
    docs = _deploy.rbac()
    assert [d["kind"] for d in docs] == [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ]
    rules = cluster_wide(docs)
    assert all("*" not in verbs for verbs in rules.values())
    assert rules[("", "services")] == {"get", "list", "watch", "patch"}
    assert rules[("progressive.dev", "rollouts")] == {"get", "list", "watch"}
    assert rules[("progressive.dev", "rollouts/status")] == {"update", "patch"}
    assert ("", "pods") not in rules, "no pod deletion unless restarts are asked for"
    assert ("", "secrets") not in rules, "no Secret anywhere unless asked"
    assert ("batch", "jobs") not in rules, "no Job unless the job provider is on"
    assert ("coordination.k8s.io", "leases") not in rules, "leases: in its own namespace only"
    (leader,) = [d for d in docs if d["kind"] == "Role"]
    assert leader["metadata"]["namespace"] == _deploy.NAMESPACE
    assert {g for d in docs if "rules" in d for r in d["rules"] for g in r["apiGroups"]}.isdisjoint(
        {"argoproj.io", "authentication.k8s.io", "authorization.k8s.io"}
    )


def test_each_feature_adds_its_rule_and_nothing_else() -> None:
    base = cluster_wide(_deploy.rbac(InstallOptions()))
    for options, added in (
        (InstallOptions(restarts=True), {("", "pods"): {"list", "delete"}}),
        (
            InstallOptions(job_provider=True),
            {("batch", "jobs"): {"get", "create"}, ("", "pods"): {"list"}},
        ),
        (InstallOptions(analysis_secrets=["*"]), {("", "secrets"): {"get"}}),
        (InstallOptions(notifications=True), {}),  # patch on rollouts: see below
        (
            InstallOptions(metrics_secure=True),
            {
                ("authentication.k8s.io", "tokenreviews"): {"create"},
                ("authorization.k8s.io", "subjectaccessreviews"): {"create"},
                ("", "/metrics"): {"get"},
            },
        ),
    ):
        rules = cluster_wide(_deploy.rbac(options))
        assert {k: v for k, v in rules.items() if k not in base} == added, options
    argo = cluster_wide(_deploy.rbac(InstallOptions(argoproj=True)))
    assert {g for g, _ in argo if g not in {g for g, _ in base}} == {"argoproj.io"}
    assert {r for g, r in argo if g == "argoproj.io"} == {
        r for g, r in base if g == "progressive.dev"
    }
    # Argo's AnalysisRun and Experiment CRDs have no /status: results are an update
    for resource in ("analysisruns", "experiments"):
        assert argo[("argoproj.io", resource)] - base[("progressive.dev", resource)] == {"update"}
        assert "update" not in base[("progressive.dev", resource)]
    namespaced = grants(_deploy.rbac(InstallOptions(argoproj=True, namespaces=["a"])))
    assert "update" in namespaced[("Role", "a", "argoproj.io", "analysisruns")]
    assert ("ClusterRole", "", "argoproj.io", "analysisruns") not in namespaced


def test_notifications_read_their_configmap_and_secret_by_name_and_patch_rollouts() -> None:
    base = grants(_deploy.rbac(InstallOptions(argoproj=True)))
    docs = _deploy.rbac(InstallOptions(argoproj=True, notifications=True))
    added = {k: v - base.get(k, set()) for k, v in grants(docs).items()}
    assert {k: v for k, v in added.items() if v} == {
        ("ClusterRole", "", "progressive.dev", "rollouts"): {"patch"},
        ("ClusterRole", "", "argoproj.io", "rollouts"): {"patch"},
        ("Role", _deploy.NAMESPACE, "", "configmaps"): {"get"},
        ("Role", _deploy.NAMESPACE, "", "secrets"): {"get"},
    }
    (role,) = [d for d in docs if d["metadata"]["name"].endswith("-notifications") and "rules" in d]
    assert role["kind"] == "Role"
    assert {tuple(r["resourceNames"]) for r in role["rules"]} == {
        ("argo-rollouts-notification-configmap", "progressive-notification-configmap"),
        ("argo-rollouts-notification-secret", "progressive-notification-secret"),
    }
    args = _deploy.controller_args(InstallOptions())
    assert "--no-notifications" in args
    assert "--no-notifications" not in _deploy.controller_args(InstallOptions(notifications=True))
    namespaced = grants(_deploy.rbac(InstallOptions(namespaces=["a"], notifications=True)))
    assert namespaced[("Role", "a", "progressive.dev", "rollouts")] >= {"patch"}


def test_secrets_only_in_the_namespaces_named() -> None:
    docs = _deploy.rbac(InstallOptions(analysis_secrets=["team-a", "team-b"]))
    secret_grants = {k for k in grants(docs) if k[3] == "secrets"}
    assert secret_grants == {
        ("Role", "team-a", "", "secrets"),
        ("Role", "team-b", "", "secrets"),
    }


def test_a_namespaced_install_has_a_role_per_namespace_and_no_cluster_wide_write() -> None:
    options = InstallOptions(
        namespaces=["team-a", "team-b"],
        analysis_secrets=["team-b"],
        job_provider=True,
        restarts=True,
    )
    docs = _deploy.rbac(options)
    by = grants(docs)
    for ns in ("team-a", "team-b"):
        assert by[("Role", ns, "apps", "replicasets")] >= {"create", "delete"}
        assert by[("Role", ns, "batch", "jobs")] == {"get", "create"}
        assert by[("Role", ns, "", "pods")] == {"list", "delete"}
    assert ("Role", "team-a", "", "secrets") not in by
    assert by[("Role", "team-b", "", "secrets")] == {"get"}
    # the one cluster-scoped kind it reads, and nothing else cluster-wide
    assert cluster_wide(docs) == {
        ("progressive.dev", "clusteranalysistemplates"): {"get", "list", "watch"}
    }
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] in ("Role",)}
    assert namespaces == {"team-a", "team-b", _deploy.NAMESPACE}
    (deployment,) = _deploy.controller(options)
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [a for a in args if a.startswith("--namespace")] == [
        "--namespace=team-a",
        "--namespace=team-b",
    ]


def test_every_install_grants_what_the_built_in_routers_declare() -> None:
    cluster = cluster_wide(_deploy.rbac())
    namespaced = grants(_deploy.rbac(InstallOptions(namespaces=["a"])))
    for router in ROUTERS.values():
        for access in access_of(router) or ():
            for resource in access.resources:
                assert cluster[(access.group, resource)] >= set(access.verbs), router.name
                assert namespaced[("Role", "a", access.group, resource)] >= set(access.verbs)


def test_routers_on_the_same_objects_share_one_rule_with_both_reasons() -> None:
    (ingresses,) = [r for r in _deploy.ROUTER_RULES if r.resources == ("ingresses",)]
    assert ingresses == Rule(
        "networking.k8s.io",
        ("ingresses",),
        ("get", "list", "watch", "create", "patch"),
        "the nginx canary Ingress; ALB actions and conditions in the Ingress annotations",
    )
    assert _deploy.router_rules([ROUTERS["alb"]])[0].verbs == ("get", "list", "watch", "patch")


PLUGIN_MODULE = """
from progressive.routers import DeclaredRouter, KubeAccess, RouterCapabilities

WATCH = ("get", "list", "watch")
PROXIES = ("projectcontour.io", "httpproxies")

class Contour(DeclaredRouter):
    def __init__(self):
        access = (KubeAccess(*PROXIES, (*WATCH, "patch"), "HTTPProxy weights"),)
        super().__init__("contour", (), RouterCapabilities(), access)

class Kong(DeclaredRouter):
    def __init__(self):
        access = (
            KubeAccess("configuration.konghq.com", "kongingresses", WATCH, "Kong upstreams"),
            KubeAccess(*PROXIES, ("create",), "canary HTTPProxies"),
        )
        super().__init__("kong", (), RouterCapabilities(), access)

class Bare(DeclaredRouter):
    def __init__(self):
        super().__init__("bare", (), RouterCapabilities(), None)
"""


@pytest.fixture
def plugin_routers(site: Path) -> Path:
    (site / "deploy_routers_for_tests.py").write_text(PLUGIN_MODULE)
    for name in ("contour", "kong", "bare"):
        entry = {name: f"deploy_routers_for_tests:{name.title()}"}
        install(site, f"{name}-router", "progressive.routers", entry)
    return site


def test_install_grants_the_installed_router_plugins_what_they_declare(
    plugin_routers: Path,
) -> None:
    found = _deploy.plugin_rules()
    contour = "the contour router (contour-router 1.0)"
    kong = "the kong router (kong-router 1.0)"
    assert found.rules == (
        Rule(
            "projectcontour.io",
            ("httpproxies",),
            ("get", "list", "watch", "patch", "create"),
            f"{contour}: HTTPProxy weights; {kong}: canary HTTPProxies",
        ),
        Rule(
            "configuration.konghq.com",
            ("kongingresses",),
            ("get", "list", "watch"),
            f"{kong}: Kong upstreams",
        ),
    )
    assert found.undeclared == ("the bare router (bare-router 1.0)",)
    runner = CliRunner()
    for args, role in (
        ((), ("ClusterRole", "")),
        (("--watch-namespace=team-a",), ("Role", "team-a")),
    ):
        done = runner.invoke(main, ["install", "--dry-run", *args])
        assert done.exit_code == 0, done.output
        docs = [d for d in yaml.safe_load_all(done.stdout) if d]
        assert docs == _deploy.manifests(
            InstallOptions(namespaces=[role[1]] if role[1] else [], extra_rules=found.rules)
        )
        granted = grants(docs)
        assert granted[(*role, "projectcontour.io", "httpproxies")] == {
            "get",
            "list",
            "watch",
            "patch",
            "create",
        }
        assert granted[(*role, "configuration.konghq.com", "kongingresses")] == {
            "get",
            "list",
            "watch",
        }
        assert done.stderr.splitlines() == [
            f"granting {contour}: HTTPProxy weights; {kong}: canary HTTPProxies: get, list, "
            "watch, patch, create on httpproxies.projectcontour.io",
            f"granting {kong}: Kong upstreams: get, list, watch on "
            "kongingresses.configuration.konghq.com",
            "warning: the bare router (bare-router 1.0) declares no Kubernetes access (its "
            "access): this install grants it nothing; grant what it reads and writes yourself "
            "(Helm: rbac.extraRules)",
        ]
    # deploy/ and the chart are progressive's own routers' only
    assert "httpproxies" not in _deploy.deploy_files()["rbac.yaml"]
    assert "httpproxies" not in _deploy.render(_deploy.rbac())


def test_install_grants_the_installed_step_plugins_and_providers_what_they_declare(
    site: Path,
) -> None:
    install_fakes(
        site,
        ("flags-step", "progressive.steps", "flags", "Flags"),
        ("bare-step", "progressive.steps", "bare", "Bare"),
        ("tokens-provider", "progressive.metrics", "tokens", "Tokens"),
        ("quiet-provider", "progressive.metrics", "quiet", "Quiet"),
    )
    found = _deploy.plugin_rules()
    flags = "the example/flags step plugin (flags-step 1.0)"
    tokens = "the tokens metric provider (tokens-provider 1.0)"
    assert found.rules == (
        Rule(
            "",
            ("configmaps",),
            ("get", "patch"),
            f"{flags}: flag configurations; {tokens}: query templates",
        ),
        Rule("", ("serviceaccounts/token",), ("create",), f"{tokens}: tokens for its service"),
    )
    # a step plugin that declares nothing is warned of; a provider needs nothing
    assert found.undeclared == ("the example/bare step plugin (bare-step 1.0)",)
    done = CliRunner().invoke(main, ["install", "--dry-run", "--watch-namespace=team-a"])
    assert done.exit_code == 0, done.output
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert docs == _deploy.manifests(InstallOptions(namespaces=["team-a"], extra_rules=found.rules))
    granted = grants(docs)
    assert granted[("Role", "team-a", "", "configmaps")] == {"get", "patch"}
    assert granted[("Role", "team-a", "", "serviceaccounts/token")] == {"create"}
    assert done.stderr.splitlines() == [
        f"granting {flags}: flag configurations; {tokens}: query templates: get, patch on "
        "configmaps",
        f"granting {tokens}: tokens for its service: create on serviceaccounts/token",
        "warning: the example/bare step plugin (bare-step 1.0) declares no Kubernetes access "
        "(its access): this install grants it nothing; grant what it reads and writes "
        "yourself (Helm: rbac.extraRules)",
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"namespaces": ["Not_A_Name"]}, "namespaces: 'Not_A_Name' is not a namespace name"),
        ({"namespaces": [_deploy.NAMESPACE]}, "not the controller's own namespace"),
        ({"analysis_secrets": ["*", "a"]}, "stands alone"),
        ({"namespaces": ["a"], "analysis_secrets": ["b"]}, "['b'] are not among the namespaces"),
        ({"leader_election": False}, "more than one needs leader_election"),
        ({"replicas": 0}, "at least 1"),
        ({"service_monitor": True}, "needs metrics_secure"),
        ({"metrics_address": "localhost"}, 'metrics_address: expected HOST:PORT or "0"'),
        ({"metrics_address": ":0"}, "expected HOST:PORT"),
        ({"metrics_address": "[::1]:99999"}, "expected HOST:PORT"),
        ({"metrics_address": "0", "metrics_secure": True}, "needs a metrics address"),
        (
            {"extra_rules": [Rule("x.io", ("things",), ("get",), "w", cluster_scoped=True)]},
            "extra_rules: namespaced resource rules only",
        ),
        (
            {"extra_rules": [Rule("progressive.dev", ("rollouts",), ("update",), "w")]},
            "extra_rules: not on progressive.dev",
        ),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        InstallOptions(**options)


def container(options: InstallOptions | None = None) -> dict[str, Any]:
    deployment = _deploy.controller(options)[0]
    assert deployment["kind"] == "Deployment"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == _deploy.SERVICE_ACCOUNT
    (one,) = pod["containers"]
    return dict(one)


def test_metrics_stay_on_loopback_unless_secure() -> None:
    plain = container()
    assert "--metrics-address=127.0.0.1:8090" in plain["args"]
    assert "--health-address=0.0.0.0:8081" in plain["args"]
    assert [p["name"] for p in plain["ports"]] == ["health"]
    assert plain["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert [d["kind"] for d in _deploy.controller()] == ["Deployment"], "no metrics Service"
    secure_options = InstallOptions(metrics_secure=True, service_monitor=True)
    secure = container(secure_options)
    assert {"--metrics-address=0.0.0.0:8443", "--metrics-secure"} <= set(secure["args"])
    service = _deploy.controller(secure_options)[1]
    assert service["spec"]["ports"][0]["port"] == 8443
    assert [p["containerPort"] for p in secure["ports"]] == [8081, 8443]
    moved = container(InstallOptions(metrics_secure=True, metrics_address="[::]:9443"))
    assert {"--metrics-address=[::]:9443", "--metrics-secure"} <= set(moved["args"])
    assert [p["containerPort"] for p in moved["ports"]] == [8081, 9443]
    assert "--metrics-address=0" in container(InstallOptions(metrics_address="0"))["args"]
    monitor = _deploy.service_monitor()
    assert monitor["spec"]["endpoints"][0]["scheme"] == "https"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )


def test_install_dry_run_renders_the_options() -> None:
    runner = CliRunner()
    out = runner.invoke(
        main,
        [
            "install",
            "--dry-run",
            "--watch-namespace=team-a",
            "--analysis-secrets=team-a",
            "--job-provider",
            "--image=registry.example/progressive:dev",
            "--metrics-address=:9090",
        ],
    )
    assert out.exit_code == 0, out.output
    docs = [d for d in yaml.safe_load_all(out.output) if d]
    options = InstallOptions(
        namespaces=["team-a"],
        analysis_secrets=["team-a"],
        job_provider=True,
        image="registry.example/progressive:dev",
        metrics_address=":9090",
    )
    assert docs == _deploy.manifests(options)
    refused = runner.invoke(main, ["install", "--dry-run", "--service-monitor"])
    assert refused.exit_code == 2 and "needs metrics_secure" in refused.output
