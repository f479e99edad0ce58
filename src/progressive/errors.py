"""Every error progressive raises on purpose, under one root.

``except progressive.errors.ProgressiveError`` catches any of them; the built-in
class in brackets is a second base, so code that catches it keeps working::

    ProgressiveError
    ├── ManifestError (ValueError)      a manifest cannot be used; ``errors`` lists
    │                                   every problem, each a FieldProblem with its path
    ├── EditError (ValueError)          an edit cannot be made (no such container)
    ├── ExpressionError (ValueError)    an analysis condition does not compile
    ├── EvaluationError (ValueError)    an analysis condition failed on its values
    ├── TemplateError (ValueError)      a notification template does not parse
    ├── RenderError (ValueError)        a notification template failed on its values
    ├── JsonPathError (ValueError)      a metric's JSONPath is malformed or selects nothing
    ├── ClusterError                    a request the cluster refused
    │   ├── NotFound
    │   ├── AlreadyExists
    │   ├── Conflict                    a stale ``metadata.resourceVersion``
    │   ├── Forbidden                   RBAC: trying again, unchanged, fails the same way
    │   ├── BeingDeleted                the Rollout is being deleted (a finalizer holds it)
    │   └── KubeError                   from an API server: ``status``, ``reason``,
    │       │                           ``retry_after``, ``transient``
    │       ├── ApiNotFound (NotFound)              404
    │       │   └── UnknownKind                     the server serves no such kind
    │       ├── ApiAlreadyExists (AlreadyExists)    409 from a create
    │       ├── ApiConflict (Conflict)              409 from a stale resourceVersion
    │       ├── ApiForbidden (Forbidden)            401, 403
    │       ├── Gone                                410: list again
    │       ├── Invalid                             400, 405, 415, 422
    │       └── Unavailable                         429, 5xx, no answer: transient
    ├── ApplyError                      an action cannot be carried out
    ├── RouterError                     a router cannot bring its objects where wanted
    ├── RequestFailed                   a metric provider got no usable response
    │   └── ResponseTooLarge
    ├── DeliveryFailed                  a notification was not delivered
    ├── LeadershipLost                  the controller's Lease was lost
    ├── SimulationError                 the documents cannot be simulated
    ├── ControlPlaneError (RuntimeError) the local control plane failed a step
    └── RolloutFailed                   ``client.wait_for``: the revision failed
                                        (in :mod:`progressive.client`, beside the
                                        RolloutState it carries)

A cluster's errors are the same classes whichever cluster raised them, so code written
against the in-memory cluster handles a real one unchanged.  Not here on purpose:
``memory.SimulatedCrash``, a ``BaseException`` like ``KeyboardInterrupt`` so that no
``except Exception`` swallows a simulated process death.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

import attrs

__all__ = [
    "TRANSIENT_STATUSES",
    "AlreadyExists",
    "ApiAlreadyExists",
    "ApiConflict",
    "ApiForbidden",
    "ApiNotFound",
    "ApplyError",
    "BeingDeleted",
    "ClusterError",
    "Conflict",
    "ControlPlaneError",
    "DeliveryFailed",
    "EditError",
    "EvaluationError",
    "ExpressionError",
    "FieldProblem",
    "Forbidden",
    "Gone",
    "Invalid",
    "JsonPathError",
    "KubeError",
    "LeadershipLost",
    "ManifestError",
    "NotFound",
    "ProgressiveError",
    "RenderError",
    "RequestFailed",
    "ResponseTooLarge",
    "RouterError",
    "Severity",
    "SimulationError",
    "TemplateError",
    "Unavailable",
    "UnknownKind",
]


class ProgressiveError(Exception):
    """The root of every error progressive raises on purpose."""


# -- manifests --------------------------------------------------------------------------
# Every problem found in a manifest is a FieldProblem carrying the field path
# (``spec.strategy.canary.steps[2].setWeight``), so that a user with a long YAML file can
# go straight to the line.  Loading and validation collect *all* of them and raise a
# single ManifestError; nothing else escapes the loader.

Severity = Literal["error", "warning"]


@attrs.frozen
class FieldProblem:
    """One problem with one field of a manifest.

    Args:
        path: where the problem is, e.g. ``spec.strategy.canary.steps[2].setWeight``.
        message: what is wrong, e.g. ``must be between 0 and 100, got 150``.
        severity: ``"error"`` makes the object unusable; ``"warning"`` is shown but
            does not stop it (e.g. a template that may live in the cluster).
    """

    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ManifestError(ProgressiveError, ValueError):
    """A manifest could not be loaded; ``errors`` lists every problem found."""

    def __init__(self, errors: Iterable[FieldProblem]) -> None:
        self.errors: tuple[FieldProblem, ...] = tuple(errors)
        super().__init__("; ".join(str(e) for e in self.errors) or "invalid manifest")


class EditError(ProgressiveError, ValueError):
    """The edit cannot be made (no such container, no such revision)."""


class ExpressionError(ProgressiveError, ValueError):
    """The expression is malformed or not allowed; the message says what and where."""


class EvaluationError(ProgressiveError, ValueError):
    """Evaluation failed: type error, bad index, unknown name or exhausted budget."""


class TemplateError(ProgressiveError, ValueError):
    """The template's text is invalid or uses something not supported."""


