"""Secret values for providers, read from the run's namespace just before measuring.

Two ways to put a secret in a provider's config, neither of which stores its value in
the AnalysisRun:

* an argument with ``valueFrom.secretKeyRef`` and a ``{{args.token}}`` placeholder
  (Argo's way; the runner substitutes it before calling the provider);
* in the fields that say so (Prometheus and web ``headers[].value``,
  ``authentication.basicAuth.username/password``, ``authentication.bearerToken``), a
  ``{secretKeyRef: {name, key}}`` object instead of a string (a progressive.dev
  extension), which the provider resolves through the cluster it was given.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from .._shell.clusters import Cluster, Ref
from ._protocol import MeasurementError

__all__ = ["is_secret_ref", "read_secret", "request_headers", "resolve_value"]


def is_secret_ref(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and set(value) == {"secretKeyRef"}
        and isinstance(value["secretKeyRef"], Mapping)
    )


async def read_secret(
    cluster: Cluster, namespace: str, name: str, key: str
) -> str | MeasurementError:
    """The decoded value of ``key`` in Secret ``namespace/name``, or why not."""
    secret = await cluster.get(Ref("v1", "Secret", namespace, name))
    if secret is None:
        return MeasurementError(f"secret {namespace}/{name} not found")
    string_data = secret.get("stringData") or {}
    if key in string_data:
        return str(string_data[key])
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        return MeasurementError(f"secret {namespace}/{name} has no key {key!r}")
    try:
        return base64.b64decode(str(encoded), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return MeasurementError(f"secret {namespace}/{name} key {key!r} is not base64 text")


async def resolve_value(
    value: Any, cluster: Cluster | None, namespace: str, field: str
) -> str | MeasurementError:
    """A string as is, or the secret a ``{secretKeyRef: {name, key}}`` names."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if is_secret_ref(value):
        ref = value["secretKeyRef"]
        name, key = ref.get("name"), ref.get("key")
        if not isinstance(name, str) or not isinstance(key, str) or not name or not key:
            return MeasurementError(f"{field}.secretKeyRef needs a name and a key")
        if cluster is None:
            return MeasurementError(
                f"{field}: a secretKeyRef needs a provider constructed with the cluster"
            )
        return await read_secret(cluster, namespace, name, key)
    return MeasurementError(f"{field} must be a string or {{secretKeyRef: {{name, key}}}}")


async def request_headers(
    config: Mapping[str, Any], cluster: Cluster | None, namespace: str, provider: str
) -> dict[str, str] | MeasurementError:
    """``headers[]{key, value}`` and ``authentication`` (``basicAuth{username,
    password}`` or ``bearerToken``) of a provider config, as HTTP headers."""
    headers: dict[str, str] = {}
    raw = config.get("headers") or []
    if not isinstance(raw, list):
        return MeasurementError(f"{provider}.headers must be a list of {{key, value}}")
    for i, item in enumerate(raw):
        field = f"{provider}.headers[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            return MeasurementError(f"{field} must be {{key, value}}")
        value = await resolve_value(item.get("value", ""), cluster, namespace, f"{field}.value")
        if isinstance(value, MeasurementError):
            return value
        headers[item["key"]] = value
    auth = config.get("authentication") or {}
    if not isinstance(auth, Mapping):
        return MeasurementError(f"{provider}.authentication must be an object")
    unsupported = sorted(set(auth) - {"basicAuth", "bearerToken"})
    if unsupported:
        return MeasurementError(
            f"{provider}.authentication.{unsupported[0]} is not supported "
            "(basicAuth and bearerToken are)"
        )
    basic = auth.get("basicAuth")
    if basic is not None:
        if not isinstance(basic, Mapping):
            return MeasurementError(f"{provider}.authentication.basicAuth must be an object")
        parts = []
        for part in ("username", "password"):
            value = await resolve_value(
                basic.get(part, ""),
                cluster,
                namespace,
                f"{provider}.authentication.basicAuth.{part}",
            )
            if isinstance(value, MeasurementError):
                return value
            parts.append(value)
        token = base64.b64encode(f"{parts[0]}:{parts[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    bearer = auth.get("bearerToken")
    if bearer is not None:
        value = await resolve_value(
            bearer, cluster, namespace, f"{provider}.authentication.bearerToken"
        )
        if isinstance(value, MeasurementError):
            return value
        headers["Authorization"] = f"Bearer {value.strip()}"
    return headers
