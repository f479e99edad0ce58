"""The ``job`` provider: a Kubernetes Job's success is the measurement's success.

Config (``provider.job``), as Argo's: ``metadata`` (labels and annotations for the
Job) and ``spec`` (a ``batch/v1`` JobSpec).  One measurement:

1. the Job ``<run>-<metric>-<n>`` (the n-th measurement; shortened with a hash past 63
   characters) is created in the run's namespace, owned by the AnalysisRun (deleted
   with it) and labelled with the run and metric names; the measurement is in flight
   (:class:`~progressive.metrics.MeasurementInProgress`);
2. the runner asks again every ``poll_interval`` seconds; the Job is looked up by name,
   so a restarted controller picks up where it was, and a Job is never created twice;
3. a ``Complete`` condition ends the measurement Successful (value 1), a ``Failed`` one
   Failed (value 0, the condition's reason and message as the message): the provider
   judges, the metric's conditions are not evaluated (Argo's job provider does the
   same);
4. a Job that never starts -- a container of one of its pods waits with
   ``ErrImagePull``, ``ImagePullBackOff`` or ``InvalidImageName`` -- would neither
   complete nor fail: the measurement is Inconclusive, naming the pod, the container
   and the reason (Argo's rule since its release after v1.9), so the rollout pauses
   for a person rather than waiting for ever.  Its pods are found by their owner (the
   Job), which needs the right to list pods (``--job-provider`` grants it).

A controller installed without the right to create Jobs (the default) gets an Error
measurement that says how to grant it (``progressive install --job-provider``, Helm
``rbac.jobProvider``), which the run's and the Rollout's messages repeat.

A Job still running when its run is terminated is left to finish (it is deleted with
the run).  On the in-memory cluster, Jobs are simulated (see
:mod:`progressive.memory`: ``sim.progressive.dev/job-seconds`` and ``job-result``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final

from .._clusters import Cluster, Ref, copy_json_body, list_owned, owner_reference
from .._grants import how_to_grant
from ..core._analysis import AnalysisPhase
from ..core._analysis_model import AnalysisRun, Metric
from ..core._names import API_GROUPS, IMAGE_PULL_FAILURES
from ..errors import AlreadyExists, ClusterError, Forbidden
from ._protocol import (
    MeasurementFailure,
    MeasurementInProgress,
    MeasurementOutcome,
    provider_config,
)

__all__ = ["JOB_API", "METRIC_LABEL", "RUN_LABEL", "JobProvider", "job_name"]

JOB_API: Final = "batch/v1"
RUN_LABEL: Final = "analysisrun.argoproj.io/name"
METRIC_LABEL: Final = "analysisrun.argoproj.io/metric-name"
_MAX_NAME: Final = 63
_KNOWN: Final = frozenset({"metadata", "spec"})


def job_name(run_name: str, metric_name: str, n: int) -> str:
    """A valid, deterministic Job name for the n-th measurement of a run's metric."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"{run_name}-{metric_name}".lower()).strip("-")
    name = f"{base or 'analysis'}-{n}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: _MAX_NAME - 11].rstrip('-')}-{digest}"


