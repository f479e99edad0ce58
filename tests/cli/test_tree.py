"""``get rollout``'s header and tree, and ``list rollouts``, drawn from hand-built objects
at a fixed moment: snapshot tests (tests/cli/snapshots/, regenerated with
PROGRESSIVE_UPDATE_SNAPSHOTS=1), plus the rules behind the pictures."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from progressive.cli._info import human_duration, rollout_info, summarize
from progressive.cli._tree import render_list, render_rollout
from tests.cli import plugin_objects as objs


@pytest.mark.parametrize("name", ["canary_paused", "blue_green_preview", "canary_aborted", "fresh"])
def test_get_rollout_snapshots(name: str, snapshot: Callable[[str, str], None]) -> None:
    rollout, objects = getattr(objs, name)()
    info = rollout_info(rollout, objects, now=objs.NOW)
    snapshot(f"get-rollout-{name.replace('_', '-')}", render_rollout(info).plain)


def test_list_rollouts_snapshots(snapshot: Callable[[str, str], None]) -> None:
    rows = []
    for build in (objs.canary_paused, objs.blue_green_preview, objs.canary_aborted, objs.fresh):
        rollout, objects = build()
        rows.append(summarize(rollout, objects, now=objs.NOW))
    snapshot("list-rollouts", render_list(rows, all_namespaces=False, wide=False).plain)
    snapshot("list-rollouts-wide-all", render_list(rows, all_namespaces=True, wide=True).plain)


def test_the_canary_tree_says_what_argo_says() -> None:
    rollout, objects = objs.canary_paused()
    info = rollout_info(rollout, objects, now=objs.NOW)
    s = info.summary
    assert (s.status, s.message, s.strategy) == ("Paused", "CanaryPauseStep", "Canary")
    assert (s.step, s.set_weight) == ("3/6", "20")
    # a basic canary's actual weight: the canary's share of the available pods
    assert s.actual_weight == str(1 * 100 // 4)
    assert s.images == (("example/shop:2", ("stable",)), ("example/shop:3", ("canary",)))
    revisions = [c.name for c in info.tree.children]
    assert revisions == ["revision:3", "revision:2", "revision:1"], "newest first"
    rev3 = info.tree.children[0]
    assert [c.kind for c in rev3.children] == ["ReplicaSet", "Experiment", "AnalysisRun"]
    run = rev3.children[2]
    assert run.info == "✔ 5,✖ 1,? 1,⚠ 1", "the measurements of every metric, summed"
    assert [(j.kind, j.status) for j in run.children] == [("Job", "Successful")]
    stable = info.tree.children[1].children[0]
    assert stable.info == "stable"
    crashing = stable.children[-1]
    assert (crashing.status, crashing.status_icon, crashing.info) == (
        "CrashLoopBackOff",
        "✖",
        "ready:0/1,restarts:7",
    )
    old = info.tree.children[2].children[0]
    assert (old.status, old.status_icon) == ("ScaledDown", "•")


def test_blue_green_roles_and_the_scale_down_delay() -> None:
    rollout, objects = objs.blue_green_preview()
    info = rollout_info(rollout, objects, now=objs.NOW)
    infos = {c.children[0].name: c.children[0].info for c in info.tree.children}
    assert infos == {
        "pay-n3wn3w": "preview",
        "pay-4ct1v3": "stable,active",
        "pay-l34v1n": "delay:25s",
    }
    assert info.summary.step is None and info.summary.set_weight is None
    assert info.summary.images == (
        ("example/pay:4", ("stable", "active")),
        ("example/pay:5", ("preview",)),
    )


def test_an_aborted_routed_canary_shows_weight_zero_and_the_passed_delay() -> None:
    rollout, objects = objs.canary_aborted()
    info = rollout_info(rollout, objects, now=objs.NOW)
    assert (info.summary.set_weight, info.summary.actual_weight) == ("0", "0")
    assert info.tree.children[0].children[0].info == "canary,delay:passed"


def test_an_unobserved_spec_is_progressing() -> None:
    rollout, objects = objs.canary_paused()
    rollout["metadata"]["generation"] = 4  # edited since the controller last looked
    summary = summarize(rollout, objects, now=objs.NOW)
    assert (summary.status, summary.message) == (
        "Progressing",
        "waiting for rollout spec update to be observed",
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "<invalid>"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (50 * 3600, "2d2h"),
        (10 * 86400, "10d"),
        (3 * 365 * 86400, "3y"),
    ],
)
def test_ages_read_as_kubectl_shows_them(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_json_has_the_header_and_the_tree() -> None:
    rollout, objects = objs.canary_paused()
    data = rollout_info(rollout, objects, now=objs.NOW).to_json()
    assert data["status"] == "Paused" and data["step"] == "3/6"
    assert data["replicas"] == {
        "desired": 5,
        "current": 5,
        "updated": 1,
        "ready": 4,
        "available": 4,
    }
    assert data["tree"]["kind"] == "Rollout"
    assert data["tree"]["children"][0]["name"] == "revision:3"
