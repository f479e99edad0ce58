"""What the shell observed of each object a Rollout owns or uses: its ReplicaSets, its
runs, what its routers hold, its workload.  :class:`~progressive.core.Observed` gathers
them for ``reconcile()``.
"""

from __future__ import annotations

import attrs

from ._frozen import Immutable

__all__ = ["ObservedRun", "ReplicaSetView", "TrafficView", "WorkloadView"]


@attrs.frozen
class ReplicaSetView(Immutable):
    """One ReplicaSet owned by the Rollout."""

    name: str
    pod_template_hash: str
    revision: int
    replicas: int  # spec.replicas: the pods it is asked for
    ready_replicas: int = 0
    available_replicas: int = 0
    scale_down_deadline: float | None = None
    created_at: float = 0.0
    #: why its ``restartAt`` restart could not go on (the controller may not delete
    #: pods), as the shell found it; "" when nothing was refused
    restart_refused: str = ""
    #: status.replicas: the pods it has now (not terminating), ready or not
    status_replicas: int = 0


@attrs.frozen
class ObservedRun(Immutable):
    """An AnalysisRun or Experiment the Rollout started: its name and verdict so far,
    and whether a user promoted the rollout past that verdict (``acknowledged``)."""

    name: str
    phase: str
    message: str = ""
    terminated: bool = False
    acknowledged: bool = False


@attrs.frozen
class TrafficView(Immutable):
    """What the routers hold now, read back from their objects.

    With several routers, this is what ALL of them hold: ``weight`` is None when no
    router holds a weight for this Rollout yet, and otherwise the smallest canary
    weight among them (a router holding none counts as 0) -- every router sends at
    least that much to the canary.  ``header_routes`` and ``mirror_routes`` are the
    routes every router holds.  The shell moves the routers together and, should they
    disagree (a crash between two routers' writes), brings them back to this state
    before reconciling (``progressive._shell.traffic.RouterTraffic``), so that the
    weight is normally each router's.  ``canary_hash`` and ``stable_hash`` are the
    pod-template hashes a router that selects pods itself holds (App Mesh's
    VirtualNodes, Istio's subsets), None when none does: hashes that are not the
    revisions' are written again, as Argo's UpdateHash does at every reconcile.
    """

    weight: int | None = None
    header_routes: tuple[str, ...] = ()
    mirror_routes: tuple[str, ...] = ()
    # (service, weight) of the experiment templates the routers send traffic to
    experiment_weights: tuple[tuple[str, int], ...] = ()
    # the pod-template hashes held by the routers that select pods themselves (App
    # Mesh's VirtualNodes, Istio's DestinationRule subsets); None where none holds one
    canary_hash: str | None = None
    stable_hash: str | None = None


@attrs.frozen
class WorkloadView(Immutable):
    """The workload a Rollout's ``workloadRef`` names (a Deployment): its spec replicas
    and how many of its pods are available."""

    replicas: int
    available_replicas: int = 0
