"""``progressive --memory dashboard`` in a real browser (Debian's headless Chromium): the
list and the page of a Rollout, the buttons changing the phase, live updates from a
command run elsewhere, cluster text shown as text, and the actions' guards.

The screenshots in docs/dashboard.md are taken here (docs/images/dashboard-*.png): the
in-memory cluster's clock is virtual, so they come out the same on every run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from progressive._shell import Controller, VirtualClock
from progressive.memory import MemoryCluster
from progressive.metrics import ScriptedProvider
from tests.browser import (
    attributes_of,
    chromium,
    dashboard,
    press,
    screenshot,
    status_is,
    text_of,
    texts_of,
    wait_for,
)

ARGO = "argoproj.io/v1alpha1"
XSS_STEP = "<img src=x onerror=window.__pwned=1>"
XSS_EVENT = "<script>window.__pwned = 2</script><b>bold?</b>"


def rollout(name: str, steps: list[dict[str, Any]], replicas: int = 5) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": ARGO,
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": f"example/{name}:1.0"}]},
            },
            "strategy": {"canary": {"steps": steps}},
        },
    }


TEMPLATE = {
    "apiVersion": ARGO,
    "kind": "AnalysisTemplate",
    "metadata": {"name": "success-rate", "namespace": "default"},
    "spec": {
        "metrics": [
            {
                "name": "success-rate",
                "interval": "1m",
                "count": 5,
                "successCondition": "result >= 0.9",
                "provider": {"prometheus": {"address": "http://prometheus:9090", "query": "q"}},
            }
        ]
    },
}


async def build() -> dict[str, Any]:
    """The state of three Rollouts, on a virtual clock:

    * ``web``: updated to 2.0, its analysis passed (five measurements over four
      minutes), paused at ``pause: {}`` before 80% -- for the screenshots;
    * ``api``: updated, paused at its first step -- for the buttons;
    * ``xss``: a spec whose error echoes markup, and an Event carrying a script.
    """
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    await cluster.create(TEMPLATE)
    analysis = {"analysis": {"templates": [{"templateName": "success-rate"}]}}
    web = [{"setWeight": 20}, analysis, {"setWeight": 40}, {"pause": {}}, {"setWeight": 80}]
    api = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "30s"}}]
    await cluster.create(rollout("web", web))
    await cluster.create(rollout("api", api, replicas=3))
    await cluster.create(rollout("xss", [{"setWeight": XSS_STEP}], replicas=1))
    provider = ScriptedProvider({"success-rate": [0.99, 0.97, 0.985, 0.95, 0.965]})
    controller = Controller(cluster, clock=clock, provider=provider)

    async def settle() -> None:
        await controller.settle(until=clock.now() + 3600, wakeup=cluster.next_event_at)

    await settle()
    for name in ("web", "api"):
        from progressive import client

        await client.set_image(cluster, "default", name, name, f"example/{name}:2.0")
    await settle()
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "xss.1", "namespace": "default"},
            "involvedObject": {"kind": "Rollout", "name": "xss", "namespace": "default"},
            "type": "Warning",
            "reason": "Injected",
            "message": XSS_EVENT,
            "lastTimestamp": "2023-11-14T22:20:00Z",
        }
    )
    return cluster.dump()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "memory.json"
    path.write_text(json.dumps(anyio.run(build)), encoding="utf-8")
    return path


@pytest.fixture
def url(state: Path) -> Iterator[str]:
    with dashboard("--memory-state", str(state)) as served:
        yield served


def stored_phase(state: Path, name: str) -> str:
    cluster = MemoryCluster.load(json.loads(state.read_text()))
    (found,) = [o for o in cluster.objects(ARGO, "Rollout") if o["metadata"]["name"] == name]
    return str(found["status"]["phase"])


def row(driver: WebDriver, name: str) -> list[str]:
    return texts_of(driver, f'tr[data-rollout="default/{name}"] td')


def test_the_list_and_a_rollout_page_as_the_docs_show_them(browser: WebDriver, url: str) -> None:
    browser.get(url)
    wait_for(browser, "the web row", lambda d: row(d, "web"))
    assert row(browser, "web")[:7] == ["default", "web", "Canary", "‖ Paused", "3/5", "40", "40"]
    assert row(browser, "api")[3:7] == ["‖ Paused", "1/4", "20", "33"], "1 pod of 3"
    assert row(browser, "xss")[3] == "✖ Degraded"
    wait_for(browser, "the stream", lambda d: text_of(d, "#live") == "live")
    screenshot(browser, "dashboard-rollouts")

    browser.find_element(By.LINK_TEXT, "web").click()
    wait_for(browser, "the web page", lambda d: status_is(d, "Paused"))
    assert texts_of(browser, "ol.steps li") == [
        "Set weight 20%",
        "Analysis: success-rate",
        "Set weight 40%",
        "Pause until promoted",
        "Set weight 80%",
    ]
    states = attributes_of(browser, "ol.steps li", "class")
    assert states == ["done", "done", "done", "current", "next"]
    facts = dict(
        zip(
            attributes_of(browser, "dd[data-fact]", "data-fact"),
            texts_of(browser, "dd[data-fact]"),
            strict=True,
        )
    )
    assert facts["Set weight"] == "40%" and facts["Actual weight"] == "40%"
    assert facts["Paused"] == "CanaryPauseStep"
    # the analysis: five measurements plotted over time, each coloured by its phase
    dots = '[data-metric="success-rate"] svg circle'
    assert attributes_of(browser, dots, "class") == ["Successful"] * 5
    heights = [float(y or 0) for y in attributes_of(browser, dots, "cy")]
    assert heights.index(max(heights)) == 3, "0.95, the lowest value, is drawn lowest"
    tree = text_of(browser, "ul.tree")
    assert "revision:2" in tree and "revision:1" in tree and "canary" in tree
    reasons = texts_of(browser, "#events tr td:nth-child(2)")
    assert "AnalysisRunSuccessful" in reasons or "Paused" in reasons, reasons
    screenshot(browser, "dashboard-rollout")


def test_abort_retry_and_promote_change_the_phase(
    browser: WebDriver, url: str, state: Path
) -> None:
    browser.get(f"{url}rollouts/default/api")
    wait_for(browser, "api Paused", lambda d: status_is(d, "Paused"))
    press(browser, "abort")
    wait_for(browser, "api Degraded after abort", lambda d: status_is(d, "Degraded"))
    assert "rollout 'api' aborted" in text_of(browser, "#toast")
    assert stored_phase(state, "api") == "Degraded"
    press(browser, "retry")
    wait_for(browser, "api Paused after retry", lambda d: status_is(d, "Paused"))
    press(browser, "promote")
    wait_for(browser, "api Healthy after promote", lambda d: status_is(d, "Healthy"))
    assert stored_phase(state, "api") == "Healthy", "the 30s pause passed in virtual time"
    assert text_of(browser, 'dd[data-fact="Image"]') == "example/api:2.0 (stable)"


def test_a_command_run_elsewhere_shows_up_without_a_reload(
    browser: WebDriver, url: str, state: Path
) -> None:
    browser.get(url)
    wait_for(browser, "the api row", lambda d: row(d, "api")[3:4] == ["‖ Paused"])
    marker = browser.execute_script("return window.__marker = 'same page'")
    done = subprocess.run(
        [sys.executable, "-m", "progressive", "--memory-state", str(state), "promote", "api"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    wait_for(browser, "api Healthy in the list", lambda d: row(d, "api")[3:4] == ["✔ Healthy"])
    assert browser.execute_script("return window.__marker") == marker, "no reload"


def test_text_from_the_cluster_is_shown_as_text_never_run(browser: WebDriver, url: str) -> None:
    browser.get(f"{url}rollouts/default/xss")
    wait_for(browser, "the xss page", lambda d: status_is(d, "Degraded"))
    message = text_of(browser, "#message")
    assert message.endswith(f"must be an integer, got '{XSS_STEP}'"), message
    wait_for(browser, "the Event", lambda d: XSS_EVENT in text_of(d, "#events"))
    assert browser.execute_script("return window.__pwned") is None
    assert browser.find_elements(By.CSS_SELECTOR, "main script, main img, main b") == []
    browser.get(url)
    wait_for(browser, "the xss row", lambda d: XSS_STEP in " ".join(row(d, "xss")))
    assert browser.execute_script("return window.__pwned") is None


def test_an_action_needs_the_pages_header_and_origin(url: str, state: Path) -> None:
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as http:
        page = http.get("/")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert http.get("/", headers={"Host": "evil.example"}).status_code == 400
        promote = "/api/rollouts/default/api/promote"
        assert http.post(promote).status_code == 403, "a plain form post"
        header = {"X-Progressive-Dashboard": "1"}
        other = http.post(promote, headers={**header, "Origin": "http://evil.example"})
        assert other.status_code == 403 and "own page" in other.json()["error"]
        assert stored_phase(state, "api") == "Paused", "nothing was done"
        missing = http.post("/api/rollouts/default/nope/abort", headers=header)
        assert missing.status_code == 404
        assert missing.json() == {"error": 'rollout "nope" not found in namespace "default"'}
        assert http.post("/api/rollouts/default/api/explode", headers=header).status_code == 404
        done = http.post(promote, headers={**header, "Origin": url.rstrip("/")})
        assert done.json() == {"message": "rollout 'api' promoted"}
    assert stored_phase(state, "api") == "Healthy"