def _label_value(value: str) -> str:
    """Label values: at most 63 characters of [A-Za-z0-9._-], alphanumeric at the ends."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", value)[:_MAX_NAME]
    return cleaned.strip("-._")


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or ():
        if (
            isinstance(condition, Mapping)
            and condition.get("type") == kind
            and condition.get("status") == "True"
        ):
            return condition
    return None


class JobProvider:
    """Measures ``job`` metrics by running Jobs on ``cluster``.

    Args:
        cluster: where Jobs are created and watched.
        poll_interval: seconds between two looks at a running Job.
    """

    def __init__(self, cluster: Cluster, *, poll_interval: float = 5.0) -> None:
        self.cluster = cluster
        self.poll_interval = poll_interval

    async def measure(self, metric: Metric, run: AnalysisRun) -> object | MeasurementFailure:
        config = provider_config(metric, "job", _KNOWN, " (metadata, spec)")
        if isinstance(config, MeasurementFailure):
            return config
        spec = config.get("spec")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("template"), Mapping):
            return MeasurementFailure("job.spec.template is required")
        result = run.result(metric.name)
        n = 1 + (result.count + result.error if result is not None else 0)
        name = job_name(run.name, metric.name, n)
        ref = Ref(JOB_API, "Job", run.namespace, name)
        try:
            job = await self.cluster.get(ref)
            if job is None:
                await self._create(config, run, metric, name)
                return MeasurementInProgress(self.poll_interval, f"job {name} created")
        except Forbidden as exc:
            return MeasurementFailure(
                f"job {name}: the controller may not run Jobs in namespace {run.namespace}: "
                f"install it with {how_to_grant('job_provider')} ({exc})"
            )
        except ClusterError as exc:
            return MeasurementFailure(f"job {name}: {exc}")
        failed = _condition(job, "Failed")
        if failed is not None:
            why = ": ".join(str(failed[k]) for k in ("reason", "message") if failed.get(k))
            return MeasurementOutcome(
                AnalysisPhase.FAILED, 0, f"job {name} failed" + (f": {why}" if why else "")
            )
        if _condition(job, "Complete") is not None:
            return MeasurementOutcome(AnalysisPhase.SUCCESSFUL, 1, f"job {name} complete")
        try:
            stuck = await self._stuck(job)
        except ClusterError as exc:  # no right to list pods (an older install): go on
            return MeasurementInProgress(
                self.poll_interval, f"job {name} running (its pods cannot be read: {exc})"
            )
        if stuck:
            return MeasurementOutcome(AnalysisPhase.INCONCLUSIVE, None, f"job {name}: {stuck}")
        return MeasurementInProgress(self.poll_interval, f"job {name} running")

    async def _stuck(self, job: Mapping[str, Any]) -> str:
        """Why the Job can never run ("" when it can): a container of one of its pods
        waits for an image that cannot be pulled (Argo's rule: an Inconclusive
        measurement, which pauses the rollout for a person to look, since the Job would
        otherwise neither complete nor fail)."""
        meta = job.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        if not uid:
            return ""
        pods = await list_owned(self.cluster, "v1", "Pod", str(meta.get("namespace")), uid)
        for pod in pods:
            status = pod.get("status") or {}
            for key in ("initContainerStatuses", "containerStatuses"):
                for container in status.get(key) or ():
                    waiting = ((container or {}).get("state") or {}).get("waiting") or {}
                    reason = waiting.get("reason")
                    if reason in IMAGE_PULL_FAILURES:
                        pod_name = (pod.get("metadata") or {}).get("name")
                        return (
                            f"pod {pod_name}, container {container.get('name')}: {reason}: "
                            f"{waiting.get('message') or ''}"
                        ).rstrip(": ")
        return ""

    async def _create(
        self, config: Mapping[str, Any], run: AnalysisRun, metric: Metric, name: str
    ) -> None:
        meta_in = config.get("metadata") or {}
        labels = {
            **dict(meta_in.get("labels") or {}),
            RUN_LABEL: _label_value(run.name),
            METRIC_LABEL: _label_value(metric.name),
        }
        metadata: dict[str, Any] = {"name": name, "namespace": run.namespace, "labels": labels}
        if meta_in.get("annotations"):
            metadata["annotations"] = dict(meta_in["annotations"])
        owner = await self._owner(run)
        if owner is not None:
            metadata["ownerReferences"] = [owner]
        job = {
            "apiVersion": JOB_API,
            "kind": "Job",
            "metadata": metadata,
            "spec": copy_json_body(config["spec"]),
        }
        try:
            await self.cluster.create(job)
        except AlreadyExists:
            pass  # created meanwhile (another controller, a retried pass): same Job

    async def _owner(self, run: AnalysisRun) -> dict[str, Any] | None:
        for group in API_GROUPS:
            stored = await self.cluster.get(Ref(group, "AnalysisRun", run.namespace, run.name))
            uid = ((stored or {}).get("metadata") or {}).get("uid")
            if uid:
                return owner_reference(group, "AnalysisRun", run.name, str(uid))
        return None
