"""progressive's own controller, unchanged, releasing a Rollout that needs the installed
plugins: Contour routes its traffic (progressive-contour-router) and Graphite judges it
(progressive-graphite-provider).  Nothing here names a plugin: the controller finds
them through their entry points.  On the in-memory cluster with a virtual clock, so the
release takes milliseconds.

    pip install ./progressive-contour-router ./progressive-graphite-provider
    python release.py http://graphite.example:8080

Prints the story, then the HTTPProxy's weights and the phase; exits 0 when Healthy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import yaml

from progressive import Rollout
from progressive.clusters import Ref
from progressive.core import Plan
from progressive.memory import MemoryCluster
from progressive.shell import Controller, VirtualClock

HERE = Path(__file__).resolve().parent
SHOWN = ("SetWeight", "AnalysisRunRunning", "AnalysisSuccessful", "AnalysisFailed", "Aborted")


def documents(graphite: str) -> list[dict[str, Any]]:
    """The Contour example's Rollout, HTTPProxy and Services, with the Graphite
    example's AnalysisTemplate as a step."""
    contour_file = HERE / "progressive-contour-router" / "rollout.yaml"
    contour = list(yaml.safe_load_all(contour_file.read_text()))
    text = (HERE / "progressive-graphite-provider/rollout.yaml").read_text()
    template = next(
        d for d in yaml.safe_load_all(text.replace("GRAPHITE", graphite))
        if d["kind"] == "AnalysisTemplate"
    )
    rollout = next(d for d in contour if d["kind"] == "Rollout")
    rollout["spec"]["strategy"]["canary"]["steps"].insert(
        1, {"analysis": {"templates": [{"templateName": "error-ratio"}]}}
    )
    return [*contour, template]


async def release(graphite: str) -> tuple[list[str], str]:
    clock = VirtualClock()
    cluster = MemoryCluster(clock)
    for doc in documents(graphite):
        await cluster.create(doc)
    lines: list[str] = []

    def on_plan(rollout: Rollout, plan: Plan) -> None:
        for action in plan.actions:
            if getattr(action, "reason", None) in SHOWN:
                lines.append(f"{action.reason}: {action.message}")  # type: ignore[attr-defined]

    controller = Controller(cluster, clock=clock, on_plan=on_plan)
    await controller.settle(wakeup=cluster.next_event_at)  # the first revision
    lines.clear()
    ref = Ref("argoproj.io/v1alpha1", "Rollout", "default", "shop")
    template = (await cluster.get(ref) or {})["spec"]["template"]
    template["spec"]["containers"][0]["image"] = "registry.example/shop:2"
    await cluster.patch(ref, {"spec": {"template": template}})
    await controller.settle(wakeup=cluster.next_event_at)
    proxy = await cluster.get(Ref("projectcontour.io/v1", "HTTPProxy", "default", "shop"))
    final = await cluster.get(ref)
    assert proxy is not None and final is not None
    weights = {s["name"]: s["weight"] for s in proxy["spec"]["routes"][0]["services"]}
    lines.append(f"HTTPProxy weights {weights}")
    return lines, final["status"]["phase"]


def main(argv: list[str]) -> int:
    lines, phase = anyio.run(release, argv[1])
    print("\n".join([*lines, f"phase {phase}"]))
    return 0 if phase == "Healthy" else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
