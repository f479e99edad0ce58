"""The few Kubernetes API calls the harness makes itself (health, Nodes, CRDs, the
default ServiceAccount), synchronously over httpx with the bearer token; and the
kubeconfig it writes for everyone else."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs
import httpx
import yaml

from ..errors import ControlPlaneError

__all__ = ["Kubeconfig", "KubeRest"]

_FIELD_MANAGER = "progressive-cluster"


@attrs.frozen
class Kubeconfig:
    """The single-cluster, token-authenticated kubeconfig of a local control plane."""

    server: str
    token: str
    name: str = "progressive-local"

    def to_yaml(self) -> str:
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": self.name,
                    "cluster": {"server": self.server, "insecure-skip-tls-verify": True},
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": self.name, "context": {"cluster": self.name, "user": "admin"}}],
            "current-context": self.name,
            "preferences": {},
        }
        return yaml.safe_dump(document, sort_keys=False)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_yaml(), encoding="utf-8")
        path.chmod(0o600)
        return path

    @classmethod
    def load(cls, path: Path) -> Kubeconfig:
        """Read back a kubeconfig this module wrote (current context, token user)."""
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        try:
            context_name = data["current-context"]
            context = next(c["context"] for c in data["contexts"] if c["name"] == context_name)
            cluster = next(
                c["cluster"] for c in data["clusters"] if c["name"] == context["cluster"]
            )
            user = next(u["user"] for u in data["users"] if u["name"] == context["user"])
            return cls(server=str(cluster["server"]), token=str(user["token"]), name=context_name)
        except (KeyError, StopIteration, TypeError) as exc:
            raise ControlPlaneError(f"{path}: not a token kubeconfig of a local cluster") from exc


class KubeRest:
    """A small synchronous client for the harness' own calls (not the SDK's client)."""

    def __init__(self, kubeconfig: Kubeconfig, *, timeout: float = 10.0) -> None:
        # The apiserver's certificate is self-signed for 127.0.0.1: the kubeconfig says
        # insecure-skip-tls-verify, and so does this client.
        self._client = httpx.Client(
            base_url=kubeconfig.server,
            headers={"Authorization": f"Bearer {kubeconfig.token}"},
            verify=False,
            timeout=timeout,
            trust_env=False,  # loopback only: no proxy from the environment
        )

    def __enter__(self) -> KubeRest:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def healthy(self, path: str = "/readyz") -> bool:
        return self._client.get(path).status_code == 200

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at ``path``, or None if it does not exist (404)."""
        response = self._client.get(path)
        if response.status_code == 404:
            return None
        return self._json(response, "GET", path)

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """POST ``body`` to the collection ``path``; None if it already exists."""
        response = self._client.post(path, json=body)
        if response.status_code == 409:
            return None
        return self._json(response, "POST", path)

    def apply(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``body`` at the object ``path`` (creating or updating it)."""
        response = self._client.patch(
            path,
            params={"fieldManager": _FIELD_MANAGER, "force": "true"},
            content=json.dumps(body),  # JSON is YAML: the apply-patch type takes it
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        return self._json(response, "PATCH", path)

    @staticmethod
    def _json(response: httpx.Response, method: str, path: str) -> dict[str, Any]:
        if response.status_code >= 300:
            raise ControlPlaneError(
                f"{method} {path}: {response.status_code} {response.text[:500]}"
            )
        data: dict[str, Any] = response.json()
        return data
