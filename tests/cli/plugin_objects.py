"""Hand-built Rollouts and what surrounds them, at fixed times, for the snapshot tests of
``get rollout`` and ``list rollouts`` (no controller involved: the pictures do not move
when the controller's timing does)."""

from __future__ import annotations

from typing import Any

from progressive.cli._info import Objects
from progressive.core._times import format_time

T0 = 1_700_000_000.0
NOW = T0 + 3 * 3600.0  # the moment every picture is taken


def at(seconds_before_now: float) -> str:
    return format_time(NOW - seconds_before_now)


def owner(kind: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": obj["apiVersion"],
            "kind": kind,
            "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"],
            "controller": True,
        }
    ]


def rollout(
    name: str,
    strategy: dict[str, Any],
    status: dict[str, Any],
    *,
    replicas: int = 5,
    age: float = 7200,
    generation: int = 3,
    namespace: str = "default",
) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "generation": generation,
            "creationTimestamp": at(age),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": f"example/{name}:3"}]},
            },
            "strategy": strategy,
        },
        "status": {"observedGeneration": str(generation), **status},
    }


def replica_set(
    ro: dict[str, Any],
    pod_hash: str,
    revision: int,
    replicas: int,
    *,
    image: str,
    age: float,
    ready: int | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    name = ro["metadata"]["name"]
    ready = replicas if ready is None else ready
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name}-{pod_hash}",
            "namespace": ro["metadata"]["namespace"],
            "uid": f"uid-rs-{pod_hash}",
            "labels": {"app": name, "rollouts-pod-template-hash": pod_hash},
            "annotations": {"rollout.argoproj.io/revision": str(revision), **(annotations or {})},
            "ownerReferences": owner("Rollout", ro),
            "creationTimestamp": at(age),
        },
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"app": name, "rollouts-pod-template-hash": pod_hash}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
        "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready},
    }


def pod(
    rs: dict[str, Any], suffix: str, *, age: float, state: str = "ready", restarts: int = 0
) -> dict[str, Any]:
    status: dict[str, Any]
    if state == "ready":
        status = {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "c", "ready": True, "restartCount": restarts}],
        }
    elif state == "creating":
        status = {
            "phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {"name": "c", "ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}}
            ],
        }
    else:  # crashing
        status = {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                {
                    "name": "c",
                    "ready": False,
                    "restartCount": restarts,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                }
            ],
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{rs['metadata']['name']}-{suffix}",
            "namespace": rs["metadata"]["namespace"],
            "uid": f"uid-pod-{rs['metadata']['name']}-{suffix}",
            "ownerReferences": owner("ReplicaSet", rs),
            "creationTimestamp": at(age),
        },
        "spec": {"containers": [{"name": "c", "image": "x"}]},
        "status": status,
    }


def analysis_run(
    ro: dict[str, Any],
    name: str,
    pod_hash: str,
    phase: str,
    counts: dict[str, int],
    *,
    age: float,
) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {
            "name": name,
            "namespace": ro["metadata"]["namespace"],
            "uid": f"uid-run-{name}",
            "labels": {"rollouts-pod-template-hash": pod_hash},
            "ownerReferences": owner("Rollout", ro),
            "creationTimestamp": at(age),
        },
        "spec": {"metrics": []},
        "status": {
            "phase": phase,
            "metricResults": [
                {"name": "m1", "phase": phase, **counts},
                {"name": "m2", "phase": phase, "successful": 1},
            ],
        },
    }


def job(run: dict[str, Any], name: str, *, age: float, done: bool) -> dict[str, Any]:
    status: dict[str, Any] = {"active": 1}
    if done:
        status = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": run["metadata"]["namespace"],
            "uid": f"uid-job-{name}",
            "ownerReferences": owner("AnalysisRun", run),
            "creationTimestamp": at(age),
        },
        "status": status,
    }


def experiment(ro: dict[str, Any], name: str, pod_hash: str, *, age: float) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {
            "name": name,
            "namespace": ro["metadata"]["namespace"],
            "uid": f"uid-exp-{name}",
            "labels": {"rollouts-pod-template-hash": pod_hash},
            "ownerReferences": owner("Rollout", ro),
            "creationTimestamp": at(age),
        },
        "spec": {"templates": []},
        "status": {"phase": "Running"},
    }


STEPS = [
    {"setWeight": 20},
    {"experiment": {"duration": "5m", "templates": []}},
    {"analysis": {"templates": [{"templateName": "smoke"}]}},
    {"pause": {}},
    {"setWeight": 60},
    {"pause": {"duration": "10m"}},
]


