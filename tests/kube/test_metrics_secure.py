"""``progressive controller --metrics-secure`` on the real API server: /metrics over
HTTPS only for a bearer token the API server authenticates (TokenReview) and allows to
get /metrics (SubjectAccessReview): the reader ClusterRole's; 401 without a token or
with a bad one, 403 for a valid token without the right; the probes stay plain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml

from progressive import _deploy
from progressive._cluster import LocalControlPlane
from progressive._cluster._processes import free_ports
from progressive._clusters import Ref
from progressive._shell.kube import KubeCluster
from progressive._shell.metrics_auth import TokenAuthorizer
from progressive.errors import NotFound

from ._e2e import (
    controller_process,
    narrowed,
    progressive_controller,
    refused_nothing,
    token_config,
    until,
)

pytestmark = pytest.mark.kube


def token(config: dict[str, Any]) -> str:
    value: str = config["users"][0]["user"]["token"]
    return value


async def account(kube: KubeCluster, namespace: str, name: str) -> None:
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }
    )


async def test_secure_metrics_answer_only_authorized_tokens(
    kube: KubeCluster, control_plane: LocalControlPlane, namespace: str, tmp_path: Path
) -> None:
    reader_role = f"{_deploy.METRICS_READER}-{namespace}"  # homed by narrowed()
    binding = Ref("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", f"scraper-{namespace}")
    async with narrowed(kube, control_plane, namespace, metrics_secure=True) as config:
        for name in ("scraper", "nobody"):
            await account(kube, namespace, name)
        await kube.create(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": binding.name},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": reader_role,
                },
                "subjects": [{"kind": "ServiceAccount", "name": "scraper", "namespace": namespace}],
            }
        )
        try:
            scraper = token(await token_config(kube, control_plane, namespace, "scraper"))
            nobody = token(await token_config(kube, control_plane, namespace, "nobody"))
            own = tmp_path / "kubeconfig"
            own.write_text(yaml.safe_dump(config))
            port, health = free_ports(2)
            argv = progressive_controller(
                own,
                namespace,
                f"--metrics-address=127.0.0.1:{port}",
                "--metrics-secure",
                f"--health-address=127.0.0.1:{health}",
            )
            async with (
                controller_process(argv) as stop,
                httpx.AsyncClient(trust_env=False, timeout=5, verify=False) as http,
            ):

                async def ready() -> bool:
                    try:
                        answer = await http.get(f"http://127.0.0.1:{health}/readyz")
                    except httpx.TransportError:
                        return False
                    return answer.status_code == 200

                await until("ready", ready, seconds=30)
                url = f"https://127.0.0.1:{port}/metrics"

                async def get(bearer: str | None) -> httpx.Response:
                    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
                    return await http.get(url, headers=headers)

                assert (await get(None)).status_code == 401
                assert (await get("not-a-token")).status_code == 401
                assert (await get(nobody)).status_code == 403

                async def allowed() -> httpx.Response | None:
                    answer = await get(scraper)  # the new binding may take a moment
                    return answer if answer.status_code == 200 else None

                scraped = await until("the scraper allowed", allowed, seconds=10)
                assert "progressive_leader" in scraped.text
                with pytest.raises(httpx.TransportError):
                    await http.get(f"http://127.0.0.1:{port}/metrics")  # no plain HTTP
                await stop()
        finally:
            try:
                await kube.delete(binding)
            except NotFound:
                pass


async def test_decisions_are_cached_by_token_a_bounded_while(
    kube: KubeCluster, control_plane: LocalControlPlane, namespace: str
) -> None:
    """TokenAuthorizer against the real API server: a decision is asked for once per
    token and path within ``ttl``, the cache holds ``max_entries`` at most (the oldest
    goes first), and an expired decision is asked for again."""
    async with narrowed(kube, control_plane, namespace, metrics_secure=True) as config:
        await account(kube, namespace, "nobody")
        nobody = token(await token_config(kube, control_plane, namespace, "nobody"))
        own = token(config)
        async with refused_nothing(config, namespace) as cluster:
            authorize = TokenAuthorizer(cluster, ttl=1.0, max_entries=2)

            def reviews() -> int:
                return cluster.requests.get(("create", "201"), 0)

            assert await authorize(nobody, "/metrics") == 403
            asked = reviews()
            assert asked == 2, "a TokenReview and a SubjectAccessReview"
            assert await authorize(nobody, "/metrics") == 403
            assert reviews() == asked, "cached"
            assert await authorize("not-a-token", "/metrics") == 401
            assert reviews() == asked + 1, "no SubjectAccessReview for a bad token"
            assert await authorize(own, "/metrics") == 403  # the controller may not read it
            assert await authorize(nobody, "/metrics") == 403
            assert reviews() == asked + 1 + 2 + 2, "the oldest went: asked again"
            assert await authorize(nobody, "/metrics") == 403
            before = reviews()
            await anyio.sleep(1.1)
            assert await authorize(nobody, "/metrics") == 403
            assert reviews() == before + 2, "expired: asked again"
