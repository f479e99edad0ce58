"""The progressive.dev CRDs on the real API server: every example is accepted as
written (nothing pruned), bad specs are refused with the field named, the status and
scale subresources work, the printer columns show, and `progressive install` installs."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from click.testing import CliRunner
from kubernetes_asyncio.client import ApiClient

from progressive._cluster import LocalControlPlane, argo_crds, cached_binaries
from progressive._clusters import Ref
from progressive._deploy import _crds
from progressive._shell.kube import KubeCluster
from progressive.cli import main
from progressive.cli._install import install_objects, manifests
from progressive.errors import Invalid

pytestmark = pytest.mark.kube

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GROUP = "progressive.dev/v1alpha1"


@pytest.fixture
async def kube(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        await install_objects(cluster, manifests(crds_only=True))
        yield cluster


def example_objects() -> list[tuple[str, dict[str, Any]]]:
    """Every argoproj.io object of examples/, moved to progressive.dev."""
    out = []
    for path in sorted(EXAMPLES.glob("*/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("apiVersion") == "argoproj.io/v1alpha1":
                doc["apiVersion"] = GROUP
                out.append((f"{path.parent.name}/{path.name}", doc))
    return out


def rollout(namespace: str, name: str = "web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "replicas": 2,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
        },
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
    }
    body.update(spec)
    return {
        "apiVersion": GROUP,
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


async def test_every_example_is_accepted_as_written(kube: KubeCluster, namespace: str) -> None:
    objects = example_objects()
    assert {o["kind"] for _, o in objects} >= {"Rollout", "AnalysisTemplate"}
    seen: set[tuple[str, str]] = set()
    for where, obj in objects:
        if (obj["kind"], obj["metadata"]["name"]) in seen:
            continue  # one template, shown in two files
        seen.add((obj["kind"], obj["metadata"]["name"]))
        obj = copy.deepcopy(obj)
        if obj["kind"] != "ClusterAnalysisTemplate":
            obj["metadata"]["namespace"] = namespace
        else:
            obj["metadata"]["name"] = f"{namespace}-{obj['metadata']['name']}"
        stored = await kube.create(obj)
        assert stored["spec"] == obj["spec"], f"{where}: {obj['kind']} was changed (pruned?)"
        if obj["kind"] == "ClusterAnalysisTemplate":
            await kube.delete(Ref.of(stored))


async def test_a_step_may_set_several_actions(kube: KubeCluster, namespace: str) -> None:
    """Argo's Apisix example: setCanaryScale, setHeaderRoute and pause in one step."""
    step = {
        "setCanaryScale": {"replicas": 1},
        "setHeaderRoute": {
            "name": "testers",
            "match": [{"headerName": "x-canary", "headerValue": {"exact": "yes"}}],
        },
        "pause": {},
    }
    strategy = {
        "canary": {
            "canaryService": "web-canary",
            "stableService": "web-stable",
            "trafficRouting": {
                "managedRoutes": [{"name": "testers"}],
                "istio": {"virtualService": {"name": "web"}},
            },
            "steps": [step, {"setWeight": 50}],
        }
    }
    stored = await kube.create(rollout(namespace, strategy=strategy))
    assert stored["spec"]["strategy"] == strategy


