"""Where notifications go: the ConfigMap and Secret read, and the services that send.

The configuration is Argo Rollouts': the ConfigMap ``argo-rollouts-notification-configmap``
and the Secret ``argo-rollouts-notification-secret`` in the controller's namespace, or
their progressive equivalents ``progressive-notification-configmap`` and
``progressive-notification-secret`` (their keys win over Argo's when both exist).  A
service's settings may name a key of the Secret as ``$key``; the value replaces it in
memory only, and every value so used is masked (``***``) in whatever an error, a log line
or an Event says.

Two service types send:

* ``service.webhook.<name>``: ``url``, ``headers: [{name, value}]``, ``basicAuth:
  {username, password}``, ``insecureSkipVerify``.  A template's ``webhook.<name>``
  gives the ``method`` (GET by default, as Argo), ``path`` (appended to the url) and
  ``body``; without one, the ``message`` is the body.  Any 2xx answer is a success.
* ``service.slack`` (or ``service.slack.<name>``): with ``token``, Slack's Web API
  ``chat.postMessage`` (``apiURL``, default ``https://slack.com/api/``), the recipient
  being the channel, ``{"ok": true}`` the success; with ``webhookURL`` instead (a
  progressive extension), an incoming webhook, whose channel is its own.  ``username``
  and ``icon`` (an ``:emoji:`` or a URL) apply to both, as do a template's
  ``slack.attachments`` and ``slack.blocks`` (JSON text).

An answer that may change on a second try (no answer, 429, 5xx, Slack's ``ratelimited``)
is a transient failure, retried by the notifier; anything else is final.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any, Final, Protocol

import attrs

from .._clusters import Cluster, Ref
from .._safe_load import parse
from ..core._notifications import (
    CONFIGMAPS,
    SECRETS,
    Destination,
    Notification,
    NotificationConfig,
    read_config,
)
from ..errors import DeliveryFailed, RequestFailed
from ..metrics._http import ResponseLimits, RetryPolicy, Session
from ..metrics._secrets import Redactor
from .events import Involved

__all__ = [
    "LoadedConfig",
    "Service",
    "SlackService",
    "WebhookService",
    "load_config",
    "read_services",
]

SLACK_API: Final = "https://slack.com/api/"
#: The most of a service's answer that is read.
MAX_ANSWER: Final = 64 * 1024
#: Seconds one attempt to deliver may take, connecting included.
TIMEOUT: Final = 10.0
_TRANSIENT_SLACK: Final = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_SECRET_REF: Final = re.compile(r"\$[\w-]+")
_IGNORED: Final = {
    "webhook": ("retryWaitMin", "retryWaitMax", "retryMax"),
    "slack": ("signingSecret", "channels"),
}


class Service(Protocol):
    @property
    def name(self) -> str: ...

    async def send(self, notification: Notification, destination: Destination) -> None:
        """Deliver; raises :class:`DeliveryFailed`."""
        ...


async def _post(
    method: str,
    url: str,
    *,
    insecure: bool,
    headers: Mapping[str, str],
    content: bytes,
) -> tuple[int, bytes, float | None]:
    """One attempt: (status, body, Retry-After seconds), or DeliveryFailed (transient)."""
    limits = ResponseLimits(max_body_bytes=MAX_ANSWER)
    try:
        async with Session(
            timeout=TIMEOUT, insecure=insecure, policy=RetryPolicy(attempts=1), limits=limits
        ) as http:
            reply = await http.send(method, url, headers=dict(headers), content=content)
    except RequestFailed as exc:
        raise DeliveryFailed(str(exc), transient=True) from None
    retry_after = None
    if reply.status_code == 429:
        try:
            retry_after = float(reply.headers.get("retry-after", ""))
        except ValueError:
            retry_after = None
    if reply.status_code == 429 or reply.status_code >= 500:
        raise DeliveryFailed(reply.describe(), transient=True, retry_after=retry_after)
    return reply.status_code, reply.content, retry_after


@attrs.frozen
class WebhookService:
    name: str
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict)
    insecure: bool = False

    async def send(self, notification: Notification, destination: Destination) -> None:
        method, url, body = "GET", self.url, notification.message
        request = notification.webhook.get(self.name)
        if request is not None:
            method, body = request.method or "GET", request.body
            if request.path:
                url = self.url.rstrip("/") + "/" + request.path.lstrip("/")
        status, _, _ = await _post(
            method, url, insecure=self.insecure, headers=self.headers, content=body.encode()
        )
        if not 200 <= status < 300:
            raise DeliveryFailed(f"HTTP {status}", transient=False)


@attrs.frozen
class SlackService:
    name: str
    token: str = ""
    webhook_url: str = ""
    api_url: str = SLACK_API
    username: str = ""
    icon: str = ""
    insecure: bool = False
    unfurl: bool = True

    def payload(self, notification: Notification) -> dict[str, Any]:
        """The JSON both Slack APIs take (attachments and blocks must be JSON text)."""
        out: dict[str, Any] = {"text": notification.message}
        slack = notification.slack
        username = (slack.username if slack else "") or self.username
        icon = (slack.icon if slack else "") or self.icon
        if username:
            out["username"] = username
        if icon:
            out["icon_emoji" if re.fullmatch(r":.+:", icon) else "icon_url"] = icon
        for field in ("attachments", "blocks"):
            text = getattr(slack, field) if slack else ""
            if text.strip():
                try:
                    out[field] = json.loads(text)
                except (ValueError, RecursionError) as exc:
                    raise DeliveryFailed(
                        f"the template's slack.{field} is not JSON: {exc}", transient=False
                    ) from None
        if not self.unfurl:
            out["unfurl_links"] = out["unfurl_media"] = False
        return out

    async def send(self, notification: Notification, destination: Destination) -> None:
        payload = self.payload(notification)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if not self.token:
            status, answer, _ = await _post(
                "POST",
                self.webhook_url,
                insecure=self.insecure,
                headers=headers,
                content=json.dumps(payload).encode(),
            )
            if not 200 <= status < 300:
                said = answer[:64].decode(errors="replace").strip()
                raise DeliveryFailed(f"HTTP {status}: {said}", transient=False)
            return
        payload["channel"] = destination.recipient
        headers["Authorization"] = f"Bearer {self.token}"
        url = self.api_url.rstrip("/") + "/chat.postMessage"
        status, answer, _ = await _post(
            "POST",
            url,
            insecure=self.insecure,
            headers=headers,
            content=json.dumps(payload).encode(),
        )
        try:
            document = json.loads(answer)
        except (ValueError, RecursionError):
            document = None
        if not isinstance(document, Mapping):
            raise DeliveryFailed(f"HTTP {status}: not a Slack API answer", transient=False)
        if document.get("ok") is True:
            return
        error = str(document.get("error") or "unknown error")[:64]
        raise DeliveryFailed(f"Slack: {error}", transient=error in _TRANSIENT_SLACK)


# -- reading the configuration -------------------------------------------------------------


def _substitute(value: object, secrets: Mapping[str, str], used: set[str]) -> object:
    """Every ``$key`` naming a key of the Secret, in every string of ``value``."""
    if isinstance(value, str):

        def swap(m: re.Match[str]) -> str:
            found = secrets.get(m.group()[1:])
            if found is None:
                return m.group()
            used.add(found)
            return found

        return _SECRET_REF.sub(swap, value)
    if isinstance(value, Mapping):
        return {k: _substitute(v, secrets, used) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, secrets, used) for v in value]
    return value


def _url(value: object) -> str:
    return value if isinstance(value, str) and re.match(r"https?://[^\s/]", value) else ""


def _service(
    kind: str, name: str, options: Mapping[str, Any], problems: list[str]
) -> Service | None:
    where = f"service.{kind}" + (f".{name}" if name != kind else "")
    for key in options:
        if key in _IGNORED.get(kind, ()):
            problems.append(f"{where}.{key}: not used by progressive; ignored")
    insecure = options.get("insecureSkipVerify") is True
    if kind == "webhook":
        url = _url(options.get("url"))
        if not url:
            problems.append(f"{where}.url: expected an http(s) URL")
            return None
        headers: dict[str, str] = {}
        for header in options.get("headers") or ():
            if isinstance(header, Mapping) and header.get("name"):
                headers[str(header["name"])] = str(header.get("value") or "")
            else:
                problems.append(f"{where}.headers: expected a list of {{name, value}}")
        auth = options.get("basicAuth")
        if isinstance(auth, Mapping):
            pair = f"{auth.get('username') or ''}:{auth.get('password') or ''}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return WebhookService(name, url, headers, insecure)
    if kind == "slack":
        token = str(options.get("token") or "")
        hook = _url(options.get("webhookURL"))
        if not token and not hook:
            problems.append(f"{where}: needs a token (chat.postMessage) or a webhookURL")
            return None
        api = _url(options.get("apiURL")) or SLACK_API
        return SlackService(
            name,
            token,
            hook,
            api,
            str(options.get("username") or ""),
            str(options.get("icon") or ""),
            insecure,
            options.get("disableUnfurl") is not True,
        )
    problems.append(f"{where}: service type {kind} is not supported (webhook, slack)")
    return None


def read_services(
    entries: Mapping[str, object], secrets: Mapping[str, str]
) -> tuple[dict[str, Service], list[str], set[str]]:
    """The services of a ConfigMap's decoded ``service.*`` entries: (by name, problems,
    the secret values they use)."""
    services: dict[str, Service] = {}
    problems: list[str] = []
    used: set[str] = set()
    for key in sorted(entries):
        parts = key.split(".")
        if parts[0] != "service":
            continue
        if len(parts) not in (2, 3) or not all(parts):
            problems.append(f"{key}: expected service.<type> or service.<type>.<name>")
            continue
        kind, name = parts[1], parts[-1]
        options = entries[key]
        if not isinstance(options, Mapping):
            problems.append(f"{key}: expected a mapping")
            continue
        substituted = _substitute(options, secrets, used)
        assert isinstance(substituted, Mapping)
        service = _service(kind, name, substituted, problems)
        if service is not None:
            services[name] = service
    return services, problems, used


@attrs.frozen
class LoadedConfig:
    """The notification configuration as read from the cluster."""

    notification: NotificationConfig
    services: Mapping[str, Service]
    problems: tuple[str, ...]
    secrets: frozenset[str] = frozenset()  # the Secret's values the services use
    redactor: Redactor = attrs.field(eq=False, factory=Redactor)
    version: tuple[str, ...] = ()  # the objects' resourceVersions
    source: Involved | None = None  # the ConfigMap problems are reported on

    def scrub(self, text: str) -> str:
        return self.redactor.scrub(text)


def _secret_values(secret: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if secret is None:
        return out
    for key, value in (secret.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True).decode()
        except ValueError:
            continue
    for key, value in (secret.get("stringData") or {}).items():
        out[str(key)] = str(value)
    return out


def _decode(data: Mapping[str, Any], problems: list[str]) -> dict[str, object]:
    decoded: dict[str, object] = {}
    for key, text in data.items():
        documents, error = parse(f"{key}.yaml", str(text))
        if error is not None or len(documents) != 1 or documents[0].errors:
            why = error or (documents[0].errors[0].message if documents else "empty")
            problems.append(f"{key}: not YAML: {why}")
            continue
        decoded[str(key)] = documents[0].value
    return decoded


async def load_config(cluster: Cluster, namespace: str) -> LoadedConfig | None:
    """The configuration in ``namespace``; None when neither ConfigMap exists."""
    data: dict[str, Any] = {}
    version: list[str] = []
    source: Involved | None = None
    for name in CONFIGMAPS:
        found = await cluster.get(Ref("v1", "ConfigMap", namespace, name))
        version.append(str((found or {}).get("metadata", {}).get("resourceVersion") or ""))
        if found is not None:
            data.update(found.get("data") or {})
            source = Involved.of(found)
    if source is None:
        return None
    secrets: dict[str, str] = {}
    for name in SECRETS:
        found = await cluster.get(Ref("v1", "Secret", namespace, name))
        version.append(str((found or {}).get("metadata", {}).get("resourceVersion") or ""))
        secrets.update(_secret_values(found))
    problems: list[str] = []
    entries = _decode(data, problems)
    notification = read_config({k: v for k, v in entries.items() if not k.startswith("service.")})
    services, service_problems, used = read_services(entries, secrets)
    redactor = Redactor()
    for value in used:
        redactor.add(value)
    found_problems = (*problems, *notification.problems, *service_problems)
    scrubbed = tuple(redactor.scrub(p) for p in found_problems)
    return LoadedConfig(
        notification, services, scrubbed, frozenset(used), redactor, tuple(version), source
    )
