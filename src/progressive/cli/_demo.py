"""``progressive demo``: the seed article's custom strategy, live in the terminal.

Two releases of a demo storefront run on the in-memory cluster with a virtual clock:
the first passes its smoke tests and its SLO burn-rate gate and is promoted; the
second burns the error budget once it takes real traffic and rolls back by itself.
Virtual minutes are shown in fractions of a wall second, so both take well under
30 seconds on a terminal; when the output is not one (a CI log, a file) they run as
fast as they can.

With ``--prometheus`` the burn rate is real: a Prometheus server (found where
``scripts/install-prometheus`` puts it) and the demo app (:mod:`progressive._demo.app`)
start on loopback ports; the app serves the canary's traffic under its pod-template
hash, at 0.05% errors for the first release (half the 99.9% SLO's budget rate) and 3%
for the second (30x); the burn-rate gate is the counters gate of
:func:`progressive.metrics.burn_rate_template`, measured by the Prometheus provider,
and the smoke tests run as a simulated Job.  Both are stopped at the end.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import click
import yaml
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .._simulation import SimulationResult, TimelineRecord, run_simulation
from ..core import Rollout
from ..core._steps import step_label
from ._console import make_console

__all__ = ["demo"]

ICONS = {"Healthy": "✔", "Progressing": "◌", "Paused": "॥", "Degraded": "✖"}
STYLES = {"Healthy": "green", "Progressing": "yellow", "Paused": "cyan", "Degraded": "red"}
EVENT_TEXT = {
    "RolloutUpdated": "new revision: the canary stack is created",
    "NewReplicaSet": "ReplicaSet created",
    "SetHeaderRoute": "header route X-Canary: true -> canary (weight still 0)",
    "AnalysisStarted": "analysis started",
    "AnalysisSuccessful": "analysis passed",
    "AnalysisFailed": "analysis FAILED",
    "AnalysisError": "analysis could not measure",
    "Paused": "pause",
    "Resumed": "pause over",
    "SetWeight": "traffic weight changed",
    "Promoted": "promoted: the new revision is stable",
    "Aborted": "ABORTED: traffic back to the stable revision",
    "ScaledDown": "old stack scaled down",
}
#: virtual seconds per wall second on a terminal
DEFAULT_SPEED = 40.0
# --prometheus: the SLO, and the canary's error ratio in each release
SLO_OBJECTIVE = 0.999
RELEASE_ERROR_RATES = (0.0005, 0.03)


def _load(name: str) -> Any:
    text = resources.files("progressive").joinpath("_demo", name).read_text()
    return list(yaml.safe_load_all(text)) if name == "rollout.yaml" else yaml.safe_load(text)


def _release(documents: list[dict[str, Any]], image: str) -> list[dict[str, Any]]:
    out = copy.deepcopy(documents)
    for doc in out:
        if doc.get("kind") == "Rollout":
            doc["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return out


class _View:
    """The live panel: where the rollout is, where traffic goes, what just happened."""

    def __init__(self, title: str, rollout: Rollout) -> None:
        self.title = title
        self.rollout = rollout
        self.record: TimelineRecord | None = None
        self.log: list[str] = []

    def update(self, record: TimelineRecord) -> None:
        self.record = record
        if record.event:
            minutes, seconds = divmod(int(record.t), 60)
            text = EVENT_TEXT.get(record.event, record.event)
            if record.event == "SetWeight":
                text = (
                    f"{record.weight}% of the traffic to the canary"
                    if record.weight < 100
                    else "all traffic on the new revision"
                )
                if record.weight_note:
                    text += f" ({record.weight_note})"
            elif record.event == "ScaledDown" and record.phase == "Degraded":
                text = "canary stack scaled down"
            self.log.append(f"{minutes:02d}:{seconds:02d}  {text}")

    def render(self) -> Panel:
        r = self.record
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        if r is not None:
            style = STYLES.get(r.phase, "white")
            table.add_row("Status", Text(f"{ICONS.get(r.phase, '?')} {r.phase}", style=style))
            steps = self.rollout.canary.steps if self.rollout.canary else ()
            label = step_label(steps[r.step]) if r.step is not None and r.step < len(steps) else ""
            table.add_row("Step", f"{r.step if r.step is not None else '-'}/{r.steps}  {label}")
            stable = 100 - r.weight
            bar = Text("█" * (stable // 4), style="blue") + Text(
                "█" * (r.weight // 4), style="magenta"
            )
            table.add_row("Traffic", bar + Text(f"  stable {stable}%  canary {r.weight}%"))
            table.add_row("Pods", f"stable {r.old_replicas}  canary {r.new_replicas}")
        events = Text("\n".join(self.log[-9:]) or "starting...", style="dim")
        return Panel(Group(table, Text(""), events), title=self.title, border_style="bright_black")


async def _run_release(
    console: Console,
    title: str,
    documents: list[dict[str, Any]],
    metrics: dict[str, Any],
    speed: float,
    live: bool,
    prometheus_address: str | None = None,
) -> SimulationResult:
    rollout = Rollout.from_manifest(next(d for d in documents if d.get("kind") == "Rollout"))
    view = _View(title, rollout)
    last_t = 0.0

    with (
        Live(
            view.render(),
            console=console,
            refresh_per_second=12,
            transient=False,
            auto_refresh=False,
        )
        if live
        else _NoLive() as display
    ):

        async def on_record(record: TimelineRecord) -> None:
            nonlocal last_t
            if speed > 0 and record.t > last_t:
                # a virtual minute is a fraction of a wall second; long waits are capped
                await anyio.sleep(min((record.t - last_t) / speed, 1.0))
            last_t = record.t
            view.update(record)
            if live:
                display.update(view.render(), refresh=True)
            elif record.event:
                console.print(f"  {view.log[-1]}   [{record.phase}, weight {record.weight}%]")

        return await run_simulation(
            documents,
            metrics,
            auto_promote=True,
            on_record=on_record,
            prometheus_address=prometheus_address,
        )


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: object, **kwargs: object) -> None:
        return None


@click.command("demo")
@click.option(
    "--speed",
    type=float,
    default=None,
    help="Virtual seconds per wall second (0: as fast as possible).  "
    "[default: 40 on a terminal, 0 when the output is not one]",
)
@click.option("--plain", is_flag=True, help="Print events line by line instead of a live view.")
@click.option(
    "--prometheus",
    "with_prometheus",
    is_flag=True,
    help="Measure the burn rate on a real Prometheus scraping the demo app "
    "(needs the prometheus binary: scripts/install-prometheus).",
)
def demo(speed: float | None, plain: bool, with_prometheus: bool) -> None:
    """Watch two releases of a demo storefront follow the seed's custom strategy.

    Scale the canary up with no traffic, route the X-Canary header to it, run smoke
    tests, shift traffic gradually under an SLO burn-rate analysis, keep the old stack
    for ten minutes after promotion. The first release passes; the second burns its
    error budget and rolls back automatically. Runs on the in-memory cluster.
    """
    console = make_console(highlight=True)
    live = console.is_terminal and not plain
    if speed is None:  # a CI log or a file is read afterwards: no pacing there
        speed = DEFAULT_SPEED if console.is_terminal else 0.0
    documents = _load("rollout.yaml")
    if with_prometheus:
        _demo_with_prometheus(console, documents, speed, live)
        return
    releases = [
        (
            "Release 1: storefront 1.8.0 -> 1.9.0",
            "registry.example/storefront:1.9.0",
            _load("metrics-pass.yaml"),
            "Healthy",
        ),
        (
            "Release 2: storefront 1.9.0 -> 2.0.0 (burns its error budget)",
            "registry.example/storefront:2.0.0",
            _load("metrics-burn.yaml"),
            "Degraded",
        ),
    ]

    async def main() -> list[SimulationResult]:
        results = []
        for title, image, metrics, _ in releases:
            if not live:
                console.print(f"[bold]{title}[/bold]")
            results.append(
                await _run_release(console, title, _release(documents, image), metrics, speed, live)
            )
        return results

    results = anyio.run(main)
    _summarize(console, [(title, expected) for title, _, _, expected in releases], results)


def _summarize(
    console: Console, told: list[tuple[str, str]], results: list[SimulationResult]
) -> None:
    """One line per release (its title and how it ended); a release that did not end as
    its story says fails the demo."""
    for (title, expected), result in zip(told, results, strict=True):
        mark = "✔" if result.phase == "Healthy" else "✖"
        console.print(
            f"{mark} {title.split(':')[0]}: {result.phase}"
            + (f" ({result.message})" if result.phase != "Healthy" else "")
        )
        if result.phase != expected:
            raise click.ClickException(f"expected {expected}, got {result.phase}")


# -- demo --prometheus ---------------------------------------------------------------------


def _with_real_burn_rate(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The demo with the burn-rate template of the SLO on the canary's own series."""
    from ..core._slo import SLO, burn_rate_template

    out = copy.deepcopy(documents)
    slo = SLO(
        "storefront",
        SLO_OBJECTIVE,
        total='http_requests_total{service="storefront"}',
        errors='http_requests_total{service="storefront",code=~"5.."}',
    )
    template = burn_rate_template(
        slo,
        name="error-budget-burn",
        source="counters",
        track_label="rollouts_pod_template_hash",
        track="{{args.canary-hash}}",
    )
    for i, doc in enumerate(out):
        if doc.get("kind") == "AnalysisTemplate" and doc["metadata"]["name"] == "error-budget-burn":
            out[i] = template
        if doc.get("kind") == "Rollout":
            doc["spec"]["strategy"]["canary"]["analysis"]["args"] = [
                {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}
            ]
    return out


