"""A real, local Kubernetes control plane for tests and demos, built from Go modules.

No container engine nor release download is needed: kube-apiserver,
kube-controller-manager, kube-scheduler, kubectl and etcd are compiled from the modules
the Go module proxy serves (:mod:`._build`, cached by version under
``${PROGRESSIVE_CACHE:-~/.cache/progressive}/control-plane/``), kwok plays the kubelets
(:mod:`._kwok`), everything listens on 127.0.0.1 only (:mod:`._plane`), and the
routers' CRDs are read from their Go modules at run time (:mod:`._published_crds`)::

    plane = LocalControlPlane(tmp_dir)
    kubeconfig = plane.up()          # builds first if nothing is cached
    install_crds(kubeconfig)         # the routers' CRDs; waits for Established
    ...
    plane.down()

or ``progressive cluster build|up|down|crds`` on the command line.
"""

from ..errors import ControlPlaneError
from ._build import (
    BINARIES,
    ETCD_VERSION,
    KUBERNETES_VERSION,
    KWOK_VERSION,
    Binaries,
    Versions,
    cache_root,
    cached_binaries,
    ensure_binaries,
    wrapper_gomod,
)
from ._plane import COMPONENTS, ControlPlaneState, LocalControlPlane
from ._processes import ProcessRecord, is_running
from ._published_crds import (
    CrdSources,
    argo_crds,
    argo_rollouts_dir,
    gateway_api_crds,
    install_crds,
    istio_crds,
    router_crds,
    smi_crds,
    smi_v1beta1_to_v1,
)
from ._rest import Kubeconfig

__all__ = [
    "BINARIES",
    "COMPONENTS",
    "ETCD_VERSION",
    "KUBERNETES_VERSION",
    "KWOK_VERSION",
    "Binaries",
    "ControlPlaneError",
    "ControlPlaneState",
    "CrdSources",
    "Kubeconfig",
    "LocalControlPlane",
    "ProcessRecord",
    "Versions",
    "argo_crds",
    "argo_rollouts_dir",
    "cache_root",
    "cached_binaries",
    "ensure_binaries",
    "gateway_api_crds",
    "install_crds",
    "is_running",
    "istio_crds",
    "router_crds",
    "smi_crds",
    "smi_v1beta1_to_v1",
    "wrapper_gomod",
]