async def test_a_template_may_take_its_numbers_from_args(kube: KubeCluster, namespace: str) -> None:
    """Argo's e2e template analysis-secret-args: count, interval, initialDelay and
    failureLimit as {{args.x}} placeholders; a word there is still refused."""
    metric = {
        "name": "web",
        "count": "{{args.analysis-runs}}",
        "interval": "{{args.analysis-interval}}",
        "initialDelay": "{{args.analysis-interval}}",
        "failureLimit": "{{args.failure-limit}}",
        "provider": {"web": {"url": "http://example.invalid/x"}},
    }
    template = {
        "apiVersion": GROUP,
        "kind": "AnalysisTemplate",
        "metadata": {"name": "args", "namespace": namespace},
        "spec": {
            "args": [{"name": "analysis-runs"}, {"name": "analysis-interval"}]
            + [{"name": "failure-limit"}],
            "metrics": [metric],
        },
    }
    stored = await kube.create(template)
    assert stored["spec"] == template["spec"]
    template["metadata"]["name"] = "words"
    template["spec"]["metrics"][0]["count"] = "lots"
    with pytest.raises(Invalid) as refused:
        await kube.create(template)
    assert "count" in refused.value.message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"strategy": {"canary": {"steps": [{"setWeight": 150}]}}}, ["setWeight", "100"]),
        (
            {"strategy": {"canary": {"steps": [{"setWeight": 10, "pause": {}}]}}},
            ["steps[0]", "at most one of setWeight, pause"],
        ),
        ({"strategy": {"canary": {"steps": [{}]}}}, ["steps[0]"]),
        ({"strategy": {"canary": {}, "blueGreen": {"activeService": "a"}}}, ["canary, blueGreen"]),
        ({"strategy": {"canary": {"maxSurge": "150%"}}}, ["maxSurge", "at most 100%"]),
        ({"strategy": {"canary": {"maxSurge": "lots"}}}, ["maxSurge"]),
        ({"strategy": {"canary": {"steps": [{"pause": {"duration": "soon"}}]}}}, ["duration"]),
        ({"strategy": {"blueGreen": {}}}, ["activeService"]),
        ({"replicas": -1}, ["replicas"]),
        (
            {"workloadRef": {"kind": "Deployment", "name": "web", "scaleDown": "sometimes"}},
            ["scaleDown"],
        ),
    ],
)
async def test_bad_rollouts_are_refused_naming_the_field(
    kube: KubeCluster, namespace: str, change: dict[str, Any], words: list[str]
) -> None:
    with pytest.raises(Invalid) as refused:
        await kube.create(rollout(namespace, **change))
    assert refused.value.status == 422
    for word in words:
        assert word in refused.value.message, refused.value.message


async def test_status_and_scale_subresources(kube: KubeCluster, namespace: str) -> None:
    created = await kube.create(rollout(namespace))
    ref = Ref.of(created)
    generation = created["metadata"]["generation"]
    stored = await kube.replace_status(
        {
            **created,
            "status": {
                "phase": "Progressing",
                "replicas": 3,
                "HPAReplicas": 2,
                "updatedReplicas": 1,
                "availableReplicas": 1,
                "selector": "app=web",
                "observedGeneration": "1",
                "canary": {"weights": {"canary": {"weight": 20}, "stable": {"weight": 80}}},
            },
        }
    )
    weights = {"canary": {"weight": 20}, "stable": {"weight": 80}}
    assert stored["status"]["canary"] == {"weights": weights}, "kept"
    assert stored["metadata"]["generation"] == generation, "a status write is no spec change"

    # a status in a merge patch goes to /status
    patched = await kube.patch(
        ref, {"status": {"phase": "Paused"}, "metadata": {"labels": {"x": "y"}}}
    )
    assert patched["status"]["phase"] == "Paused" and patched["metadata"]["labels"] == {"x": "y"}
    # a stale status write is a conflict
    with pytest.raises(Exception) as stale:
        await kube.replace_status({**created, "status": {"phase": "Healthy"}})
    assert getattr(stale.value, "status", None) == 409

    scale = await kube.get(ref, subresource="scale")
    assert scale is not None
    assert scale["spec"]["replicas"] == 2
    assert scale["status"] == {"replicas": 2, "selector": "app=web"}
    await kube.patch(ref, {"spec": {"replicas": 5}}, subresource="scale")  # kubectl scale
    after = await kube.get(ref)
    assert after is not None and after["spec"]["replicas"] == 5
    assert after["status"]["phase"] == "Paused", "scaling keeps the status"


@pytest.mark.parametrize(
    "metrics", [[{"name": "m", "provider": {"web": {"url": "http://x"}}}], []], ids=["some", "none"]
)
async def test_create_keeps_a_status_given_with_the_object(
    kube: KubeCluster, namespace: str, metrics: list[Any]
) -> None:
    """An analysis whose run cannot be built (say an Experiment's, naming a template that
    is gone) is stored as an Error run, without metrics: accepted, as Argo's CRD does
    (ours once required one metric, and the API server refused the run in a loop)."""
    run = {
        "apiVersion": GROUP,
        "kind": "AnalysisRun",
        "metadata": {"name": "broken", "namespace": namespace},
        "spec": {"metrics": metrics},
        "status": {"phase": "Error", "message": "cannot start analysis"},
    }
    stored = await kube.create(run)
    assert stored["status"] == run["status"]
    got = await kube.get(Ref.of(stored))
    assert got is not None and got["status"]["phase"] == "Error"


