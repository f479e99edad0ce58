"""What the kube tests share: an admin client with the progressive.dev CRDs installed
(``kube``), and the controller's identity in the end-to-end tests: the rights of a
namespaced install on the test's namespace alone (tests/kube/_e2e.py: narrowed), never
the admin's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from progressive._cluster import LocalControlPlane
from progressive._shell.kube import KubeCluster
from progressive.cli._install import install_objects, manifests

from ._e2e import narrowed, refused_nothing


@pytest.fixture
async def kube(control_plane: LocalControlPlane) -> AsyncIterator[KubeCluster]:
    """An admin KubeCluster; the progressive.dev CRDs installed (Established)."""
    async with await KubeCluster.from_kubeconfig(control_plane.kubeconfig) as cluster:
        await install_objects(cluster, manifests(crds_only=True))
        yield cluster


@pytest.fixture
async def sa_config(
    kube: KubeCluster, control_plane: LocalControlPlane, namespace: str
) -> AsyncIterator[dict[str, Any]]:
    """A kubeconfig (dict) with the token of a controller installed with
    ``--watch-namespace=<the test's namespace>`` (``kube``: the module's admin cluster,
    with the CRDs)."""
    async with narrowed(kube, control_plane, namespace) as config:
        yield config


@pytest.fixture
async def sa(sa_config: dict[str, Any], namespace: str) -> AsyncIterator[KubeCluster]:
    """A KubeCluster with those rights, checked at the end to have been refused nothing."""
    async with refused_nothing(sa_config, namespace) as cluster:
        yield cluster
