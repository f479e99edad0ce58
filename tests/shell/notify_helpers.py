"""What the notification tests share: a real HTTP receiver on 127.0.0.1 standing in for
a generic webhook and for Slack (its Web API's chat.postMessage with a bearer token, and
an incoming webhook), and the ConfigMap, Secret and annotations a user writes."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs

from tests.http_servers import Reply, Request, serve

NAMESPACE = "progressive-system"
TOKEN = "xoxb-very-secret-token"
HOOK_SECRET = "T0/B0/hooksecret42"
HEADER_SECRET = "webhook-bearer-shh"


@attrs.define
class Receiver:
    """What arrived (successful deliveries only), by kind: ``webhook``, ``slack`` (Web
    API) and ``incoming`` (Slack incoming webhook).  ``fail`` answers that many
    requests (those whose path starts with one of ``failing``) 503 first; ``gate``, when not
    None, holds every request until it is set."""

    url: str = ""
    webhook: list[Request] = attrs.Factory(list)
    slack: list[dict[str, Any]] = attrs.Factory(list)
    incoming: list[dict[str, Any]] = attrs.Factory(list)
    requests: int = 0
    fail: int = 0
    failing: tuple[str, ...] = ("/",)
    status: int = 503
    gate: anyio.Event | None = None

    async def handle(self, request: Request, reply: Reply) -> None:
        self.requests += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail > 0 and request.target.startswith(self.failing):
            self.fail -= 1
            # echoes the request, secrets included, as a careless server would
            await reply.whole(self.status, request.text().encode(), "text/plain")
            return
        target = request.target
        if target.endswith("/api/chat.postMessage"):
            body = json.loads(request.body)
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                answer: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
            elif body.get("channel") == "nowhere":
                answer = {"ok": False, "error": "channel_not_found"}
            else:
                self.slack.append(body)
                answer = {"ok": True, "channel": body.get("channel"), "ts": "1.0"}
            await reply.whole(200, json.dumps(answer).encode())
        elif target.startswith("/services/"):
            self.incoming.append(json.loads(request.body))
            await reply.whole(200, b"ok", "text/plain")
        else:
            self.webhook.append(request)
            await reply.whole(200, b"{}")

    def texts(self) -> list[str]:
        return [m["text"] for m in self.slack]


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    async with serve(got.handle) as served:
        got.url = served.url
        yield got


TEMPLATES = {
    "template.rollout-completed": """\
message: Rollout {{.rollout.metadata.name}} has been completed.
webhook:
  ci:
    method: POST
    path: /done/{{.rollout.metadata.name}}
    body: |
      {"rollout": {{ .rollout.metadata.name | toJson }},
       "revision": {{ .rollout.status.currentPodHash | toJson }}}
""",
    "template.rollout-step-completed": """\
message: >-
  Rollout {{.rollout.metadata.name}} step number
  {{ add .rollout.status.currentStepIndex 1}}/{{len .rollout.spec.strategy.canary.steps}}
  has been completed.
slack:
  attachments: |
    [{"title": "{{ .rollout.metadata.name}}", "color": "#18be52"}]
""",
    "template.rollout-paused": "message: Rollout {{.rollout.metadata.name}} has been paused.",
    "template.rollout-aborted": "message: Rollout {{.rollout.metadata.name}} has been aborted.",
    "trigger.on-rollout-completed": "- send: [rollout-completed]",
    "trigger.on-rollout-step-completed": "- send: [rollout-step-completed]",
    "trigger.on-rollout-paused": "- send: [rollout-paused]",
    "trigger.on-rollout-aborted": "- send: [rollout-aborted]",
}


def configmap(
    url: str,
    name: str = "argo-rollouts-notification-configmap",
    namespace: str = NAMESPACE,
    **data: str,
) -> dict[str, Any]:
    """Argo's ConfigMap as a user writes it: a generic webhook ``ci``, Slack's Web API
    (``slack``) and an incoming webhook (``team``), the secrets as ``$keys``."""
    services = {
        "service.webhook.ci": f"""\
url: {url}/hooks
headers:
- name: Authorization
  value: Bearer $ci-token
""",
        "service.slack": f"""\
token: $slack-token
apiURL: {url}/api/
""",
        "service.slack.team": "webhookURL: $team-hook\nusername: rollouts\nicon: ':rocket:'",
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {**TEMPLATES, **services, **data},
    }


def secret(
    url: str, name: str = "argo-rollouts-notification-secret", namespace: str = NAMESPACE
) -> dict[str, Any]:
    values = {
        "slack-token": TOKEN,
        "ci-token": HEADER_SECRET,
        "team-hook": f"{url}/services/{HOOK_SECRET}",
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


def subscribe(
    manifest: dict[str, Any], prefix: str = "notifications.argoproj.io", **subs: str
) -> dict[str, Any]:
    """``subscribe(m, **{"on-rollout-completed.ci": ""})`` adds the annotations."""
    annotations = manifest["metadata"].setdefault("annotations", {})
    for key, recipients in subs.items():
        annotations[f"{prefix}/subscribe.{key}"] = recipients
    return manifest
