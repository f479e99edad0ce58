"""The job provider: Jobs on the in-memory cluster, simulated, through the controller."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from progressive._clusters import Ref
from progressive._simulation import simulate
from progressive.core._analysis import AnalysisPhase, Metric
from progressive.memory import JOB_RESULT, JOB_SECONDS, MemoryCluster
from progressive.metrics import (
    JobProvider,
    MeasurementFailure,
    MeasurementInProgress,
    MeasurementOutcome,
)
from progressive.metrics._job import METRIC_LABEL, RUN_LABEL, job_name

from .helpers import run_for

JOB = {
    "spec": {
        "backoffLimit": 0,
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "smoke", "image": "curl", "command": ["true"]}],
            }
        },
    }
}


def job_metric(annotations: dict[str, str] | None = None) -> Metric:
    config: dict[str, Any] = copy.deepcopy(JOB)
    if annotations:
        config["metadata"] = {"annotations": annotations, "labels": {"team": "web"}}
    return Metric("smoke", {"job": config})


async def test_a_job_runs_then_completes() -> None:
    cluster = MemoryCluster(job_seconds=30)
    metric = job_metric()
    run = run_for(metric)
    stored = await cluster.create(run.to_manifest())
    provider = JobProvider(cluster, poll_interval=7)
    first = await provider.measure(metric, run)
    assert first == MeasurementInProgress(7, "job run-smoke-1 created")
    job = await cluster.get(Ref("batch/v1", "Job", "ns", "run-smoke-1"))
    assert job is not None
    assert job["metadata"]["labels"] == {RUN_LABEL: "run", METRIC_LABEL: "smoke"}
    (owner,) = job["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"]) == ("AnalysisRun", stored["metadata"]["uid"])
    assert job["spec"] == JOB["spec"]
    assert await provider.measure(metric, run) == MeasurementInProgress(
        7, "job run-smoke-1 running"
    )
    assert cluster.next_event_at() == cluster.clock.now() + 30
    cluster.clock.advance(30)  # type: ignore[attr-defined]
    done = await provider.measure(metric, run)
    assert done == MeasurementOutcome(AnalysisPhase.SUCCESSFUL, 1, "job run-smoke-1 complete")
    job = await cluster.get(Ref("batch/v1", "Job", "ns", "run-smoke-1"))
    assert job is not None and job["status"]["succeeded"] == 1
    # deleting the run deletes its Jobs
    await cluster.delete(Ref.of(stored))
    assert await cluster.get(Ref("batch/v1", "Job", "ns", "run-smoke-1")) is None


async def test_a_failed_job_fails_the_measurement() -> None:
    cluster = MemoryCluster()
    metric = job_metric({JOB_RESULT: "Failed", JOB_SECONDS: "3"})
    run = run_for(metric)
    provider = JobProvider(cluster)
    assert isinstance(await provider.measure(metric, run), MeasurementInProgress)
    cluster.clock.advance(3)  # type: ignore[attr-defined]
    outcome = await provider.measure(metric, run)
    assert outcome == MeasurementOutcome(
        AnalysisPhase.FAILED,
        0,
        "job run-smoke-1 failed: BackoffLimitExceeded: Job has reached the specified backoff limit",
    )


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff", "InvalidImageName"])
async def test_an_image_that_cannot_be_pulled_is_inconclusive(reason: str) -> None:
    """The Job would neither complete nor fail: Argo's rule makes it Inconclusive."""
    cluster = MemoryCluster()
    metric = job_metric({JOB_RESULT: reason})
    run = run_for(metric)
    provider = JobProvider(cluster, poll_interval=7)
    assert await provider.measure(metric, run) == MeasurementInProgress(
        7, "job run-smoke-1 created"
    )
    outcome = await provider.measure(metric, run)
    assert isinstance(outcome, MeasurementOutcome)
    assert outcome.phase == AnalysisPhase.INCONCLUSIVE
    assert outcome.message.startswith("job run-smoke-1: pod run-smoke-1-")
    assert outcome.message.endswith(f'container smoke: {reason}: Back-off pulling image "curl"')
    # a Job whose pods can start is still running at that second look
    provider = JobProvider(MemoryCluster(job_seconds=30), poll_interval=7)
    metric = job_metric()
    await provider.measure(metric, run)
    assert await provider.measure(metric, run) == MeasurementInProgress(
        7, "job run-smoke-1 running"
    )


async def test_a_job_without_a_template_is_an_error() -> None:
    metric = Metric("smoke", {"job": {"spec": {"backoffLimit": 0}}})
    outcome = await JobProvider(MemoryCluster()).measure(metric, run_for(metric))
    assert outcome == MeasurementFailure("job.spec.template is required")


def test_job_names_are_valid_and_stable() -> None:
    assert job_name("web-6d4f-2-3", "smoke_tests", 4) == "web-6d4f-2-3-smoke-tests-4"
    long = job_name("r" * 60, "m" * 30, 12)
    assert len(long) == 63 and long == job_name("r" * 60, "m" * 30, 12)
    assert long != job_name("r" * 60, "m" * 30, 13)


ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "example/web:2"}]}
  strategy:
    canary:
      steps:
      - setWeight: 50
      - analysis: {templates: [{templateName: smoke}]}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke}
spec:
  metrics:
  - name: smoke
    provider:
      job:
        metadata:
          annotations:
            sim.progressive.dev/job-seconds: "45"
            sim.progressive.dev/job-result: RESULT
        spec:
          backoffLimit: 0
          template:
            spec:
              restartPolicy: Never
              containers: [{name: smoke, image: curl, command: ["true"]}]
"""


@pytest.mark.parametrize(
    ("result", "phase", "event"),
    [
        ("Complete", "Healthy", "AnalysisSuccessful"),
        ("Failed", "Degraded", "AnalysisFailed"),
        ("ErrImagePull", "Paused", "AnalysisInconclusive"),
    ],
)
def test_a_job_analysis_step_through_the_controller(result: str, phase: str, event: str) -> None:
    import yaml

    documents = list(yaml.safe_load_all(ROLLOUT.replace("RESULT", result)))
    outcome = simulate(documents, {})  # no script: the job provider runs a simulated Job
    assert outcome.phase == phase, outcome.message
    started = next(r.t for r in outcome.timeline if r.event == "AnalysisStarted")
    verdict = next(r.t for r in outcome.timeline if r.event == event)
    # a Job that cannot start is seen at the next look at it, not at its end
    assert (verdict - started == 45) if result != "ErrImagePull" else (verdict - started < 45)
    if result == "ErrImagePull":
        assert "InconclusiveAnalysisRun" in outcome.message
