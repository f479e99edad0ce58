"""Writes the cluster refuses: made visible, and never taken for done.

A write the API server refuses -- a status its CRD's schema rejects (status writes are
strict, so a field the schema lacks is refused rather than silently dropped), an
admission webhook, missing rights -- must leave the Rollout where it is, never let the
next reconcile go on as if the write had happened.  Three things make it so:

* the status is written last (:func:`~progressive._shell.apply.apply_plan`), so a
  refused plan leaves the stored status as it was, and every reconcile derives what it
  does from that status and from what it observes: what needs the status stored (a
  pause's start, the step reached, a user's promotion, the stable revision) does not
  move on;
* the one decision a missing status could have let through, a new revision taken for
  a first deploy because no stable revision is recorded, is closed in the core: the
  revision serving production is then the stable one, and the new revision goes
  through the steps (``core._revisions.observe_revisions``);
* :func:`report_refusal` says so where people look: a Warning Event
  ``ReconciliationError`` and the ``Progressing`` condition (False,
  ``ReconciliationError``), both with the server's message.  The condition is written
  on its own, so that it can be stored when the full status cannot; the next status
  stored rebuilds it.  The key is then retried with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .._clusters import Cluster, Ref
from ..core._state import RECONCILIATION_ERROR, reconciliation_error
from ..core._status import RolloutStatus
from ..errors import ClusterError, Conflict, NotFound
from .events import EventRecorder, Involved

__all__ = ["refused", "report_refusal"]

log = logging.getLogger("progressive.controller")


def refused(exc: BaseException) -> bool:
    """A write the cluster refused (not a conflict, to be decided again at once, nor an
    object gone meanwhile)."""
    return isinstance(exc, ClusterError) and not isinstance(exc, Conflict | NotFound)


async def report_refusal(
    cluster: Cluster,
    events: EventRecorder,
    manifest: Mapping[str, Any],
    exc: BaseException,
    now: float,
) -> None:
    """A Warning Event and the ``Progressing`` condition on the Rollout ``manifest``,
    with ``exc``'s message (the server's).  Never raises: a report that cannot be made
    either is logged."""
    message = str(exc)
    await events.record(Involved.of(manifest), "Warning", RECONCILIATION_ERROR, message)
    stored = manifest.get("status")
    status = reconciliation_error(RolloutStatus.from_manifest(stored), message, now)
    conditions = [c.to_manifest() for c in status.conditions]
    if isinstance(stored, Mapping) and stored.get("conditions") == conditions:
        return
    ref = Ref.of(manifest)
    try:
        await cluster.patch(ref, {"status": {"conditions": conditions}})
    except ClusterError as error:
        log.warning("%s: the refusal cannot be recorded in its status either: %s", ref, error)
