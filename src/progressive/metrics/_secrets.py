"""Secret values for providers, read from the run's namespace just before measuring,
and kept out of everything the controller writes or logs.

Two ways to put a secret in a provider's config, neither of which stores its value in
the AnalysisRun:

* an argument with ``valueFrom.secretKeyRef`` and a ``{{args.token}}`` placeholder
  (Argo's way; the runner substitutes it before calling the provider);
* in the fields that say so (Prometheus and web ``headers[].value``,
  ``authentication.basicAuth.username/password``, ``authentication.bearerToken``), a
  ``{secretKeyRef: {name, key}}`` object instead of a string (a progressive.dev
  extension), which the provider resolves through the cluster it was given.

A value can still come back: in an error's text (a URL with ``?token=``, an exception
quoting a header), in a measured value (a server that echoes the request).  So every
value :func:`read_secret` returns, and every ``Authorization`` header built here, is
remembered by the :class:`Redactor` of the measurement under way (:func:`redacting`,
which the runner opens around each run's measurements; a context variable, so
concurrent measurements never see each other's), and the runner scrubs the run's
status with it before storing it: the run's messages and values, hence the Rollout's
status and the Events made from them.  Log records of ``httpx`` (which logs every URL
at INFO) and, in ``progressive controller``, of every logger pass through
:class:`ScrubbingFilter`, which scrubs them with the same Redactor.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import json
import logging
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any, Final

from .._clusters import Cluster, Ref
from .._grants import how_to_grant
from ..errors import Forbidden
from ._protocol import MeasurementFailure

__all__ = [
    "Redactor",
    "ScrubbingFilter",
    "is_secret_ref",
    "read_secret",
    "redacting",
    "remember",
    "request_headers",
    "resolve_value",
]

# marker characters, the first one no secret contains wins: scrubbing twice changes
# nothing (no secret can match across a marker)
_MARKERS: Final = "*#~^%!@+=?"
_MIN_LINE: Final = 8  # the lines of a multi-line secret (a key) are scrubbed on their own


def _forms(value: str) -> set[str]:
    """``value`` as it may show up in text: as is, trimmed, JSON-escaped, URL-encoded,
    and the lines of a multi-line one."""
    forms: set[str] = set()
    for text in (value, value.strip()):
        forms |= {text, json.dumps(text)[1:-1], urllib.parse.quote(text)}
        forms |= {urllib.parse.quote(text, safe=""), urllib.parse.quote_plus(text)}
    if "\n" in value.strip():
        forms |= {line.strip() for line in value.splitlines() if len(line.strip()) >= _MIN_LINE}
    return {form for form in forms if form}


class Redactor:
    """The secret values met while measuring, and text with them masked (``***``)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._marker = ""

    def __bool__(self) -> bool:
        return bool(self._values)

    def add(self, value: str) -> None:
        forms = _forms(value) - self._values
        if forms:
            self._values |= forms
            self._pattern = None

    def _compiled(self) -> re.Pattern[str]:
        if self._pattern is None:
            longest_first = sorted(self._values, key=lambda v: (-len(v), v))
            self._pattern = re.compile("|".join(map(re.escape, longest_first)))
            free = [c for c in _MARKERS if not any(c in v for v in self._values)]
            self._marker = free[0] * 3 if free else ""
        return self._pattern

    def scrub(self, text: str) -> str:
        """``text`` with every secret value masked."""
        if not self._values or not text:
            return text
        return self._compiled().sub(self._marker, text)

    def scrub_json(self, value: Any) -> Any:
        """Every string in ``value`` (JSON-like data: mappings, lists) scrubbed."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {k: self.scrub_json(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub_json(v) for v in value]
        return value


_current: contextvars.ContextVar[Redactor | None] = contextvars.ContextVar(
    "progressive_redactor", default=None
)


@contextlib.contextmanager
def redacting() -> Iterator[Redactor]:
    """A Redactor that remembers every secret read until the block ends (in this
    task, and the tasks it starts)."""
    redactor = Redactor()
    token = _current.set(redactor)
    try:
        yield redactor
    finally:
        _current.reset(token)


def remember(value: str) -> str:
    """Mask ``value`` in what the measurement under way reports; returns it."""
    redactor = _current.get()
    if redactor is not None and value:
        redactor.add(value)
    return value


class ScrubbingFilter(logging.Filter):
    """Masks the secrets of the measurement under way in log records (installed on the
    ``httpx`` and ``httpcore`` loggers at import; ``progressive controller`` puts one on
    its log handler too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = _current.get()
        if redactor:
            message = record.getMessage()
            scrubbed = redactor.scrub(message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
        return True


for _name in ("httpx", "httpcore"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, ScrubbingFilter) for f in _logger.filters):
        _logger.addFilter(ScrubbingFilter())


def is_secret_ref(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and set(value) == {"secretKeyRef"}
        and isinstance(value["secretKeyRef"], Mapping)
    )


async def read_secret(
    cluster: Cluster, namespace: str, name: str, key: str
) -> str | MeasurementFailure:
    """The decoded value of ``key`` in Secret ``namespace/name``, or why not (for a
    controller that may not read Secrets there: how to grant it)."""
    try:
        secret = await cluster.get(Ref("v1", "Secret", namespace, name))
    except Forbidden as exc:
        return MeasurementFailure(
            f"secret {namespace}/{name}: the controller may not read Secrets in namespace "
            f"{namespace}: install it with {how_to_grant('analysis_secrets', namespace)} ({exc})"
        )
    if secret is None:
        return MeasurementFailure(f"secret {namespace}/{name} not found")
    string_data = secret.get("stringData") or {}
    if key in string_data:
        return remember(str(string_data[key]))
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        return MeasurementFailure(f"secret {namespace}/{name} has no key {key!r}")
    try:
        return remember(base64.b64decode(str(encoded), validate=True).decode())
    except (binascii.Error, UnicodeDecodeError):
        return MeasurementFailure(f"secret {namespace}/{name} key {key!r} is not base64 text")


async def resolve_value(
    value: Any, cluster: Cluster | None, namespace: str, field: str
) -> str | MeasurementFailure:
    """A string as is, or the secret a ``{secretKeyRef: {name, key}}`` names."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if is_secret_ref(value):
        ref = value["secretKeyRef"]
        name, key = ref.get("name"), ref.get("key")
        if not isinstance(name, str) or not isinstance(key, str) or not name or not key:
            return MeasurementFailure(f"{field}.secretKeyRef needs a name and a key")
        if cluster is None:
            return MeasurementFailure(
                f"{field}: a secretKeyRef needs a provider constructed with the cluster"
            )
        return await read_secret(cluster, namespace, name, key)
    return MeasurementFailure(f"{field} must be a string or {{secretKeyRef: {{name, key}}}}")


async def request_headers(
    config: Mapping[str, Any], cluster: Cluster | None, namespace: str, provider: str
) -> dict[str, str] | MeasurementFailure:
    """``headers[]{key, value}`` and ``authentication`` (``basicAuth{username,
    password}`` or ``bearerToken``) of a provider config, as HTTP headers."""
    headers: dict[str, str] = {}
    raw = config.get("headers") or []
    if not isinstance(raw, list):
        return MeasurementFailure(f"{provider}.headers must be a list of {{key, value}}")
    for i, item in enumerate(raw):
        field = f"{provider}.headers[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            return MeasurementFailure(f"{field} must be {{key, value}}")
        value = await resolve_value(item.get("value", ""), cluster, namespace, f"{field}.value")
        if isinstance(value, MeasurementFailure):
            return value
        headers[item["key"]] = value
    auth = config.get("authentication") or {}
    if not isinstance(auth, Mapping):
        return MeasurementFailure(f"{provider}.authentication must be an object")
    unsupported = sorted(set(auth) - {"basicAuth", "bearerToken"})
    if unsupported:
        return MeasurementFailure(
            f"{provider}.authentication.{unsupported[0]} is not supported "
            "(basicAuth and bearerToken are)"
        )
    basic = auth.get("basicAuth")
    if basic is not None:
        if not isinstance(basic, Mapping):
            return MeasurementFailure(f"{provider}.authentication.basicAuth must be an object")
        parts = []
        for part in ("username", "password"):
            value = await resolve_value(
                basic.get(part, ""),
                cluster,
                namespace,
                f"{provider}.authentication.basicAuth.{part}",
            )
            if isinstance(value, MeasurementFailure):
                return value
            parts.append(value)
        token = remember(base64.b64encode(f"{parts[0]}:{parts[1]}".encode()).decode())
        headers["Authorization"] = f"Basic {token}"
    bearer = auth.get("bearerToken")
    if bearer is not None:
        value = await resolve_value(
            bearer, cluster, namespace, f"{provider}.authentication.bearerToken"
        )
        if isinstance(value, MeasurementFailure):
            return value
        headers["Authorization"] = f"Bearer {remember(value.strip())}"
    return headers
