"""Notifications on the real control plane: Argo's ConfigMap and Secret and the
subscription annotations, as a user writes them, with the rights of an install with
``--notifications`` (refused nothing), delivered to a real receiver on 127.0.0.1 standing
in for a generic webhook and Slack; a second controller sends nothing again."""

from __future__ import annotations

import json
from typing import Any

import pytest

from progressive import client
from progressive._cluster import LocalControlPlane
from progressive._clusters import Ref
from progressive._shell.clocks import WallClock
from progressive._shell.kube import KubeCluster
from progressive._shell.notifier import Notifier

from ..shell.notify_helpers import HEADER_SECRET, TOKEN, configmap, receiver, secret, subscribe
from ._e2e import (
    GROUP,
    controller,
    create_all,
    narrowed,
    phase_is,
    refused_nothing,
    rollout,
    running,
    services,
    until,
)

pytestmark = pytest.mark.kube

NOTIFIED = "notified.notifications.progressive.dev"


async def test_argo_notification_config_delivers_on_a_real_cluster(
    kube: KubeCluster, control_plane: LocalControlPlane, namespace: str
) -> None:
    async with (
        receiver() as got,
        narrowed(kube, control_plane, namespace, notifications=True) as config,
        refused_nothing(config, namespace) as sa,
    ):
        # the controller's own namespace is the test's (narrowed homes the install there)
        await create_all(kube, configmap(got.url, namespace=namespace))
        await create_all(kube, secret(got.url, namespace=namespace))
        steps = [{"setWeight": 25}, {"pause": {"duration": "1s"}}]
        manifest = subscribe(
            rollout(namespace, steps=steps),
            **{
                "on-rollout-completed.ci": "",
                "on-rollout-step-completed.slack": "deploys",
                "on-rollout-paused.team": "",
            },
        )
        await create_all(kube, *services(namespace), manifest)

        def notifier() -> Notifier:
            return Notifier(sa, namespace=namespace, clock=WallClock(), backoff=(0.1, 1.0))

        first = notifier()
        async with running(controller(sa, namespace, notifier=first)):
            await until("the first revision notified", lambda: _count(got.webhook, 1))
            await client.set_image(kube, namespace, "web", "app", "example.invalid/web:2")
            await until(
                "Healthy at web:2",
                lambda: phase_is(kube, namespace, "Healthy", image="example.invalid/web:2"),
            )
            await until(
                "everything delivered",
                lambda: _count(got.webhook, 2, got.slack, 2, got.incoming, 1),
            )
            await until("recorded", lambda: _true(first.idle))
        stored = await kube.get(Ref(GROUP, "Rollout", namespace, "web"))
        assert stored is not None
        notified = json.loads(stored["metadata"]["annotations"][NOTIFIED])
        assert sum(not k.startswith("~") for k in notified) == 2 + 2  # the pause's went with it

        # a new controller (a restart): what was recorded is not sent again
        second = notifier()
        async with running(controller(sa, namespace, notifier=second)):
            await until("looked at", lambda: _true(second.looks >= 1 and second.idle))
        assert (len(got.webhook), len(got.slack), len(got.incoming)) == (2, 2, 1)

    assert [m["text"] for m in got.slack] == [
        f"Rollout web step number {n}/2 has been completed." for n in (1, 2)
    ]
    assert all(m["channel"] == "deploys" for m in got.slack)
    assert got.webhook[1].headers["authorization"] == f"Bearer {HEADER_SECRET}"
    assert json.loads(got.webhook[1].body)["revision"] == stored["status"]["currentPodHash"]
    assert got.incoming[0]["text"] == "Rollout web has been paused."
    said = [e.get("message", "") for e in await kube.list("v1", "Event", namespace)]
    assert not [m for m in said if "Notification" in m or TOKEN in m]
    reasons = {e["reason"] for e in await kube.list("v1", "Event", namespace)}
    assert not reasons & {"NotificationFailed", "NotificationInvalid", "NotificationConfigInvalid"}


async def _count(*pairs: Any) -> bool:
    """``_count(a, 1, b, 2)``: len(a) >= 1 and len(b) >= 2."""
    return all(len(pairs[i]) >= pairs[i + 1] for i in range(0, len(pairs), 2))


async def _true(value: bool) -> bool:
    return value
