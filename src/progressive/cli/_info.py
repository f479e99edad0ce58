"""What ``get rollout`` and ``list rollouts`` show, computed from plain objects.

Pure: no cluster, no clock (``now`` is an argument), no terminal.  :func:`rollout_info`
takes the Rollout manifest and the objects around it (:class:`Objects`) and returns a
:class:`RolloutInfo`: the header fields of Argo's ``kubectl argo rollouts get rollout``
and its tree.  :mod:`._tree` draws it.

The vocabulary is Argo's plugin's:

* Rollout status: ✔ Healthy, ◌ Progressing, ॥ Paused, ✖ Degraded;
* kinds: ⟳ Rollout, # revision, ⧉ ReplicaSet, □ Pod, Σ Experiment, α AnalysisRun, ⊞ Job;
* other statuses: ✖ Failed, ? Inconclusive, ⚠ Error, • ScaledDown, ◌ Running/Pending.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from ..client.state import canary_weights
from ..core._lenient import as_int as _int
from ..core._lenient import as_map as _map
from ..core._names import (
    HASH_LABEL,
    IMAGE_PULL_FAILURES,
    REVISION_ANNOTATION,
    SCALE_DOWN_DEADLINE_ANNOTATION,
)
from ..core._times import parse_time

__all__ = [
    "KIND_ICONS",
    "STATUS_ICONS",
    "Objects",
    "RolloutInfo",
    "Summary",
    "TreeNode",
    "experiment_tree",
    "human_duration",
    "rollout_info",
    "rollout_status",
    "summarize",
]


KIND_ICONS: Final = {
    "Rollout": "⟳",
    "Revision": "#",
    "ReplicaSet": "⧉",
    "Pod": "□",
    "Experiment": "Σ",
    "AnalysisRun": "α",
    "Job": "⊞",
}
STATUS_ICONS: Final = {
    "Healthy": "✔",
    "Successful": "✔",
    "Completed": "✔",
    "Progressing": "◌",
    "Running": "◌",
    "Pending": "◌",
    "Terminating": "◌",
    "ContainerCreating": "◌",
    "Paused": "॥",
    "Degraded": "✖",
    "Failed": "✖",
    "Error": "⚠",
    "Inconclusive": "?",
    "ScaledDown": "•",
}
_ROLE_ORDER: Final = {"stable": 0, "active": 1, "canary": 2, "preview": 3}
_BAD_REASONS: Final = frozenset(
    {
        "CrashLoopBackOff",
        "Error",
        *IMAGE_PULL_FAILURES,
        "OOMKilled",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(_meta(obj).get("labels"))


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(_meta(obj).get("annotations"))


def _uid(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("uid") or "")


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name") or "")


def owned_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    """Whether ``obj`` names ``owner`` in its ownerReferences (by uid, or by kind and
    name when the owner has no uid)."""
    uid = _uid(owner)
    for ref in _list(_meta(obj).get("ownerReferences")):
        if not isinstance(ref, Mapping):
            continue
        if uid and ref.get("uid") == uid:
            return True
        if not uid and ref.get("kind") == owner.get("kind") and ref.get("name") == _name(owner):
            return True
    return False


# -- time ----------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """A duration as kubectl shows ages (apimachinery's ``HumanDuration``): ``45s``,
    ``3m20s``, ``42m``, ``5h10m``, ``2d3h``."""
    if seconds < -1:
        return "<invalid>"
    total = max(0, int(seconds))
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{hours // 24 // 365}y"


def _age(obj: Mapping[str, Any], now: float) -> str:
    created = parse_time(_meta(obj).get("creationTimestamp"))
    return "" if created is None else human_duration(now - created)


def _short_duration(seconds: float) -> str:
    """Go's ``time.Duration`` string, whole seconds: ``28s``, ``4m30s``, ``1h0m5s``."""
    total = int(math.ceil(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


# -- the model -----------------------------------------------------------------------------


@attrs.frozen
class TreeNode:
    """One row of the tree and the rows under it."""

    kind: str  # Rollout, Revision, ReplicaSet, Pod, Experiment, AnalysisRun, Job
    name: str
    status: str = ""
    age: str = ""
    info: str = ""
    children: tuple[TreeNode, ...] = ()
    mark: str = ""  # the status icon, when the status word alone does not say it

    @property
    def icon(self) -> str:
        return KIND_ICONS.get(self.kind, "")

    @property
    def status_icon(self) -> str:
        if self.mark:
            return self.mark
        return STATUS_ICONS.get(self.status, "?") if self.status else ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name}
        for key in ("status", "age", "info"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.children:
            out["children"] = [c.to_json() for c in self.children]
        return out


@attrs.frozen
class Summary:
    """The header of ``get rollout``, and a row of ``list rollouts``."""

    name: str
    namespace: str
    status: str
    message: str
    strategy: str  # Canary | BlueGreen
    step: str | None = None  # "1/8"
    set_weight: str | None = None
    actual_weight: str | None = None
    weight_note: str = ""  # why the actual weight is not the set one
    images: tuple[tuple[str, tuple[str, ...]], ...] = ()
    desired: int = 0
    current: int = 0
    updated: int = 0
    ready: int = 0
    available: int = 0
    age: str = ""

    @property
    def status_icon(self) -> str:
        return STATUS_ICONS.get(self.status, "?")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "status": self.status,
            "message": self.message,
            "strategy": self.strategy,
        }
        if self.step is not None:
            out["step"] = self.step
        if self.set_weight is not None:
            out["setWeight"] = self.set_weight
        if self.actual_weight is not None:
            out["actualWeight"] = self.actual_weight
        if self.weight_note:
            out["weightNote"] = self.weight_note
        out["images"] = [{"image": image, "roles": list(roles)} for image, roles in self.images]
        out["replicas"] = {
            "desired": self.desired,
            "current": self.current,
            "updated": self.updated,
            "ready": self.ready,
            "available": self.available,
        }
        return out


@attrs.frozen
class RolloutInfo:
    summary: Summary
    tree: TreeNode

    def to_json(self) -> dict[str, Any]:
        return {**self.summary.to_json(), "tree": self.tree.to_json()}


@attrs.frozen
class Objects:
    """What surrounds a Rollout: every object of these kinds in its namespace (those
    that are not its own are ignored), and the Deployment of its workloadRef."""

    replica_sets: Sequence[Mapping[str, Any]] = ()
    pods: Sequence[Mapping[str, Any]] = ()
    analysis_runs: Sequence[Mapping[str, Any]] = ()
    experiments: Sequence[Mapping[str, Any]] = ()
    jobs: Sequence[Mapping[str, Any]] = ()
    workload: Mapping[str, Any] | None = None


# -- status --------------------------------------------------------------------------------


def rollout_status(rollout: Mapping[str, Any]) -> tuple[str, str]:
    """(status, message): the stored phase, unless the controller has not seen the
    current spec yet (Progressing, as Argo's plugin says then)."""
    status = _map(rollout.get("status"))
    phase = str(status.get("phase") or "")
    generation = _meta(rollout).get("generation")
    observed = status.get("observedGeneration")
    if not phase:
        return "Progressing", "waiting for the controller to observe the rollout"
    if generation is not None and observed not in (None, "") and str(observed) != str(generation):
        return "Progressing", "waiting for rollout spec update to be observed"
    return phase, str(status.get("message") or "")


def _strategy(rollout: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    strategy = _map(_map(rollout.get("spec")).get("strategy"))
    if "blueGreen" in strategy:
        return "BlueGreen", _map(strategy.get("blueGreen"))
    return "Canary", _map(strategy.get("canary"))


def _roles(rollout: Mapping[str, Any], rs: Mapping[str, Any], now: float) -> list[str]:
    status = _map(rollout.get("status"))
    pod_hash = _labels(rs).get(HASH_LABEL)
    strategy, _ = _strategy(rollout)
    roles: list[str] = []
    stable = status.get("stableRS")
    if pod_hash and pod_hash == stable:
        roles.append("stable")
    if strategy == "BlueGreen":
        blue_green = _map(status.get("blueGreen"))
        active = blue_green.get("activeSelector")
        if pod_hash and pod_hash == active:
            roles.append("active")
        elif pod_hash and pod_hash == blue_green.get("previewSelector"):
            roles.append("preview")
    elif pod_hash and pod_hash == status.get("currentPodHash") and pod_hash != stable:
        roles.append("canary")
    deadline = parse_time(_annotations(rs).get(SCALE_DOWN_DEADLINE_ANNOTATION))
    if deadline is not None and _int(_map(rs.get("spec")).get("replicas")) > 0:
        left = deadline - now
        roles.append(f"delay:{_short_duration(left)}" if left > 0 else "delay:passed")
    return roles


def _images(rs: Mapping[str, Any] | None, template: Mapping[str, Any] | None = None) -> list[str]:
    source = template if template is not None else _map(_map(rs or {}).get("spec")).get("template")
    spec = _map(_map(source).get("spec"))
    out: list[str] = []
    for key in ("initContainers", "containers"):
        for container in _list(spec.get(key)):
            image = _map(container).get("image")
            if isinstance(image, str) and image not in out:
                out.append(image)
    return out


def _own(objects: Iterable[Mapping[str, Any]], owner: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [o for o in objects if owned_by(o, owner)]


def summarize(rollout: Mapping[str, Any], objects: Objects | None = None, *, now: float) -> Summary:
    """The header fields (and ``list rollouts`` row) of a Rollout."""
    objects = objects or Objects()
    spec = _map(rollout.get("spec"))
    status = _map(rollout.get("status"))
    phase, message = rollout_status(rollout)
    strategy, config = _strategy(rollout)
    replica_sets = _own(objects.replica_sets, rollout)
    step = set_weight = actual_weight = None
    note = ""
    if strategy == "Canary":
        steps = _list(config.get("steps"))
        if steps:
            step = f"{_int(status.get('currentStepIndex'), 0)}/{len(steps)}"
        weights = canary_weights(rollout, replica_sets)
        if weights is not None:
            set_weight, actual_weight = str(weights.set), str(weights.actual)
            note = weights.note
    images: dict[str, list[str]] = {}
    for rs in replica_sets:
        roles = [r for r in _roles(rollout, rs, now) if not r.startswith("delay:")]
        for image in _images(rs) if roles else ():
            known = images.setdefault(image, [])
            known.extend(r for r in roles if r not in known)
    # stable first, then active, canary, preview (Argo's order)
    images = dict(
        sorted(images.items(), key=lambda item: min(_ROLE_ORDER.get(r, 9) for r in item[1]))
    )
    if not images:
        template = _map(spec.get("template"))
        if not template and objects.workload is not None:
            template = _map(_map(objects.workload.get("spec")).get("template"))
        images = {image: [] for image in _images(None, template)}
    return Summary(
        name=_name(rollout),
        namespace=str(_meta(rollout).get("namespace") or "default"),
        status=phase,
        message=message,
        strategy=strategy,
        step=step,
        set_weight=set_weight,
        actual_weight=actual_weight,
        weight_note=note,
        images=tuple((image, tuple(roles)) for image, roles in images.items()),
        desired=_int(spec.get("replicas"), 1),
        current=_int(status.get("replicas")),
        updated=_int(status.get("updatedReplicas")),
        ready=_int(status.get("readyReplicas")),
        available=_int(status.get("availableReplicas")),
        age=_age(rollout, now),
    )


# -- the tree ------------------------------------------------------------------------------


def _replica_set_status(rs: Mapping[str, Any]) -> str:
    desired = _int(_map(rs.get("spec")).get("replicas"), 1)
    status = _map(rs.get("status"))
    if desired == 0:
        return "ScaledDown"
    ready, available = _int(status.get("readyReplicas")), _int(status.get("availableReplicas"))
    return "Healthy" if ready >= desired and available >= desired else "Progressing"


def _pod_row(pod: Mapping[str, Any], now: float) -> TreeNode:
    spec = _map(pod.get("spec"))
    status = _map(pod.get("status"))
    containers = len(_list(spec.get("containers"))) or 1
    statuses = [_map(s) for s in _list(status.get("containerStatuses"))]
    pod_ready = any(
        _map(c).get("type") == "Ready" and _map(c).get("status") == "True"
        for c in _list(status.get("conditions"))
    )
    if statuses:
        ready = sum(1 for s in statuses if s.get("ready") is True)
        restarts = sum(_int(s.get("restartCount")) for s in statuses)
    else:
        ready = containers if pod_ready else 0
        restarts = 0
    phase = str(status.get("phase") or "Pending")
    reason = ""
    for container in statuses:
        state = _map(container.get("state"))
        for key in ("waiting", "terminated"):
            why = _map(state.get(key)).get("reason")
            if isinstance(why, str) and why and not reason:
                reason = why
    if _meta(pod).get("deletionTimestamp"):
        shown, mark = "Terminating", "◌"
    elif phase == "Failed" or reason in _BAD_REASONS:
        shown, mark = reason or "Failed", "✖"
    elif phase == "Succeeded":
        shown, mark = "Completed", "✔"
    elif phase == "Running" and pod_ready:
        shown, mark = "Running", "✔"
    else:
        # pending, creating containers, or running but not ready yet
        shown, mark = reason or phase, "◌"
    info = f"ready:{ready}/{containers}" + (f",restarts:{restarts}" if restarts else "")
    return TreeNode("Pod", _name(pod), shown, _age(pod, now), info, mark=mark)


def _run_phase(obj: Mapping[str, Any]) -> str:
    return str(_map(obj.get("status")).get("phase") or "Pending")


def _run_info(run: Mapping[str, Any]) -> str:
    totals = {"successful": 0, "failed": 0, "inconclusive": 0, "error": 0}
    for result in _list(_map(run.get("status")).get("metricResults")):
        for key in totals:
            totals[key] += _int(_map(result).get(key))
    parts = []
    for key, icon in (
        ("successful", "✔"),
        ("failed", "✖"),
        ("inconclusive", "?"),
        ("error", "⚠"),
    ):
        if totals[key]:
            parts.append(f"{icon} {totals[key]}")
    return ",".join(parts)


def _job_status(job: Mapping[str, Any]) -> str:
    status = _map(job.get("status"))
    for condition in _list(status.get("conditions")):
        c = _map(condition)
        if c.get("status") == "True" and c.get("type") == "Complete":
            return "Successful"
        if c.get("status") == "True" and c.get("type") == "Failed":
            return "Failed"
    if _int(status.get("succeeded")):
        return "Successful"
    if _int(status.get("failed")):
        return "Failed"
    return "Running"


def _created(obj: Mapping[str, Any]) -> tuple[float, str]:
    return (parse_time(_meta(obj).get("creationTimestamp")) or 0.0, _name(obj))


class _TreeBuilder:
    def __init__(self, rollout: Mapping[str, Any], objects: Objects, now: float) -> None:
        self.rollout = rollout
        self.objects = objects
        self.now = now

    def replica_set(self, rs: Mapping[str, Any], info: str = "") -> TreeNode:
        pods = sorted(_own(self.objects.pods, rs), key=_name)
        return TreeNode(
            "ReplicaSet",
            _name(rs),
            _replica_set_status(rs),
            _age(rs, self.now),
            info,
            tuple(_pod_row(p, self.now) for p in pods),
        )

    def analysis_run(self, run: Mapping[str, Any]) -> TreeNode:
        jobs = sorted(_own(self.objects.jobs, run), key=_created)
        return TreeNode(
            "AnalysisRun",
            _name(run),
            _run_phase(run),
            _age(run, self.now),
            _run_info(run),
            tuple(TreeNode("Job", _name(j), _job_status(j), _age(j, self.now)) for j in jobs),
        )

    def experiment(self, experiment: Mapping[str, Any]) -> TreeNode:
        children = [
            self.replica_set(rs)
            for rs in sorted(_own(self.objects.replica_sets, experiment), key=_name)
        ]
        children += [
            self.analysis_run(run)
            for run in sorted(_own(self.objects.analysis_runs, experiment), key=_created)
        ]
        return TreeNode(
            "Experiment",
            _name(experiment),
            _run_phase(experiment),
            _age(experiment, self.now),
            "",
            tuple(children),
        )

    def build(self, phase: str) -> TreeNode:
        rollout, objects = self.rollout, self.objects
        replica_sets = _own(objects.replica_sets, rollout)
        runs = _own(objects.analysis_runs, rollout)
        experiments = _own(objects.experiments, rollout)
        revision_of_hash: dict[str, int] = {}
        by_revision: dict[int, list[TreeNode]] = {}
        for rs in sorted(replica_sets, key=_name):
            revision = _int(_annotations(rs).get(REVISION_ANNOTATION))
            pod_hash = _labels(rs).get(HASH_LABEL)
            if isinstance(pod_hash, str):
                revision_of_hash[pod_hash] = revision
            info = ",".join(_roles(rollout, rs, self.now))
            by_revision.setdefault(revision, []).append(self.replica_set(rs, info))
        loose: list[TreeNode] = []

        def place(obj: Mapping[str, Any], node: TreeNode) -> None:
            pod_hash = _labels(obj).get(HASH_LABEL)
            revision = revision_of_hash.get(str(pod_hash))
            if revision is None and REVISION_ANNOTATION in _annotations(obj):
                revision = _int(_annotations(obj).get(REVISION_ANNOTATION))
            if revision is None:
                loose.append(node)
            else:
                by_revision.setdefault(revision, []).append(node)

        for experiment in sorted(experiments, key=_created):
            place(experiment, self.experiment(experiment))
        for run in sorted(runs, key=_created):
            place(run, self.analysis_run(run))
        children = [
            TreeNode("Revision", f"revision:{revision}", children=tuple(nodes))
            for revision, nodes in sorted(by_revision.items(), reverse=True)
        ]
        return TreeNode(
            "Rollout",
            _name(rollout),
            phase,
            _age(rollout, self.now),
            "",
            tuple(children + loose),
        )


def rollout_info(rollout: Mapping[str, Any], objects: Objects, *, now: float) -> RolloutInfo:
    """The header and tree of ``get rollout``."""
    summary = summarize(rollout, objects, now=now)
    return RolloutInfo(summary, _TreeBuilder(rollout, objects, now).build(summary.status))


def experiment_tree(experiment: Mapping[str, Any], objects: Objects, *, now: float) -> TreeNode:
    """The tree of ``get experiment``: the Experiment, its ReplicaSets with their Pods,
    its AnalysisRuns with their Jobs."""
    return _TreeBuilder(experiment, objects, now).experiment(experiment)
