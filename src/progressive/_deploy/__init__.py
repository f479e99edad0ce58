"""The controller's installation: what ``progressive install`` applies, what ``deploy/``
holds, and the generated parts of the Helm chart in ``deploy/chart``, all rendered from
one :class:`InstallOptions`.

* :mod:`._crds`: the progressive.dev CRDs, generated from the model's schema;
* :mod:`._options`: the options, their defaults (least privilege, every namespace) and
  the names and ports every rendering shares;
* :mod:`._rbac`: each RBAC rule once, with its reason, and the Roles a set of options
  needs (scoped to namespaces, Secrets only where analyses need them, Jobs and pod
  deletion only with the features that use them); the routers' rules from what each
  router declares (``TrafficRouter.access``), and those of the installed router, step
  and metric provider plugins from what they declare;
* :mod:`._workload`: the namespace, the Deployment, the metrics Service and
  ServiceMonitor;
* :mod:`._chart`: the chart's generated files;
* :mod:`._files`: the ordered objects (:func:`manifests`), YAML, ``deploy/`` and
  ``python -m progressive._deploy --write deploy/`` / ``--check deploy/``.
"""

from .._grants import GRANTS, how_to_grant
from ._chart import CHART_NAME, chart_files, values
from ._files import HEADER, deploy_files, dump, main, manifests, render
from ._objects import LABELS
from ._options import (
    ALL_NAMESPACES,
    HEALTH_PORT,
    IMAGE_REPOSITORY,
    LEASE_NAME,
    METRICS_PORT,
    NAME,
    NAMESPACE,
    NO_METRICS,
    SECURE_METRICS_PORT,
    SERVICE_ACCOUNT,
    InstallOptions,
)
from ._rbac import (
    ARGO_GROUP,
    CRD_RULES,
    JOB_RULES,
    LEADER_ELECTION_RULES,
    METRICS_AUTH_RULES,
    METRICS_READER,
    METRICS_READER_RULES,
    RESTART_RULES,
    ROUTER_RULES,
    SECRET_RULES,
    WORKLOAD_RULES,
    PluginRules,
    Rule,
    controller_rules,
    plugin_rules,
    rbac,
    router_rules,
)
from ._workload import controller, controller_args, image, namespace, service_monitor

__all__ = [
    "ALL_NAMESPACES",
    "ARGO_GROUP",
    "CHART_NAME",
    "CRD_RULES",
    "GRANTS",
    "HEADER",
    "HEALTH_PORT",
    "IMAGE_REPOSITORY",
    "JOB_RULES",
    "LABELS",
    "LEADER_ELECTION_RULES",
    "LEASE_NAME",
    "METRICS_AUTH_RULES",
    "METRICS_PORT",
    "METRICS_READER",
    "METRICS_READER_RULES",
    "NAME",
    "NAMESPACE",
    "NO_METRICS",
    "RESTART_RULES",
    "ROUTER_RULES",
    "SECRET_RULES",
    "SECURE_METRICS_PORT",
    "SERVICE_ACCOUNT",
    "WORKLOAD_RULES",
    "InstallOptions",
    "PluginRules",
    "Rule",
    "chart_files",
    "controller",
    "controller_args",
    "controller_rules",
    "deploy_files",
    "dump",
    "how_to_grant",
    "image",
    "main",
    "manifests",
    "namespace",
    "plugin_rules",
    "rbac",
    "render",
    "router_rules",
    "service_monitor",
    "values",
]
