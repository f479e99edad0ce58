"""The CRDs of the traffic routers, read at test time from the Go modules that publish
them (never copied into this repository), and their installation.

* Istio: ``istio.io/api``, ``kubernetes/customresourcedefinitions.gen.yaml``;
  VirtualService and DestinationRule by default (v1 stored; v1beta1, v1alpha3 served).
* Gateway API: ``sigs.k8s.io/gateway-api``, the standard channel's ``config/crd/standard``
  files of HTTPRoute, GRPCRoute, Gateway, GatewayClass and ReferenceGrant (not the
  ``_vap_`` file, a ValidatingAdmissionPolicy).
* SMI TrafficSplit: ``github.com/servicemeshinterface/smi-sdk-go`` ``crds/split.yaml``,
  the only TrafficSplit CRD the module proxy serves (linkerd-smi is refused there).  It is
  an ``apiextensions.k8s.io/v1beta1`` CRD, which Kubernetes stopped serving in 1.22, so
  it is converted to ``v1`` here (:func:`smi_v1beta1_to_v1`).  The file lists v1alpha1 to
  v1alpha4 and serves v1alpha4 alone; with ``serve_all_versions`` (the default) all four
  are served, v1alpha4 stored, no conversion (``strategy: None``, as the file has none),
  each with the file's one schema, except that v1alpha1's ``weight`` is an
  int-or-string, its Go type there being a ``resource.Quantity``.
* Apache APISIX: ``github.com/apache/apisix-ingress-controller``,
  ``samples/deploy/crd/v1/ApisixRoute.yaml`` (``apisix.apache.org/v2``; the 1.x line, the
  one Argo's apisix router writes for).
* Emissary-ingress (Ambassador): ``github.com/emissary-ingress/emissary/v3``,
  ``manifests/emissary/emissary-crds.yaml.in`` (the release's CRD file before its
  conversion webhook Deployment's image is filled in; ``pkg/api``'s raw controller-gen
  output is not structural), the Mapping CRD alone (``getambassador.io`` v1, v2 stored,
  v3alpha1).  Its conversion webhook (the ``emissary-apiext`` Service)
  is not running here: objects are read and written as ``v2``, the stored version, which
  needs no conversion.
* Traefik: ``github.com/traefik/traefik/v2`` (v2.11.0, the newest v2 the module proxy
  serves and verifies), ``docs/content/reference/dynamic-configuration/
  kubernetes-crd-definition-v1.yml``, the TraefikService CRDs of both its groups:
  ``traefik.containo.us`` (the one Argo writes by default) and ``traefik.io`` (Traefik 3's).
* AWS App Mesh: ``github.com/aws/eks-charts`` (a pseudo-version: the repository has no
  Go release tags; ``github.com/aws/aws-app-mesh-controller-for-k8s`` is refused by the
  proxy), the appmesh-controller chart's ``stable/appmesh-controller/crds/crds.yaml``:
  VirtualService, VirtualRouter and VirtualNode (``appmesh.k8s.aws/v1beta2``, the only
  version, the one Argo reads).  AWS ended App Mesh on 2026-09-30; the chart stays.

And Argo Rollouts' own CRDs (:func:`argo_crds`): ``github.com/argoproj/argo-rollouts``,
``manifests/crds`` of the release whose fields the loader reads, as Argo publishes them
(Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun, Experiment in
``argoproj.io``).  They are not among :func:`router_crds`: a cluster holds the
``argoproj.io`` CRDs of one maker only, so the tests that want them install them.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml

from ..errors import ControlPlaneError
from ._gomod import module_download
from ._rest import Kubeconfig, KubeRest

__all__ = [
    "ARGO_CRD_FILES",
    "GATEWAY_API_RESOURCES",
    "ISTIO_KINDS",
    "CrdSources",
    "apisix_crds",
    "appmesh_crds",
    "emissary_crds",
    "argo_crds",
    "argo_rollouts_dir",
    "gateway_api_crds",
    "install_crds",
    "istio_crds",
    "router_crds",
    "smi_crds",
    "smi_v1beta1_to_v1",
    "traefik_crds",
]

ISTIO_KINDS = ("VirtualService", "DestinationRule")
#: manifests/crds of github.com/argoproj/argo-rollouts, one CRD a file
ARGO_CRD_FILES = (
    "rollout-crd.yaml",
    "analysis-template-crd.yaml",
    "cluster-analysis-template-crd.yaml",
    "analysis-run-crd.yaml",
    "experiment-crd.yaml",
)
GATEWAY_API_RESOURCES = (
    "httproutes",
    "grpcroutes",
    "gateways",
    "gatewayclasses",
    "referencegrants",
)

_CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

# libyaml parses Istio's 20,000-line file in a fraction of the pure-Python time
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@attrs.frozen
class CrdSources:
    """The module versions the CRDs are read from."""

    istio_api: str = "v1.32.0"
    gateway_api: str = "v1.6.3"  # v1.7 needs go >= 1.27
    smi_sdk: str = "v0.5.0"
    apisix_ingress: str = "v1.8.3"  # the newest 1.x the module proxy serves
    emissary: str = "v3.10.0"
    traefik: str = "v2.11.0"
    eks_charts: str = "v0.0.243-0.20260821194545-743f98a89b5b"  # appmesh-controller 1.13.3
    argo_rollouts: str = "v1.9.1"  # the release whose fields the loader reads


def _load_all(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.load_all(handle, Loader=_Loader) if isinstance(doc, dict)]


def _is_crd(doc: dict[str, Any]) -> bool:
    return doc.get("kind") == "CustomResourceDefinition"


def _crds_of(path: Path, kinds: Sequence[str], source: str) -> list[dict[str, Any]]:
    """The CRDs of ``kinds`` in the file ``path`` of ``source``; each must be there."""
    docs = [d for d in _load_all(path) if _is_crd(d) and d["spec"]["names"]["kind"] in kinds]
    missing = set(kinds) - {d["spec"]["names"]["kind"] for d in docs}
    if missing:
        raise ControlPlaneError(f"{source} has no CRD for {sorted(missing)}")
    return docs


def istio_crds(version: str, kinds: Sequence[str] = ISTIO_KINDS) -> list[dict[str, Any]]:
    path = module_download("istio.io/api", version).dir / "kubernetes"
    return _crds_of(path / "customresourcedefinitions.gen.yaml", kinds, f"istio.io/api {version}")


def gateway_api_crds(
    version: str, resources: Sequence[str] = GATEWAY_API_RESOURCES
) -> list[dict[str, Any]]:
    folder = module_download("sigs.k8s.io/gateway-api", version).dir / "config/crd/standard"
    docs: list[dict[str, Any]] = []
    for resource in resources:
        path = folder / f"gateway.networking.k8s.io_{resource}.yaml"
        if not path.is_file():
            raise ControlPlaneError(f"sigs.k8s.io/gateway-api {version} has no {path.name}")
        docs += [d for d in _load_all(path) if _is_crd(d)]
    return docs


def smi_v1beta1_to_v1(crd: dict[str, Any], *, serve_all_versions: bool) -> dict[str, Any]:
    """An ``apiextensions.k8s.io/v1beta1`` CRD as a ``v1`` one: the top-level
    ``validation`` and ``additionalPrinterColumns`` move into every version, the schema
    gets the ``type: object`` at its root that v1 requires.  With
    ``serve_all_versions`` every listed version is served (the stored one stays)."""
    spec = crd["spec"]
    schema = copy.deepcopy(spec.get("validation", {}).get("openAPIV3Schema", {}))
    schema.setdefault("type", "object")
    columns = [
        {
            "name": column["name"],
            "type": column["type"],
            "description": column.get("description", ""),
            "jsonPath": column["JSONPath"],
        }
        for column in spec.get("additionalPrinterColumns", [])
    ]
    versions = []
    for listed in spec["versions"]:
        version_schema = copy.deepcopy(schema)
        if listed["name"] == "v1alpha1":
            _weight_int_or_string(version_schema)
        versions.append(
            {
                "name": listed["name"],
                "served": bool(listed["served"] or serve_all_versions),
                "storage": bool(listed["storage"]),
                "schema": {"openAPIV3Schema": version_schema},
                "additionalPrinterColumns": copy.deepcopy(columns),
            }
        )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": crd["metadata"]["name"]},
        "spec": {
            "group": spec["group"],
            "scope": spec["scope"],
            "names": copy.deepcopy(spec["names"]),
            "versions": versions,
        },
    }


def _weight_int_or_string(schema: dict[str, Any]) -> None:
    backends = schema.get("properties", {}).get("spec", {}).get("properties", {}).get("backends")
    if not backends:
        return
    weight = backends.get("items", {}).get("properties", {}).get("weight")
    if weight is not None:
        weight.pop("type", None)
        weight["x-kubernetes-int-or-string"] = True


def smi_crds(version: str, *, serve_all_versions: bool = True) -> list[dict[str, Any]]:
    path = module_download("github.com/servicemeshinterface/smi-sdk-go", version).dir
    docs = [d for d in _load_all(path / "crds" / "split.yaml") if _is_crd(d)]
    converted = []
    for doc in docs:
        if doc["apiVersion"] == "apiextensions.k8s.io/v1beta1":
            doc = smi_v1beta1_to_v1(doc, serve_all_versions=serve_all_versions)
        converted.append(doc)
    return converted


def apisix_crds(version: str) -> list[dict[str, Any]]:
    folder = module_download("github.com/apache/apisix-ingress-controller", version).dir
    path = folder / "samples/deploy/crd/v1/ApisixRoute.yaml"
    if not path.is_file():
        raise ControlPlaneError(
            f"github.com/apache/apisix-ingress-controller {version} has no {path.name}"
        )
    return [d for d in _load_all(path) if _is_crd(d)]


def emissary_crds(version: str, kinds: Sequence[str] = ("Mapping",)) -> list[dict[str, Any]]:
    folder = module_download("github.com/emissary-ingress/emissary/v3", version).dir
    path = folder / "manifests/emissary/emissary-crds.yaml.in"
    docs = _crds_of(path, kinds, f"emissary {version}")
    for doc in docs:
        # Emissary converts between its versions with a webhook (emissary-apiext) that
        # the local plane does not run: left in, the API server's cache of the kind
        # fails and retries ten times a second for as long as the plane is up, and no
        # version but the stored one can be read.  The schemas are kept as published;
        # the versions are relabelled, as Kubernetes does for CRDs without a webhook.
        doc["spec"]["conversion"] = {"strategy": "None"}
    return docs


def traefik_crds(version: str, kinds: Sequence[str] = ("TraefikService",)) -> list[dict[str, Any]]:
    folder = module_download("github.com/traefik/traefik/v2", version).dir
    path = folder / "docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"
    docs = [d for d in _load_all(path) if _is_crd(d) and d["spec"]["names"]["kind"] in kinds]
    groups = {d["spec"]["group"] for d in docs}
    if groups != {"traefik.containo.us", "traefik.io"}:
        raise ControlPlaneError(f"traefik {version} has TraefikService CRDs in {sorted(groups)}")
    return docs


def appmesh_crds(
    version: str, kinds: Sequence[str] = ("VirtualService", "VirtualRouter", "VirtualNode")
) -> list[dict[str, Any]]:
    folder = module_download("github.com/aws/eks-charts", version).dir
    path = folder / "stable/appmesh-controller/crds/crds.yaml"
    return _crds_of(path, kinds, f"github.com/aws/eks-charts {version}")


def argo_rollouts_dir(version: str | None = None) -> Path:
    """The folder of ``github.com/argoproj/argo-rollouts`` at ``version`` (default:
    :attr:`CrdSources.argo_rollouts`) in the Go module cache: its CRDs, ``examples/``,
    ``test/e2e/`` and ``docs/``, which tests read and never copy."""
    version = version or CrdSources().argo_rollouts
    return module_download("github.com/argoproj/argo-rollouts", version).dir


def argo_crds(version: str | None = None) -> list[dict[str, Any]]:
    """Argo Rollouts' ``argoproj.io`` CRDs, as its release ``version`` publishes them
    (default: :attr:`CrdSources.argo_rollouts`)."""
    version = version or CrdSources().argo_rollouts
    folder = argo_rollouts_dir(version) / "manifests/crds"
    docs: list[dict[str, Any]] = []
    for name in ARGO_CRD_FILES:
        path = folder / name
        if not path.is_file():
            raise ControlPlaneError(f"github.com/argoproj/argo-rollouts {version} has no {name}")
        docs += [d for d in _load_all(path) if _is_crd(d)]
    return docs


def router_crds(sources: CrdSources | None = None) -> list[dict[str, Any]]:
    """The CRDs of every router the SDK drives that has CRDs: Istio, Gateway API, SMI,
    APISIX, Emissary, Traefik and App Mesh."""
    sources = sources or CrdSources()
    return [
        *istio_crds(sources.istio_api),
        *gateway_api_crds(sources.gateway_api),
        *smi_crds(sources.smi_sdk),
        *apisix_crds(sources.apisix_ingress),
        *emissary_crds(sources.emissary),
        *traefik_crds(sources.traefik),
        *appmesh_crds(sources.eks_charts),
    ]


def _established(crd: dict[str, Any] | None) -> bool:
    if crd is None:
        return False
    conditions = (crd.get("status") or {}).get("conditions") or []
    status = {c.get("type"): c.get("status") for c in conditions}
    return status.get("Established") == "True" and status.get("NamesAccepted") == "True"


def install_crds(
    kubeconfig: Path | Kubeconfig,
    crds: Iterable[dict[str, Any]] | None = None,
    *,
    timeout: float = 60.0,
) -> list[str]:
    """Server-side apply ``crds`` (default: :func:`router_crds`) and wait, at most
    ``timeout`` seconds, until each is Established.  Returns their names."""
    config = kubeconfig if isinstance(kubeconfig, Kubeconfig) else Kubeconfig.load(kubeconfig)
    docs = list(router_crds() if crds is None else crds)
    names = [str(doc["metadata"]["name"]) for doc in docs]
    deadline = time.monotonic() + timeout
    with KubeRest(config, timeout=30.0) as rest:
        for name, doc in zip(names, docs, strict=True):
            rest.apply(f"{_CRD_PATH}/{name}", doc)
        pending = list(names)
        while pending:
            pending = [n for n in pending if not _established(rest.get(f"{_CRD_PATH}/{n}"))]
            if not pending:
                break
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"CRDs not Established after {timeout:.0f}s: {pending}")
            time.sleep(0.2)
    return names
