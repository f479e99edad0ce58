"""Notifications on the in-memory cluster, delivered to a real HTTP receiver on 127.0.0.1:
what Argo's ConfigMap, Secret and annotations ask for arrives at a generic webhook and
at Slack (chat.postMessage and an incoming webhook); failures are retried off the
rollout workers, then become an Event and a metric without a secret; a restart neither
loses nor repeats a notification."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from progressive._shell import Controller, Ref, WallClock
from progressive._shell.events import EventRecorder
from progressive._shell.metrics import ControllerMetrics
from progressive._shell.notifier import Notifier
from progressive._shell.notify_services import load_config
from progressive.memory import MemoryCluster

from .helpers import canary_rollout, with_image
from .helpers import until as _until
from .notify_helpers import (
    HEADER_SECRET,
    HOOK_SECRET,
    NAMESPACE,
    TOKEN,
    Receiver,
    configmap,
    receiver,
    secret,
    subscribe,
)

ARGO = "argoproj.io/v1alpha1"
NOTIFIED = "notified.notifications.argoproj.io"
STEPS = [{"setWeight": 25}, {"pause": {"duration": "200ms"}}, {"setWeight": 75}]
SECRETS = (TOKEN, HOOK_SECRET, HEADER_SECRET)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"


async def until(what: str, check: Any, seconds: float = 20.0) -> None:
    """Waits of a few hundred milliseconds here, with room for a loaded machine."""
    await _until(what, check, seconds)


class Env:
    """A MemoryCluster in wall time, and controllers (with their notifier) run on it."""

    def __init__(self) -> None:
        self.clock = WallClock()
        self.cluster = MemoryCluster(self.clock, pod_ready_seconds=0.01)
        self.metrics = ControllerMetrics()
        self.notifier: Notifier | None = None
        self.controller: Controller | None = None

    @contextlib.asynccontextmanager
    async def running(self, **notifier: Any) -> AsyncIterator[Notifier]:
        """A fresh controller and notifier (a new process, as after a restart)."""
        notifier.setdefault("backoff", (0.05, 0.2))
        events = EventRecorder(self.cluster, clock=self.clock)
        self.notifier = Notifier(
            self.cluster,
            namespace=NAMESPACE,
            clock=self.clock,
            events=events,
            metrics=self.metrics,
            **notifier,
        )
        controller = self.controller = Controller(
            self.cluster, clock=self.clock, notifier=self.notifier, events=events
        )
        async with anyio.create_task_group() as tg:
            await tg.start(lambda task_status: controller.run(resync=None, task_status=task_status))
            yield self.notifier
            tg.cancel_scope.cancel()

    async def rollout(self, name: str = "web", api_version: str = ARGO) -> dict[str, Any]:
        found = await self.cluster.get(Ref(api_version, "Rollout", "default", name))
        assert found is not None
        return found

    async def healthy(self, name: str = "web", image: str | None = None) -> bool:
        obj = await self.rollout(name)
        status = obj.get("status") or {}
        done = status.get("phase") == "Healthy" and status.get("stableRS") == status.get(
            "currentPodHash"
        )
        spec_image = obj["spec"]["template"]["spec"]["containers"][0]["image"]
        return done and (image is None or spec_image == image)

    async def update(self, image: str, name: str = "web") -> None:
        obj = await self.rollout(name)
        ref = Ref(ARGO, "Rollout", "default", name)
        await self.cluster.patch(ref, {"spec": with_image(obj, image)["spec"]})

    async def notified(self, name: str = "web") -> dict[str, int]:
        annotations = (await self.rollout(name))["metadata"].get("annotations") or {}
        return dict(json.loads(annotations.get(NOTIFIED) or "{}"))

    def events(self, reason: str) -> list[str]:
        return [e["message"] for e in self.cluster.objects("v1", "Event") if e["reason"] == reason]

    def counted(self, outcome: str) -> float:
        total = 0.0
        for metric in self.metrics.notifications.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.labels["outcome"] == outcome:
                    total += sample.value
        return total


async def configure(env: Env, got: Receiver, **data: str) -> None:
    await env.cluster.create(configmap(got.url, **data))
    await env.cluster.create(secret(got.url))


async def test_argo_configmap_and_annotations_deliver_to_a_webhook_and_slack() -> None:
    env = Env()
    async with receiver() as got:
        await configure(env, got)
        await env.cluster.create(
            subscribe(
                canary_rollout(steps=STEPS),
                **{
                    "on-rollout-completed.ci": "",
                    "on-rollout-step-completed.slack": "deploys; releases",
                    "on-rollout-paused.team": "",
                },
            )
        )
        async with env.running():
            await until("the first revision notified", lambda: len(got.webhook) == 1)
            await env.update("example/web:2.0")
            await until("Healthy at 2.0", lambda: env.healthy(image="example/web:2.0"))
            await until(
                "everything delivered", lambda: len(got.webhook) == 2 and len(got.slack) == 6
            )
            await until("recorded", lambda: env.notifier is not None and env.notifier.idle)
        status = (await env.rollout())["status"]

    # the generic webhook: the template's method, path and body, the Secret's header
    first, second = got.webhook
    assert (second.method, second.target) == ("POST", "/hooks/done/web")
    assert second.headers["authorization"] == f"Bearer {HEADER_SECRET}"
    assert json.loads(second.body) == {"rollout": "web", "revision": status["currentPodHash"]}
    assert json.loads(first.body)["revision"] != status["currentPodHash"]  # the first revision
    # Slack's Web API: one message per step completed, per channel, with the bearer token
    for channel in ("deploys", "releases"):
        texts = [m["text"] for m in got.slack if m["channel"] == channel]
        assert texts == [f"Rollout web step number {n}/3 has been completed." for n in (1, 2, 3)]
    assert all(m["attachments"] == [{"title": "web", "color": "#18be52"}] for m in got.slack)
    # Slack's incoming webhook: the one pause, with the service's username and icon
    assert got.incoming == [
        {"text": "Rollout web has been paused.", "username": "rollouts", "icon_emoji": ":rocket:"}
    ]
    # what was sent is recorded on the Rollout, in notifications-engine's format
    notified = await env.notified()  # the pause's key went with the pause: it may fire again
    assert sum(not k.startswith("~") for k in notified) == 2 + 6
    assert f"[{status['currentPodHash']} 3]:on-rollout-step-completed:" in " ".join(notified)
    assert env.counted("sent") == 9 and env.counted("failed") == 0
    assert env.events("NotificationFailed") == env.events("NotificationInvalid") == []


async def test_the_progressive_dev_group_configmap_and_annotations() -> None:
    env = Env()
    async with receiver() as got:
        await env.cluster.create(configmap(got.url, name="progressive-notification-configmap"))
        await env.cluster.create(secret(got.url, name="progressive-notification-secret"))
        manifest = canary_rollout()
        manifest["apiVersion"] = "progressive.dev/v1alpha1"
        subscribe(manifest, "notifications.progressive.dev", **{"on-rollout-completed.ci": ""})
        await env.cluster.create(manifest)
        async with env.running():
            await until("notified", lambda: len(got.webhook) == 1)
            await until("recorded", lambda: env.notifier is not None and env.notifier.idle)
        stored = await env.rollout(api_version="progressive.dev/v1alpha1")
    annotations = stored["metadata"]["annotations"]
    assert "notified.notifications.progressive.dev" in annotations
    assert NOTIFIED not in annotations


async def test_a_failing_receiver_is_retried_with_backoff_and_the_rollout_does_not_wait() -> None:
    env = Env()
    async with receiver() as got:
        await configure(env, got)
        got.gate = anyio.Event()  # every request held
        got.fail = 3
        await env.cluster.create(
            subscribe(canary_rollout(steps=STEPS), **{"on-rollout-completed.ci": ""})
        )
        async with env.running():
            await until("the first delivery held", lambda: got.requests == 1)
            await env.update("example/web:2.0")
            # the whole update goes through while the receiver holds the first delivery
            await until("Healthy at 2.0", lambda: env.healthy(image="example/web:2.0"))
            assert got.webhook == [] and got.requests <= 2
            got.gate.set()
            await until("both delivered", lambda: len(got.webhook) == 2)
            await until("recorded", lambda: env.notifier is not None and env.notifier.idle)
    assert got.requests == 2 + 3  # each delivered once, after three 503s in all
    assert env.counted("retried") == 3 and env.counted("sent") == 2
    revisions = [json.loads(r.body)["revision"] for r in got.webhook]
    assert len(set(revisions)) == 2
    assert env.events("NotificationFailed") == []


async def test_deliveries_beyond_the_bound_wait_and_are_sent_later() -> None:
    """At most ``max_pending`` deliveries at once; the others wait, and go once a slot
    frees (here the first fails for good: nothing else changes on the Rollout)."""
    env = Env()
    async with receiver() as got:
        await configure(env, got)
        got.gate = anyio.Event()
        got.fail, got.failing = 1, ("/hooks",)
        await env.cluster.create(
            subscribe(
                canary_rollout(), **{"on-rollout-completed.ci": "", "on-rollout-completed.team": ""}
            )
        )
        async with env.running(max_pending=1, attempts=1) as notifier:
            await until("one delivery held", lambda: got.requests == 1)
            await anyio.sleep(0.2)  # what a second delivery would need to get there
            assert got.requests == 1 and len(notifier._deliveries) == 1
            got.gate.set()
            await until("the second sent", lambda: len(got.incoming) == 1)
            await until("idle", lambda: notifier.idle)
    assert env.counted("sent") == 1 and env.counted("failed") == 1


async def test_a_delivery_that_keeps_failing_is_an_event_and_a_metric_never_a_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    env = Env()
    async with receiver() as got:
        await configure(env, got)
        # 503, echoing the request's secrets back; the incoming webhook's URL is one
        got.fail, got.failing = 1000, ("/hooks", "/services")
        await env.cluster.create(
            subscribe(
                canary_rollout(),
                **{
                    "on-rollout-completed.ci": "",
                    "on-rollout-completed.team": "",
                    "on-rollout-completed.slack": "nowhere",
                },
            )
        )
        async with env.running(attempts=3):
            await until("all given up", lambda: len(env.events("NotificationFailed")) == 3)
            await until("idle", lambda: env.notifier is not None and env.notifier.idle)
    failed = sorted(env.events("NotificationFailed"))
    for message, service in zip(failed, ("ci", "slack", "team"), strict=True):
        assert message.startswith(f"on-rollout-completed to {service}")
    assert failed[0].startswith("on-rollout-completed to ci: HTTP 503 (text/plain, ")
    assert failed[0].endswith("bytes) (after 3 attempts)")
    assert failed[1] == "on-rollout-completed to slack:nowhere: Slack: channel_not_found"
    assert env.counted("failed") == 3 and env.counted("retried") == 4
    assert env.counted("sent") == 0
    said = " ".join(e["message"] for e in env.cluster.objects("v1", "Event")) + caplog.text
    assert "channel_not_found" in said and "HTTP 503" in said
    assert 'POST *** "HTTP/1.1 503' in caplog.text  # httpx logs the secret URL: masked
    for value in SECRETS:
        assert value not in said
    notified = await env.notified()
    assert all(k.startswith("~") for k in notified)  # nothing recorded as sent


async def test_a_restart_before_delivery_delivers_once_and_after_it_never_again() -> None:
    env = Env()
    async with receiver() as got:
        await configure(env, got)
        got.fail = 1000
        await env.cluster.create(subscribe(canary_rollout(), **{"on-rollout-completed.ci": ""}))
        # 1. the trigger fires, the receiver refuses; the controller stops before a retry
        async with env.running(backoff=(60.0, 60.0), attempts=100):
            await until("an attempt", lambda: got.requests == 1)
            assert got.webhook == []
        assert [k for k in await env.notified() if not k.startswith("~")] == []
        # 2. a new controller: the condition still holds, nothing recorded: sent, once
        got.fail = 0
        async with env.running() as notifier:
            await until("delivered", lambda: len(got.webhook) == 1)
            await until("recorded", lambda: notifier.idle)
        assert len([k for k in await env.notified() if not k.startswith("~")]) == 1
        # 3. and again: recorded as sent, so nothing goes out
        async with env.running() as notifier:
            await until("looked at", lambda: notifier.looks >= 1 and notifier.idle)
            await anyio.sleep(0.1)
        assert len(got.webhook) == 1 and got.requests == 2


async def test_a_new_subscription_sends_nothing_until_something_changes() -> None:
    env = Env()
    async with receiver() as got:
        await configure(env, got)
        await env.cluster.create(canary_rollout(steps=STEPS))
        async with env.running() as notifier:
            await until("Healthy", env.healthy)
            ref = Ref(ARGO, "Rollout", "default", "web")
            await env.cluster.patch(
                ref, subscribe({"metadata": {}}, **{"on-rollout-completed.ci": ""})
            )
            await until(
                "subscribed",
                lambda: (
                    "~on-rollout-completed:ci:"
                    in json.dumps(
                        env.cluster.objects(ARGO, "Rollout")[0]["metadata"]["annotations"]
                    )
                ),
            )
            await until("idle", lambda: notifier.idle)
            assert got.webhook == []  # Healthy since before: taken as sent
            await env.update("example/web:2.0")
            await until("the update notified", lambda: len(got.webhook) == 1)


async def test_an_abort_is_notified_once() -> None:
    env = Env()
    async with receiver() as got:
        await configure(env, got)
        steps = [{"setWeight": 25}, {"pause": {}}]
        await env.cluster.create(
            subscribe(canary_rollout(steps=steps), **{"on-rollout-aborted.team": ""})
        )
        async with env.running() as notifier:
            await until("Healthy", env.healthy)
            await env.update("example/web:2.0")
            ref = Ref(ARGO, "Rollout", "default", "web")
            await until("paused", lambda: _paused(env))
            await env.cluster.patch(ref, {"status": {"abort": True}})
            await until("aborted notified", lambda: len(got.incoming) == 1)
            await until("idle", lambda: notifier.idle)
    assert got.incoming[0]["text"] == "Rollout web has been aborted."


async def _paused(env: Env) -> bool:
    return bool(((await env.rollout()).get("status") or {}).get("pauseConditions"))


async def test_problems_are_events_on_the_configmap_and_on_the_rollout() -> None:
    env = Env()
    async with receiver() as got:
        await configure(
            env,
            got,
            **{
                "trigger.on-broken": "- when: rollout.status.phase ==\n  send: [rollout-paused]",
                "template.leaky": "message: '{{ .secrets.token }}'",
                "service.email": "host: smtp.example.com",
            },
        )
        await env.cluster.create(
            subscribe(
                canary_rollout(),
                **{
                    "on-nothing.ci": "",
                    "on-rollout-completed.pager": "",
                    "on-rollout-completed.ci": "",
                },
            )
        )
        async with env.running() as notifier:
            await until("delivered", lambda: len(got.webhook) == 1)
            await until("idle", lambda: notifier.idle)
    (config,) = env.events("NotificationConfigInvalid")
    assert config.startswith("3 problems: ")
    assert "template.leaky.message: reads .secrets, which progressive does not provide" in config
    assert "trigger.on-broken[0]: unexpected end of expression" in config
    assert "service.email: service type email is not supported (webhook, slack)" in config
    event = next(
        e for e in env.cluster.objects("v1", "Event") if e["reason"] == "NotificationConfigInvalid"
    )
    assert event["involvedObject"]["kind"] == "ConfigMap"
    assert sorted(env.events("NotificationInvalid")) == [
        "service pager is not configured",
        "trigger on-nothing is not configured",
    ]


async def test_the_example_of_the_docs_reads_without_a_problem() -> None:
    """docs/notifications.md's ConfigMap and Secret, as a user copies them."""
    text = DOCS.read_text()
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "kind: ConfigMap" in b]
    cluster = MemoryCluster()
    for obj in yaml.safe_load_all(block):
        await cluster.create(obj)
    config = await load_config(cluster, NAMESPACE)
    assert config is not None and config.problems == ()
    assert set(config.services) == {"ci", "slack", "team"}
    assert set(config.notification.triggers) == {
        "on-rollout-completed",
        "on-rollout-step-completed",
        "on-purple",
    }
    assert config.secrets == {
        "<token>",
        "xoxb-<token>",
        "https://hooks.slack.com/services/<secret path>",
    }