@contextmanager
def _prometheus_stack(console: Console) -> Iterator[tuple[Any, Any]]:
    from .._demo.app import DemoApp
    from .._demo.prometheus import INSTALL_HINT, PrometheusError, PrometheusServer, find_prometheus

    binary = find_prometheus()
    if binary is None:
        raise click.ClickException(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="progressive-demo-") as workdir, DemoApp() as app:
        app.set_stream("storefront", "stable", error_rate=0.0005)
        server = PrometheusServer(binary, Path(workdir), targets=[app.target])
        console.print("[dim]starting Prometheus and the demo app on loopback...[/dim]")
        try:
            server.start()
        except PrometheusError as exc:
            server.close()
            raise click.ClickException(str(exc)) from None
        try:
            console.print(f"[dim]Prometheus at {server.address}, scraping {app.target}[/dim]")
            yield app, server
        finally:
            server.close()


def _demo_with_prometheus(
    console: Console, documents: list[dict[str, Any]], speed: float, live: bool
) -> None:
    documents = _with_real_burn_rate(documents)
    stories = [
        ("Release 1: storefront 1.8.0 -> 1.9.0", "registry.example/storefront:1.9.0", "Healthy"),
        (
            "Release 2: storefront 1.9.0 -> 2.0.0 (3% errors: burns its budget 30x)",
            "registry.example/storefront:2.0.0",
            "Degraded",
        ),
    ]
    results: list[SimulationResult] = []
    with _prometheus_stack(console) as (app, server):
        for (title, image, _), error_rate in zip(stories, RELEASE_ERROR_RATES, strict=True):
            release = _release(documents, image)
            rollout = next(d for d in release if d.get("kind") == "Rollout")
            canary_hash = Rollout.from_manifest(rollout).template_hash()
            app.set_stream("storefront", "canary", error_rate=error_rate, pod_hash=canary_hash)
            # two scrapes of the new canary's series, so that rate() has something to say
            server.wait_for(
                f'sum(rate(http_requests_total{{rollouts_pod_template_hash="{canary_hash}"}}[1m]))'
            )
            if not live:
                console.print(f"[bold]{title}[/bold]")

            async def main(release: list[dict[str, Any]] = release, title: str = title) -> Any:
                return await _run_release(
                    console, title, release, {}, speed, live, prometheus_address=server.address
                )

            results.append(anyio.run(main))
    _summarize(console, [(title, expected) for title, _, expected in stories], results)