def canary_paused() -> tuple[dict[str, Any], Objects]:
    """A canary at its indefinite pause: a canary ReplicaSet with one pod, the stable
    one with four (one crash-looping), an older revision scaled down, the step's
    analysis (with a Job) and experiment."""
    ro = rollout(
        "shop",
        {"canary": {"steps": STEPS}},
        {
            "phase": "Paused",
            "message": "CanaryPauseStep",
            "currentStepIndex": 3,
            "currentPodHash": "c4n4ry",
            "stableRS": "st4bl3",
            "replicas": 5,
            "updatedReplicas": 1,
            "readyReplicas": 4,
            "availableReplicas": 4,
        },
    )
    canary = replica_set(ro, "c4n4ry", 3, 1, image="example/shop:3", age=700)
    stable = replica_set(ro, "st4bl3", 2, 4, image="example/shop:2", age=5400, ready=3)
    old = replica_set(ro, "0ld0ld", 1, 0, image="example/shop:1", age=7200)
    pods = [
        pod(canary, "aaaaa", age=690),
        pod(stable, "bbbbb", age=5390),
        pod(stable, "ccccc", age=5390),
        pod(stable, "ddddd", age=5390, restarts=1),
        pod(stable, "eeeee", age=125, state="crashing", restarts=7),
    ]
    run = analysis_run(
        ro,
        "shop-c4n4ry-3-2",
        "c4n4ry",
        "Successful",
        {"successful": 4, "failed": 1, "inconclusive": 1, "error": 1},
        age=400,
    )
    older_run = analysis_run(ro, "shop-st4bl3-2-2", "st4bl3", "Failed", {"failed": 2}, age=5000)
    jobs = [job(run, "shop-c4n4ry-3-2-smoke", age=399, done=True)]
    exp = experiment(ro, "shop-c4n4ry-3-1", "c4n4ry", age=690)
    return ro, Objects(
        replica_sets=[canary, stable, old],
        pods=pods,
        analysis_runs=[run, older_run],
        experiments=[exp],
        jobs=jobs,
    )


def blue_green_preview() -> tuple[dict[str, Any], Objects]:
    """A blue-green waiting for promotion: the preview stack up (one pod still
    creating), the active one serving, the previous revision waiting to scale down."""
    ro = rollout(
        "pay",
        {"blueGreen": {"activeService": "pay-active", "previewService": "pay-preview"}},
        {
            "phase": "Paused",
            "message": "BlueGreenPause",
            "currentPodHash": "n3wn3w",
            "stableRS": "4ct1v3",
            "blueGreen": {"activeSelector": "4ct1v3", "previewSelector": "n3wn3w"},
            "replicas": 6,
            "updatedReplicas": 2,
            "readyReplicas": 5,
            "availableReplicas": 5,
        },
        replicas=2,
    )
    preview = replica_set(ro, "n3wn3w", 5, 2, image="example/pay:5", age=95, ready=1)
    active = replica_set(ro, "4ct1v3", 4, 2, image="example/pay:4", age=3000)
    leaving = replica_set(
        ro,
        "l34v1n",
        3,
        2,
        image="example/pay:3",
        age=6000,
        annotations={"scale-down-deadline": at(-25)},
    )
    pods = [
        pod(preview, "p0001", age=90),
        pod(preview, "p0002", age=20, state="creating"),
        pod(active, "a0001", age=2990),
        pod(active, "a0002", age=2990),
        pod(leaving, "l0001", age=5990),
        pod(leaving, "l0002", age=5990),
    ]
    return ro, Objects(replica_sets=[preview, active, leaving], pods=pods)


def canary_aborted() -> tuple[dict[str, Any], Objects]:
    """A routed canary aborted after a failed analysis: Degraded, weight back to 0."""
    ro = rollout(
        "api",
        {
            "canary": {
                "canaryService": "api-canary",
                "stableService": "api-stable",
                "trafficRouting": {"nginx": {"stableIngress": "api"}},
                "steps": [{"setWeight": 10}, {"analysis": {"templates": []}}],
            }
        },
        {
            "phase": "Degraded",
            "message": "RolloutAborted: metric error-rate assessed Failed",
            "abort": True,
            "currentStepIndex": 0,
            "currentPodHash": "b4db4d",
            "stableRS": "g00dg0",
            "canary": {"weights": {"canary": {"weight": 0}}},
            "replicas": 3,
            "updatedReplicas": 0,
            "readyReplicas": 3,
            "availableReplicas": 3,
        },
        replicas=3,
        age=90000,
    )
    bad = replica_set(
        ro,
        "b4db4d",
        8,
        1,
        image="example/api:8",
        age=200,
        annotations={"scale-down-deadline": at(10)},
    )
    good = replica_set(ro, "g00dg0", 7, 3, image="example/api:7", age=86000)
    run = analysis_run(ro, "api-b4db4d-8-1", "b4db4d", "Failed", {"failed": 3}, age=150)
    return ro, Objects(
        replica_sets=[bad, good],
        pods=[pod(good, "g1", age=85990), pod(good, "g2", age=85990), pod(good, "g3", age=85990)],
        analysis_runs=[run],
    )


def fresh() -> tuple[dict[str, Any], Objects]:
    """Just created: no controller has written a status yet."""
    ro = rollout("new", {"canary": {"steps": [{"setWeight": 50}]}}, {}, replicas=2, age=3)
    del ro["status"]
    return ro, Objects()
