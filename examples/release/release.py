"""Release automation: set an image, follow the rollout, exit with its outcome.

A CI job's last step: it changes one container's image (in the Rollout, or in the
Deployment its ``workloadRef`` names), prints the rollout's progress and Events as the
controller moves it, and exits with what happened::

    python examples/release/release.py --kubeconfig ~/.kube/config -n shop \\
        web app registry.example/web:2.1 --timeout 900

Exit status: 0 Healthy, 2 Degraded (aborted: the analysis failed, the progress
deadline passed, the spec is invalid), 3 Paused at an indefinite pause (with
``--stop-at-pause``), 4 out of time, 1 anything else (no such Rollout...).

``--memory`` needs no cluster: it runs the same release against an in-memory one, with
a controller in this process and a demo canary (20% for a second, 60% for a second).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import anyio

from progressive import client
from progressive.clusters import Cluster

EXIT_HEALTHY, EXIT_ERROR, EXIT_DEGRADED, EXIT_PAUSED, EXIT_TIMEOUT = 0, 1, 2, 3, 4


def say(line: str) -> None:
    print(line, flush=True)


async def release(
    cluster: Cluster,
    namespace: str,
    name: str,
    container: str,
    image: str,
    *,
    timeout: float,  # noqa: ASYNC109 - a CI job gives the time it allows
    stop_at_pause: bool = False,
) -> int:
    """Set the image, follow the rollout until its outcome; return the exit status."""
    seen = await client.event_counts(cluster, namespace, name)  # the Events before it
    change = await client.set_image(cluster, namespace, name, container, image)
    say(f"set {container}={image} on {change.ref.kind} {namespace}/{change.ref.name}")

    def show(update: client.Update) -> None:
        prefix = "  event " if isinstance(update, client.RolloutEvent) else "  status"
        say(f"{prefix} {update}")

    phases = ("Healthy", "Paused") if stop_at_pause else ("Healthy",)
    try:
        final = await client.wait_for(
            cluster, namespace, name, phase=phases, timeout=timeout, on_update=show, since=seen
        )
    except client.RolloutFailed as exc:
        say(f"FAILED: {exc}")
        return EXIT_DEGRADED
    except TimeoutError:
        say(f"TIMEOUT: no outcome within {timeout:g}s")
        return EXIT_TIMEOUT
    say(f"{final.phase.upper()}: {final}")
    return EXIT_HEALTHY if final.phase == "Healthy" else EXIT_PAUSED


# -- --memory: a demo cluster and a controller in this process ---------------------------


def demo_objects(namespace: str, name: str, container: str) -> list[dict[str, Any]]:
    labels = {"app": name}
    services = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{name}-{role}", "namespace": namespace},
            "spec": {"selector": labels},
        }
        for role in ("canary", "stable")
    ]
    rollout = {
        "apiVersion": "progressive.dev/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": container, "image": f"{name}:1"}]},
            },
            "strategy": {
                "canary": {
                    "canaryService": f"{name}-canary",
                    "stableService": f"{name}-stable",
                    "trafficRouting": {"smi": {}},
                    "scaleDownDelaySeconds": 1,
                    "steps": [
                        {"setWeight": 20},
                        {"pause": {"duration": "1s"}},
                        {"setWeight": 60},
                        {"pause": {"duration": "1s"}},
                    ],
                }
            },
        },
    }
    return [*services, rollout]


async def in_memory(args: argparse.Namespace) -> int:
    from progressive import Controller, MemoryCluster, WallClock

    clock = WallClock()
    cluster = MemoryCluster(clock, pod_ready_seconds=0.2)
    for obj in demo_objects(args.namespace, args.rollout, args.container):
        await cluster.create(obj)
    controller = Controller(cluster, clock=clock)
    async with anyio.create_task_group() as tg:
        await tg.start(controller.run)
        await client.wait_for(cluster, args.namespace, args.rollout, timeout=30)
        say(f"{args.namespace}/{args.rollout} is Healthy at {args.rollout}:1 (in memory)")
        code = await release(
            cluster,
            args.namespace,
            args.rollout,
            args.container,
            args.image,
            timeout=args.timeout,
            stop_at_pause=args.stop_at_pause,
        )
        tg.cancel_scope.cancel()
    return code


async def on_cluster(args: argparse.Namespace) -> int:
    async with await client.connect(args.kubeconfig, args.context) as cluster:
        return await release(
            cluster,
            args.namespace,
            args.rollout,
            args.container,
            args.image,
            timeout=args.timeout,
            stop_at_pause=args.stop_at_pause,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rollout")
    parser.add_argument("container")
    parser.add_argument("image")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, or in-cluster")
    parser.add_argument("--context")
    parser.add_argument("--memory", action="store_true", help="a demo in-memory cluster")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds")
    parser.add_argument("--stop-at-pause", action="store_true", help="a pause is an outcome")
    args = parser.parse_args()
    try:
        code = anyio.run(in_memory if args.memory else on_cluster, args)
    except Exception as exc:  # no such Rollout, no cluster...
        say(f"ERROR: {exc}")
        code = EXIT_ERROR
    sys.exit(code)


if __name__ == "__main__":
    main()
