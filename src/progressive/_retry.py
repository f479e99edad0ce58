"""How a request that failed for a passing reason is tried again.

One policy for the two HTTP clients progressive has: the API server's
(:mod:`progressive._shell.kube`) and the metric providers'
(:mod:`progressive.metrics`).  Each keeps its own defaults (:data:`KUBE_RETRY`,
``progressive.metrics.DEFAULT_RETRY``) and its own reading of a ``Retry-After`` longer
than ``max_retry_after``: the API server's client waits ``max_retry_after`` and tries
again (it is the controller's lifeline), a metric provider stops (its measurement is
due again soon anyway).
"""

from __future__ import annotations

from typing import Final

import attrs

__all__ = ["KUBE_RETRY", "RetryPolicy"]


@attrs.frozen
class RetryPolicy:
    """At most ``attempts`` tries, the first included (1: no retry), and no wait that
    would end more than ``max_seconds`` after the first try; the waits grow
    exponentially from ``initial_wait`` to ``max_wait``; a ``Retry-After`` is honoured
    up to ``max_retry_after`` seconds."""

    attempts: int = 3
    max_seconds: float = 20.0
    initial_wait: float = 0.5
    max_wait: float = 4.0
    max_retry_after: float = 10.0


#: The API server's: more attempts, quick first waits (client-go's are alike).
KUBE_RETRY: Final = RetryPolicy(
    attempts=5, max_seconds=30.0, initial_wait=0.1, max_wait=5.0, max_retry_after=30.0
)