class RenderError(ProgressiveError, ValueError):
    """Executing the template failed (a bad value, a bound reached)."""


class JsonPathError(ProgressiveError, ValueError):
    """The path is malformed, unsupported, or selects nothing."""


# -- clusters ---------------------------------------------------------------------------


class ClusterError(ProgressiveError):
    """A request the cluster refused."""


class NotFound(ClusterError):
    """No such object (or no such kind)."""


class AlreadyExists(ClusterError):
    """A create found an object of that name."""


class Conflict(ClusterError):
    """``metadata.resourceVersion`` did not match: someone wrote the object meanwhile."""


class Forbidden(ClusterError):
    """The cluster refused the caller the right to do it (RBAC): trying again, unchanged,
    fails the same way."""


class BeingDeleted(ClusterError):
    """The Rollout is being deleted (a finalizer holds it): the controller no longer
    acts on it, so a command would change nothing."""


#: Statuses worth retrying (api-conventions): throttled, or the server/gateway failed.
TRANSIENT_STATUSES: Final = frozenset({429, 500, 502, 503, 504})


class KubeError(ClusterError):
    """A request the API server refused, or that got no answer (``status`` 0).

    ``reason`` is the server's (``NotFound``, ``Conflict``, ``Expired``...).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        reason: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Whether trying again, unchanged, may succeed."""
        return self.status == 0 or self.status in TRANSIENT_STATUSES


class ApiNotFound(KubeError, NotFound):
    """404."""


class UnknownKind(ApiNotFound):
    """The server serves no such apiVersion and kind (is its CRD installed?)."""


class ApiAlreadyExists(KubeError, AlreadyExists):
    """409 from a create."""


class ApiConflict(KubeError, Conflict):
    """409 from a write with a stale resourceVersion."""


class ApiForbidden(KubeError, Forbidden):
    """401 or 403."""


class Gone(KubeError):
    """410: the resourceVersion asked for is older than etcd keeps; list again."""


class Invalid(KubeError):
    """400, 405, 415 or 422: the request itself is wrong; trying again will not help."""


class Unavailable(KubeError):
    """429, a 5xx, or no answer: trying again later may succeed."""


# -- the controller and its plug-ins ----------------------------------------------------


class ApplyError(ProgressiveError):
    """An action could not be carried out (a missing Service, a foreign ReplicaSet)."""


class RouterError(ProgressiveError):
    """A router cannot bring its objects to the state wanted: a missing or foreign
    object, a route it cannot find, a route it cannot express."""


class RequestFailed(ProgressiveError):
    """No usable response (connection refused, no complete answer in time, too
    large...), after the retries."""


class ResponseTooLarge(RequestFailed):
    """The body is larger than the provider's limit (never retried)."""


class DeliveryFailed(ProgressiveError):
    """A delivery did not succeed: ``transient`` when trying again may help
    (``retry_after``: the service asked to wait that many seconds)."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None):
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class LeadershipLost(ProgressiveError):
    """The Lease could not be renewed in time, or another holder took it."""


class SimulationError(ProgressiveError):
    """The documents cannot be simulated (no Rollout, two Rollouts, a controller error)."""


class ControlPlaneError(ProgressiveError, RuntimeError):
    """Building, starting, stopping or talking to the local control plane failed; the
    message says which step and, where there is one, which log to read."""
