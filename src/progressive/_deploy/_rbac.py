"""The controller's RBAC: each rule once, with the reason it is needed, and the Roles or
ClusterRoles an :class:`InstallOptions` asks for.

Every install grants :data:`CRD_RULES` and :data:`WORKLOAD_RULES` where Rollouts are
reconciled: a ClusterRole by default, a Role in each namespace of a namespaced install
(plus a ClusterRole to read ClusterAnalysisTemplates, the one cluster-scoped kind it
reads).  The routers' rules are not written here: each router declares the access it
needs (``TrafficRouter.access``) and :func:`router_rules` turns the declarations into
rules, the built-ins' into :data:`ROUTER_RULES` (part of :data:`WORKLOAD_RULES`, so of
``deploy/`` and the chart) and the installed plugins' into ``progressive install``'s
``InstallOptions.extra_rules`` (:func:`plugin_rules`, with what the installed step
plugins and metric providers declare the same way).  The rest is granted only
with the feature that needs it:

* :data:`SECRET_RULES` (``get`` Secrets) only in the namespaces named by
  ``analysis_secrets``: analyses' ``secretKeyRef``;
* :data:`JOB_RULES` (create Jobs, list their pods) only with ``job_provider``;
* :data:`RESTART_RULES` (list and delete pods) only with ``restarts`` (``spec.restartAt``);
* :data:`NOTIFIED_RULES` (``patch`` Rollouts: their notified annotation) and, in the
  controller's own namespace only, :data:`NOTIFICATION_RULES` (``get`` the notification
  ConfigMap and Secret, by name) only with ``notifications``;
* :data:`LEADER_ELECTION_RULES` (Leases) in the controller's own namespace only;
* :data:`METRICS_AUTH_RULES` (TokenReviews, SubjectAccessReviews) only with
  ``metrics_secure``, and :data:`METRICS_READER_RULES` for whoever scrapes it.

It never deletes Services, Rollouts or templates, never writes Secrets, and writes
Rollouts only through ``/status`` (and, with ``notifications``, the one annotation that
records what was sent).  ``/finalizers`` ``update`` is what the
``OwnerReferencesPermissionEnforcement`` admission plugin asks of a controller that
sets ``blockOwnerDeletion`` on the objects it owns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import attrs

from .._access import KubeAccess, access_of
from .._entry_points import BUILT_IN
from ..core._notifications import CONFIGMAPS, SECRETS
from ..metrics import ProviderRegistry
from ..metrics import default_registry as default_providers
from ..routers import RouterRegistry, TrafficRouter
from ..routers import default_registry as default_routers
from ..routers._registry import built_in_routers
from ..steps import StepRegistry
from ..steps import default_registry as default_steps
from ._crds import GROUP
from ._objects import meta
from ._options import NAME, NAMESPACE, SERVICE_ACCOUNT, InstallOptions

__all__ = [
    "ARGO_GROUP",
    "ARGO_RULES",
    "CRD_RULES",
    "JOB_RULES",
    "LEADER_ELECTION_RULES",
    "METRICS_AUTH_RULES",
    "METRICS_READER",
    "METRICS_READER_RULES",
    "NOTIFICATION_RULES",
    "NOTIFIED_RULES",
    "RESTART_RULES",
    "ROUTER_RULES",
    "SECRET_RULES",
    "WORKLOAD_RULES",
    "PluginRules",
    "Rule",
    "controller_rules",
    "plugin_rules",
    "rbac",
    "router_rules",
]

ARGO_GROUP: Final = "argoproj.io"
#: the ClusterRole to bind whoever scrapes the secure /metrics endpoint to
METRICS_READER: Final = "progressive-metrics-reader"
_RBAC: Final = "rbac.authorization.k8s.io"


@attrs.frozen
class Rule:
    """Verbs on resources of one API group (or on non-resource URLs), and the reason
    the controller needs them."""

    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str
    non_resource_urls: tuple[str, ...] = ()
    cluster_scoped: bool = False
    resource_names: tuple[str, ...] = ()

    def manifest(self, group: str | None = None) -> dict[str, Any]:
        if self.non_resource_urls:
            return {"nonResourceURLs": list(self.non_resource_urls), "verbs": list(self.verbs)}
        out = {
            "apiGroups": [self.group if group is None else group],
            "resources": list(self.resources),
            "verbs": list(self.verbs),
        }
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        return out


_WATCH: Final = ("get", "list", "watch")

#: The controller's rules on its own group (the same rules, on argoproj.io, with
#: ``argoproj``).
CRD_RULES: Final = (
    Rule(GROUP, ("rollouts",), _WATCH, "reconciled; written only through /status"),
    Rule(GROUP, ("rollouts/status",), ("update", "patch"), "the controller's status"),
    Rule(GROUP, ("rollouts/finalizers",), ("update",), "owning ReplicaSets, runs, experiments"),
    Rule(
        GROUP, ("analysisruns", "experiments"), (*_WATCH, "create", "patch"), "started, terminated"
    ),
    Rule(GROUP, ("analysisruns/status", "experiments/status"), ("update", "patch"), "results"),
    Rule(
        GROUP,
        ("analysisruns/finalizers", "experiments/finalizers"),
        ("update",),
        "owning Jobs, ReplicaSets",
    ),
    Rule(GROUP, ("analysistemplates",), _WATCH, "read into runs"),
    Rule(GROUP, ("clusteranalysistemplates",), _WATCH, "read into runs", cluster_scoped=True),
)

#: With ``argoproj``, besides :data:`CRD_RULES` on argoproj.io: Argo's AnalysisRun and
#: Experiment CRDs have no ``/status``, so their results are written with ``update`` on
#: the object itself.
ARGO_RULES: Final = (
    Rule(
        ARGO_GROUP,
        ("analysisruns", "experiments"),
        ("update",),
        "results: Argo's CRDs give these no /status",
    ),
)


def _merged(declared: Iterable[tuple[str, Iterable[KubeAccess]]]) -> tuple[Rule, ...]:
    """Rules of ``(label, access)`` pairs (a label prefixes each reason), in order, one
    per API group and resources: the verbs of every access to them, every reason."""
    merged: dict[tuple[str, tuple[str, ...]], Rule] = {}
    for label, accesses in declared:
        for access in accesses:
            key, why = (access.group, access.resources), label + access.why
            held = merged.get(key)
            if held is None:
                merged[key] = Rule(access.group, access.resources, access.verbs, why)
            else:
                verbs = tuple(dict.fromkeys((*held.verbs, *access.verbs)))
                whys = held.why.split("; ")
                why = "; ".join(whys if why in whys else [*whys, why])
                merged[key] = attrs.evolve(held, verbs=verbs, why=why)
    return tuple(merged.values())


def router_rules(routers: Iterable[TrafficRouter]) -> tuple[Rule, ...]:
    """The rules granting what ``routers`` declare (``access``), in their order, one per
    API group and resources: two routers on the same objects (nginx and alb, on
    Ingresses) share one rule with every verb either needs and both reasons.  A router
    that declares nothing adds nothing."""
    return _merged(("", access_of(r) or ()) for r in routers)


#: What progressive's own routers declare (``TrafficRouter.access``), in the registry's
#: order (Argo's order of routers).
ROUTER_RULES: Final = router_rules(built_in_routers())

#: What every Rollout needs, in the namespaces reconciled: its revisions, its Services,
#: its Events, and the objects of progressive's own routers.
WORKLOAD_RULES: Final = (
    Rule("apps", ("replicasets",), (*_WATCH, "create", "patch", "delete"), "one per revision"),
    Rule("apps", ("deployments",), (*_WATCH, "patch"), "workloadRef: read, scaled down"),
    Rule("", ("services",), (*_WATCH, "patch"), "selectors pointed at a revision"),
    Rule("", ("events",), ("get", "create", "patch"), "Events, counted (get: after a restart)"),
    *ROUTER_RULES,
)


@attrs.frozen
class PluginRules:
    """What the installed plugins declare: their rules (each reason naming the plugin
    and its distribution), and the routers and step plugins that declare nothing
    (``the contour router (progressive-contour-router 0.1.0)``), which an install
    grants nothing.  A metric provider that declares nothing is taken to need nothing."""

    rules: tuple[Rule, ...] = ()
    undeclared: tuple[str, ...] = ()


def plugin_rules(
    routers: RouterRegistry | None = None,
    steps: StepRegistry | None = None,
    providers: ProviderRegistry | None = None,
) -> PluginRules:
    """The rules of the routers, step plugins and metric providers of the registries
    (default: the installed plugins') that are not progressive's own, for
    :attr:`InstallOptions.extra_rules`."""
    routers = default_routers() if routers is None else routers
    steps = default_steps() if steps is None else steps
    providers = default_providers() if providers is None else providers
    # (label, what it declares, whether declaring nothing is worth a warning)
    plugins: list[tuple[str, tuple[KubeAccess, ...] | None, bool]] = [
        (f"the {r.name} router ({origin})", access_of(r), True)
        for r in routers
        if (origin := routers.origin(r.name)) != BUILT_IN
    ]
    plugins += [
        (f"the {p.name} step plugin ({steps.origin(p.name)})", access_of(p), True) for p in steps
    ]
    plugins += [
        (f"the {key} metric provider ({origin})", access_of(providers.get(key)), False)
        for key in sorted(providers.keys)
        if (origin := providers.origin(key)) != BUILT_IN
    ]
    return PluginRules(
        _merged((f"{label}: ", access) for label, access, _ in plugins if access is not None),
        tuple(label for label, access, warn in plugins if access is None and warn),
    )


#: ``restarts``: ``spec.restartAt`` deletes the old pods of the Rollout's ReplicaSets.
RESTART_RULES: Final = (
    Rule("", ("pods",), ("list", "delete"), "spec.restartAt replaces old pods"),
)
#: ``job_provider``: the ``job`` metric provider runs one Job per measurement.
JOB_RULES: Final = (
    Rule("batch", ("jobs",), ("get", "create"), "the job metric provider"),
    Rule("", ("pods",), ("list",), "a Job's pods: an image that cannot be pulled"),
)
#: ``analysis_secrets``: analysis arguments and provider fields from ``secretKeyRef``.
SECRET_RULES: Final = (Rule("", ("secrets",), ("get",), "analysis secretKeyRef values"),)
#: ``notifications``: what was sent is recorded in each Rollout's notified annotation.
NOTIFIED_RULES: Final = (
    Rule(GROUP, ("rollouts",), ("patch",), "notifications: the annotation of what was sent"),
)
#: ``notifications``, in the controller's own namespace only: its configuration.
NOTIFICATION_RULES: Final = (
    Rule("", ("configmaps",), ("get",), "the notification ConfigMap", resource_names=CONFIGMAPS),
    Rule("", ("secrets",), ("get",), "the notification Secret", resource_names=SECRETS),
)
#: In the controller's own namespace only.
LEADER_ELECTION_RULES: Final = (
    Rule("coordination.k8s.io", ("leases",), ("get", "create", "patch"), "leader election"),
)
#: ``metrics_secure``: who is asking for /metrics, and may they.
METRICS_AUTH_RULES: Final = (
    Rule(
        "authentication.k8s.io",
        ("tokenreviews",),
        ("create",),
        "secure /metrics: authenticate",
        cluster_scoped=True,
    ),
    Rule(
        "authorization.k8s.io",
        ("subjectaccessreviews",),
        ("create",),
        "secure /metrics: authorize",
        cluster_scoped=True,
    ),
)
#: For Prometheus (or anyone) scraping the secure /metrics endpoint.
METRICS_READER_RULES: Final = (
    Rule("", (), ("get",), "read /metrics", non_resource_urls=("/metrics",), cluster_scoped=True),
)


def controller_rules(options: InstallOptions) -> tuple[Rule, ...]:
    """The rules on the namespaces reconciled (Secrets aside), in a stable order."""
    return (
        *CRD_RULES,
        *WORKLOAD_RULES,
        *options.extra_rules,
        *(RESTART_RULES if options.restarts else ()),
        *(JOB_RULES if options.job_provider else ()),
        *(NOTIFIED_RULES if options.notifications else ()),
    )


def _manifests(rules: tuple[Rule, ...], options: InstallOptions) -> list[dict[str, Any]]:
    out = [r.manifest() for r in rules]
    if options.argoproj:
        crd = [r for r in rules if r in CRD_RULES]
        out += [r.manifest(ARGO_GROUP) for r in crd]
        if any(not r.cluster_scoped for r in crd):  # where runs are written
            out += [r.manifest() for r in ARGO_RULES]
        out += [r.manifest(ARGO_GROUP) for r in rules if r.group == GROUP and r not in crd]
    return out


def _subject() -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}


def _role(
    name: str, rules: list[dict[str, Any]], namespace: str | None, *, bound: bool = True
) -> list[dict[str, Any]]:
    """A Role (in ``namespace``) or ClusterRole (None), and its binding to the controller."""
    kind = "ClusterRole" if namespace is None else "Role"
    role = {
        "apiVersion": f"{_RBAC}/v1",
        "kind": kind,
        "metadata": meta(name, namespace),
        "rules": rules,
    }
    if not bound:
        return [role]
    binding = {
        "apiVersion": f"{_RBAC}/v1",
        "kind": f"{kind}Binding",
        "metadata": meta(name, namespace),
        "roleRef": {"apiGroup": _RBAC, "kind": kind, "name": name},
        "subjects": [_subject()],
    }
    return [role, binding]


def rbac(options: InstallOptions | None = None) -> list[dict[str, Any]]:
    """The ServiceAccount and every Role, ClusterRole and binding ``options`` need."""
    options = options or InstallOptions()
    rules = controller_rules(options)
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(SERVICE_ACCOUNT, NAMESPACE)}
    ]
    if options.cluster_wide:
        everywhere = rules + (SECRET_RULES if options.secrets_in(None) else ())
        docs += _role(NAME, _manifests(everywhere, options), None)
        for namespace in () if options.secrets_in(None) else options.analysis_secrets:
            docs += _role(f"{NAME}-secrets", _manifests(SECRET_RULES, options), namespace)
    else:
        namespaced = tuple(r for r in rules if not r.cluster_scoped)
        for namespace in options.namespaces:
            secrets = SECRET_RULES if options.secrets_in(namespace) else ()
            docs += _role(NAME, _manifests(namespaced + secrets, options), namespace)
        cluster = tuple(r for r in rules if r.cluster_scoped)
        docs += _role(f"{NAME}-cluster", _manifests(cluster, options), None)
    if options.leader_election:
        docs += _role(
            f"{NAME}-leader-election",
            [r.manifest() for r in LEADER_ELECTION_RULES],
            NAMESPACE,
        )
    if options.notifications:
        docs += _role(
            f"{NAME}-notifications", [r.manifest() for r in NOTIFICATION_RULES], NAMESPACE
        )
    if options.metrics_secure:
        docs += _role(f"{NAME}-metrics-auth", [r.manifest() for r in METRICS_AUTH_RULES], None)
        docs += _role(
            METRICS_READER, [r.manifest() for r in METRICS_READER_RULES], None, bound=False
        )
    return docs