@pytest.mark.parametrize("kind", ["Rollout", "AnalysisRun", "Experiment"])
async def test_a_status_field_the_crd_lacks_is_refused(
    kube: KubeCluster, namespace: str, kind: str
) -> None:
    """The status schemas are structural (progressive.core._status_schema, Argo's
    fields): the controller's strict status writes refuse what the CRD does not declare,
    as under Argo's CRDs, rather than the server keeping it or dropping it silently."""
    objects = {
        "Rollout": rollout(namespace),
        "AnalysisRun": {
            "apiVersion": GROUP,
            "kind": "AnalysisRun",
            "metadata": {"name": "run", "namespace": namespace},
            "spec": {"metrics": []},
        },
        "Experiment": {
            "apiVersion": GROUP,
            "kind": "Experiment",
            "metadata": {"name": "exp", "namespace": namespace},
            "spec": {"templates": [{"name": "a", "template": {}}]},
        },
    }
    created = await kube.create(objects[kind])
    stored = await kube.replace_status({**created, "status": {"phase": "Running"}})
    assert stored["status"] == {"phase": "Running"}
    with pytest.raises(Invalid) as refused:
        await kube.replace_status({**stored, "status": {"phase": "Running", "waitingSince": "x"}})
    assert "waitingSince" in str(refused.value)


async def test_printer_columns(kube: KubeCluster, kube_api: ApiClient, namespace: str) -> None:
    await kube.create(rollout(namespace))
    table = await kube_api.call_api(
        f"/apis/progressive.dev/v1alpha1/namespaces/{namespace}/rollouts",
        "GET",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"],
        response_types_map={200: "object"},
        _return_http_data_only=True,
    )
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns == ["Name", "Desired", "Current", "Up-to-date", "Available", "Phase", "Age"]
    assert table["rows"][0]["cells"][:2] == ["web", 2]


def test_progressive_install_applies_everything(control_plane: LocalControlPlane) -> None:
    runner = CliRunner()
    args = ["install", "--kubeconfig", str(control_plane.kubeconfig), "--timeout", "30"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "CustomResourceDefinition rollouts.progressive.dev: applied" in lines
    assert "Deployment progressive-system/progressive-controller: applied" in lines
    assert "ClusterRole progressive-controller: applied" in lines
    again = runner.invoke(main, args)
    assert again.exit_code == 0, again.output
    dry = runner.invoke(main, ["install", "--dry-run", "--crds-only"])
    assert dry.exit_code == 0
    assert [d["kind"] for d in yaml.safe_load_all(dry.output) if d] == [
        "CustomResourceDefinition"
    ] * 5


async def test_short_names_are_argos_and_kubectl_knows_them(
    kube: KubeCluster, namespace: str, control_plane: LocalControlPlane
) -> None:
    ours = {crd["spec"]["names"]["kind"]: crd["spec"]["names"] for crd in _crds.crds()}
    for crd in argo_crds():
        argo = crd["spec"]["names"]
        assert ours[argo["kind"]].get("shortNames") == argo["shortNames"], argo["kind"]
        assert set(argo.get("categories", ())) <= set(ours[argo["kind"]]["categories"])
    await kube.create(rollout(namespace))
    binaries = cached_binaries()
    assert binaries is not None
    kubectl = [str(binaries.path("kubectl")), f"--kubeconfig={control_plane.kubeconfig}"]
    for what in ("ro", "progressive"):  # a short name, the category
        with anyio.fail_after(60):
            shown = await anyio.run_process(
                [*kubectl, "get", what, "-n", namespace, "-o", "name"], check=False
            )
        assert shown.stdout.split() == [b"rollout.progressive.dev/web"], shown.stderr
