"""Secrets never reach a status, an Event or a log line, whatever the metric server
answers: servers on 127.0.0.1 that echo the request (headers, URL, body) as text or as
JSON, and a URL carrying a token to a port nobody listens on, measured through the whole
controller on the in-memory cluster."""

from __future__ import annotations

import base64
import json
import logging
import socket
import string
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from progressive._shell import Controller, Ref, VirtualClock
from progressive.memory import MemoryCluster
from progressive.metrics import set_testing
from progressive.metrics._secrets import Redactor

from ..http_servers import echo, serve
from .helpers import canary_rollout, with_image

ARGO = "argoproj.io/v1alpha1"
TOKEN = "tok-3f9c1e77-Secret"
PASSWORD = "pw hunter2/Secret!"  # URL-encodes two ways
BASIC = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()


def forms(value: str) -> set[str]:
    quoted = {urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    return {value, json.dumps(value)[1:-1], *quoted}


LEAKS = forms(TOKEN) | forms(PASSWORD) | {BASIC}


def secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "default"},
        "data": {
            "token": base64.b64encode(TOKEN.encode()).decode(),
            "password": base64.b64encode(PASSWORD.encode()).decode(),
        },
    }


def template(text_echo: str, json_echo: str, closed: str) -> dict[str, Any]:
    password = {"secretKeyRef": {"name": "creds", "key": "password"}}

    def web(**config: Any) -> dict[str, Any]:
        return {"web": {"timeoutSeconds": 2, **config}}

    return {
        "apiVersion": ARGO,
        "kind": "AnalysisTemplate",
        "metadata": {"name": "check", "namespace": "default"},
        "spec": {
            "args": [
                {"name": "token", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}
            ],
            # the echoes in dry-run, so that each is measured: the run ends with the
            # first metric that fails, and the Rollout shows why
            "dryRun": [{"metricName": "echo-.*"}],
            "metrics": [
                {  # a 401 whose body is the request: URL, Authorization header, body
                    "name": "echo-text",
                    "consecutiveErrorLimit": 0,
                    "provider": web(
                        url=text_echo + "/check?token={{args.token}}",
                        method="POST",
                        headers=[{"key": "Authorization", "value": "Bearer {{args.token}}"}],
                        jsonBody={"token": "{{args.token}}"},
                    ),
                },
                {  # a 200 echoing the request as JSON: the measured value is the secret
                    "name": "echo-header",
                    "successCondition": "result == 'nope'",
                    "provider": web(
                        url=json_echo,
                        headers=[{"key": "X-Api-Key", "value": password}],
                        jsonPath="$.headers['x-api-key']",
                    ),
                },
                {  # the same for a basic-auth header built from the secret
                    "name": "echo-basic",
                    "successCondition": "result == 'nope'",
                    "provider": web(
                        url=json_echo,
                        authentication={"basicAuth": {"username": "admin", "password": password}},
                        jsonPath="$.headers.authorization",
                    ),
                },
                {  # nobody listens: the error names the URL, token and all
                    "name": "unreachable",
                    "consecutiveErrorLimit": 0,
                    "provider": web(url=closed + "/?token={{args.token}}"),
                },
            ],
        },
    }


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def no_retry_waits() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


async def test_an_echoing_server_gets_no_secret_into_status_events_or_logs(
    caplog: pytest.LogCaptureFixture, no_retry_waits: None
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    async with serve(echo(401)) as text_echo, serve(echo(200, as_json=True)) as json_echo:
        await cluster.create(secret())
        await cluster.create(template(text_echo.url, json_echo.url, closed_port()))
        steps = [{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "check"}]}}]
        manifest = canary_rollout("web", replicas=2, steps=steps)
        await cluster.create(manifest)
        controller = Controller(cluster, clock=clock)
        await controller.settle(wakeup=cluster.next_event_at, until=clock.now() + 600)
        await cluster.patch(
            Ref(ARGO, "Rollout", "default", "web"),
            {"spec": {"template": with_image(manifest, "web:2")["spec"]["template"]}},
        )
        await controller.settle(wakeup=cluster.next_event_at, until=clock.now() + 600)
    # the servers did get the secrets...
    assert TOKEN in text_echo.requests[0].text()
    assert {r.headers.get("x-api-key") for r in json_echo.requests} >= {PASSWORD}
    # ...the measurements happened and the rollout was aborted with the reasons...
    (run,) = cluster.objects(ARGO, "AnalysisRun")
    results = {r["name"]: r for r in run["status"]["metricResults"]}
    assert results["echo-header"]["measurements"][0]["value"] == "***"
    assert results["echo-basic"]["measurements"][0]["value"] == "Basic ***"
    assert "HTTP 401 (text/plain" in results["echo-text"]["measurements"][0]["message"]
    unreachable = results["unreachable"]["measurements"][0]["message"]
    assert "/?token=***: ConnectError" in unreachable, unreachable
    # the run's verdict reached the Rollout and its Events, masked
    rollout = cluster.objects(ARGO, "Rollout")[0]
    assert rollout["status"]["phase"] == "Degraded"
    assert "token=***" in rollout["status"]["message"], rollout["status"]["message"]
    events = [e["message"] for e in cluster.objects("v1", "Event")]
    assert [m for m in events if "token=***" in m], events
    # ...and no secret, in any form, is anywhere but in the Secret
    stored = json.dumps([o for o in cluster.dump()["objects"] if o["kind"] != "Secret"])
    assert not [leak for leak in LEAKS if leak in stored]
    logged = caplog.text
    assert "HTTP Request" in logged  # httpx logs every request...
    assert not [leak for leak in LEAKS if leak in logged]  # ...scrubbed


# -- the redactor alone --------------------------------------------------------------------

TEXT = st.text(alphabet="ab*#~-" + string.digits, max_size=30)


@given(st.lists(st.text(alphabet="ab*#~", min_size=1, max_size=4), max_size=4), TEXT)
def test_scrubbing_leaves_no_secret_and_scrubbing_again_changes_nothing(
    secrets: list[str], text: str
) -> None:
    redactor = Redactor()
    for value in secrets:
        redactor.add(value)
    once = redactor.scrub(text)
    assert not [s for s in secrets if s in once]
    assert redactor.scrub(once) == once


def test_a_secret_is_masked_as_is_trimmed_json_escaped_and_url_encoded() -> None:
    redactor = Redactor()
    redactor.add(' s3cr"et/x \n')
    text = 'a s3cr"et/x b s3cr\\"et/x c s3cr%22et%2Fx d s3cr%22et/x e s3cr%22et%2Fx+ f'
    assert redactor.scrub(text) == "a *** b *** c *** d *** e ***+ f"
    assert redactor.scrub_json({"v": ['s3cr"et/x', 1, None]}) == {"v": ["***", 1, None]}
