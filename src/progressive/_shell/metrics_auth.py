"""The secure metrics endpoint: HTTPS, and only for bearer tokens the API server says
may read the path, as Kubernetes' own components and controller-runtime do it.

* :class:`TokenAuthorizer` asks the API server who a bearer token is (a
  ``TokenReview``) and whether that user may ``get`` the non-resource URL requested
  (a ``SubjectAccessReview``); decisions are cached for ``ttl`` seconds, at most
  ``max_entries`` of them, keyed by the token's SHA-256 (the token itself is never
  kept, logged nor echoed);
* :func:`serving_context` is the TLS context: the certificate and key in ``cert_dir``
  (``tls.crt``, ``tls.key``: cert-manager's names) or, without one, a self-signed
  certificate made at start-up (Prometheus' ServiceMonitor then skips verification,
  as with controller-runtime's default).

The controller's ServiceAccount needs ``create`` on ``tokenreviews`` and
``subjectaccessreviews`` (``progressive install --metrics-secure`` grants it); a
scraper needs ``get`` on the ``/metrics`` URL (the ``progressive-metrics-reader``
ClusterRole).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import ssl
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .kube import KubeCluster

__all__ = ["ALLOWED", "FORBIDDEN", "UNAUTHORIZED", "TokenAuthorizer", "serving_context"]

log = logging.getLogger("progressive.metrics")

ALLOWED: Final = 200
UNAUTHORIZED: Final = 401
FORBIDDEN: Final = 403
UNAVAILABLE: Final = 503


class TokenAuthorizer:
    """May this bearer token ``get`` this path?  An HTTP status: 200, 401 (no token or
    not a valid one), 403 (not allowed) or 503 (the API server did not answer)."""

    def __init__(self, cluster: KubeCluster, *, ttl: float = 60.0, max_entries: int = 1024) -> None:
        self.cluster = cluster
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

    async def __call__(self, token: str | None, path: str) -> int:
        if not token:
            return UNAUTHORIZED
        key = (hashlib.sha256(token.encode()).hexdigest(), path)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            decision = await self._review(token, path)
        except Exception as exc:  # the API server is away: say so, remember nothing
            log.warning("cannot review a /metrics request: %s", type(exc).__name__)
            return UNAVAILABLE
        self._cache[key] = (now + self.ttl, decision)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return decision

    async def _review(self, token: str, path: str) -> int:
        review = await self.cluster.request(
            "create",
            "POST",
            "/apis/authentication.k8s.io/v1/tokenreviews",
            body={
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token},
            },
        )
        status = review.get("status") or {}
        if not status.get("authenticated"):
            return UNAUTHORIZED
        user = status.get("user") or {}
        spec: dict[str, Any] = {
            "user": user.get("username", ""),
            "groups": list(user.get("groups") or ()),
            "nonResourceAttributes": {"path": path, "verb": "get"},
        }
        if user.get("uid"):
            spec["uid"] = user["uid"]
        if user.get("extra"):
            spec["extra"] = user["extra"]
        access = await self.cluster.request(
            "create",
            "POST",
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            body={
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": spec,
            },
        )
        return ALLOWED if (access.get("status") or {}).get("allowed") else FORBIDDEN


def _self_signed(directory: Path, hosts: tuple[str, ...]) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "progressive-controller")])
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    crt, pem = directory / "tls.crt", directory / "tls.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return crt, pem


def serving_context(
    cert_dir: Path | None = None, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 at least) with ``cert_dir``'s ``tls.crt`` and
    ``tls.key``, or a self-signed certificate for ``hosts`` made now."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_dir is not None:
        context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
        return context
    with tempfile.TemporaryDirectory(prefix="progressive-tls-") as tmp:
        crt, key = _self_signed(Path(tmp), hosts)
        context.load_cert_chain(crt, key)
    return context
