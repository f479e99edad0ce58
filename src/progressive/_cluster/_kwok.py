"""kwok, the stand-in for kubelets: its Stage configuration, read from the kwok module
in the Go module cache, and the fake Node objects it manages (so the scheduler places
Pods on them and the pod stages mark them Ready without running any container)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._gomod import module_download

__all__ = ["KWOK_ANNOTATION", "STAGE_FILES", "fake_node", "stages_config"]

# The kwok annotation that kwok's own fake nodes carry; kwok is started with
# --manage-nodes-with-annotation-selector on it, so it manages exactly these Nodes.
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")

# kwok's "fast" stages (no delays) plus the lease heartbeat, under kustomize/stage/.
STAGE_FILES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)


def stages_config(kwok_version: str) -> str:
    """The ``--config`` file of kwok: its Stage objects joined with ``---`` (kwok exits
    with "no stages found" without them)."""
    stage_dir = module_download("sigs.k8s.io/kwok", kwok_version).dir / "kustomize" / "stage"
    documents = [(stage_dir / Path(name)).read_text(encoding="utf-8") for name in STAGE_FILES]
    return "\n---\n".join(doc.strip() for doc in documents) + "\n"


def fake_node(name: str) -> dict[str, Any]:
    """A Node as kwok's own examples (test/kwok/fake-node.yaml, the kwokctl node
    template) write it, less their NoSchedule taint so that any Pod lands on it.  kwok
    fills in its status (addresses, allocatable, Ready) and renews its Lease."""
    key, value = KWOK_ANNOTATION
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {key: value, "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
            },
        },
        "spec": {},
    }
